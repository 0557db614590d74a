import cv2
import numpy as np
import pytest
import scipy.linalg
import torch

import kinema.metrics as km
from kinema.data.flow import FlowEstimator, to_gray_uint8
from kinema.errors import KinemaError
from kinema.metrics.flow_statistics import (
    ANALYSIS_WIDTH, FEATURE_NAMES, MotionFD, analysis_frames, consecutive_flows, flow_features,
    motion_fd)

SIZE, SQUARE, FRAMES = 128, 64, 6
SPEED_FEATURES = ("speed_mean", "speed_std", "speed_p90", "moving_fraction", "speed_temporal_std")


def texture(size: int, seed: int, sigma: float) -> np.ndarray:
    """Smooth random texture (size size) in [-1, 1]: DIS needs gradients to lock onto."""
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), sigma)
    return t / np.abs(t).max()


def square_video(steps, seed: int = 0, background: float = 0.3) -> np.ndarray:
    """A textured SQUARE px square on a fainter textured background, SIZE px frames (t 1 h w);
    frame t+1 has the square moved by steps[t] = (dx, dy) px (x right, y down)."""
    back = texture(SIZE, seed + 1, 3) * background
    front = texture(SQUARE, seed + 2, 3)
    corners = np.cumsum([(0, 0), *steps], axis=0)
    corners = corners - corners.mean(0).round().astype(int) + (SIZE - SQUARE) // 2
    frames = []
    for x0, y0 in corners:
        frame = back.copy()
        frame[y0:y0 + SQUARE, x0:x0 + SQUARE] = front
        frames.append(frame)
    return np.stack(frames)[:, None]


def steady(v, frames: int = FRAMES):
    return [v] * (frames - 1)


def features_of(video: np.ndarray) -> dict:
    return dict(zip(FEATURE_NAMES, flow_features(video[None])[0]))


def test_translating_square_moves_at_its_speed_on_its_pixels():
    v = 3
    video = square_video(steady((v, 0)))
    gray = analysis_frames(to_gray_uint8(video))
    flows = consecutive_flows(gray, FlowEstimator("dis"))      # (t-1 h w 2)
    corners = np.cumsum([(0, 0), *steady((v, 0))], axis=0)
    corners = corners - corners.mean(0).round().astype(int) + (SIZE - SQUARE) // 2
    for t, (x0, y0) in enumerate(corners[:-1]):
        inner = flows[t, y0 + 8:y0 + SQUARE - 8, x0 + 8:x0 + SQUARE - 8]
        assert abs(inner[..., 0].mean() - v) < 0.1 * v
        assert abs(inner[..., 1].mean()) < 0.1 * v
    f = features_of(video)
    # the square is a quarter of the frame, so the 90th percentile is its speed, in % of width
    assert f["speed_p90"] == pytest.approx(v / SIZE * 100, rel=0.1)
    assert 0.25 * v / SIZE * 100 * 0.9 < f["speed_mean"] < 0.45 * v / SIZE * 100
    assert 0.25 < f["moving_fraction"] < 0.45
    assert f["temporal_coherence"] > 0.98
    assert f["speed_temporal_std"] < 0.05 * f["speed_mean"]


@pytest.mark.parametrize("step, direction_bin", [((3, 0), 0), ((0, 3), 2), ((-3, 0), 4),
                                                 ((-2, -2), 5), ((0, -3), 6)])
def test_direction_histogram_puts_the_mass_in_the_moving_direction(step, direction_bin):
    f = flow_features(square_video(steady(step))[None])[0]
    histogram = f[FEATURE_NAMES.index("direction_0"):FEATURE_NAMES.index("direction_7") + 1]
    assert histogram.sum() == pytest.approx(1.0, abs=1e-12)
    assert histogram.argmax() == direction_bin and histogram[direction_bin] > 0.9


def test_back_and_forth_motion_is_incoherent_and_bursts_vary_in_time():
    swing = features_of(square_video([(3, 0), (-3, 0)] * 2 + [(3, 0)]))
    assert swing["temporal_coherence"] < -0.9
    assert swing["direction_0"] == pytest.approx(0.5, abs=0.1)
    assert swing["direction_4"] == pytest.approx(0.5, abs=0.1)
    bursts = features_of(square_video([(4, 0), (0, 0), (4, 0), (0, 0), (4, 0)]))
    smooth = features_of(square_video(steady((2, 0))))
    assert bursts["speed_mean"] == pytest.approx(smooth["speed_mean"], rel=0.25)  # same mean ...
    assert bursts["speed_temporal_std"] > 10 * smooth["speed_temporal_std"]      # ... in bursts


def test_endpoint_difference_is_the_mean_grey_change_first_to_last():
    video = square_video(steady((3, 0)))
    gray = to_gray_uint8(video).astype(np.float64) / 255
    assert features_of(video)["endpoint_difference"] == pytest.approx(
        np.abs(gray[-1] - gray[0]).mean(), abs=1e-12)


def test_same_motion_with_another_look_gives_the_same_features():
    video = square_video(steady((3, 1)))
    others = {"negated": -video, "other textures": square_video(steady((3, 1)), seed=7, background=0.5)}
    flow_part = [i for i, n in enumerate(FEATURE_NAMES) if n != "endpoint_difference"]
    f = flow_features(video[None])[0]
    for label, other in others.items():
        g = flow_features(other[None])[0]
        assert np.allclose(g[flow_part], f[flow_part], rtol=0.1, atol=0.03), label


