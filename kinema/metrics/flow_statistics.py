"""motion-fd: a Fréchet distance on statistics of optical flow, so it sees motion, not appearance.

The domain and I3D distances compare what videos *look like*; a model that outputs a still
picture of the right kind can score well on them. Here every video is reduced to a fixed
vector of named statistics of its dense optical flow between consecutive frames (OpenCV DIS,
``kinema.data.flow.FlowEstimator("dis")`` on grey 8-bit frames), and two sets of videos are
compared by the Fréchet distance of Gaussians fitted to those vectors
(``kinema.metrics.frechet``, Heusel et al. 2017, Eq. 6). Written by hand: no library kinema
keeps computes flow-statistics features.

Flow ``F_t`` runs from frame t to frame t+1 (``source(p) ~= target(p + F_t(p))``, the
convention of ``kinema.data.flow``): pixel p of frame t moves to p + F_t(p). A video of T
frames has T-1 flow fields; the features need T >= 3 (temporal coherence compares two fields).

Units. Speeds are in **percent of the frame width per frame**: |F| / width * 100. The same
motion shown at twice the size moves twice as many pixels, so pixels per frame would call it
twice as fast; divided by the width it is the same number, and comparing a 64-px model with
256-px data is meaningful. (Percent rather than a plain fraction keeps the speed entries of
order one, like the histogram and the coherence, so no group dominates the distance by its
scale alone.) The "moving" threshold is likewise 1/128 of the width (0.5 px at 64 px).

Flow is estimated at one analysis size: every video's grey frames are resized to a width of
``ANALYSIS_WIDTH`` (128) px, aspect ratio kept (``cv2.INTER_AREA`` to shrink, bilinear to
grow), before DIS sees them. Dividing by the width alone would not be enough: DIS matches
patches of a fixed size in pixels and smears motion a few pixels past moving edges, so at the
video's own size a textured square moving in a 64-px clip and the same clip at 128 px differ
by 8-21% in mean speed and 15-33% in moving fraction (two background contrasts); at one
analysis size, by under 4%. 128 px keeps sub-pixel motion of 256-px data measurable and
costs ~5 ms a field on one CPU core.

Features (``FEATURE_NAMES``, in order), over all pixels of all T-1 fields of one video:

- ``speed_mean``, ``speed_std``, ``speed_p90``: mean, standard deviation and 90th
  percentile of |F|, percent of width per frame;
- ``moving_fraction``: fraction of pixels with |F| above 1/128 of the width;
- ``direction_0`` ... ``direction_7``: magnitude-weighted histogram of the flow direction
  atan2(dy, dx) in image axes (x right, y **down**), 8 bins of 45° centred on 0°, 45°, ...,
  so bin 0 is rightward, bin 2 downward, bin 4 leftward, bin 6 upward; normalised to sum 1
  (all zero when nothing moves);
- ``speed_temporal_std``: standard deviation over time of the per-field mean speed (steady
  motion 0, bursts large), percent of width per frame;
- ``temporal_coherence``: Σ F_t·F_{t+1} / Σ |F_t||F_{t+1}| over pixels and t, the
  magnitude-weighted cosine between consecutive fields, in [-1, 1] (1 steady direction,
  0 jitter or no motion, -1 back-and-forth every frame);
- ``endpoint_difference``: mean |I_{T-1} - I_0| of the grey frames in [0, 1] — how much the
  picture changed from first to last frame, the one entry that reads intensities.

A static video (identical frames) gives an all-zero vector: identical grey frames are given
zero flow outright rather than trusting the estimator to return exact zeros.
"""
from __future__ import annotations

import numpy as np
import torch

from kinema.errors import KinemaError
from kinema.metrics.base import Metric, RunningMoments
from kinema.metrics.frechet import frechet_distance, frechet_from_moments, pooled_samples

ANALYSIS_WIDTH = 128         # px: flow is estimated at this width, whatever the video's size
DIRECTION_BINS = 8
MOVING_THRESHOLD = 1 / 128   # of the frame width: 0.5 px at 64 px
SPEED_UNIT = 100.0           # speeds in percent of the width per frame
FLOW_METHOD = "dis"          # fixed: features of different estimators are not comparable

FEATURE_NAMES: tuple[str, ...] = (
    "speed_mean", "speed_std", "speed_p90", "moving_fraction",
    *(f"direction_{k}" for k in range(DIRECTION_BINS)),
    "speed_temporal_std", "temporal_coherence", "endpoint_difference",
)


def analysis_frames(gray: np.ndarray) -> np.ndarray:
    """Grey uint8 frames (t h w) resized to ``ANALYSIS_WIDTH`` wide, aspect ratio kept."""
    import cv2

    height, width = gray.shape[1:]
    if width == ANALYSIS_WIDTH:
        return gray
    new_height = max(1, round(height * ANALYSIS_WIDTH / width))
    interpolation = cv2.INTER_AREA if width > ANALYSIS_WIDTH else cv2.INTER_LINEAR
    return np.stack([cv2.resize(frame, (ANALYSIS_WIDTH, new_height), interpolation=interpolation)
                     for frame in gray])


def consecutive_flows(gray: np.ndarray, estimator) -> np.ndarray:
    """Grey uint8 frames (t h w) -> flows (t-1 h w 2) in pixels, frame t to frame t+1."""
    flows = np.zeros((gray.shape[0] - 1, *gray.shape[1:], 2), dtype=np.float64)
    for t in range(gray.shape[0] - 1):
        if not np.array_equal(gray[t], gray[t + 1]):
            flows[t] = estimator(gray[t], gray[t + 1])
    return flows


