"""VGG-16 frame features (Simonyan & Zisserman 2015) for the cINN paper's VGG diversity.

The convolutional stack in torchvision's layout (``features.0.weight`` … ``features.28.bias``),
so torchvision's ImageNet state dict (``vgg16-397923af.pth``, or the same tensors converted to
safetensors) loads as is; the classifier is not needed and its keys are ignored.
Preprocessing: grey repeated to RGB, frames resized to 224×224 (bilinear, antialiased),
[-1, 1] mapped to [0, 1] and normalised with ImageNet's mean and std. Feature of a frame: the
pool5 map (512×7×7) flattened, so Euclidean distances compare whole feature maps.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# Output channels of VGG-16's convolutions ("M" = 2×2 max pool), configuration D of the paper.
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    def __init__(self, size: int = 224):
        super().__init__()
        self.size = size  # input frames are resized to size×size (224: the ImageNet size)
        layers: list[nn.Module] = []
        channels = 3
        for width in VGG16:
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (b c h w) in [-1, 1] -> (b 512·(size/32)²) pool5 features (25088 at 224)."""
        if frames.shape[1] == 1:
            frames = frames.expand(-1, 3, -1, -1)
        x = F.interpolate(frames.float(), size=(self.size, self.size), mode="bilinear", align_corners=False,
                          antialias=True)
        x = ((x + 1) / 2 - self.mean) / self.std
        return self.features(x).flatten(1)


class VGGFrameFeatures:
    def __init__(self, network: VGG16Features, batch_size: int = 16):
        self.network, self.batch_size = network.eval(), batch_size

    def to(self, device) -> "VGGFrameFeatures":
        """Move the network to ``device`` (in place); frames must be there too."""
        self.network.to(device)
        return self

    @torch.no_grad()
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.network(f) for f in frames.split(self.batch_size)])


def load_vgg(weights: str | Path | None = None, size: int = 224) -> VGGFrameFeatures:
    """VGG-16 from a ``.safetensors`` or ``.pth`` state dict (a file, or a folder holding
    ``vgg16.safetensors``; default $KINEMA_WEIGHTS)."""
    from kinema.errors import KinemaError
    from kinema.metrics.weights import resolve_weights

    path = Path(weights) if weights is not None and Path(weights).is_file() \
        else resolve_weights("vgg16.safetensors", weights)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if k.startswith("features.")}
    network = VGG16Features(size)
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        raise KinemaError(f"{path} is not a VGG-16 state dict in torchvision's layout: {err}") from err
    return VGGFrameFeatures(network)
