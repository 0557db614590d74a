"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features"), VGG variant.

d(x, y) = Σ_l mean_{h,w} ‖ w_l ⊙ (x̂_l − ŷ_l) ‖²  with x̂_l the VGG-16 activations after
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, each unit-normalised over channels, and w_l the
learned per-channel weights (Eq. (1) of the paper). Inputs in [-1, 1] are shifted and scaled
by LPIPS' fixed constants first; frames are compared at their own resolution.

Weights come from two files, both from a path or $KINEMA_WEIGHTS (kinema downloads nothing):
the VGG-16 backbone (``vgg16.safetensors``, torchvision's layout) and the linear layers
(``lpips_vgg.pth``: the ``weights/v0.1/vgg.pth`` file of the ``lpips`` package, keys
``lin0.model.1.weight`` … ``lin4.model.1.weight``). Written here because the ``lpips``
package imports torchvision, which is not usable beside this torch build.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from kinema.errors import KinemaError
from kinema.metrics.features.vgg import VGG16Features, load_vgg

TAPS = (3, 8, 15, 22, 29)            # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 in features
CHANNELS = (64, 128, 256, 512, 512)
SHIFT = (-0.030, -0.088, -0.188)     # LPIPS' ScalingLayer constants
SCALE = (0.458, 0.448, 0.450)


class LPIPSNetwork(nn.Module):
    def __init__(self, backbone: VGG16Features):
        super().__init__()
        self.backbone = backbone.eval()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x.float() - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.backbone.features[:TAPS[-1] + 1]):
            x = layer(x)
            if i in TAPS:
                out.append(x)
        return out

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y (b c h w) in [-1, 1] -> (b)."""
        total = torch.zeros(x.shape[0], device=x.device)
        for fx, fy, lin in zip(self.activations(x), self.activations(y), self.lins):
            nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((nx - ny) ** 2).mean(dim=(1, 2, 3))
        return total


def load_lpips(weights: str | Path | None = None) -> LPIPSNetwork:
    """LPIPS-VGG from a folder holding ``vgg16.safetensors`` and ``lpips_vgg.pth`` (default
    $KINEMA_WEIGHTS)."""
    from kinema.metrics.weights import resolve_weights

    folder = None if weights is None else Path(weights)
    backbone = load_vgg(folder).network
    path = resolve_weights("lpips_vgg.pth", folder)
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    network = LPIPSNetwork(backbone)
    try:
        for i, lin in enumerate(network.lins):
            lin.weight.data.copy_(state[f"lin{i}.model.1.weight"])
    except (KeyError, RuntimeError) as err:
        raise KinemaError(f"{path} is not LPIPS' VGG linear-layer file "
                          f"(lin0.model.1.weight … lin4.model.1.weight): {err}") from err
    return network.eval()
