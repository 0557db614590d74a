"""Generative Image Dynamics' section of ``kinema demo``: a still picture animated, its seamless
loop (motion self-guidance, with the seam error of both), and a poke (modal dynamics).

It uses the trained small sampler when ``runs/dynamics-render-small`` holds one (the four
``kinema train dynamics-* --preset small`` runs); otherwise it trains the tiny preset's four
stages itself with the real Trainer (``train_quickly``; a few steps in quick mode, so tests take
seconds) and says so: such a model shows the pipeline, not learned motion.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from kinema.viz.sections import DemoContext, train_quickly

TRAINED_SAMPLER = Path("runs/dynamics-render-small")
STEPS = {True: 2, False: 150}     # per stage: quick (tests) / full demo without trained runs


def _train_tiny_sampler(ctx: DemoContext, folder: Path, steps: int):
    """The tiny preset's VAE, stage A, stage B and renderer, each trained ``steps`` steps."""
    from kinema.data import load_dataset
    from kinema.methods.dynamics.attention import FrequencyCoordinatedDiffusion
    from kinema.methods.dynamics.config import (attention_config, diffusion_config, render_config, render_data,
                                                vae_config, motion_data)
    from kinema.methods.dynamics.diffusion import FrequencyDiffusion
    from kinema.methods.dynamics.render import ImageRenderer
    from kinema.methods.dynamics.vae import SpectralVAE

    def dataset(config):
        return load_dataset(config.name, config.split, **{**config.options, "cache_dir": str(folder / "cache"),
                                                          "progress": False})

    motion = dataset(motion_data("tiny"))
    torch.manual_seed(ctx.settings.seed)
    stages = [("vae", lambda: SpectralVAE(vae_config("tiny"))),
              ("diffusion", lambda: FrequencyDiffusion(
                  _with(diffusion_config("tiny"), vae_path=str(folder / "vae")))),
              ("attention", lambda: FrequencyCoordinatedDiffusion(
                  _with(attention_config("tiny"), diffusion_path=str(folder / "diffusion"))))]
    for name, build in stages:
        model = build()
        history = train_quickly(model, motion, steps, batch_size=2, seed=ctx.settings.seed)
        loss = next(v for k, v in history.items() if k.endswith("/loss"))
        ctx.log(f"dynamics {name}: {steps} steps, loss {loss[0]:.3f} -> {loss[-1]:.3f}")
        model.save_pretrained(folder / name)
    renderer = ImageRenderer(_with(render_config("tiny"), attention_path=str(folder / "attention")))
    history = train_quickly(renderer, dataset(render_data("tiny")), steps, batch_size=2, seed=ctx.settings.seed)
    ctx.log(f"dynamics render: {steps} steps, L1 {history['model/loss'][0]:.3f} -> {history['model/loss'][-1]:.3f}")
    return renderer.eval()


def _with(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


def demo_section(ctx: DemoContext) -> None:
    """Add the Generative Image Dynamics section to the demo report."""
    from kinema.data import load_dataset
    from kinema.methods.dynamics.apps import animate, load_sampler, spectral_volume_picture
    from kinema.methods.dynamics.modal import poke_frames
    from kinema.methods.dynamics.motion import seam_error
    from kinema.methods.dynamics.sampling import LOOP_STEPS

    s, report = ctx.settings, ctx.report
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kinema-dynamics-demo-") as tmp:
        if (TRAINED_SAMPLER / "model").is_dir() and not s.quick:
            renderer, origin = load_sampler(TRAINED_SAMPLER), f"the trained small sampler ({TRAINED_SAMPLER})"
        else:
            steps = STEPS[s.quick]
            renderer = _train_tiny_sampler(ctx, Path(tmp), steps)
            origin = (f"the tiny preset's four stages trained {steps} steps each here (no trained "
                      f"{TRAINED_SAMPLER}): the pipeline, not learned motion")
        motion_model = renderer.motion
        h, w = motion_model.image_size
        picture = load_dataset("swaying", "test", num_videos=1, size=h, num_frames=motion_model.period)[0]["image"][None]
        steps = 2 if s.quick else 20
        video, volume = animate(renderer, picture, seed=s.seed, steps=steps, progress=False)
        period = motion_model.period
        # a loop of 3/4 of a period: not a whole number of cycles, where self-guidance matters most
        frames = max(2, round(0.75 * period))
        # a loop samples by DDIM with self-recurrence (LOOP_STEPS steps; 2 in a quick demo)
        loop_steps = steps if s.quick else LOOP_STEPS
        loop, loop_volume = animate(renderer, picture, num_frames=frames, seed=s.seed, loop=True, steps=loop_steps,
                                    progress=False)
        seams = [float(seam_error(v, frames, period)[0]) for v in (volume, loop_volume)]
        poked = torch.stack(list(poke_frames(renderer, picture, volume[0], period, at=(w // 2, h // 2),
                                             force=(1.5, 0.0), num_frames=2 * period)))
    report.section("Generative Image Dynamics: one picture, its motion, a loop and a poke")
    report.text(f"Model: {origin}. Spectral volumes by DPM-Solver++ ({steps} steps), rendered by softmax "
                f"splatting of a feature pyramid. Section time {time.perf_counter() - started:.1f} s.",
                preformatted=False)
    report.image(picture[0], caption="the still picture (a held-out swaying picture)")
    report.video(video[0], caption="image-to-video: one period of the sampled motion", fps=10)
    report.video(loop[0], caption=f"seamless loop of {frames} frames (motion self-guidance, DDIM with "
                                  f"{loop_steps} steps and 2 self-recurrences): seam error "
                                  f"{seams[1]:.3f} px against {seams[0]:.3f} px without guidance (same seed)", fps=10)
    report.image(spectral_volume_picture(volume[0]), caption="its spectral volume: amplitude per frequency "
                                                              "(top), flow colours of the coefficients (bottom)")
    report.video(poked, caption=f"a poke at the centre, (1.5, 0) px/frame, damping 0.03: modal dynamics "
                                f"(Eq. 6) rendered as it is simulated", fps=10)
