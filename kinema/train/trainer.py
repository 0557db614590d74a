"""One training loop for every method (the contract is in ``kinema.train.method``).

Per iteration, for each optimiser group in the order ``parameter_groups()`` gives them:
zero every gradient, ``losses = method.training_step(batch, group)`` (per micro-batch of
``train.accumulate``, under ``train.precision``'s autocast), back-propagate ``losses["loss"]``,
average gradients over ranks, clip the group's gradient norm, step its AdamW
(``train.optimizer_impl``: fused by default, ``kinema.train.optim``); that inner step is
``kinema.train.step``. Then every group's scheduler steps (linear warm-up, then
``lr_schedule``: constant, linear or exponential decay; ``kinema.config.lr_factor``) and the EMA updates.
A group whose loss or gradient norm is not finite is not updated; such steps are counted and
``max_nonfinite`` of them in a row stop the run (an fp16 gradient overflow is the loss
scaler's to handle and is counted apart: ``kinema.train.precision``).

Everything that decides the next step (weights, optimiser and scheduler states, EMA, the RNG
states of every rank, the data position, counters) goes into each checkpoint, so a run killed
at any moment and started again ends with the same weights as a run that was never stopped.
Randomness inside ``training_step`` comes from the global generators, seeded per rank with
``seed + 1000 * rank`` (rank 0 of a torchrun job draws what a one-process run draws).
"""
from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from kinema.config import lr_factor
from kinema.data.io import write_atomic
from kinema.errors import KinemaError
from kinema.nn.checkpointing import set_activation_checkpointing
from kinema.nn.video3d import channels_last_3d
from kinema.train.checks import check_batch_fits, check_train_config, make_run_folder
from kinema.train.checkpoint import (Checkpoint, CheckpointWarning, checkpoint_dirs,
                                     clean_temporary, load_latest, save_checkpoint, set_aside,
                                     step_dir_name)
from kinema.train.data import DataPosition, ResumableBatches, loader_workers, to_device
from kinema.train.distributed import init_distributed
from kinema.train.divergence import DivergenceMonitor, weight_norm
from kinema.train.ema import EMA, ramped_decay
from kinema.train.log import LossMeter, RunLog
from kinema.train.method import TrainableMethod
from kinema.train.optim import implementation_options
from kinema.train.precision import MixedPrecision, set_tf32
from kinema.train.resume import changed_settings, load_weights, retune_optimizers
from kinema.train.rng import capture_rng, restore_rng, seed_everything
from kinema.train.step import GroupUpdates
from kinema.train.stop import GracefulStop


