"""The cost of a training step in W+ against one in image space (StyleVideoGAN Sec. 1 and 4:
supervision in W+ "completely eliminates the necessity to actually render any video frames at
training time"; the paper's 160x is 40 GPU days of Tian et al. against its 6 GPU hours).

``ImageSpaceTemporalGAN`` is the same temporal generator trained the other way: its ws are
rendered through the (frozen) image generator, and the critic sees frames: a per-frame
convolutional encoder (the image stage's encoder architecture, trainable) to W+-shaped
features, then the same critic C (E + temporal convolutions); WGAN-GP on the frames, the same
L_GAP. ``step_seconds`` times one critic + generator iteration of either model on one batch.
"""
from __future__ import annotations

import time

import torch
from einops import rearrange
from torch import nn

from kinema.methods.latentgan.image import WPlusEncoder
from kinema.methods.latentgan.losses import (wasserstein_critic_loss, wasserstein_generator_loss,
                                             wgan_gradient_penalty)
from kinema.methods.latentgan.temporal import LatentCritic
from kinema.nn.gan import frozen


class FrameCritic(nn.Module):
    """video (b t c h w) -> scores (b): frame encoder to (num_ws w_dim) per frame, then C."""

    def __init__(self, model):
        super().__init__()
        image, cfg = model.image, model.config
        self.frames = WPlusEncoder(image.channels, image.resolution, tuple(image.config.encoder_widths),
                                   image.num_ws, image.w_dim)
        self.critic = LatentCritic(image.num_ws, image.w_dim, cfg.window, cfg.critic_width,
                                   cfg.critic_features, cfg.critic_channels)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b = video.shape[0]
        codes = self.frames(rearrange(video, "b t c h w -> (b t) c h w"))
        return self.critic(rearrange(codes, "(b t) n d -> b t n d", b=b))


class ImageSpaceTemporalGAN(nn.Module):
    """The temporal generator of ``model`` supervised on rendered frames (module docstring)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.critic = FrameCritic(model)

    def render(self, ws: torch.Tensor) -> torch.Tensor:
        b = ws.shape[0]
        frames = self.model.image.synthesis(rearrange(ws, "b t n d -> (b t) n d"), noise_mode="none")
        return rearrange(frames, "(b t) c h w -> b t c h w", b=b)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"critic": list(self.critic.parameters()),
                "generator": list(self.model.generator.parameters())}

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        real = self.model.render(batch["ws"])          # the training frames the embedding shows
        generator = self.model.generator
        i, s = generator.noise(real.shape[0], real.shape[1], device=real.device)
        if group == "critic":
            with torch.no_grad():
                fake = self.render(generator(i, s)[0])
            loss = wasserstein_critic_loss(self.critic(real), self.critic(fake))
            return {"loss": loss + self.model.config.gp_weight * wgan_gradient_penalty(self.critic, real, fake)}
        ws, _ = generator(i, s)
        with frozen(self.critic):
            loss = wasserstein_generator_loss(self.critic(self.render(ws)))
        if self.model.config.gap_weight > 0:
            loss = loss + self.model.config.gap_weight * self.model.angle_penalty(i, s)[0]
        return {"loss": loss}


def step_seconds(method, batch: dict, steps: int = 3, warmup: int = 1) -> float:
    """Median wall time of one iteration (critic step, then generator step, Adam) on ``batch``."""
    optimizers = {g: torch.optim.Adam(p, lr=1e-4) for g, p in method.parameter_groups().items()}
    times = []
    for step in range(warmup + steps):
        started = time.perf_counter()
        for group, optimizer in optimizers.items():
            optimizer.zero_grad(set_to_none=True)
            method.training_step(batch, group)["loss"].backward()
            optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def compare_step_costs(model, windows: torch.Tensor, steps: int = 3) -> dict:
    """{"w_plus_seconds", "image_space_seconds", "ratio"} for a batch of windows (b t n d).
    The models are trained for ``steps`` iterations here; ``model`` is restored afterwards."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    was = model.training
    model.train()
    try:
        batch = {"ws": windows}
        latent = step_seconds(model, batch, steps)
        image_space = step_seconds(ImageSpaceTemporalGAN(model), batch, steps)
    finally:
        model.load_state_dict(saved)
        model.train(was)
    return {"w_plus_seconds": latent, "image_space_seconds": image_space,
            "ratio": image_space / latent, "batch": int(windows.shape[0]),
            "window": int(windows.shape[1]), "resolution": model.image.resolution}
