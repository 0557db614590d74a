"""What may differ between a checkpoint and the run that resumes it, and what happens then.

- ``train`` settings take effect from the resumed step: a larger ``steps`` continues the run,
  and a changed ``lr`` / ``betas`` / ``weight_decay`` is put into the optimisers restored from
  the checkpoint (they would otherwise keep the old values) and said on stderr.
- A changed ``method`` / ``model`` section whose weights no longer fit is an error naming the
  changed fields; a changed ``model`` or ``data`` section that still fits is a warning naming them.

An unchanged recipe changes nothing, so a resumed run stays equal to an uninterrupted one.
"""
from __future__ import annotations

import json
import warnings

import torch

from kinema.errors import KinemaError

# what a checkpoint's state must hold for a run to resume from it
STATE_KEYS = ("step", "optimizers", "schedulers", "rng", "data", "nonfinite_total",
              "nonfinite_run", "elapsed")
# train settings a resumed run applies itself (retune_optimizers, the loop's step count)
APPLIED = ("train.steps", "train.lr", "train.betas", "train.weight_decay")


def _flat(value, prefix: str) -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}"))
        return out
    return {prefix: json.dumps(value, sort_keys=True, default=str)}


def recipe_differences(old: dict, new: dict, sections: tuple[str, ...]) -> list[str]:
    """``["model.hidden: 32 -> 64", ...]`` for the fields of ``sections`` that differ."""
    before, after = {}, {}
    for section in sections:
        before.update(_flat(old.get(section), section))
        after.update(_flat(new.get(section), section))
    return [f"{key}: {before.get(key, '(absent)')} -> {after.get(key, '(absent)')}"
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def state_mismatch(saved: dict[str, torch.Tensor], model: dict[str, torch.Tensor]) -> str:
    """One line on why ``saved`` does not load into a model whose state dict is ``model``."""
    missing = [k for k in model if k not in saved]
    unexpected = [k for k in saved if k not in model]
    reshaped = [f"{k} {tuple(saved[k].shape)} vs {tuple(model[k].shape)}"
                for k in model if k in saved and saved[k].shape != model[k].shape]
    parts = [f"{len(items)} {what} (first: {items[0]})"
             for what, items in (("tensors the model lacks", unexpected),
                                 ("tensors the checkpoint lacks", missing),
                                 ("tensors of another shape", reshaped)) if items]
    return "; ".join(parts) or "the state dicts differ"


def retune_optimizers(optimizers: dict, schedulers: dict, wanted: dict[str, dict]) -> list[str]:
    """Put this run's optimiser settings (``wanted[group]``: lr, betas, weight_decay, ...) into
    optimisers and LambdaLR schedulers restored from a checkpoint; returns what changed."""
    changes = []
    for group, optimizer in optimizers.items():
        scheduler = schedulers[group]
        for index, param_group in enumerate(optimizer.param_groups):
            for key, value in wanted[group].items():
                current = param_group.get("initial_lr", param_group["lr"]) if key == "lr" \
                    else param_group.get(key)
                if isinstance(current, tuple) or isinstance(value, (tuple, list)):
                    current, value = tuple(current or ()), tuple(value)
                if current == value:
                    continue
                changes.append(f"{group} {key} {current} -> {value}")
                if key == "lr":   # LambdaLR: lr = base_lr * lambda(epoch)
                    param_group["initial_lr"] = value
                    scheduler.base_lrs[index] = value
                    param_group["lr"] = value * scheduler.lr_lambdas[index](scheduler.last_epoch)
                else:
                    param_group[key] = value
        scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
    return changes


def load_weights(ckpt, method, groups: list[str], recipe) -> tuple[dict, dict] | None:
    """Put the weights of checkpoint ``ckpt`` into ``method`` once it is known to resume this
    run: a complete state, weights that fit, the same optimiser ``groups``. Each failure is one
    ``KinemaError``. Returns the (saved, current) recipes to compare, or None without both."""
    state = ckpt.state
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise KinemaError(f"{ckpt.path} is incomplete (its state lacks {', '.join(missing)}): "
                          "it was not written by this kinema's trainer or is damaged; start "
                          "over with --no-resume or use another --out")
    recipes = (ckpt.recipe, recipe.to_dict()) if recipe is not None and ckpt.recipe is not None else None
    try:
        method.load_state_dict(ckpt.model)
    except RuntimeError as err:
        changed = recipe_differences(*recipes, ("method", "preset", "model")) if recipes else []
        why = (f"the recipe changed ({', '.join(changed)})" if changed
               else state_mismatch(ckpt.model, method.state_dict()))
        raise KinemaError(f"{ckpt.path} does not fit this model: {why}. Start over with "
                          "--no-resume or use another --out") from err
    if set(state["optimizers"]) != set(groups):
        raise KinemaError(f"{ckpt.path}: optimiser groups {sorted(state['optimizers'])} "
                          f"differ from the method's {sorted(groups)}")
    return recipes


def changed_settings(path, recipes: tuple[dict, dict] | None, warn: bool) -> list[str]:
    """Warn (when ``warn``) of model and data fields that changed since checkpoint ``path`` but
    still fit; return the changed train settings the run does not apply by itself."""
    from kinema.train.checkpoint import CheckpointWarning

    if recipes is None:
        return []
    changed = recipe_differences(*recipes, ("method", "model", "data"))
    if warn and changed:
        warnings.warn(f"resuming {path} with a recipe that differs from the one it was "
                      f"trained with: {', '.join(changed)}", CheckpointWarning, stacklevel=3)
    return [d for d in recipe_differences(*recipes, ("train",)) if d.split(":")[0] not in APPLIED]