class Trainer:
    """Train ``method`` on ``dataset`` as ``train_config`` says, writing into ``out_dir``.

    ``recipe`` (a ``kinema.config.Recipe``) is stored in checkpoints and as ``recipe.json``.
    ``sample_fn(batch) -> (b t c h w)`` overrides ``method.sample_for_logging`` for the videos
    written every ``sample_every`` steps. ``resume``: None = continue from the newest usable
    checkpoint if there is one; True = must continue; False = start over (an existing
    ``checkpoints`` folder is renamed aside, never deleted). ``quiet``: no messages on
    stderr (start, resume, summary); ``progress=False`` hides the bar.
    """

    def __init__(self, method: nn.Module, dataset, train_config, out_dir: str | Path,
                 recipe=None, sample_fn=None, *, resume: bool | None = None,
                 device: str | None = None, tensorboard: bool = True, progress: bool = True,
                 quiet: bool = False):
        if not isinstance(method, TrainableMethod):
            raise KinemaError(f"{type(method).__name__} is not trainable: it needs "
                              "parameter_groups() and training_step(batch, group)")
        check_train_config(train_config)
        self.dist = init_distributed(device)
        if self.dist.is_main:
            make_run_folder(out_dir)
        self.method = method.to(self.dist.device)
        if getattr(train_config, "channels_last_3d", False):
            channels_last_3d(self.method)
        if getattr(train_config, "activation_checkpointing", False) \
                and not set_activation_checkpointing(self.method, True):
            raise KinemaError(f"train.activation_checkpointing: {type(method).__name__} has no "
                              "block that checkpoints its activations (the U-Nets, generators "
                              "and Conv3d stacks do); set it to false")
        self._compiled_step = torch.compile(self.method.training_step) \
            if getattr(train_config, "compile", False) else None
        self.config = cfg = train_config
        self.out_dir = Path(out_dir)
        self.ckpt_root = self.out_dir / "checkpoints"
        self.recipe, self.resume = recipe, resume
        self.sample_fn = sample_fn or getattr(method, "sample_for_logging", None)
        self.tensorboard, self.progress, self.quiet = tensorboard, progress, quiet
        self.groups = self._parameter_groups()
        self.optimizers = {g: torch.optim.AdamW(params, **self._optimizer_options(g))
                           for g, params in self.groups.items()}
        self.schedulers = {g: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_factor(e, cfg))
                           for g, opt in self.optimizers.items()}
        self.precision = MixedPrecision(getattr(cfg, "precision", "fp32"), self.dist.device,
                                        self.groups)
        set_tf32(getattr(cfg, "tf32", False), self.dist.device)
        self.updates = GroupUpdates(self)
        self.batches = ResumableBatches(
            dataset, cfg.batch_size, cfg.seed, self.dist.rank, self.dist.world_size,
            loader_workers(getattr(cfg, "num_workers", 0), self.dist.device),
            pin_memory=self.dist.device.type == "cuda",
            prefetch_factor=getattr(cfg, "prefetch_factor", 2), progress=progress and not quiet)
        self.ema: EMA | None = None
        self.log: RunLog | None = None
        self.step = self.nonfinite_total = self.nonfinite_run = 0
        self.elapsed = 0.0
        self.cpu_elapsed = 0.0   # this process's CPU time in the steps (not saved; bench speed)
        self.last_checkpoint: Path | None = None
        self.divergence = DivergenceMonitor(cfg.divergence_factor,
                                            weight_norm(self._trainable()))
        self._shown: dict[str, str] = {}     # each group's last loss, for the bar and summary
        self._all_parameters = list(self.method.parameters())   # (again after _start's init)
        self._stop = GracefulStop(enabled=False)

    # ------------------------------------------------------------------------- public

    def fit(self) -> nn.Module:
        """Train to ``train_config.steps``; returns the method (raw, non-EMA weights)."""
        try:
            self._start()
            with GracefulStop(checkpoint_minutes=self.config.checkpoint_minutes) as self._stop:
                self._loop()
            self._finish()
        finally:
            if self.log is not None:
                self.log.close()
            self.dist.close()
        return self.method

    # ------------------------------------------------------------------------- setup

    def _parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = self.method.parameter_groups()
        if not groups:
            raise KinemaError(f"{type(self.method).__name__}.parameter_groups() is empty")
        # Frozen entries (e.g. FrEIA's integer permutations) have no gradient to follow.
        out = {g: [p for p in params if p.requires_grad] for g, params in groups.items()}
        for g, params in out.items():
            if not params:
                raise KinemaError(f"parameter group {g!r} of {type(self.method).__name__} "
                                  "has no trainable parameters")
        return out

    def _trainable(self) -> list[nn.Parameter]:
        return [p for params in self.groups.values() for p in params]

    def _optimizer_options(self, group: str) -> dict:
        cfg = self.config
        options = {"lr": cfg.lr, "betas": tuple(cfg.betas), "weight_decay": cfg.weight_decay,
                   **implementation_options(getattr(cfg, "optimizer_impl", "fused"),
                                            self.groups[group])}
        if hasattr(self.method, "optimizer_options"):
            options.update(self.method.optimizer_options(group))
        if "lr_scale" in options:   # a group's rate relative to train.lr (e.g. a GAN's D)
            options["lr"] = cfg.lr * options.pop("lr_scale")
        return options

    def _start(self) -> None:
        if self.dist.is_main:
            clean_temporary(self.ckpt_root)
        self.dist.barrier()
        checkpoint = self._find_checkpoint()
        seed_everything(self.config.seed + 1000 * self.dist.rank)
        first = None
        if hasattr(self.method, "expected_input"):
            first = self.batches.first_global_batch()
            check_batch_fits(self.method, first)   # a named error, not a tensor-size one later
        if hasattr(self.method, "on_train_start"):
            # Every rank sees the same whole first global batch, so data-dependent
            # initialisation agrees with a one-process run; a checkpoint then overwrites it.
            first = first if first is not None else self.batches.first_global_batch()
            self.method.on_train_start(to_device(first, self.dist.device))
        if checkpoint is not None:
            self._load(checkpoint)
        self.dist.broadcast_module(self.method)
        self._all_parameters = list(self.method.parameters())
        if self.config.ema_decay:
            self.ema = EMA(self.method, self.config.ema_decay,
                           getattr(self.method, "ema_prefixes", None))
            if checkpoint is not None and checkpoint.ema is not None:
                self.ema.load_state_dict({k: v.to(self.dist.device)
                                          for k, v in checkpoint.ema.items()})
            elif checkpoint is not None and self.dist.is_main:
                warnings.warn(f"{checkpoint.path} holds no EMA; the EMA starts from the "
                              "resumed weights", CheckpointWarning, stacklevel=2)
        if self.dist.is_main:
            cfg = self.config
            self._say(f"training {type(self.method).__name__} for {cfg.steps} steps, global "
                      f"batch {cfg.batch_size} on {self.dist.world_size} process(es), "
                      f"{self.dist.device}, {self._precision_said()}, into {self.out_dir}")
            self.log = RunLog(self.out_dir, checkpoint.step if checkpoint else None,
                              self.tensorboard)

    def _precision_said(self) -> str:
        """``bf16`` / ``fp32`` / ..., and what ``auto`` resolved to on this hardware."""
        p = self.precision
        if p.requested == "auto":
            why = "bfloat16 has hardware support here" if p.precision == "bf16" else \
                "no bfloat16 hardware support here"
            return f"precision auto -> {p.precision} ({why})"
        return f"precision {p.precision}"

    def _find_checkpoint(self) -> Checkpoint | None:
        found = checkpoint_dirs(self.ckpt_root)
        if self.resume is False:
            if found and self.dist.is_main:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                aside = self.ckpt_root.with_name(f"checkpoints.old-{stamp}")
                while aside.exists():
                    aside = aside.with_name(aside.name + "+")
                os.replace(self.ckpt_root, aside)
                self._say(f"starting over: the previous checkpoints moved to {aside}")
            self.dist.barrier()
            return None
        if not found:
            if self.resume:
                raise KinemaError(f"cannot resume: {self.ckpt_root} holds no checkpoint")
            return None
        checkpoint = load_latest(self.ckpt_root, warn=self.dist.is_main)
        steps = self.dist.gather_objects(checkpoint.step if checkpoint else None)
        if len(set(steps)) > 1:
            raise KinemaError(f"the processes found different checkpoints in {self.ckpt_root} "
                              f"(steps {steps}); the output folder must be on a shared disk")
        if self.dist.is_main and checkpoint is not None:
            for step, path in checkpoint_dirs(self.ckpt_root):
                if step > checkpoint.step:
                    self._say(f"set aside unusable checkpoint {path} -> {set_aside(path)}")
        return checkpoint

    def _load(self, ckpt: Checkpoint) -> None:
        state = ckpt.state
        recipes = load_weights(ckpt, self.method, list(self.optimizers), self.recipe)
        for g, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][g])
            self.schedulers[g].load_state_dict(state["schedulers"][g])
        retuned = retune_optimizers(self.optimizers, self.schedulers,
                                    {g: self._optimizer_options(g) for g in self.optimizers})
        self.step = int(state["step"])
        self.nonfinite_total = int(state["nonfinite_total"])
        self.nonfinite_run = int(state["nonfinite_run"])
        self.elapsed = float(state["elapsed"])
        self.divergence.load_state_dict(state.get("divergence", {}))
        self.precision.load_state_dict(state.get("precision", {}))
        self.batches.position = DataPosition(**state["data"])
        rng = state["rng"]
        if self.dist.rank < len(rng):
            restore_rng(rng[self.dist.rank])
        else:
            warnings.warn(f"{ckpt.path} was written by {len(rng)} processes; rank "
                          f"{self.dist.rank} starts a fresh random stream", CheckpointWarning,
                          stacklevel=2)
        other = changed_settings(ckpt.path, recipes, warn=self.dist.is_main)
        self.last_checkpoint = ckpt.path
        if self.dist.is_main:
            self._say(f"resuming from {ckpt.path} (step {self.step})"
                      + (f"; new optimiser settings: {', '.join(retuned)}" if retuned else "")
                      + (f"; train settings changed since the checkpoint: {', '.join(other)}"
                         if other else ""))

    # ------------------------------------------------------------------------- loop

    def _loop(self) -> None:
        cfg, main = self.config, self.dist.is_main
        meter = LossMeter()
        batches = iter(self.batches)
        bar = tqdm(total=cfg.steps, initial=min(self.step, cfg.steps), desc="train",
                   disable=not (main and self.progress), dynamic_ncols=True, mininterval=0.5)
        self._interval = (time.perf_counter(), self.step)
        while self.step < cfg.steps:
            started, cpu_started = time.perf_counter(), time.process_time()
            batch = to_device(next(batches), self.dist.device)
            self.dist.broadcast_module(self.method, buffers_only=True)
            stepped, nonfinite, self._shown = self.updates.run(batch, meter)
            lrs = {g: opt.param_groups[0]["lr"] for g, opt in self.optimizers.items()}
            if stepped:
                for scheduler in self.schedulers.values():
                    scheduler.step()
            else:   # (catch_warnings resets every warning filter cache: not on every step)
                with warnings.catch_warnings():
                    # a skipped first update would make torch warn that the schedule runs ahead
                    warnings.filterwarnings("ignore", "Detected call of", UserWarning)
                    for scheduler in self.schedulers.values():
                        scheduler.step()
            if stepped and self.ema is not None:
                self.ema.update(self.method, ramped_decay(self.ema.decay, self.config.ema_rampup,
                                                          self.step + 1))
            self.step += 1
            self.nonfinite_total += int(nonfinite)
            self.nonfinite_run = self.nonfinite_run + 1 if nonfinite else 0
            self.elapsed += time.perf_counter() - started
            self.cpu_elapsed += time.process_time() - cpu_started
            bar.update(1)
            bar.set_postfix(self._shown, refresh=False)
            if (cfg.log_every and self.step % cfg.log_every == 0) or self.step == cfg.steps:
                self._write_log(meter, lrs)
            if cfg.sample_every and main and (self.step % cfg.sample_every == 0
                                              or self.step == cfg.steps):
                self._write_samples(batch)       # periodically and at the last step
            if self.nonfinite_run >= cfg.max_nonfinite:
                bar.close()
                raise KinemaError(self._nonfinite_message())
            stop, due = self._stop.poll(self.dist)    # every rank agrees (one all-reduce)
            if (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) \
                    or self.step == cfg.steps or stop or due:
                self._checkpoint()
            if stop:
                bar.close()
                raise KinemaError(f"interrupted at step {self.step}; the checkpoint "
                                  f"{self.last_checkpoint} holds it: run the same command again "
                                  "to continue")
        bar.close()

    def _zero_grad(self) -> None:
        """``method.zero_grad(set_to_none=True)`` over the parameter list taken at the start:
        Module.zero_grad walks every submodule each time, which cost more than the whole
        update of a tiny model (issue 16)."""
        for p in self._all_parameters:
            p.grad = None

    def _diverged(self, reason: str | None) -> None:
        """Stop the run, saving nothing more, when ``reason`` says it diverged."""
        if reason is None:
            return
        good = (f"the last checkpoint, {self.last_checkpoint}, was written before it (every "
                f"checkpoint is checked)" if self.last_checkpoint is not None
                else "no checkpoint was written before it")
        raise KinemaError(f"training diverged at step {self.step + 1}: {reason}. Nothing of this "
                          f"state is saved; {good}. Lower train.lr (now {self.config.lr:g}) and "
                          f"run again (it resumes from that checkpoint), or --no-resume")

    def _check_weights(self) -> None:
        self._diverged(self.divergence.check_weights(weight_norm(self._trainable())))

    def _nonfinite_message(self) -> str:
        first = self.step - self.nonfinite_run + 1
        if self.last_checkpoint is not None:
            good = f"the last good checkpoint is {self.last_checkpoint}"
        else:
            good = "no checkpoint was written before it"
        return (f"training stopped at step {self.step}: the loss or its gradient was not finite "
                f"for {self.nonfinite_run} steps in a row (steps {first}-{self.step}; "
                f"train.max_nonfinite={self.config.max_nonfinite}); those updates were skipped "
                f"and {good}. Lower train.lr or set train.grad_clip, then resume.")

    # ------------------------------------------------------------------------- outputs

    def _write_log(self, meter: LossMeter, lrs: dict) -> None:
        means = meter.means(self.dist.sum)   # a collective: every rank takes part
        if self.log is None:
            return
        now, (then, step_then) = time.perf_counter(), self._interval
        self._interval = (now, self.step)
        rate = (self.step - step_then) / max(now - then, 1e-9)
        self.log.write({"step": self.step, "time": round(self.elapsed, 4), "wall": time.time(),
                        "losses": means, "lr": lrs, "nonfinite": self.nonfinite_total,
                        "steps_per_second": round(rate, 3),
                        **({"overflow_skipped": self.precision.skipped}
                           if self.precision.scalers else {})})

    def _write_samples(self, batch: dict) -> None:
        if self.sample_fn is None:
            return
        from kinema.train.samples import write_samples

        rng, was_training = capture_rng(), self.method.training
        self.method.eval()
        # samples come from the averaged weights when EMA is on (StyleGAN's snapshots are G_ema's)
        previous = self.ema.swap_into(self.method) if self.ema is not None else None
        try:
            seed_everything(self.config.seed)   # the same noise every time: comparable samples
            with torch.no_grad():
                video = self.sample_fn(batch)   # (b t c h w) in [-1, 1]
        finally:
            if previous is not None:
                self.method.load_state_dict(previous, strict=False)
            self.method.train(was_training)
            restore_rng(rng)                    # sampling must not change the training stream
        write_samples(self.out_dir, self.step, video, self.log.writer if self.log else None)

    def _checkpoint(self) -> None:
        self._check_weights()      # the same on every rank: parameters are kept in sync
        self._stop.restart_timer()
        rng = self.dist.gather_objects(capture_rng())
        if self.dist.is_main:
            state = {"step": self.step,
                     "optimizers": {g: o.state_dict() for g, o in self.optimizers.items()},
                     "schedulers": {g: s.state_dict() for g, s in self.schedulers.items()},
                     "rng": rng, "data": self.batches.position.to_dict(),
                     "nonfinite_total": self.nonfinite_total,
                     "nonfinite_run": self.nonfinite_run, "elapsed": self.elapsed,
                     "world_size": self.dist.world_size,
                     "divergence": self.divergence.state_dict(),
                     "precision": self.precision.state_dict()}
            self.last_checkpoint = save_checkpoint(
                self.ckpt_root, self.step, model=self.method.state_dict(),
                ema=self.ema.state_dict() if self.ema is not None else None, state=state,
                recipe=self.recipe.to_dict() if self.recipe is not None else None,
                keep=self.config.keep_checkpoints)
        else:           # rank 0 wrote it to the shared disk; other ranks name it in messages
            self.last_checkpoint = self.ckpt_root / step_dir_name(self.step)
        self.dist.barrier()

    def _finish(self) -> None:
        """``out_dir/model`` (EMA weights when EMA is on) and ``out_dir/recipe.json``."""
        self._check_weights()      # a diverged model is never saved as the final one
        if self.dist.is_main:
            if hasattr(self.method, "save_pretrained"):
                previous = self.ema.swap_into(self.method) if self.ema is not None else None
                try:
                    self.method.save_pretrained(self.out_dir / "model")
                finally:
                    if previous is not None:
                        self.method.load_state_dict(previous, strict=False)
            if self.recipe is not None:
                write_atomic(self.out_dir / "recipe.json",
                                   json.dumps(self.recipe.to_dict(), indent=2))
            self._say(self._summary())
        self.dist.barrier()

    def _say(self, message: str) -> None:
        if not self.quiet:
            _say(message)

    def _summary(self) -> str:
        """What a person wants to know when the run ends, and where its outputs are."""
        from kinema.train.samples import samples_written

        losses = " ".join(f"{g}={v}" for g, v in self._shown.items())
        overflows = (f", {self.precision.skipped} fp16 overflow(s) skipped"
                     if self.precision.scalers else "")
        parts = [f"finished at step {self.step} ({self.elapsed:.1f} s of training, "
                 f"{self.nonfinite_total} non-finite step(s){overflows} skipped)",
                 f"last losses {losses}" if losses else "no step was left to run",
                 f"metrics: {self.out_dir / 'metrics.jsonl'}"]
        if self.last_checkpoint is not None:
            parts.append(f"checkpoint: {self.last_checkpoint}")
        if samples_written(self.out_dir):
            parts.append(f"samples: {self.out_dir / 'samples'}")
        return "; ".join(parts)


def _say(message: str) -> None:
    tqdm.write(message, file=sys.stderr)