def direction_histogram(flows: np.ndarray) -> np.ndarray:
    """flows (... 2) -> (DIRECTION_BINS,) magnitude-weighted, summing to 1 (0 if no motion)."""
    dx, dy = flows[..., 0].ravel(), flows[..., 1].ravel()
    magnitude = np.hypot(dx, dy)
    width = 2 * np.pi / DIRECTION_BINS
    # shift by half a bin so that bin k is centred on k·45° (rightward motion in bin 0)
    bins = np.floor((np.arctan2(dy, dx) + width / 2) / width).astype(np.int64) % DIRECTION_BINS
    histogram = np.bincount(bins, weights=magnitude, minlength=DIRECTION_BINS)
    total = histogram.sum()
    return histogram / total if total > 0 else histogram


def temporal_coherence(flows: np.ndarray) -> float:
    """Magnitude-weighted cosine between consecutive fields: Σ F_t·F_{t+1} / Σ |F_t||F_{t+1}|."""
    now, later = flows[:-1], flows[1:]
    dot = (now * later).sum(-1).sum()
    norms = (np.linalg.norm(now, axis=-1) * np.linalg.norm(later, axis=-1)).sum()
    return float(dot / norms) if norms > 0 else 0.0


def video_flow_features(gray: np.ndarray, estimator) -> np.ndarray:
    """Grey uint8 frames (t h w) of one video, at the analysis size -> its feature vector
    (len(FEATURE_NAMES),)."""
    width = gray.shape[-1]
    flows = consecutive_flows(gray, estimator)                      # (t-1 h w 2), pixels
    speed = np.linalg.norm(flows, axis=-1) / width * SPEED_UNIT     # (t-1 h w), % width/frame
    per_field_mean = speed.mean(axis=(1, 2))                        # (t-1)
    first, last = (gray[i].astype(np.float64) / 255 for i in (0, -1))
    return np.array([
        speed.mean(), speed.std(), np.percentile(speed, 90),
        (speed > MOVING_THRESHOLD * SPEED_UNIT).mean(),
        *direction_histogram(flows),
        per_field_mean.std(), temporal_coherence(flows), np.abs(last - first).mean(),
    ], dtype=np.float64)


def flow_features(videos) -> np.ndarray:
    """Flow-statistics features (n d) float64, d = len(FEATURE_NAMES), one row per video.

    videos: (n t c h w) float in [-1, 1], torch or numpy, c = 1 or 3, t >= 3.
    """
    from kinema.data.flow import FlowEstimator, to_gray_uint8

    if isinstance(videos, torch.Tensor):
        videos = videos.detach().cpu().float().numpy()
    videos = np.asarray(videos)
    if videos.ndim != 5:
        raise KinemaError(f"videos must be (n t c h w); got shape {videos.shape}")
    if videos.shape[1] < 3:
        raise KinemaError(f"flow statistics need videos of at least 3 frames (two flow fields "
                          f"to compare over time); got {videos.shape[1]}")
    estimator = FlowEstimator(FLOW_METHOD)
    rows = [video_flow_features(analysis_frames(to_gray_uint8(video)), estimator)
            for video in videos]
    return np.stack(rows) if rows else np.zeros((0, len(FEATURE_NAMES)))


def motion_fd(real_features, fake_features) -> float:
    """Fréchet distance between Gaussians fitted to two flow-feature sets (n d) and (m d)."""
    return frechet_distance(torch.as_tensor(np.asarray(real_features, dtype=np.float64)),
                            torch.as_tensor(np.asarray(fake_features, dtype=np.float64)))


class MotionFD(Metric):
    """``motion-fd``: Fréchet distance of flow-statistics features, generated vs real.

    Streams: each side keeps the running mean and covariance of its feature rows (one row per
    clip; with n samples per input the generated side has n times the rows). Beside the
    distance, the mean speed of each side (percent of width per frame), to tell "too still"
    from "too fast" at a glance.
    """

    name = "motion_fd"

    def __init__(self, name: str | None = None):
        self.name = name or self.name
        self.fake = RunningMoments(len(FEATURE_NAMES))
        self.real = RunningMoments(len(FEATURE_NAMES))

    def update(self, fake, real=None, batch=None) -> None:
        fake = pooled_samples(self.name, fake, real)     # ((b n) t c h w)
        self.fake.update(torch.from_numpy(flow_features(fake)))
        self.real.update(torch.from_numpy(flow_features(real)))

    def compute(self) -> dict:
        if min(self.fake.count, self.real.count) < 2:
            raise KinemaError(f"{self.name} fits a covariance to each side and needs at least 2 "
                              f"videos per side; got {self.fake.count} generated and "
                              f"{self.real.count} real (raise --num-videos)")
        value = frechet_from_moments(self.fake.mean, self.fake.covariance(),
                                     self.real.mean, self.real.covariance())
        speed = FEATURE_NAMES.index("speed_mean")
        return {self.name: value,
                f"{self.name}_fake_count": self.fake.count,
                f"{self.name}_real_count": self.real.count,
                f"{self.name}_fake_speed_mean": float(self.fake.mean[speed]),
                f"{self.name}_real_speed_mean": float(self.real.mean[speed])}