def test_static_video_gives_exactly_zero():
    grey = square_video(steady((0, 0)))
    colour = np.repeat(grey, 3, axis=1) * np.array([1.0, 0.5, -0.3])[:, None, None]
    for videos in (np.stack([grey, grey * 0.5]), np.stack([np.repeat(grey, 3, axis=1), colour])):
        features = flow_features(videos)
        assert features.dtype == np.float64 and features.shape == (2, len(FEATURE_NAMES))
        assert np.array_equal(features, np.zeros_like(features))
    assert features_of(square_video(steady((1, 0))))["speed_mean"] > 0   # the same scene, moving


def test_same_motion_at_twice_the_size_gives_the_same_features():
    big = square_video(steady((4, 0)))   # 128 px, 4 px/frame
    small = np.stack([cv2.resize(f[0], (SIZE // 2, SIZE // 2), interpolation=cv2.INTER_AREA)
                      for f in big])[:, None]   # the same scene at 64 px, 2 px/frame
    assert small.shape[-1] != ANALYSIS_WIDTH and big.shape[-1] == ANALYSIS_WIDTH
    f_small, f_big = features_of(small), features_of(big)
    for name in ("speed_mean", "speed_std", "speed_p90", "moving_fraction"):
        assert f_small[name] == pytest.approx(f_big[name], rel=0.06), name
    for name in ("speed_temporal_std", "temporal_coherence", "endpoint_difference",
                 *(n for n in FEATURE_NAMES if n.startswith("direction"))):
        assert f_small[name] == pytest.approx(f_big[name], abs=0.02), name


def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))


def test_motion_fd_is_the_frechet_distance():
    rng = np.random.default_rng(0)
    d = len(FEATURE_NAMES)
    a = rng.normal(size=(200, d)) @ rng.normal(size=(d, d)) * 0.3
    b = rng.normal(size=(150, d)) @ rng.normal(size=(d, d)) * 0.3 + 0.2
    assert abs(motion_fd(a, a)) < 1e-6
    expected = scipy_frechet(a, b)
    assert motion_fd(a, b) == pytest.approx(expected, abs=1e-6, rel=1e-9)
    assert motion_fd(a, b) == pytest.approx(motion_fd(b, a), rel=1e-9)


def moving_set(seed: int, count: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = [(int(rng.integers(1, 4)) * rng.choice([-1, 1]), int(rng.integers(-2, 3)))
             for _ in range(count)]
    return np.stack([square_video(steady(s), seed=seed * 100 + i) for i, s in enumerate(steps)])


def test_still_videos_are_far_from_moving_ones():
    still = np.stack([square_video(steady((0, 0)), seed=i) for i in range(6)])
    moving_a, moving_b = flow_features(moving_set(1)), flow_features(moving_set(2))
    between_moving = motion_fd(moving_a, moving_b)
    assert motion_fd(flow_features(still), moving_a) > 3 * between_moving
    assert motion_fd(flow_features(still), moving_a) > 1.0


def test_registered_metric_streams_to_the_one_shot_value(tmp_path, monkeypatch):
    monkeypatch.delenv("KINEMA_WEIGHTS", raising=False)
    entry = km.metric_entry("motion-fd")
    assert entry.features is None           # nothing to load: no weights file
    metric = km.build_metric("motion-fd", weights=str(tmp_path))   # an empty folder is fine
    assert isinstance(metric, MotionFD)
    fake = torch.from_numpy(np.stack([moving_set(3, 4), moving_set(4, 4)], axis=1)).float()
    real = torch.from_numpy(moving_set(5, 4)).float()             # fake (b n t c h w), real (b t c h w)
    for i in range(0, 4, 2):
        metric.update(fake[i:i + 2], real[i:i + 2])
    out = metric.compute()
    fake_features = flow_features(fake.reshape(8, *fake.shape[2:]))
    real_features = flow_features(real)
    assert out["motion_fd"] == pytest.approx(motion_fd(real_features, fake_features), rel=1e-6)
    assert (out["motion_fd_fake_count"], out["motion_fd_real_count"]) == (8, 4)
    speed = FEATURE_NAMES.index("speed_mean")
    assert out["motion_fd_fake_speed_mean"] == pytest.approx(fake_features[:, speed].mean(), rel=1e-9)
    assert out["motion_fd_real_speed_mean"] == pytest.approx(real_features[:, speed].mean(), rel=1e-9)


def test_metrics_list_shows_motion_fd_without_features():
    from typer.testing import CliRunner

    from kinema.cli import app

    result = CliRunner().invoke(app, ["metrics", "list"])
    assert result.exit_code == 0
    line = next(row for row in result.output.splitlines() if row.startswith("motion-fd"))
    assert "[" not in line and "no weights file" in line


def test_clear_errors():
    with pytest.raises(KinemaError, match="at least 3 frames"):
        flow_features(np.zeros((1, 2, 1, 32, 32)))
    with pytest.raises(KinemaError, match=r"\(n t c h w\)"):
        flow_features(np.zeros((2, 1, 32, 32)))
    metric = MotionFD()
    metric.update(torch.zeros(1, 1, 3, 1, 32, 32), torch.zeros(1, 3, 1, 32, 32))
    with pytest.raises(KinemaError, match="at least 2"):
        metric.compute()
