"""Stage ``dynamics-render``: image-based rendering of a motion texture (Sec. 5, Fig. 4).

A future frame is rendered from I0 and the displacement F_t (pixel p of I0 moves to p + F_t(p)):

1. a feature extractor encodes I0 into a multi-scale feature map (one scale per
   ``RenderConfig.widths`` entry, halving the size each time; the finest also carries I0's RGB);
2. every scale j is forward-warped by softmax splatting (``kinema.nn.warp.softmax_splat``) with
   the motion field resized to that scale (area average, divided by 2^j), subject to the
   weights Z = alpha * W with W(p) = (1/T) sum_t ||F_t(p)||_2 the average motion magnitude
   ("flow magnitude as a proxy for depth": large motion is foreground and wins collisions),
   alpha a learned scale; ``weights="learned"`` is Table 2's "Baseline splat" (Holynski et al.):
   Z from a small CNN on I0, with single-scale features;
3. a synthesis decoder, coarse to fine, takes each warped scale and its hole mask; one head
   paints the holes, one refines every pixel of the splatted RGB of I0 (both start at zero, so
   an untrained renderer is plain softmax splatting of the picture).

Training (Sec. 5): pairs (I0, I_t) with the flow from I0 to I_t from real videos
(``render_data.RenderPairs``), L1 plus a VGG perceptual loss when ``vgg_weights`` is given; without
VGG weights L1 + MS-SSIM + image-gradient L1 (``RenderConfig``; the run log says which). The
renderer's config names the trained motion model, which it embeds (frozen), so the saved
renderer is the whole image-to-video sampler (``apps.py``); the ``BASE-real`` presets train a
renderer alone on real footage (``config.render_config``).
"""
from __future__ import annotations

import dataclasses
import sys

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.dynamics.config import RenderConfig
from kinema.methods.dynamics.losses import gradient_consistency, ms_ssim_loss
from kinema.methods.dynamics.render_data import motion_weight
from kinema.nn.warp import softmax_splat
from kinema.pretrained import Pretrained, config_from_dict, config_to_dict
from kinema.stages import open_stage, record_sources

MOTION_FIELDS = {"attention_path": "dynamics-attention", "diffusion_path": "dynamics-diffusion"}


def _conv_pair(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.2))


class FeaturePyramid(nn.Module):
    """I0 (b 3 H W) -> [(b 3+w0 H W), (b w1 H/2 W/2), ...]: scale 0 keeps the picture's RGB."""

    def __init__(self, widths: tuple):
        super().__init__()
        self.levels = nn.ModuleList([_conv_pair(3, widths[0])] +
                                    [_conv_pair(widths[j - 1], widths[j], stride=2) for j in range(1, len(widths))])

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features, x = [], image
        for j, level in enumerate(self.levels):
            x = level(x)
            features.append(torch.cat([image, x], dim=1) if j == 0 else x)
        return features


class SynthesisDecoder(nn.Module):
    """Warped scales and their hole masks, coarse to fine -> the frame: splatted RGB + refinement
    + hole filling."""

    def __init__(self, widths: tuple):
        super().__init__()
        n = len(widths)
        channels = [3 + widths[0]] + list(widths[1:])                       # what each scale splats
        self.blocks = nn.ModuleList([
            _conv_pair(channels[j] + 1 + (widths[j + 1] if j + 1 < n else 0), widths[j]) for j in range(n)])
        # two heads: ``fill`` paints the holes of the splatted picture, ``refine`` corrects
        # everything ("fill in missing content and refine the warped input image", Fig. 4);
        # both start at zero, so an untrained renderer is plain splatting of I0
        self.fill = nn.Conv2d(widths[0], 3, 3, padding=1)
        self.refine = nn.Conv2d(widths[0], 3, 3, padding=1)
        for head in (self.fill, self.refine):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, warped: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        x = None
        for j in reversed(range(len(warped))):
            inputs = [warped[j], masks[j]]
            if x is not None:
                inputs.append(F.interpolate(x, size=warped[j].shape[-2:], mode="nearest"))
            x = self.blocks[j](torch.cat(inputs, dim=1))
        return warped[0][:, :3] + self.refine(x) + (1.0 - masks[0]) * self.fill(x)


