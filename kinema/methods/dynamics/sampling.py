"""Sampling spectral volumes from a picture: DDIM / DPM-Solver++, classifier-free guidance, and
seamless loops by motion self-guidance (Sec. 6, Eq. (5)).

At every denoising step n (diffusers schedulers; ``set_timesteps`` before every loop):

    eps_hat = (1 + w) eps(z_n, n, c) - w eps(z_n, n, 0) + u grad_{z_n} L_g^n          Eq. (5)

with w the guidance weight (paper: 1.75; w = 0 is the conditional model alone) and, when
``loop`` is set, u the self-guidance weight (paper: 200) and L_g^n the loop loss
(``motion.seam_error``) of the displacements predicted at step n: the clean latents
z0_hat = (z_n - sqrt(1 - a_n) eps) / sqrt(a_n) decoded to a spectral volume and evaluated
at the three frames either side of the loop's wrap (position and velocity across it). The gradient flows through the denoiser, the VAE
decoder and the inverse FFT (universal guidance, the paper's ref. [3]). Self-recurrence (ref.
[3]; the paper uses 2 iterations with DDIM): after a step, the sample is noised back to
level n and the step repeated.

The models (``FrequencyDiffusion``, ``FrequencyCoordinatedDiffusion``) provide ``condition``,
``denoise``, ``decode_latents``, ``latent_shape``, ``scheduler`` and ``period``.
"""
from __future__ import annotations

from typing import Callable

import torch
from einops import repeat

from kinema.errors import KinemaError
from kinema.methods.dynamics.motion import seam_error

SAMPLERS = {"ddim": "ddim", "dpm": "dpm", "dpm-solver++": "dpm", "dpmsolver++": "dpm"}
DEFAULT_STEPS = {"ddim": 250, "dpm": 20}   # Sec. 7: DDIM with 250 steps; DPM-Solver++: a fast solver
# Loops (Sec. 7: DDIM, 500 steps, 2 self-recurrence iterations). u * grad L_g acts as a gradient
# step on the seam whose size grows with the sampler's stride: on the trained small model,
# DPM-Solver++ at 20 steps overshoots (guided seams are worse than unguided ones) and DDIM at 20
# steps helps only some seeds, while DDIM at 50 steps with 2 recurrences lowers the seam
# several-fold (benchmarks/dynamics-loops.md). The applications sample loops so by default.
LOOP_SAMPLER, LOOP_STEPS = "ddim", 50
LOOP_RECURRENCE = 2   # self-recurrence iterations of a DDIM loop (Sec. 7: 2)


def _pictures(image: torch.Tensor) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4) or not image.is_floating_point():
        raise KinemaError("the picture must be a float tensor (3 h w) or (b 3 h w) in [-1, 1]")
    return image[None] if image.ndim == 3 else image


def _generators(seed: int, count: int, device) -> list[torch.Generator]:
    """One generator per sample: sample i of a call with seed s is the same in any batch."""
    return [torch.Generator(device=device).manual_seed(int(seed) + i) for i in range(count)]


def _normal(shape, generators: list[torch.Generator], device, dtype) -> torch.Tensor:
    return torch.stack([torch.randn(shape, generator=g, device=device, dtype=dtype) for g in generators])


# the parts of a guided evaluation, in order (``guided_noise``'s ``lap``)
GUIDED_PARTS = ("denoiser forward", "decoder forward + seam loss", "backward through decoder + seam loss",
                "backward through the denoiser")


