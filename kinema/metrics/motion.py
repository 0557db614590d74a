"""Ground-truth metrics for the synthetic suite: did the generated motion match the recorded one?

- ``PositionError`` (``bouncing-digits``): each digit is located in every generated frame by
  template matching (the digit as it looks in the real first frame, sum of squared
  differences over every placement) and compared with its recorded top-left position; error
  in pixels per time step. Locations are whole pixels, so a perfect video scores ≤ 0.71 px.
- ``ControlAccuracy`` (``bouncing-digits``): the control η is digit 0's final position on a
  grid; the fraction of samples whose located final position falls in the asked-for cell.
- ``FlowEPE`` (``swaying``): optical flow of each generated frame to frame 0 (OpenCV DIS, the
  "backward" convention of ``kinema.data.flow``, the one of the dataset's ``displacement``)
  against the recorded displacement; mean end-point error in pixels.
- ``SpectralVolumeError`` (``swaying``): the spectral volume of the generated motion (GID
  Eq. (2), ``kinema.data.spectral``; from the "forward" trajectories out of frame 0, as the
  dataset's ``spectral_volume``) against the recorded one; mean absolute coefficient error
  over the K recorded frequencies.

Each averages over samples (n) and inputs (b) with running sums; memory does not grow with
the number of videos. ``batch["frame_offset"]`` (set by the evaluation harness) is the index,
in the recorded video, of the first generated frame (the number of context frames).
"""
from __future__ import annotations

from abc import abstractmethod

import torch
import torch.nn.functional as F
from einops import rearrange

from kinema.errors import KinemaError
from kinema.metrics.base import Metric