def _upsampled_conv_phases(weight: torch.Tensor) -> torch.Tensor:
    """A 3x3 conv's weights (o c 3 3) on a nearest-upsampled (x2) map -> (4o c 2 2): the 2x2 convs
    of the coarse map that give output phase (row parity py, column parity px), phase-major.

    Output row 2i + py reads upsampled rows 2i + py - 1 .. 2i + py + 1, i.e. coarse rows (i - 1, i,
    i) for py = 0 and (i, i, i + 1) for py = 1: two coarse rows, the taps that read the same one
    summed; columns likewise. Zero padding of the upsampled map is zero padding of the coarse one."""
    def pairs(w: torch.Tensor, dim: int) -> list[torch.Tensor]:   # [py = 0, py = 1] along ``dim``
        a, b, c = w.unbind(dim)
        return [torch.stack([a, b + c], dim), torch.stack([a + b, c], dim)]

    return torch.cat([phase for rows in pairs(weight, 2) for phase in pairs(rows, 3)])


class FoldedDecoder(nn.Module):
    """A ``SynthesisDecoder`` rearranged for playback: the same frames to float rounding with about
    a fifth less work (tests/methods/dynamics/test_render.py).

    1. A block's first conv reads [warped, mask, upsampled coarser output]; it is split in two:
       the 3x3 conv of [warped, mask] at full size, plus, for the upsampled part, its 4 output
       phases as 2x2 convs of the coarse map (``_upsampled_conv_phases``) at the coarse size, added
       into every second row and column: 4/9 of that part's multiply-adds and no upsampled copy.
    2. The two heads are one conv of 6 outputs.

    The weights are taken from ``decoder`` when built (build it again after training it)."""

    def __init__(self, decoder: SynthesisDecoder):
        super().__init__()
        self.blocks = decoder.blocks
        self.own, self.phases = [], []
        for j, block in enumerate(decoder.blocks):
            conv = block[0]
            coarse = decoder.blocks[j + 1][0].out_channels if j + 1 < len(decoder.blocks) else 0
            own = conv.in_channels - coarse
            self.own.append((conv.weight[:, :own].detach().clone(), conv.bias.detach().clone()))
            self.phases.append(_upsampled_conv_phases(conv.weight[:, own:].detach()) if coarse else None)
        self.heads = (torch.cat([decoder.refine.weight, decoder.fill.weight]).detach(),
                      torch.cat([decoder.refine.bias, decoder.fill.bias]).detach())

    def forward(self, warped: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        x = None
        for j in reversed(range(len(warped))):
            y = F.conv2d(torch.cat([warped[j], masks[j]], dim=1), *self.own[j], padding=1)
            if x is not None:
                h, w = x.shape[-2:]
                phases = F.conv2d(x, self.phases[j], padding=1)                  # (b 4o h+1 w+1)
                o = y.shape[1]
                for k in range(4):   # phase (py, px) at coarse (i, j) is its conv at (i + py, j + px)
                    py, px = divmod(k, 2)
                    y[:, :, py::2, px::2] += phases[:, k * o:(k + 1) * o, py:py + h, px:px + w]
            x = self.blocks[j][1:](y)          # the block after its first conv, as SynthesisDecoder runs it
        refine, fill = F.conv2d(x, *self.heads, padding=1).split(3, dim=1)
        return warped[0][:, :3] + refine + (1.0 - masks[0]) * fill


class ImageRenderer(nn.Module, Pretrained):
    """``render(image, motion)`` -> frames; the embedded motion model (``self.motion``, or None for
    a renderer trained alone) predicts spectral volumes for ``apps.animate``."""

    config_class = RenderConfig

    def __init__(self, config: RenderConfig):
        super().__init__()
        if config.weights not in ("motion", "learned"):
            raise KinemaError(f"RenderConfig.weights must be 'motion' or 'learned'; got {config.weights!r}")
        if not config.widths:
            raise KinemaError("RenderConfig.widths needs at least one scale")
        config, motion = _motion_model(self, config)
        self.config = config
        self.motion = motion.requires_grad_(False) if motion is not None else None
        self.pyramid = FeaturePyramid(tuple(config.widths))
        self.decoder = SynthesisDecoder(tuple(config.widths))
        # Z = alpha * W: the learned scale of the motion-magnitude weights (Sec. 5)
        self.weight_scale = nn.Parameter(torch.ones(()))
        self.metric_net = None
        if config.weights == "learned":
            self.metric_net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.LeakyReLU(0.2),
                                            nn.Conv2d(16, 1, 3, padding=1))
        self._perceptual = []   # a frozen VGG-16 kept out of the state dict (weights are the user's)
        if config.vgg_weights:
            from kinema.metrics.features.vgg import load_vgg

            self._perceptual.append(load_vgg(config.vgg_weights, size=max(64, min(config.image_size)))
                                    .network.requires_grad_(False))
        self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.motion is not None:
            self.motion.eval()   # frozen
        return self

    @property
    def scales(self) -> int:
        return len(self.config.widths)

    def expected_input(self) -> dict:
        """What the sampler reads (``kinema.pipelines``): RGB pictures at the motion model's size
        (the renderer's own without one), and one period of frames by default."""
        size = self.motion.image_size if self.motion is not None else self.config.image_size
        spec = {"channels": 3, "image_size": tuple(int(s) for s in size)}
        if self.motion is not None:
            spec["num_frames"] = int(self.motion.period)
        return spec

    def check_picture(self, image: torch.Tensor) -> None:
        h, w = image.shape[-2:]
        step = 2 ** (self.scales - 1)
        if image.ndim != 4 or image.shape[1] != 3 or h % step or w % step:
            raise KinemaError(f"the renderer takes pictures (b 3 h w) with h and w divisible by {step}; "
                              f"got {tuple(image.shape)}")

    def metric(self, image: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Softmax-splatting importance Z (b 1 H W) from W (b 1 H W) or, for the baseline, from I0."""
        if self.metric_net is not None:
            return self.metric_net(image)
        return self.weight_scale * weight

    def folded_decoder(self) -> FoldedDecoder:
        """The decoder as it is now, rearranged for playback (``FoldedDecoder``)."""
        return FoldedDecoder(self.decoder)

    def render_frames(self, features: list[torch.Tensor], flow: torch.Tensor, metric: torch.Tensor,
                      bfloat16: bool = False, decoder: nn.Module | None = None) -> torch.Tensor:
        """One frame per flow: features of I0 (each (b c h w), repeated or expanded to the flows'
        batch), flow (b 2 H W), metric (b 1 H W) -> (b 3 H W); ``decoder``: the synthesis decoder
        to run, ``self.decoder`` by default (``folded_decoder()`` for playback).

        ``bfloat16``: run the synthesis decoder's convolutions in bfloat16 (autocast) for
        interactive playback; the splatting and the splatted picture the decoder corrects stay
        float32, so frames differ from float32 by a fraction of an 8-bit level
        (tests/methods/dynamics/test_render.py; faster only where the CPU has bf16 instructions:
        ``bfloat16_is_fast``)."""
        warped, masks = [], []
        for j, feature in enumerate(features):
            f, z = flow, metric
            if j:   # Sec. 5: "resize and scale the predicted 2D motion field according to the resolution"
                f, z = F.avg_pool2d(flow, 2 ** j) / 2 ** j, F.avg_pool2d(metric, 2 ** j)
            splat, covered = softmax_splat(feature, f, z)
            warped.append(splat)
            masks.append(covered.to(splat.dtype))
        decoder = self.decoder if decoder is None else decoder
        if not bfloat16:
            return decoder(warped, masks)
        with torch.autocast(device_type=flow.device.type, dtype=torch.bfloat16):
            return decoder(warped, masks).float()

    def render(self, image: torch.Tensor, motion: torch.Tensor, weight: torch.Tensor | None = None,
               chunk: int | None = None, bfloat16: bool = False) -> torch.Tensor:
        """Frames (b t 3 H W) in [-1, 1] of I0 (b 3 H W) moved by the motion texture ``motion``
        (b t 2 H W), ``chunk`` frames at a time (default: 1 on a CPU, 16 on a GPU); ``weight`` W
        (b 1 H W) defaults to the motion's mean magnitude over its frames (Sec. 5); ``bfloat16``:
        see ``render_frames``."""
        return torch.cat(list(self.iter_render(image, motion, weight, chunk, bfloat16)), dim=1)

    def iter_render(self, image: torch.Tensor, motion: torch.Tensor, weight: torch.Tensor | None = None,
                    chunk: int | None = None, bfloat16: bool = False):
        """``render`` as a generator of (b n 3 H W) pieces (the features of I0 are computed once)."""
        # one frame at a time on a CPU: at 256x160 on 2 threads 18.4 fps against 14.7 in chunks
        # of 16 (the batched maps leave the caches; kinema bench dynamics-speed)
        chunk = chunk or (16 if image.is_cuda else 1)
        self.check_picture(image)
        if motion.ndim != 5 or motion.shape[0] != image.shape[0] or motion.shape[2] != 2 \
                or motion.shape[-2:] != image.shape[-2:]:
            raise KinemaError(f"motion must be (b t 2 h w) matching the picture {tuple(image.shape)}; "
                              f"got {tuple(motion.shape)}")
        weight = motion_weight(motion) if weight is None else weight
        features = self.pyramid(image)
        metric = self.metric(image, weight)
        b, t = motion.shape[:2]
        for start in range(0, t, chunk):
            n = min(chunk, t - start)
            frames = self.render_frames([repeat(f, "b c h w -> (b n) c h w", n=n) for f in features],
                                        rearrange(motion[:, start:start + n], "b n c h w -> (b n) c h w"),
                                        repeat(metric, "b c h w -> (b n) c h w", n=n), bfloat16)
            yield rearrange(frames.clamp(-1, 1), "(b n) c h w -> b n c h w", b=b)

    @torch.no_grad()
    def sample(self, x0: torch.Tensor, num_frames: int, num_samples: int = 1, control=None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """The ImageToVideo protocol: x0 (b 3 H W) -> (b n t 3 H W), a spectral volume sampled per
        video (DPM-Solver++; sample i of a picture uses seed s + i, s drawn from ``generator``),
        its motion texture of ``num_frames`` frames rendered from x0."""
        from kinema.methods.dynamics.motion import spectral_volume_to_motion
        from kinema.methods.dynamics.sampling import predict_spectral_volume

        if control is not None:
            raise KinemaError("Generative Image Dynamics takes no control input")
        if self.motion is None:
            raise KinemaError("this renderer has no motion model (trained with empty attention_path and "
                              "diffusion_path): it renders given motion only")
        seed = int(torch.randint(0, 2 ** 31 - 1, (), generator=generator))
        volumes = predict_spectral_volume(self.motion, x0, num_samples=num_samples, seed=seed,
                                          sampler="dpm", progress=False)                # (b n k 4 h w)
        b = x0.shape[0]
        volumes = volumes.flatten(0, 1)
        period = self.motion.period
        motion = spectral_volume_to_motion(volumes, num_frames, period=period)
        weight = motion_weight(spectral_volume_to_motion(volumes, period, period=period))   # over one period
        videos = self.render(repeat(x0, "b c h w -> (b n) c h w", n=num_samples), motion.to(x0), weight.to(x0))
        return rearrange(videos, "(b n) t c h w -> b n t c h w", b=b)

    # ------------------------------------------------------------------ training contract

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        own = [p for name, p in self.named_parameters() if not name.startswith("motion.")]
        return {"model": own}

    def optimizer_options(self, group: str) -> dict:
        return {"lr": self.config.lr}

    @property
    def has_perceptual_loss(self) -> bool:
        return bool(self._perceptual)

    def on_train_start(self, batch: dict) -> None:
        if self.config.vgg_weights:
            print(f"dynamics-render: VGG perceptual loss on ({self.config.vgg_weights})", file=sys.stderr)
        else:
            c = self.config
            terms = [f"{c.l1_weight:g} L1"]
            if c.ms_ssim_weight:
                terms.append(f"{c.ms_ssim_weight:g} (1 - MS-SSIM, {c.ms_ssim_scales} scales)")
            if c.gradient_weight:
                terms.append(f"{c.gradient_weight:g} gradient L1")
            print("dynamics-render: no VGG weights given (model.vgg_weights): training WITHOUT the "
                  f"paper's VGG perceptual loss (Sec. 5), with {' + '.join(terms)}", file=sys.stderr)

    def predict_pair(self, batch: dict) -> torch.Tensor:
        """I_t (b 3 H W) rendered from a batch's ``image``, ``flow`` and ``motion_weight``."""
        image = batch["image"]
        self.check_picture(image)
        features = self.pyramid(image)
        return self.render_frames(features, batch["flow"], self.metric(image, batch["motion_weight"]))

    def training_step(self, batch: dict, group: str) -> dict[str, torch.Tensor]:
        """With VGG weights the paper's L1 + perceptual loss (Sec. 5); without, L1 + MS-SSIM +
        image-gradient L1 (``RenderConfig``: a zero weight leaves its term out)."""
        prediction = self.predict_pair(batch)
        target = batch["target"]
        c = self.config
        l1 = F.l1_loss(prediction, target)
        loss = c.l1_weight * l1
        # logged every step, so the run's metrics.jsonl says whether the perceptual term was on
        out = {"l1": l1.detach(), "perceptual_on": torch.tensor(float(self.has_perceptual_loss))}
        if self._perceptual:
            vgg = self._perceptual[0].to(prediction.device)
            perceptual = F.l1_loss(vgg(prediction), vgg(target))
            loss = loss + c.perceptual_weight * perceptual
            out["perceptual"] = perceptual.detach()
            return {"loss": loss, **out}
        if c.ms_ssim_weight:
            ms_ssim = ms_ssim_loss(prediction, target, c.ms_ssim_scales)
            loss = loss + c.ms_ssim_weight * ms_ssim
            out["ms_ssim"] = ms_ssim.detach()
        if c.gradient_weight:
            gradient = gradient_consistency(prediction, target, scales=1)
            loss = loss + c.gradient_weight * gradient
            out["gradient"] = gradient.detach()
        return {"loss": loss, **out}

    @torch.no_grad()
    def sample_for_logging(self, batch: dict) -> torch.Tensor:
        """(b 3 3 H W): I0, the rendered I_t, the real I_t as a 3-frame video."""
        return torch.stack([batch["image"], self.predict_pair(batch).clamp(-1, 1), batch["target"]], dim=1)


def _motion_model(renderer: nn.Module, config: RenderConfig):
    """(config with the motion model embedded, the motion model or None)."""
    if config.motion is not None:
        from kinema.registry import method_entry, resolve

        if config.motion_stage not in MOTION_FIELDS.values():
            raise KinemaError(f"RenderConfig.motion_stage must name {' or '.join(MOTION_FIELDS.values())}; "
                              f"got {config.motion_stage!r}")
        cls = resolve(method_entry(config.motion_stage).model_class)
        return config, cls(config_from_dict(cls.config_class, config.motion))
    named = [name for name in MOTION_FIELDS if getattr(config, name)]
    if len(named) > 1:
        raise KinemaError("the renderer's motion model is named twice (model.attention_path and "
                          "model.diffusion_path): set one of them to ''")
    if not named:
        return config, None
    motion = open_stage(config, named[0])
    record_sources(renderer, **{named[0]: motion})
    return dataclasses.replace(config, motion=config_to_dict(motion.config),
                               motion_stage=MOTION_FIELDS[named[0]]), motion
