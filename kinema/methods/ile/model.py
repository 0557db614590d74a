"""ILE: an invertible network g_theta whose embeddings of the frames follow a latent linear
dynamic system (Algorithm 1 of the paper), trained by the paper's objective, Eq. (2) with the
scale layer of Sec. 2.6.

Training (``training_step``): dequantise each frame, embed all frames independently through
the flow, solve the least-squares initial state of the linear system, and minimise
Eq. (2) + the scale layer (``losses.scale_invariant_objective``). The paper calls this the
likelihood; it is not one (the scale layer is not invertible and x0* is fitted on the frames
it scores, see ``losses``), so kinema reports it as an objective in bits/dim. With
``scale_layer=False`` the model has a true held-out likelihood, ``conditional_likelihood``.
Prediction (``predict``): embed the k observed frames, infer x0* from them, roll A forward,
and decode C A^t x0* (the mean) or C A^t x0* + noise (samples) through g.
"""
from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.ile.config import ILEConfig
from kinema.methods.ile.flow import MultiScaleFlow
from kinema.methods.ile.linear_system import LatentLinearSystem
from kinema.methods.ile.losses import conditional_nll, scale_invariant_objective, scale_layer
from kinema.pretrained import Pretrained
from kinema.tasks import check_video


class ILE(nn.Module, Pretrained):
    config_class = ILEConfig

    def __init__(self, config: ILEConfig):
        super().__init__()
        config.check()
        self.config = config
        self.flow = MultiScaleFlow(
            channels=config.channels, image_size=config.image_size, blocks=config.blocks,
            steps_per_block=config.steps_per_block, hidden=config.hidden, clamp=config.clamp,
            actnorm=config.actnorm, invertible_1x1=config.invertible_1x1,
            memory_saving=config.memory_saving, seed=config.seed)
        self.system = LatentLinearSystem(config.state_dim, self.flow.dim, seed=config.seed)

    # ---- frames <-> flow space ------------------------------------------------------------
    @property
    def levels(self) -> int:
        return 2 ** self.config.n_bits

    def to_flow_input(self, frames: torch.Tensor, dequantize: bool = True) -> torch.Tensor:
        """[-1, 1] frames -> quantised to 2^n_bits levels, + uniform noise (or the bin centre)
        / 2^n_bits - 1/2: the continuous flow input in [-1/2, 1/2)."""
        q = torch.round((frames.clamp(-1, 1) + 1) / 2 * (self.levels - 1))
        noise = torch.rand_like(q) if dequantize else torch.full_like(q, 0.5)
        return (q + noise) / self.levels - 0.5

    def from_flow_output(self, u: torch.Tensor) -> torch.Tensor:
        """Inverse of ``to_flow_input`` at the bin centre, clamped to [-1, 1]."""
        q = (u + 0.5) * self.levels - 0.5
        return (q / (self.levels - 1) * 2 - 1).clamp(-1, 1)

    def _check(self, video: torch.Tensor, name: str) -> None:
        check_video(video, name)
        c, s = self.config.channels, self.config.image_size
        if tuple(video.shape[2:]) != (c, s, s):
            raise KinemaError(f"{name} frames must be ({c}, {s}, {s}) for this ILE model, "
                              f"got {tuple(video.shape[2:])}")

    def embed(self, video: torch.Tensor, dequantize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """video (b t c h w) -> embeddings y = g^{-1}(o) (b t d) and log|det dy/do| (b t)."""
        b = video.shape[0]
        frames = self.to_flow_input(rearrange(video, "b t c h w -> (b t) c h w"), dequantize)
        y, logdet = self.flow.encode(frames)
        return rearrange(y, "(b t) d -> b t d", b=b), rearrange(logdet, "(b t) -> b t", b=b)

    def render(self, y: torch.Tensor) -> torch.Tensor:
        """embeddings (b t d) -> frames (b t c h w) in [-1, 1] through g."""
        b = y.shape[0]
        frames = self.flow.decode(rearrange(y.to(self.system.C.dtype), "b t d -> (b t) d"))
        return rearrange(self.from_flow_output(frames), "(b t) c h w -> b t c h w", b=b)

    # ---- training contract (kinema/train/method.py) ---------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def expected_input(self) -> dict:
        """Frames of the flow's size; any number of them (checked by the trainer)."""
        return {"channels": self.config.channels, "image_size": self.config.image_size}

    def objective(self, video: torch.Tensor, dequantize: bool = True,
                  context_frames: int | None = None) -> dict[str, torch.Tensor]:
        """The training objective, Eq. (2) + Sec. 2.6, on a batch of sequences (b t c h w); see
        ``losses.scale_invariant_objective`` (bits/dim of a scale-invariant objective, not a
        normalised likelihood)."""
        self._check(video, "video")
        y, logdet = self.embed(video, dequantize)
        return scale_invariant_objective(y, logdet, self.system, self.config.n_bits,
                                         context_frames, self.config.scale_layer)

    def training_step(self, batch: dict, group: str = "model") -> dict[str, torch.Tensor]:
        return self.objective(batch["video"])

    def conditional_likelihood(self, video: torch.Tensor,
                               context_frames: int | None = None) -> dict[str, torch.Tensor]:
        """The held-out likelihood of the frames after the context, given the context, for a
        model without the scale layer: ``conditional_bits_per_dim`` = -log2 p(o_k.. | o_..k-1)
        per dimension + n_bits (frames after the context dequantised with uniform noise, an
        upper bound on the discrete frames' bits/dim; the context at its bin centres, as
        ``predict`` reads it) and ``conditional_nll`` in nats per sequence (b,)."""
        if self.config.scale_layer:
            raise KinemaError("a model with the Sec. 2.6 scale layer has no normalised likelihood "
                              "(y -> y / mean|y| is not invertible); train one with "
                              "--set model.scale_layer=false for a held-out likelihood")
        self._check(video, "video")
        k = context_frames or self.config.context_frames
        if not 0 < k < video.shape[1]:
            raise KinemaError(f"conditional likelihood needs 1..{video.shape[1] - 1} context "
                              f"frames of these {video.shape[1]}-frame clips, got {k}")
        context_y, _ = self.embed(video[:, :k], dequantize=False)
        future_y, future_logdet = self.embed(video[:, k:], dequantize=True)
        nll = conditional_nll(context_y, future_y, future_logdet, self.system)       # (b,)
        dims = future_y.shape[1] * future_y.shape[2]
        bits = (nll.mean() / dims / math.log(2) + self.config.n_bits).float()
        return {"conditional_bits_per_dim": bits, "conditional_nll": nll}

    @torch.no_grad()
    def on_train_start(self, batch: dict) -> None:
        """ActNorm's data-dependent initialisation (only when the config enables actnorm)."""
        if self.config.actnorm:
            self.embed(batch["video"])

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        """The first context frames of each logged clip followed by the mean prediction."""
        video = batch["video"][:4]
        k = min(self.config.context_frames, video.shape[1] - 1)
        future = self.predict(video[:, :k], video.shape[1] - k)[:, 0]
        return torch.cat([video[:, :k], future], dim=1)

    # ---- prediction (kinema.tasks.Prediction) ---------------------------------------------
    @torch.no_grad()
    def infer(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent state x0* (b n) float64 and per-frame gamma (b k) from observed frames (b k c h w)."""
        self._check(context, "context")
        y, _ = self.embed(context, dequantize=False)
        z, gamma = scale_layer(y) if self.config.scale_layer else (y, torch.ones(y.shape[:2]).to(y))
        return self.system.infer_state(z), gamma

    @torch.no_grad()
    def predict(self, context: torch.Tensor, num_frames: int, num_samples: int = 1,
                generator: torch.Generator | None = None,
                temperature: float | None = None) -> torch.Tensor:
        """context: (b k c h w) in [-1, 1]. Returns (b n t c h w): the t frames after the context.

        ``temperature`` is the std of the Gaussian observation noise added to C A^t x0* in the
        latent space (the model's own noise is 1). Default: 0 for ``num_samples == 1`` (the mean
        prediction, as the Prediction protocol asks of n=1) and ``config.temperature`` for more.
        Decoded frames use the scale gamma of the last observed frame (Sec. 2.6's gamma is
        only known for observed frames)."""
        if num_frames < 1 or num_samples < 1:
            raise KinemaError(f"num_frames and num_samples must be >= 1, got {num_frames}, {num_samples}")
        if temperature is None:
            temperature = 0.0 if num_samples == 1 else self.config.temperature
        x0, gamma = self.infer(context)
        k = context.shape[1]
        mean = self.system.rollout(x0, k, num_frames)                   # (b t d) float64
        z = mean.unsqueeze(1).expand(-1, num_samples, -1, -1)           # (b n t d)
        if temperature > 0:
            noise = torch.randn(z.shape, generator=generator, dtype=z.dtype,
                                device=generator.device if generator is not None else z.device)
            z = z + temperature * noise.to(z.device)
        y = z * gamma[:, -1].double()[:, None, None, None]
        frames = self.render(rearrange(y, "b n t d -> (b n) t d"))
        return rearrange(frames, "(b n) t c h w -> b n t c h w", n=num_samples)

    def predict_mean(self, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        """The mean prediction (b t c h w): C A^t x0* decoded through g."""
        return self.predict(context, num_frames, num_samples=1, temperature=0.0)[:, 0]
