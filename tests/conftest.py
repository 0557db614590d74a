"""Fixtures shared across the test suite (kept small: tiny videos written on the fly)."""
from __future__ import annotations

import numpy as np
import pytest


def smooth_video(t: int = 12, h: int = 32, w: int = 40, seed: int = 0) -> np.ndarray:
    """(t h w c) uint8: drifting sinusoids, smooth enough that h264 keeps > 30 dB PSNR."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    frames = [np.stack([128 + 90 * np.sin(xx / 6 + yy / 9 + 0.3 * i + phase[c]) for c in range(3)], -1)
              for i in range(t)]
    return np.stack(frames).round().astype(np.uint8)


def write_frame_folder(folder, video: np.ndarray, ext: str = "png") -> None:
    """Frames as folder/frame{i}.{ext} (unpadded numbers, so only a natural sort gets them right)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(video):
        cv2.imwrite(str(folder / f"frame{i}.{ext}"), np.ascontiguousarray(frame[..., ::-1]))


@pytest.fixture
def video_folder(tmp_path):
    """A folder of 5 per-video frame folders (10 frames, 24x32 each) -> (path, {id: video})."""
    root = tmp_path / "videos"
    videos = {f"clip{i}": smooth_video(t=10, h=24, w=32, seed=i) for i in range(5)}
    for name, video in videos.items():
        write_frame_folder(root / name, video)
    return root, videos


@pytest.fixture
def make_video():
    return smooth_video


@pytest.fixture
def make_frame_folder():
    return write_frame_folder


@pytest.fixture(autouse=True, scope="session")
def frame_cache_in_tmp(tmp_path_factory):
    """The real-video sources' on-disk frame cache (kinema.data.frame_cache) goes to a
    temporary folder, not the user's ~/.cache (subprocesses inherit the variable)."""
    import os

    before = os.environ.get("KINEMA_FRAME_CACHE")
    os.environ["KINEMA_FRAME_CACHE"] = str(tmp_path_factory.mktemp("frame-cache"))
    yield
    if before is None:
        os.environ.pop("KINEMA_FRAME_CACHE", None)
    else:
        os.environ["KINEMA_FRAME_CACHE"] = before


@pytest.fixture(scope="session")
def tiny_bundled_models(tmp_path_factory):
    """A folder of tiny bundled models (``KINEMA_BUNDLED``), one per ``kinema.bundled`` name but
    ile, trained and exported once per session (``tests/tiny_bundle.py``, ~15 s)."""
    from tests.tiny_bundle import build_tiny_bundle

    return build_tiny_bundle(tmp_path_factory.mktemp("tiny-bundle"))