def locate(frames: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Top-left (x, y) of the best placement of ``template`` (s s) in each frame (m h w),
    by least sum of squared differences: ‖P − T‖² = ΣP² − 2 P·T + ΣT². Returns (m 2)."""
    s = template.shape[-1]
    x = frames.unsqueeze(1).double()                                  # (m 1 h w)
    t = template.double().view(1, 1, s, s)
    ssd = F.conv2d(x * x, torch.ones_like(t)) - 2 * F.conv2d(x, t)    # (m 1 h' w'), + const
    flat = ssd.flatten(1).argmin(1)
    width = ssd.shape[-1]
    return torch.stack([flat % width, flat // width], dim=1).to(torch.float64)


def _grey01(video: torch.Tensor) -> torch.Tensor:
    """(... c h w) in [-1, 1] -> (... h w) brightness in [0, 1]."""
    return (video.mean(-3) + 1) / 2


def require_fields(metric: Metric, batch: dict | None) -> None:
    """A clear error when the dataset lacks the ground truth ``metric.fields`` it compares with."""
    missing = [key for key in metric.fields if batch is None or key not in batch]
    if missing:
        have = ", ".join(sorted(batch)) if batch else "none"
        raise KinemaError(f"metric {metric.name} needs the recorded {', '.join(missing)} of "
                          f"{metric.dataset} clips; this dataset's items have: {have}")


def digit_locations(fake: torch.Tensor, first_real_frame: torch.Tensor, first_positions: torch.Tensor,
                    mask: torch.Tensor, digit_size: int) -> torch.Tensor:
    """fake (n t c h w), first_real_frame (c h w), first_positions (k 2) recorded top-left (x, y)
    in that frame, mask (k) -> located positions (n t k 2); absent digits are NaN."""
    n, t = fake.shape[:2]
    frames = rearrange(_grey01(fake), "n t h w -> (n t) h w")
    real = _grey01(first_real_frame)
    out = torch.full((n * t, mask.shape[0], 2), float("nan"), dtype=torch.float64)
    for k in torch.nonzero(mask).flatten().tolist():
        x0, y0 = (int(round(float(v))) for v in first_positions[k])
        template = real[y0:y0 + digit_size, x0:x0 + digit_size]
        out[:, k] = locate(frames, template)
    return rearrange(out, "(n t) k two -> n t k two", n=n)


class PositionError(Metric):
    """Mean distance (px) between located and recorded digit positions, per time step."""

    paired = True

    name = "position_error"
    dataset = "bouncing-digits"
    fields = ("video", "positions", "digit_mask")

    def __init__(self, digit_size: int):
        self.digit_size = digit_size
        self.sums: torch.Tensor | None = None   # (t)
        self.count = 0

    def update(self, fake, real=None, batch=None) -> None:
        require_fields(self, batch)
        if fake.ndim == 5:
            fake = fake.unsqueeze(1)
        offset = int(batch.get("frame_offset", 0))
        t = fake.shape[2]
        for i in range(fake.shape[0]):
            found = digit_locations(fake[i], batch["video"][i, 0], batch["positions"][i, 0],
                                    batch["digit_mask"][i], self.digit_size)       # (n t k 2)
            recorded = batch["positions"][i, offset:offset + t].double()          # (t k 2)
            error = (found - recorded.unsqueeze(0)).norm(dim=-1)                   # (n t k)
            per_step = error[..., batch["digit_mask"][i]].mean(dim=(0, 2))          # (t)
            self.sums = per_step if self.sums is None else self.sums + per_step
            self.count += 1

    def compute(self) -> dict:
        if not self.count:
            raise KinemaError(f"{self.name}: no videos were seen")
        curve = self.sums / self.count
        return {self.name: float(curve.mean()), f"{self.name}_per_step": curve.tolist()}


class ControlAccuracy(Metric):
    """Fraction of samples whose digit 0 ends in the grid cell the control η asked for."""

    paired = True

    name = "control_accuracy"
    dataset = "bouncing-digits"
    fields = ("video", "positions", "digit_mask", "eta")

    def __init__(self, digit_size: int, size: int, grid: int):
        self.digit_size, self.grid = digit_size, grid
        self.limit = float(size - digit_size)
        self.hits = 0
        self.count = 0

    def cell(self, xy: torch.Tensor) -> torch.Tensor:
        """Grid cell of top-left positions (... 2) = row · grid + column, as the dataset bins η."""
        bins = (xy / self.limit * self.grid).floor().clamp(0, self.grid - 1).long()
        return bins[..., 1] * self.grid + bins[..., 0]

    def update(self, fake, real=None, batch=None) -> None:
        require_fields(self, batch)
        if fake.ndim == 5:
            fake = fake.unsqueeze(1)
        for i in range(fake.shape[0]):
            mask = torch.zeros_like(batch["digit_mask"][i])
            mask[0] = True
            found = digit_locations(fake[i, :, -1:], batch["video"][i, 0], batch["positions"][i, 0],
                                    mask, self.digit_size)[:, 0, 0]               # (n 2)
            self.hits += int((self.cell(found) == int(batch["eta"][i])).sum())
            self.count += fake.shape[1]

    def compute(self) -> dict:
        if not self.count:
            raise KinemaError(f"{self.name}: no videos were seen")
        return {self.name: self.hits / self.count, f"{self.name}_samples": self.count}


class MeanOverSamples(Metric):
    """Mean of a per-sample score (``score``) over every sample of every input, kept as a
    running sum."""

    paired = True

    def __init__(self, method: str = "dis"):
        self.method = method   # optical flow method of kinema.data.flow
        self.total = 0.0
        self.count = 0

    @abstractmethod
    def score(self, video: torch.Tensor, batch: dict, i: int, offset: int) -> float:
        """One generated video (t c h w) of input ``i`` against that input's ground truth."""

    def update(self, fake, real=None, batch=None) -> None:
        require_fields(self, batch)
        if fake.ndim == 5:
            fake = fake.unsqueeze(1)
        offset = int(batch.get("frame_offset", 0))
        for i in range(fake.shape[0]):
            for video in fake[i]:
                self.total += self.score(video, batch, i, offset)
                self.count += 1

    def compute(self) -> dict:
        if not self.count:
            raise KinemaError(f"{self.name}: no videos were seen")
        return {self.name: self.total / self.count}


class FlowEPE(MeanOverSamples):
    """Mean end-point error (px) of the generated motion against the recorded displacement."""

    name = "flow_epe"
    dataset = "swaying"
    fields = ("displacement",)

    def score(self, video, batch, i, offset) -> float:
        from kinema.data.flow import end_point_error, trajectories

        recorded = batch["displacement"][i, offset:offset + video.shape[0]]       # (t 2 h w)
        flow = trajectories(video, self.method, direction="backward", progress=False)
        return float(end_point_error(flow[:recorded.shape[0]], recorded))


class SpectralVolumeError(MeanOverSamples):
    """Mean absolute error between the generated and the recorded spectral volume."""

    name = "spectral_error"
    dataset = "swaying"
    fields = ("spectral_volume",)

    def score(self, video, batch, i, offset) -> float:
        from kinema.data.flow import trajectories
        from kinema.data.spectral import spectral_volume

        recorded = batch["spectral_volume"][i]                                    # (k 4 h w)
        motion = trajectories(video, self.method, direction="forward", progress=False)
        volume = spectral_volume(motion, num_frequencies=recorded.shape[0])
        return float((volume - recorded).abs().mean())
