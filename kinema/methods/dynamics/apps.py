"""Applications of Generative Image Dynamics (Sec. 6) on a trained ``dynamics-render`` model (the
renderer with its embedded motion model: the whole image-to-video sampler):

- ``animate``: one picture -> spectral volumes (``sampling.predict_spectral_volume``) -> motion
  textures -> rendered videos. Slow motion samples the motion texture more densely in time
  (``slowmo``: the Fourier series is evaluated between integer frames), magnification scales
  the spectral volume (``magnify``), ``loop`` samples with motion self-guidance (Eq. (5)) so the
  video of ``num_frames`` frames repeats seamlessly;
- ``spectral_volume_picture``: what people look at: the amplitude of every frequency and the
  flow colours of its coefficients;
- ``load_sampler`` / ``prepare_picture``: a model folder and a user's picture, checked.

The fast sampler (DPM-Solver++, 20 steps) is the default here, because these run on a CPU; the
paper samples with DDIM in 250 steps (``sampler="ddim"``). Loops default to DDIM with 50 steps
and 2 self-recurrences (``sampling.LOOP_SAMPLER``, ``LOOP_STEPS``): with the fast sampler,
self-guidance overshoots and raises the seam error of a trained model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kinema.errors import KinemaError

RENDER_CLASS = "kinema.methods.dynamics.render:ImageRenderer"


def load_sampler(path: str | Path):
    """The ``ImageRenderer`` saved in a model or run folder, with its motion model, in eval mode."""
    from kinema.pretrained import load_pretrained, model_folder, read_model_class

    folder = model_folder(Path(path))
    found = read_model_class(folder)
    if found != RENDER_CLASS:
        raise KinemaError(f"{folder} holds a {found} model, not the image-to-video sampler: animate and "
                          f"poke need a trained dynamics-render model, which embeds the motion model "
                          f"(`kinema train dynamics-render --preset small` after the motion stages)")
    renderer = load_pretrained(folder).eval()
    if renderer.motion is None:
        raise KinemaError(f"{folder} is a renderer trained without a motion model (model.attention_path and "
                          f"model.diffusion_path were empty): retrain it naming the trained motion stage")
    return renderer


def prepare_picture(path: str | Path, renderer) -> torch.Tensor:
    """A picture file -> (1 3 H W) in [-1, 1] at the motion model's size (centre crop + area
    resize, ``kinema.data.pictures``)."""
    from kinema.data.pictures import picture_to_model

    return picture_to_model(path, 3, tuple(renderer.motion.image_size))


@torch.no_grad()
def animate(renderer, image: torch.Tensor, num_frames: int | None = None, num_samples: int = 1, seed: int = 0,
            loop: bool = False, slowmo: float = 1.0, magnify: float = 1.0, sampler: str | None = None,
            steps: int | None = None, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """image (1 3 H W) -> (videos (n t 3 H W) in [-1, 1], spectral volumes (n k 4 H W) in px).

    ``num_frames`` defaults to one period of the motion model at ``slowmo`` (period * slowmo).
    ``sampler`` defaults to DPM-Solver++, and for a loop to DDIM (``LOOP_STEPS`` steps unless
    ``steps`` is given) with 2 self-recurrences."""
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.sampling import LOOP_SAMPLER, LOOP_STEPS, predict_spectral_volume

    if sampler is None:
        sampler = LOOP_SAMPLER if loop else "dpm"
        steps = LOOP_STEPS if loop and steps is None else steps

    motion_model = renderer.motion
    period = motion_model.period
    num_frames = int(round(period * slowmo)) if num_frames is None else int(num_frames)
    volumes = predict_spectral_volume(motion_model, image, num_samples=num_samples, seed=seed, loop=loop,
                                      steps=steps, sampler=sampler, loop_frames=num_frames, slowmo=slowmo,
                                      progress=progress)[0]                                   # (n k 4 h w)
    motion = spectral_volume_to_motion(volumes, num_frames, period=period, slowmo=slowmo, magnify=magnify)
    weight = period_weight(volumes, period, magnify)
    videos = renderer.render(image.expand(num_samples, -1, -1, -1), motion.to(image), weight.to(image))
    return videos, volumes


def period_weight(volumes: torch.Tensor, period: int, magnify: float = 1.0) -> torch.Tensor:
    """The splatting weight W (n 1 H W) of Sec. 5 over one period of the motion (the same for any
    number of frames or slow-motion factor): volumes (n k 4 H W)."""
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.render_data import motion_weight

    return motion_weight(spectral_volume_to_motion(volumes, period, period=period, magnify=magnify))


def spectral_volume_picture(volume: torch.Tensor) -> np.ndarray:
    """uint8 (H' W' 3): for every frequency k (columns), the amplitude sqrt(|S_x|^2 + |S_y|^2)
    (top row, grey, each frequency scaled to its own maximum: high frequencies are small) and
    the flow colours of (Re S_x, Re S_y) (bottom row, ``kinema.viz.flow_colors``, same scale
    per frequency). volume (k 4 h w)."""
    from kinema.viz.flow_colors import flow_to_color

    volume = volume.detach().cpu().double()
    k, _, h, w = volume.shape
    gap = 2
    canvas = np.full((2 * h + gap, k * (w + gap) - gap, 3), 255, np.uint8)
    for j in range(k):
        amplitude = volume[j].square().sum(0).sqrt().numpy()                     # (h w)
        peak = max(float(amplitude.max()), 1e-12)
        grey = np.floor(255 * amplitude / peak).astype(np.uint8)
        x = j * (w + gap)
        canvas[:h, x:x + w] = grey[..., None]
        canvas[h + gap:, x:x + w] = flow_to_color(volume[j, :2].numpy(), max_magnitude=peak)
    return canvas
