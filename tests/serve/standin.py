"""A stand-in poke model for the studio's tests while no dynamics model is trained: its
``poke`` displaces a Gaussian neighbourhood of the drag point along the drag, as one damped
oscillator u(t) = drag * exp(-xi w t) cos(w t), w = 0.3 sqrt(stiffness) rad/frame, and warps
the picture by it. It is served through the same adapter contract and websocket as the real
method (``create_app(..., adapters={"poke-standin": "tests.serve.standin"})``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kinema.pretrained import Pretrained
from kinema.registry import MethodEntry

TABS = ("poke",)
# registered only while a test's studio discovers its models (conftest.standin_registered)
ENTRY = MethodEntry(name="poke-standin", model_class="tests.serve.standin:ModalStandIn",
                    recipe="tests.serve.standin:recipe", tasks=("ImageToVideo",),
                    summary="test stand-in for the poke stream", family="poke-standin")


@dataclass
class StandInConfig:
    height: int = 40
    width: int = 64
    sigma: float = 0.12           # of the width: the poked neighbourhood's Gaussian radius


class ModalStandIn(nn.Module, Pretrained):
    config_class = StandInConfig

    def __init__(self, config: StandInConfig):
        super().__init__()
        self.config = config
        self.gain = nn.Parameter(torch.ones(()))     # a weight, so it saves like any model


def accepts(entry) -> bool:
    return True


def summarize(config: dict) -> dict:
    return {"shape": [config["height"], config["width"]]}


def load(folder):
    return ModalStandIn.from_pretrained(folder)      # its own class: no registry look-up


def displacement(t: np.ndarray, stiffness: float, damping: float) -> np.ndarray:
    omega = 0.3 * np.sqrt(stiffness)
    return np.exp(-damping * omega * t) * np.cos(omega * t)


def poke(served, payload, catalogue):
    import cv2

    from kinema.serve.media import fit
    from kinema.serve.poke import poke_fields

    request = poke_fields(payload, catalogue)
    model = served.load()
    h, w = model.config.height, model.config.width
    picture = fit(catalogue.picture(request.picture), h, w)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    px, py = request.point[0] * w, request.point[1] * h
    weight = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * (model.config.sigma * w) ** 2))
    dx, dy = request.drag[0] * w, request.drag[1] * h

    def frames():
        for t in range(request.frames):
            u = float(displacement(np.float32(t), request.stiffness, request.damping))
            # backward warp: the pixel at x shows the picture at x - u(t) * drag * weight
            map_x = (xx - u * dx * weight).astype(np.float32)
            map_y = (yy - u * dy * weight).astype(np.float32)
            yield cv2.remap(picture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    return {"width": w, "height": h, "frames": request.frames}, frames()
