"""The multi-scale adversarial next-frame predictor of Mathieu, Couprie & LeCun (2015), "Deep
multi-scale video prediction beyond mean square error" — the ILE paper's "Adversarial
Training" baseline.

Generator (their Sec. 2.1): one convolutional net G'_k per scale s_1 < … < s_N. Scale k sees
the context frames X_k resized to s_k and the upsampled prediction of the coarser scale, and
predicts a correction:  Ŷ_k = u_k(Ŷ_{k-1}) + G'_k(X_k, u_k(Ŷ_{k-1})),  each G'_k ending in a
tanh; Ŷ_1 = G'_1(X_1). The sum may leave [-1, 1] by a little during training (the losses pull
it back); ``predict`` clamps every frame to [-1, 1]. (A first version
added the corrections before one shared tanh instead; on bouncing-digits it saturated at the
black background within 30 steps and stopped learning.)

Discriminator (their Sec. 3): one net D_k per scale on the context frames plus a real or
predicted frame; valid convolutions with ReLU, then fully connected layers to one logit (no
pooling: the paper lists only feature maps, kernels and layer sizes).

Loss (their Sec. 3–4; the paper is not in shared/papers, so the code names its terms, not
its equation numbers): L = λ_adv L_adv + λ_ℓp L_ℓp + λ_gdl L_gdl, every term summed over the
scales. Their L_adv is the binary cross-entropy with labels 1 (real) and 0 (predicted) for D,
1 for G: the non-saturating GAN loss of ``kinema.nn.gan``. Training predicts one frame ahead
from a random window of ``context_frames + 1`` frames of each clip; ``predict`` feeds
predictions back to go further.

Not as in the paper: the Trainer's AdamW (weight decay 0 by default) replaces their SGD.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.baselines.clips import check_count, check_frames
from kinema.methods.baselines.config import MathieuConfig
from kinema.methods.baselines.losses import gradient_difference_loss, lp_loss
from kinema.nn.gan import frozen, nonsaturating_discriminator_loss, nonsaturating_generator_loss
from kinema.pretrained import Pretrained


class ScaleGenerator(nn.Module):
    """G'_k: 'same' convolutions with ReLU between; the last layer outputs the correction."""

    def __init__(self, in_channels: int, out_channels: int, feature_maps, kernel_sizes):
        super().__init__()
        widths = (in_channels, *feature_maps, out_channels)
        layers: list[nn.Module] = []
        for i, k in enumerate(kernel_sizes):
            layers.append(nn.Conv2d(widths[i], widths[i + 1], k, padding=k // 2))
            if i < len(kernel_sizes) - 1:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ScaleDiscriminator(nn.Module):
    """D_k: valid convolutions with ReLU, flatten, fully connected layers to one logit."""

    def __init__(self, in_channels: int, size: int, feature_maps, kernel_sizes, fc):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for fm, k in zip(feature_maps, kernel_sizes):
            layers += [nn.Conv2d(width, fm, k), nn.ReLU()]
            width, size = fm, size - (k - 1)
        layers.append(nn.Flatten())
        features = width * size * size
        for hidden in fc:
            layers += [nn.Linear(features, hidden), nn.ReLU()]
            features = hidden
        layers.append(nn.Linear(features, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)                                # (b) logits


class MathieuPredictor(nn.Module, Pretrained):
    config_class = MathieuConfig

    def __init__(self, config: MathieuConfig | None = None):
        super().__init__()
        self.config = cfg = config or MathieuConfig()
        c, k = cfg.channels, cfg.context_frames
        self.generators = nn.ModuleList(
            ScaleGenerator(k * c + (c if i else 0), c, fm, ks)
            for i, (fm, ks) in enumerate(zip(cfg.generator_feature_maps,
                                             cfg.generator_kernel_sizes)))
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator((k + 1) * c, s, fm, ks, fc)
            for s, fm, ks, fc in zip(cfg.scales, cfg.discriminator_feature_maps,
                                     cfg.discriminator_kernel_sizes, cfg.discriminator_fc))

    # --- the generator ------------------------------------------------------------------------

    def forward(self, context: torch.Tensor) -> list[torch.Tensor]:
        """context: (b k c h w), k = context_frames. Returns the next frame predicted at every
        scale, coarse to fine: [(b c s_1 s_1), …, (b c h w)] (not clamped; see above)."""
        frames = rearrange(context, "b k c h w -> b (k c) h w")
        predictions: list[torch.Tensor] = []
        for scale, generator in zip(self.config.scales, self.generators):
            inputs = _resize(frames, scale)                          # X_k
            if not predictions:
                predictions.append(torch.tanh(generator(inputs)))    # Ŷ_1 = G'_1(X_1)
                continue
            coarse = _upsample(predictions[-1], scale)               # u_k(Ŷ_{k-1})
            correction = torch.tanh(generator(torch.cat([inputs, coarse], 1)))
            predictions.append(coarse + correction)                  # Ŷ_k
        return predictions

    @torch.no_grad()
    def predict(self, context: torch.Tensor, num_frames: int, num_samples: int = 1,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """context: (b k' c h w) with k' >= context_frames (the last ones are used). Returns
        (b n t c h w); the model is deterministic, so the n samples are equal (its one
        prediction). Frames beyond the first are predicted from earlier predictions."""
        cfg = self.config
        check_frames(context, "context", 5, (cfg.channels, cfg.image_size, cfg.image_size))
        check_count(num_frames, "num_frames")
        check_count(num_samples, "num_samples")
        if context.shape[1] < cfg.context_frames:
            raise KinemaError(f"this model predicts from {cfg.context_frames} context frames, "
                              f"got {context.shape[1]}")
        window = context[:, -cfg.context_frames:].to(self._dtype)    # (b k c h w)
        future = []
        for _ in range(num_frames):
            frame = self(window)[-1].clamp(-1, 1)                    # (b c h w)
            future.append(frame)
            window = torch.cat([window[:, 1:], frame[:, None]], 1)
        video = torch.stack(future, 1).to(context.dtype)             # (b t c h w)
        return repeat(video, "b t c h w -> b n t c h w", n=num_samples).clone()

    # --- the trainer contract -----------------------------------------------------------------

    def expected_input(self) -> dict:
        """Frames of the finest scale; windows of context_frames + 1 are drawn from each clip."""
        c = self.config
        return {"channels": c.channels, "image_size": c.image_size, "min_frames": c.context_frames + 1}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The discriminator first, then the generator, each iteration (Algorithm 1 of
        Mathieu et al.). Without the adversarial term there is no discriminator to train."""
        groups = {"discriminator": list(self.discriminators.parameters()),
                  "generator": list(self.generators.parameters())}
        if self.config.lambda_adv == 0:
            del groups["discriminator"]
        return groups

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        context, target = self._windows(batch["video"])
        targets = [_resize(target, s) for s in self.config.scales]   # Y_k
        if group == "discriminator":
            with torch.no_grad():
                predictions = self(context)
            real = self._discriminate(context, targets)
            fake = self._discriminate(context, predictions)
            loss = sum(nonsaturating_discriminator_loss(r, f)           # L_adv^D
                       for r, f in zip(real, fake))
            return {"loss": loss,
                    "real_score": torch.stack([torch.sigmoid(r).mean() for r in real]).mean(),
                    "fake_score": torch.stack([torch.sigmoid(f).mean() for f in fake]).mean()}
        if group != "generator":
            raise KinemaError(f"unknown parameter group {group!r} for MathieuPredictor")
        cfg = self.config
        predictions = self(context)
        lp = sum(lp_loss(p, y, cfg.lp) for p, y in zip(predictions, targets))
        gdl = sum(gradient_difference_loss(p, y, cfg.gdl_alpha)
                  for p, y in zip(predictions, targets))
        losses = {"lp": lp, "gdl": gdl,
                  "mse": F.mse_loss(predictions[-1].detach(), targets[-1])}
        loss = cfg.lambda_lp * lp + cfg.lambda_gdl * gdl
        if cfg.lambda_adv:
            # the generator's step must not leave gradients in the discriminator
            with frozen(self.discriminators):
                fake = self._discriminate(context, predictions)
            losses["adversarial"] = sum(nonsaturating_generator_loss(f) for f in fake)  # L_adv^G
            loss = loss + cfg.lambda_adv * losses["adversarial"]
        return {"loss": loss, **losses}      # λ_adv L_adv^G + λ_ℓp L_ℓp + λ_gdl L_gdl

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        """(b t c h w): the context followed by the frames predicted from it."""
        video = batch["video"][:4].to(self._dtype)
        k = self.config.context_frames
        future = self.predict(video[:, :k], max(video.shape[1] - k, 1))[:, 0]
        return torch.cat([video[:, :k], future], 1)

    # --- pieces -------------------------------------------------------------------------------

    def _windows(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A random window of context_frames + 1 frames per clip (the torch RNG, which the
        Trainer checkpoints): context (b k c h w) and target (b c h w)."""
        cfg = self.config
        check_frames(video, 'batch["video"]', 5, (cfg.channels, cfg.image_size, cfg.image_size))
        b, t = video.shape[:2]
        k = cfg.context_frames
        if t < k + 1:
            raise KinemaError(f"training clips need >= {k + 1} frames (context + 1), got {t}")
        start = torch.randint(t - k, (b, 1))
        index = (start + torch.arange(k + 1)).to(video.device)       # (b k+1)
        window = video[torch.arange(b, device=video.device)[:, None], index].to(self._dtype)
        return window[:, :k], window[:, k]

    def _discriminate(self, context: torch.Tensor, frames: list[torch.Tensor]
                      ) -> list[torch.Tensor]:
        """D_k(X_k, Y_k) for every scale: logits [(b), …]."""
        history = rearrange(context, "b k c h w -> b (k c) h w")
        return [d(torch.cat([_resize(history, s), y], 1))
                for s, d, y in zip(self.config.scales, self.discriminators, frames)]

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Downsample (b c h w) to size × size by area averaging (identity at full size)."""
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="area")


def _upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
