"""The benchmark's motion readers recover the recorded motion of real clips."""
import torch

from kinema.bench.harness import collate
from kinema.data import load_dataset
from kinema.methods.cinn.bench import StaticImage, angle_bin, cosine, digit_motion, drift


def test_drift_recovers_the_cloud_direction():
    data = load_dataset("clouds", "test", num_videos=6, num_frames=6, size=16)
    batch = collate([data[i] for i in range(6)])
    moved = torch.stack([drift(v[None], m)[0] for v, m in zip(batch["video"], batch["sky_mask"])])
    truth = torch.stack([torch.cos(batch["angle"]), torch.sin(batch["angle"])], -1)
    assert cosine(moved, truth).mean() > 0.9
    assert cosine(moved, truth.roll(1, 0)).mean() < 0.9
    off = (angle_bin(moved) - batch["eta"]).abs()
    assert (torch.minimum(off, 36 - off) <= 2).float().mean() >= 0.8


def test_digit_motion_matches_recorded_positions():
    data = load_dataset("bouncing-digits", "test", num_videos=6, num_frames=4, size=16)
    batch = collate([data[i] for i in range(6)])
    pos = batch["positions"][:, :, 0]
    found = torch.stack([digit_motion(v[None], v[0], p[0], data.digit_size)[0]
                         for v, p in zip(batch["video"], pos)])
    assert (found - (pos[:, 2] - pos[:, 0])).abs().max() < 1.0


def test_static_baseline_repeats_x0():
    x0 = torch.randn(2, 3, 4, 4)
    video = StaticImage().sample(x0, 5, 3)
    assert video.shape == (2, 3, 5, 3, 4, 4) and torch.equal(video[:, 2, 4], x0)


def test_rows_name_their_runs_and_a_missing_run_says_how_to_train_it(tmp_path):
    import pytest

    from kinema.errors import KinemaError
    from kinema.methods.cinn.bench import _rows

    rows = _rows("clouds", tmp_path, "small")
    runs = [run for _, run, _ in rows]
    assert runs[:5] == ["cinn-flow-small-clouds", "cinn-autoencoder-small-clouds",
                        "cinn-flow-small-clouds-no-x0", "cinn-flow-small-clouds-no-adain",
                        "cinn-flow-small-clouds-control"]
    with pytest.raises(KinemaError, match="kinema train cinn-flow --preset small-clouds-no-x0") as missing:
        rows[2][2]()
    assert "--set" not in str(missing.value)   # the flow has no path field of its own to point
    with pytest.raises(KinemaError, match="kinema train cinn-autoencoder --preset small-clouds "):
        rows[1][2]()


def test_benchmark_takes_a_base_preset_only(tmp_path):
    import pytest

    from kinema.errors import KinemaError
    from kinema.methods.cinn.bench import cinn_benchmark

    with pytest.raises(KinemaError, match="base preset"):
        cinn_benchmark("clouds", tmp_path, runs=tmp_path, preset="small-clouds")
    with pytest.raises(KinemaError, match="unknown cINN preset"):
        cinn_benchmark("clouds", tmp_path, runs=tmp_path, preset="huge")
