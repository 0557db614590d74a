import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from kinema.data import load_dataset
from kinema.data.spectral import spectral_volume
from kinema.metrics.motion import ControlAccuracy, FlowEPE, PositionError, SpectralVolumeError, locate


def _batch(ds, n):
    items = [ds[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def test_locate_finds_a_pasted_template(generator):
    template = torch.rand(5, 5, generator=generator)
    frames = torch.zeros(3, 20, 20)
    for i, (x, y) in enumerate([(0, 0), (7, 3), (15, 15)]):
        frames[i, y:y + 5, x:x + 5] = template
    assert locate(frames, template).tolist() == [[0, 0], [7, 3], [15, 15]]


def test_position_error_small_for_real_and_equal_to_a_known_shift():
    ds = load_dataset("bouncing-digits", "test", num_videos=3, size=32, num_frames=6)
    batch = _batch(ds, 3)
    exact = PositionError(digit_size=ds.digit_size)
    exact.update(batch["video"].unsqueeze(1), batch["video"], batch)
    assert exact.compute()["position_error"] <= 0.75
    # Every generated frame moved 3 px right of the truth, on videos whose digit stays inside.
    inside = (batch["positions"][..., 0, 0] + ds.digit_size + 3 <= 32).all(1)
    assert inside.any()
    keep = {k: v[inside] for k, v in batch.items()}
    metric = PositionError(digit_size=ds.digit_size)
    metric.update(torch.roll(keep["video"], 3, dims=-1).unsqueeze(1), keep["video"], keep)
    assert abs(metric.compute()["position_error"] - 3) < 0.75


def test_control_cells_agree_with_the_dataset_bins():
    ds = load_dataset("bouncing-digits", "test", num_videos=8, size=32, num_frames=8)
    metric = ControlAccuracy(digit_size=ds.digit_size, size=32, grid=ds.grid)
    coords = torch.linspace(0, ds.limit, 23, dtype=torch.float64)
    for x in coords:
        for y in coords[::5]:
            cell = int(metric.cell(torch.stack([x, y])))
            assert cell == ds.grid_bin(float(y)) * ds.grid + ds.grid_bin(float(x))
    batch = _batch(ds, 8)
    metric.update(batch["video"].unsqueeze(1), batch["video"], batch)
    assert metric.compute()["control_accuracy"] >= 0.75
    reverse = ControlAccuracy(digit_size=ds.digit_size, size=32, grid=ds.grid)
    reverse.update(batch["video"].flip(1).unsqueeze(1), batch["video"], batch)
    assert reverse.compute()["control_accuracy"] < metric.compute()["control_accuracy"]


def _translating_texture(shifts):
    rng = np.random.default_rng(0)
    texture = gaussian_filter(rng.normal(size=(48, 48)), 2.0)
    texture = texture / np.abs(texture).max()
    frames = [np.roll(texture, shift=(dy, dx), axis=(0, 1)) for dx, dy in shifts]
    video = torch.from_numpy(np.stack(frames)).float().unsqueeze(1)              # (t 1 h w)
    # frame_t(p) = frame_0(p - s): the "backward" displacement is F_t = -s everywhere.
    disp = torch.tensor([[-dx, -dy] for dx, dy in shifts], dtype=torch.float32)
    return video, disp.view(-1, 2, 1, 1).expand(-1, 2, 48, 48).contiguous()


def test_flow_epe_and_spectral_error_of_an_exact_translation():
    shifts = [(0, 0), (1, 0), (2, 1), (1, 2), (0, 1), (-1, 0)]
    video, disp = _translating_texture(shifts)
    # For a translation the forward trajectories are the opposite of the backward field.
    batch = {"displacement": disp[None], "spectral_volume": spectral_volume(-disp, 3)[None]}
    still = video[:1].expand_as(video)
    for cls, name in ((FlowEPE, "flow_epe"), (SpectralVolumeError, "spectral_error")):
        good, bad = cls(), cls()
        good.update(video[None, None], None, batch)
        bad.update(still[None, None], None, batch)
        assert good.compute()[name] < 0.2 * bad.compute()[name]
    epe = FlowEPE()
    epe.update(still[None, None], None, batch)
    expected = np.mean([np.hypot(dx, dy) for dx, dy in shifts])  # a still video's EPE
    assert abs(epe.compute()["flow_epe"] - expected) < 1e-6


def test_swaying_ground_truth_conventions():
    # The dataset's own video must score better than a still copy of its first frame, for
    # both conventions (backward displacement for EPE, forward trajectories for spectra).
    ds = load_dataset("swaying", "test", num_videos=2, size=64, num_frames=16)
    batch = _batch(ds, 2)
    still = batch["video"][:, :1].expand_as(batch["video"])
    for cls, name in ((FlowEPE, "flow_epe"), (SpectralVolumeError, "spectral_error")):
        real_score, still_score = cls(), cls()
        real_score.update(batch["video"].unsqueeze(1), None, batch)
        still_score.update(still.unsqueeze(1), None, batch)
        assert real_score.compute()[name] < 0.6 * still_score.compute()[name]


def test_a_dataset_without_the_ground_truth_is_one_clear_error():
    import pytest

    from kinema.errors import KinemaError

    batch = {"video": torch.zeros(1, 4, 1, 8, 8)}
    fake = torch.zeros(1, 1, 4, 1, 8, 8)
    for metric, missing in ((FlowEPE(), "displacement"), (SpectralVolumeError(), "spectral_volume"),
                            (PositionError(digit_size=4), "positions, digit_mask"),
                            (ControlAccuracy(digit_size=4, size=8, grid=2),
                             "positions, digit_mask, eta")):
        with pytest.raises(KinemaError, match=f"needs the recorded {missing} of .* have: video"):
            metric.update(fake, batch["video"], batch)
