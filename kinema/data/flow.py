"""Classical optical flow (OpenCV) and per-pixel trajectories from a reference frame.

Flow convention (OpenCV's, used everywhere in this module). ``optical_flow(source, target)``
returns ``F`` of shape (2 h w), channels (dx, dy) in pixels, such that

    source(p) ~= target(p + F(p))

i.e. ``F(p)`` carries the pixel at ``p`` in ``source`` to where it is seen in ``target``.

``trajectories(video, reference=r, direction=...)`` applies it between frame ``r`` and every
frame ``t`` and returns (t 2 h w) with an exact zero field at ``t = r``:

- ``direction="forward"`` (default; the Generative Image Dynamics convention, its Eq. (1)
  ``I'_t(p + F_t(p)) = I_0(p)``): ``F_t = optical_flow(frame_r, frame_t)``, so pixel ``p`` of
  frame ``r`` moves to ``p + F_t(p)`` in frame ``t``. This is what GID's spectral volumes
  are computed from, and what forward splatting of frame ``r`` consumes. The ``swaying``
  dataset's ``trajectories`` (and its ``spectral_volume``) are in this convention.
- ``direction="backward"``: ``F_t = optical_flow(frame_t, frame_r)``, so
  ``frame_t(p) ~= frame_r(p + F_t(p))``, i.e. ``frame_t = backward_warp(frame_r, F_t)`` with
  ``kinema.nn.warp.backward_warp`` (output(p) = image(p + flow(p))). This is the convention of
  the ``swaying`` dataset's ground-truth ``displacement``.

Without occlusion the two are related by ``F_back(p + F_fwd(p)) = -F_fwd(p)``;
``kinema.nn.warp.invert_flow`` turns a backward field into the forward one.

Methods: ``"dis"`` (= ``"dis-medium"``), ``"dis-fast"``, ``"dis-ultrafast"`` (OpenCV's DIS
presets), ``"tvl1"`` (Dual TV-L1 from opencv-contrib, with fast settings) and ``"farneback"``.
All of them run on 8-bit grey frames; colour frames are converted with OpenCV's BT.601 weights.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from einops import rearrange

from kinema.errors import KinemaError

FLOW_METHODS = ("dis", "dis-medium", "dis-fast", "dis-ultrafast", "tvl1", "farneback")
Direction = Literal["forward", "backward"]

# Dual TV-L1 at OpenCV's defaults takes 1-8 s per 256x160 pair on this machine; these settings
# (measured in ENVIRONMENT.md) bring it to ~50-80 ms with little loss on smooth motion.
TVL1_FAST = dict(nscales=4, warps=3, epsilon=0.05, scaleStep=0.5)
# Farneback parameters: OpenCV's tutorial values with one more pyramid level for 256 px frames.
FARNEBACK = dict(pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)


def to_gray_uint8(video) -> np.ndarray:
    """Grey 8-bit frames (t h w) for OpenCV.

    video: float (t c h w) in [-1, 1] (torch or numpy, c = 1 or 3), or uint8 (t h w c) / (t h w).
    """
    import cv2

    if isinstance(video, torch.Tensor):
        video = video.detach().cpu()
        video = (video.float() if video.is_floating_point() else video).numpy()  # numpy has no bfloat16
    video = np.asarray(video)
    if video.dtype == np.uint8:
        if not (video.ndim == 3 or (video.ndim == 4 and video.shape[-1] in (1, 3))):
            raise KinemaError(f"uint8 video must be (t h w c) with c in (1, 3) or (t h w); got shape {video.shape}")
        frames = video  # (t h w c) or (t h w)
    elif np.issubdtype(video.dtype, np.floating):
        if video.ndim != 4 or video.shape[1] not in (1, 3):
            raise KinemaError(f"float video must be (t c h w) with c in (1, 3); got shape {video.shape}")
        if not np.isfinite(video).all():
            raise KinemaError("video contains NaN or infinite values")
        frames = np.clip(np.rint((video + 1.0) * 127.5), 0, 255).astype(np.uint8)
        frames = rearrange(frames, "t c h w -> t h w c")
    else:
        raise KinemaError(f"video must be float in [-1, 1] or uint8; got dtype {video.dtype}")
    if frames.ndim == 3:
        return np.ascontiguousarray(frames)
    if frames.shape[-1] == 1:
        return np.ascontiguousarray(frames[..., 0])
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])


class FlowEstimator:
    """One OpenCV flow algorithm, built once and applied to many frame pairs.

    ``estimator(source, target)`` with grey uint8 frames (h w) returns float32 (h w 2) in OpenCV's
    convention ``source(p) ~= target(p + F(p))``.
    """

    def __init__(self, method: str = "dis"):
        import cv2

        if method not in FLOW_METHODS:
            raise KinemaError(f"unknown flow method {method!r}; choose one of {', '.join(FLOW_METHODS)}")
        self.method = method
        if method.startswith("dis"):
            preset = {"dis": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, "dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
                      "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                      "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST}[method]
            self._algorithm = cv2.DISOpticalFlow_create(preset)
        elif method == "tvl1":
            if not hasattr(cv2, "optflow"):
                raise KinemaError("flow method 'tvl1' needs OpenCV's contrib modules "
                                  "(pip install opencv-contrib-python-headless)")
            self._algorithm = cv2.optflow.DualTVL1OpticalFlow_create(**TVL1_FAST)
        else:
            self._algorithm = None

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        import cv2

        try:
            if self._algorithm is None:
                return cv2.calcOpticalFlowFarneback(source, target, None, **FARNEBACK)
            return self._algorithm.calc(source, target, None)
        except cv2.error as err:   # e.g. DIS on frames under 12 px: OpenCV's assertion text
            reason = str(err).strip().splitlines()[-1].split(") ", 1)[-1].split(" in function")[0]
            raise KinemaError(f"flow method {self.method!r} cannot run on {source.shape[1]}x"
                              f"{source.shape[0]} frames: {reason}") from None


def optical_flow(source, target, method: str = "dis") -> torch.Tensor:
    """Flow (2 h w) = (dx, dy) in pixels with ``source(p) ~= target(p + flow(p))``.

    source, target: single frames, float (c h w) in [-1, 1] or uint8 (h w c) / (h w).
    """
    pair = [s[None] for s in (source, target)]
    gray_source, gray_target = (to_gray_uint8(p)[0] for p in pair)
    flow = FlowEstimator(method)(gray_source, gray_target)
    return torch.from_numpy(rearrange(flow, "h w c -> c h w").copy())


def trajectories(video, method: str = "dis", reference: int = 0, direction: Direction = "forward",
                 progress: bool | None = None) -> torch.Tensor:
    """Per-pixel displacement (t 2 h w) between frame ``reference`` and every frame.

    video: float (t c h w) in [-1, 1] or uint8 (t h w c). ``direction`` is explained in the module
    docstring; the field at ``t = reference`` is exactly zero. Flow is estimated directly from the
    reference to each frame (not chained), as GID does "between each selected starting image
    and every future frame" (Sec. 7.1), so errors do not accumulate along the clip.
    ``progress``: show a tqdm bar (default: when the clip has more than 32 frames).
    """
    from tqdm.auto import tqdm

    if direction not in ("forward", "backward"):
        raise KinemaError(f"direction must be 'forward' or 'backward', got {direction!r}")
    gray = to_gray_uint8(video)  # (t h w)
    num_frames, height, width = gray.shape
    if not -num_frames <= reference < num_frames:
        raise KinemaError(f"reference frame {reference} is outside a clip of {num_frames} frames")
    reference %= num_frames
    estimator = FlowEstimator(method)
    displacement = np.zeros((num_frames, height, width, 2), np.float32)  # (t h w 2)
    show = num_frames > 32 if progress is None else progress
    for t in tqdm(range(num_frames), desc=f"flow ({method})", disable=not show, leave=False):
        if t == reference:
            continue
        if direction == "forward":
            displacement[t] = estimator(gray[reference], gray[t])
        else:
            displacement[t] = estimator(gray[t], gray[reference])
    return torch.from_numpy(rearrange(displacement, "t h w c -> t c h w").copy())


def end_point_error(flow: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean end-point error in pixels: mean over pixels (and frames) of ||flow - reference||_2.

    flow, reference: (... 2 h w). mask: optional bool (... h w) of the pixels to average over.
    """
    if flow.shape != reference.shape:
        raise KinemaError(f"flow {tuple(flow.shape)} and reference {tuple(reference.shape)} differ in shape")
    error = torch.linalg.vector_norm(flow - reference, dim=-3)  # (... h w)
    return error[mask].mean() if mask is not None else error.mean()


def video_spectral_volume(video, num_frequencies: int = 16, method: str = "dis", reference: int = 0,
                          direction: Direction = "forward", progress: bool | None = None) -> torch.Tensor:
    """Spectral volume (k 4 h w) of a clip: trajectories from ``reference``, then their temporal FFT
    (``kinema.data.spectral.spectral_volume``; GID Eq. (2))."""
    from kinema.data.spectral import spectral_volume

    displacement = trajectories(video, method, reference, direction, progress)
    return spectral_volume(displacement, num_frequencies)
