"""Checks before anything is built: a ``TrainConfig`` (so ``--set train.lr=abc`` or
``--steps -5`` is one clear ``KinemaError`` naming the field, not a TypeError from AdamW or a run
that "trains" for -5 steps) and the run folder (``--out`` naming a file is not a traceback)."""
from __future__ import annotations

import math
import numbers

from pathlib import Path

from kinema.errors import KinemaError


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


# field -> (test, what the value must be); None passes where the loop reads it as 0 / off
_RULES = {
    "steps": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "lr": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "betas": (lambda v: isinstance(v, (tuple, list)) and len(v) == 2
              and all(_is_number(b) and 0 <= b < 1 for b in v), "two numbers in [0, 1)"),
    "weight_decay": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "warmup_steps": (lambda v: v is None or (_is_int(v) and v >= 0), "an integer >= 0"),
    "lr_schedule": (lambda v: v in ("constant", "linear", "exponential", "cosine"),
                    "one of constant, linear, exponential, cosine"),
    "lr_final_factor": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "grad_clip": (lambda v: v is None or (_is_number(v) and v > 0), "a number > 0 or null"),
    "ema_decay": (lambda v: v is None or (_is_number(v) and 0 <= v < 1),
                  "a number in [0, 1) or null"),
    "ema_rampup": (lambda v: v is None or (_is_number(v) and v > 0), "a number > 0 or null"),
    "seed": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "num_workers": (lambda v: v == "auto" or (_is_int(v) and v >= 0),
                    "an integer >= 0 or auto"),
    "prefetch_factor": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "log_every": (lambda v: v is None or (_is_int(v) and v >= 0), "an integer >= 0 (0: only at the end)"),
    "sample_every": (lambda v: v is None or (_is_int(v) and v >= 0),
                     "an integer >= 0 or null (off)"),
    "checkpoint_every": (lambda v: v is None or (_is_int(v) and v >= 0),
                         "an integer >= 0 (0: only at the end)"),
    "checkpoint_minutes": (lambda v: v is None or (_is_number(v) and v > 0),
                           "a number of minutes > 0 or null (off)"),
    "keep_checkpoints": (lambda v: v is None or (_is_int(v) and v >= 0), "an integer >= 0 (0: keep all)"),
    "max_nonfinite": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "divergence_factor": (lambda v: v is None or (_is_number(v) and v > 1),
                          "a number > 1 or null"),
    "optimizer_impl": (lambda v: v in ("fused", "foreach", "plain"),
                       "one of fused, foreach, plain"),
    "channels_last_3d": (lambda v: isinstance(v, bool), "true or false"),
    "compile": (lambda v: isinstance(v, bool), "true or false"),
    "precision": (lambda v: v in ("fp32", "bf16", "fp16", "auto"), "one of fp32, bf16, fp16, auto"),
    "tf32": (lambda v: isinstance(v, bool), "true or false"),
    "accumulate": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "activation_checkpointing": (lambda v: isinstance(v, bool), "true or false"),
}


def check_train_config(config) -> None:
    """Raise one ``KinemaError`` listing every field of ``config`` with an unusable value."""
    from kinema.validate import short_repr

    problems = [f"train.{name} must be {what}, got {short_repr(getattr(config, name))}"
                for name, (test, what) in _RULES.items()
                if hasattr(config, name) and not test(getattr(config, name))]
    if getattr(config, "lr_schedule", None) == "exponential" and getattr(config, "lr_final_factor", 1) == 0:
        problems.append("train.lr_final_factor must be > 0 for the exponential lr_schedule "
                        "(an exponential never reaches 0)")
    accumulate, batch = getattr(config, "accumulate", 1), getattr(config, "batch_size", 1)
    if _is_int(accumulate) and _is_int(batch) and accumulate >= 1 and batch % accumulate:
        problems.append(f"train.batch_size={batch} must be a multiple of train.accumulate="
                        f"{accumulate} (each optimiser step's batch is cut into equal micro-batches)")
    if problems:
        raise KinemaError("; ".join(problems))


def check_recipe(recipe) -> None:
    """Everything a recipe's values can be checked for without building anything (what
    ``kinema recipe`` and ``kinema train --dry-run`` print is checked as a training run is)."""
    from kinema.validate import check_config

    check_config(recipe.model, "model")
    check_config(recipe.train, "train")
    check_train_config(recipe.train)
    check_config(recipe.data, "data")


def make_run_folder(path: str | Path) -> Path:
    """Create the run folder ``path`` (and its parents); a path that is a file, or a folder
    that cannot be created, is one ``KinemaError``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise KinemaError(f"--out {path}: is a file, not a run folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KinemaError(f"--out {path}: cannot create the run folder "
                          f"({err.strerror or err})") from None
    return path


# what a method's expected_input() may name -> (axis of batch["video"] (b t c h w), the data
# option that sets it, words for the message)
_INPUT_AXES = {"num_frames": (1, "num_frames", "frames per clip"),
               "channels": (2, "channels", "channels"),
               "image_size": (3, "size", "pixels per side")}


def check_batch_fits(method, batch: dict) -> None:
    """Compare the first batch with what the method says it reads (its optional
    ``expected_input() -> {"num_frames": T, "channels": C, "image_size": S, "min_frames": K}``,
    any subset) and raise one ``KinemaError`` naming each field that disagrees, both values and
    the ``--set`` that makes them agree, instead of a tensor-size error deep in a loss."""
    if not hasattr(method, "expected_input") or "video" not in batch:
        return
    expected = dict(method.expected_input())
    video = batch["video"]
    if video.ndim != 5:
        raise KinemaError(f"the data's batch['video'] has shape {tuple(video.shape)}; the trainer "
                          f"reads clips as (batch, frames, channels, height, width)")
    name, config = type(method).__name__, getattr(method, "config", None)
    problems = []
    for field, (axis, option, words) in _INPUT_AXES.items():
        want = expected.get(field)
        got = int(video.shape[axis])
        if want is None or want == got:
            continue
        fixes = [f"--set data.options.{option}={want}"]
        if config is not None and hasattr(config, field):
            fixes.append(f"--set model.{field}={got}")
        if field == "channels":
            fixes = [f"a dataset of {want}-channel clips"] + fixes
        problems.append(f"{field}: the {name} model reads {want} {words}, the data gives {got} "
                        f"(fix: {' or '.join(fixes)})")
    size = expected.get("image_size")
    if size is not None and int(video.shape[3]) == size and int(video.shape[4]) != size:
        problems.append(f"image_size: the {name} model reads square {size}x{size} frames, the "
                        f"data gives {video.shape[3]}x{video.shape[4]} "
                        f"(fix: --set data.options.size={size})")
    least = expected.get("min_frames")
    if least is not None and video.shape[1] < least:
        problems.append(f"num_frames: the {name} model needs at least {least} frames per clip, "
                        f"the data gives {video.shape[1]} (fix: --set data.options.num_frames={least})")
    if problems:
        raise KinemaError("the model and the data disagree: " + "; ".join(problems))
