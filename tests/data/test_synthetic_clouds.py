import numpy as np
import pytest
import torch
from scipy.ndimage import shift as shift_image

from kinema.data import load_dataset
from kinema.data.synthetic import Clouds
from kinema.errors import KinemaError

SMALL = dict(num_videos=8, num_frames=8, size=48)


def luma(frame):
    return np.tensordot([0.299, 0.587, 0.114], (frame.double().numpy() + 1) / 2, axes=1)  # (h w)


def test_default_options_load_with_documented_shapes():
    item = load_dataset("clouds", "train")[0]
    assert item["video"].shape == (16, 3, 64, 64) and item["video"].dtype == torch.float32
    assert item["eta_onehot"].shape == (36,) and item["shift"].shape == (16, 2)
    assert item["sky_mask"].shape == (64, 64) and item["sky_mask"].dtype == torch.bool


def test_deterministic_and_seeds_and_splits_differ():
    dataset = Clouds("train", **SMALL)
    assert torch.equal(dataset[2]["video"], Clouds("train", **SMALL)[2]["video"])
    assert not torch.equal(dataset[2]["video"], Clouds("train", seed=9, **SMALL)[2]["video"])
    assert not torch.equal(dataset[2]["video"], Clouds("test", **SMALL)[2]["video"])


def test_eta_bins_the_angle_and_shift_follows_speed_and_direction():
    dataset = Clouds("train", num_videos=72, num_frames=5, size=16, min_speed=0.5, max_speed=2.0)
    bins = set()
    for index in range(72):
        item = dataset[index]
        angle, speed = float(item["angle"]), float(item["speed"])
        assert 0 <= angle < 2 * np.pi and 0.5 <= speed <= 2.0
        assert int(item["eta"]) == int(np.floor(angle / (2 * np.pi / 36)))
        assert int(item["eta_onehot"].argmax()) == int(item["eta"]) and item["eta_onehot"].sum() == 1
        expected = speed * np.arange(5)[:, None] * np.array([np.cos(angle), np.sin(angle)])
        np.testing.assert_allclose(item["shift"].numpy(), expected, atol=1e-5)
        bins.add(int(item["eta"]))
    assert len(bins) > 25   # directions spread over the 36 bins


def test_ground_is_static_and_sky_moves():
    dataset = Clouds("train", **SMALL)
    for index in range(4):
        item = dataset[index]
        video, sky = item["video"], item["sky_mask"]
        assert sky[:, 0].any() and (~sky).any()
        assert torch.equal(video[:, :, ~sky], video[:1, :, ~sky].expand(8, -1, -1))
        assert (video[-1, :, sky] - video[0, :, sky]).abs().max() > 0.05


@pytest.mark.parametrize("index", range(3))
def test_cloud_layer_is_frame0_shifted_by_speed_times_t(index):
    dataset = Clouds("test", num_videos=3, num_frames=5, size=64, min_speed=1.5, max_speed=1.5)
    item = dataset[index]
    sky_rows = int(item["sky_mask"].all(dim=1).sum())   # rows that are sky across the whole width
    t = 4
    sx, sy = item["shift"][t].double().numpy()           # 6 px
    first, later = (item["clouds"][i, :sky_rows].double().numpy() for i in (0, t))
    margin = 8
    window = (slice(margin, sky_rows - margin), slice(margin, 64 - margin))

    def error(dy, dx):   # scipy: output(p) = input(p - shift)
        return np.abs(shift_image(first, (dy, dx), order=3, mode="nearest")[window] - later[window]).mean()

    assert later[window].std() > 0.02                  # there are clouds to track
    assert error(sy, sx) < 0.1 * later[window].std()
    assert error(-sy, -sx) > 5 * error(sy, sx)          # the direction, not just the amount, is right


def test_clear_sky_is_static():
    item = Clouds("train", **SMALL)[1]
    clear = (item["clouds"] == 0).all(dim=0) & item["sky_mask"]
    assert clear.any()
    video = item["video"]
    assert torch.equal(video[:, :, clear], video[:1, :, clear].expand(8, -1, -1))
    # wherever frame t and frame 0 both see clear sky, they agree
    changed = (video - video[:1]).abs().amax(dim=1) > 0                        # (t h w)
    both_clear = (item["clouds"] == 0) & (item["clouds"][:1] == 0)
    assert both_clear[1:].any() and not (changed & both_clear).any()


def test_bad_options_are_clear_errors():
    with pytest.raises(KinemaError):
        Clouds("train", min_speed=2.0, max_speed=1.0)
    with pytest.raises(KinemaError):
        Clouds("valid")