def guided_noise(model, latents, timestep, condition, guidance: float, loop: bool, loop_weight: float,
                 alpha_bar: torch.Tensor, loop_frames: int, slowmo: float,
                 lap: Callable[[str | None], None] | None = None) -> torch.Tensor:
    """eps_hat of Eq. (5) for latents (b k c h w) at one ``timestep``.

    ``lap``: called with the name of each part of ``GUIDED_PARTS`` as it begins and with None
    when the evaluation ends (benchmarks time the parts; without ``loop`` only the first)."""
    lap = lap or (lambda part: None)
    lap(GUIDED_PARTS[0])
    b = latents.shape[0]
    timesteps = torch.full((2 * b,), int(timestep), device=latents.device, dtype=torch.long)
    both_conditions = torch.cat([condition, torch.zeros_like(condition)])
    with torch.enable_grad() if loop else torch.no_grad():
        z = latents.detach().requires_grad_(loop)
        eps_conditional, eps_null = model.denoise(torch.cat([z, z]), timesteps, both_conditions).chunk(2)
        eps = (1.0 + guidance) * eps_conditional - guidance * eps_null
        if not loop:
            lap(None)
            return eps
        lap(GUIDED_PARTS[1])
        clean = (z - (1.0 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()       # z0_hat at step n
        volume = model.decode_latents(clean)
        loss = seam_error(volume, loop_frames, model.period, slowmo).sum()   # per-sample losses add
        lap(GUIDED_PARTS[2])
        # the chain rule in two calls (the same products as one call from loss to z), so that
        # the decoder's and the denoiser's shares of the backward pass can be timed apart
        (clean_gradient,) = torch.autograd.grad(loss, clean)
        lap(GUIDED_PARTS[3])
        (gradient,) = torch.autograd.grad(clean, z, clean_gradient)
        lap(None)
    return eps.detach() + loop_weight * gradient


def sample_latents(model, image: torch.Tensor, num_samples: int = 1, seed: int = 0, *, sampler: str = "ddim",
                   steps: int | None = None, guidance: float = 1.75, loop: bool = False,
                   loop_weight: float = 200.0, loop_frames: int | None = None, slowmo: float = 1.0,
                   recurrence: int | None = None, progress: bool = True,
                   lap: Callable[[str | None], None] | None = None) -> torch.Tensor:
    """Latents (b n k c h w) of ``num_samples`` spectral volumes per picture; see ``predict_spectral_volume``
    (``lap``: ``guided_noise``'s, for every evaluation)."""
    from tqdm.auto import tqdm

    if sampler not in SAMPLERS:
        raise KinemaError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    kind = SAMPLERS[sampler]
    steps = DEFAULT_STEPS[kind] if steps is None else int(steps)
    if steps < 1:
        raise KinemaError(f"steps must be at least 1; got {steps}")
    scheduler = model.scheduler(kind)
    # at most T - 1 steps for T training timesteps: DDIM's timesteps are i * (T // steps) + 1
    # (diffusers' "leading" spacing, offset 1), so steps = T would ask for timestep T, past the
    # schedule; DPM-Solver++ with steps = T returns NaN (tests/methods/dynamics/test_sampling.py)
    most = scheduler.config.num_train_timesteps - 1
    if steps > most:
        raise KinemaError(f"{kind} sampling takes at most {most} steps with this model "
                          f"({scheduler.config.num_train_timesteps} training timesteps); got {steps}")
    if num_samples < 1:
        raise KinemaError(f"num_samples must be at least 1; got {num_samples}")
    recurrence = (LOOP_RECURRENCE if loop and kind == "ddim" else 1) if recurrence is None else int(recurrence)
    if recurrence < 1 or (recurrence > 1 and kind != "ddim"):
        raise KinemaError(f"self-recurrence needs the DDIM sampler and at least 1 iteration; got "
                          f"recurrence={recurrence} with {sampler}")
    pictures = _pictures(image)
    device, dtype = pictures.device, pictures.dtype
    b = pictures.shape[0]
    condition = repeat(model.condition(pictures), "b c h w -> (b n) c h w", n=num_samples)
    loop_frames = model.period if loop_frames is None else int(loop_frames)

    scheduler.set_timesteps(steps, device=device)      # schedulers are stateful: once per loop
    generators = _generators(seed, b * num_samples, device)
    latents = _normal(model.latent_shape(), generators, device, dtype) * scheduler.init_noise_sigma
    alphas = scheduler.alphas_cumprod.to(device=device, dtype=dtype)
    stride = scheduler.config.num_train_timesteps // steps
    for timestep in tqdm(scheduler.timesteps, desc=f"{kind} sampling", disable=not progress, leave=False):
        t = int(timestep)
        for r in range(recurrence):
            eps = guided_noise(model, latents, t, condition, guidance, loop, loop_weight, alphas[t],
                               loop_frames, slowmo, lap)
            previous = scheduler.step(eps, timestep, latents).prev_sample
            if r + 1 < recurrence:   # self-recurrence: noise z_{n-1} back to level n and repeat
                a_prev = alphas[t - stride] if t - stride >= 0 else scheduler.final_alpha_cumprod.to(alphas)
                ratio = alphas[t] / a_prev
                noise = _normal(model.latent_shape(), generators, device, dtype)
                latents = ratio.sqrt() * previous + (1.0 - ratio).sqrt() * noise
            else:
                latents = previous
    return latents.reshape(b, num_samples, *latents.shape[1:])


@torch.no_grad()
def predict_spectral_volume(model, image: torch.Tensor, num_samples: int = 1, seed: int = 0, loop: bool = False,
                            steps: int | None = None, sampler: str = "ddim", guidance: float = 1.75,
                            loop_weight: float = 200.0, loop_frames: int | None = None, slowmo: float = 1.0,
                            recurrence: int | None = None, progress: bool = True) -> torch.Tensor:
    """Spectral volumes (b n k 4 h w), un-normalised, in px, for pictures (b 3 h w) or (3 h w).

    ``model``: a trained ``dynamics-attention`` (the paper's model) or ``dynamics-diffusion``
    model (stage A alone: "Independent pred."; or "Volume pred."), in eval mode.
    Channels [Re dx, Re dy, Im dx, Im dy] of the K lowest rfft bins of ``model.period``-frame
    trajectories (``kinema.data.spectral``); turn them into displacements with
    ``motion.spectral_volume_to_motion(S, num_frames, period=model.period, slowmo=..., magnify=...)``.
    ``sampler``: ``ddim`` (default 250 steps, the paper's) or ``dpm`` (DPM-Solver++, 20 steps).
    ``guidance``: CFG weight w of Eq. (5) (1.75). ``loop``: motion self-guidance with weight
    ``loop_weight`` (u = 200) for a seamless loop of ``loop_frames`` frames (default
    ``model.period``) at ``slowmo``; ``recurrence`` self-recurrence iterations (default 2 for
    a DDIM loop as in the paper, else 1). Sample i of a picture uses seed ``seed + i``.
    """
    latents = sample_latents(model, image, num_samples, seed, sampler=sampler, steps=steps, guidance=guidance,
                             loop=loop, loop_weight=loop_weight, loop_frames=loop_frames, slowmo=slowmo,
                             recurrence=recurrence, progress=progress)
    b, n = latents.shape[:2]
    volume = model.decode_latents(latents.flatten(0, 1))
    return volume.reshape(b, n, *volume.shape[1:])
