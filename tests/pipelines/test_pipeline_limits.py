"""The pipelines check what every command checks before it starts (kinema.validate): frames
within KINEMA_MAX_FRAMES, videos within KINEMA_MAX_VIDEOS, seeds in torch's range and the work
(pixels x frames x videos) within KINEMA_MAX_WORK, before the model is called."""
from __future__ import annotations

import numpy as np
import pytest

import kinema.pipelines as pipelines
from kinema.errors import KinemaError


@pytest.fixture(scope="module")
def repeat_last(tmp_path_factory):
    """A repeat-last-frame baseline of 16x16 RGB frames, with every task's pipeline."""
    from kinema.methods.baselines.config import RepeatLastConfig
    from kinema.methods.baselines.repeat_last import RepeatLastFrame

    folder = RepeatLastFrame(RepeatLastConfig(channels=3, height=16, width=16)).save_pretrained(
        tmp_path_factory.mktemp("repeat") / "model")
    return {task: pipelines.load(folder, task=task) for task in ("ImageToVideo", "Prediction")}


PICTURE = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)


@pytest.mark.parametrize("task", ["ImageToVideo", "Prediction"])
@pytest.mark.parametrize("change, words", [
    (dict(num_frames=10_001), "KINEMA_MAX_FRAMES"), (dict(num_samples=257), "KINEMA_MAX_VIDEOS"),
    (dict(seed=2 ** 64), "seed must be an integer"), (dict(seed=-1), "seed must be an integer"),
    (dict(num_frames=10_000, num_samples=256), "KINEMA_MAX_WORK"), (dict(num_frames=2.5), "num_frames"),
])
def test_the_limits_hold_before_the_model_is_called(repeat_last, task, change, words, monkeypatch):
    pipe = repeat_last[task]
    monkeypatch.setattr(type(pipe.model), "sample", lambda *a, **k: pytest.fail("the model was called"))
    monkeypatch.setattr(type(pipe.model), "predict", lambda *a, **k: pytest.fail("the model was called"))
    given = PICTURE if task == "ImageToVideo" else PICTURE[None].repeat(2, 0)
    with pytest.raises(KinemaError, match=words):
        pipe(given, **{"num_frames": 4, "num_samples": 1, **change})


def test_within_the_limits_the_work_is_pixels_frames_videos(repeat_last, monkeypatch):
    """16 x 16 px x 4 frames x 2 videos = 2048 pixel-frames: runs at that limit, refused below."""
    import kinema.validate

    pipe = repeat_last["ImageToVideo"]
    monkeypatch.setattr(kinema.validate, "MAX_WORK", 16 * 16 * 4 * 2)
    assert pipe(PICTURE, num_frames=4, num_samples=2).frames.shape == (2, 4, 16, 16, 3)
    monkeypatch.setattr(kinema.validate, "MAX_WORK", 16 * 16 * 4 * 2 - 1)
    with pytest.raises(KinemaError, match="2 video\\(s\\) x 4 frames x 16x16 px = 2048 pixel-frames"):
        pipe(PICTURE, num_frames=4, num_samples=2)
