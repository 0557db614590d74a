import numpy as np
import pytest
import torch

from kinema.data import load_dataset
from kinema.data.synthetic import BouncingDigits
from kinema.data.synthetic.digits import digit_bank
from kinema.errors import KinemaError

SMALL = dict(num_videos=6, num_frames=24, size=32)


def ink(item):
    return ((item["video"][:, 0] + 1.0) / 2.0).numpy().astype(np.float64)  # (t h w) in [0, 1]


def test_default_options_load_and_have_documented_shapes():
    dataset = load_dataset("bouncing-digits", "train")
    item = dataset[0]
    assert len(dataset) == 10_000 and len(load_dataset("bouncing-digits", "test")) == 1_000
    assert item["video"].shape == (16, 1, 64, 64) and item["video"].dtype == torch.float32
    assert item["positions"].shape == (16, 1, 2) and item["velocity"].shape == (16, 1, 2)
    assert item["eta_onehot"].shape == (16,) and item["eta_onehot"][item["eta"]] == 1.0


def test_items_are_deterministic_and_seeds_and_splits_differ():
    first = BouncingDigits("train", **SMALL)
    again = BouncingDigits("train", **SMALL)
    assert torch.equal(first[4]["video"], first[4]["video"])
    assert torch.equal(first[4]["video"], again[4]["video"])        # independent of access order
    assert not torch.equal(first[4]["video"], first[3]["video"])
    assert not torch.equal(first[4]["video"], BouncingDigits("train", seed=1, **SMALL)[4]["video"])
    assert not torch.equal(first[4]["video"], BouncingDigits("test", **SMALL)[4]["video"])


def test_digit_file_equals_load_digits_and_splits_are_disjoint():
    from sklearn.datasets import load_digits

    images, labels, subsets = digit_bank()
    reference = load_digits()
    np.testing.assert_array_equal(images * 16.0, reference.images)
    np.testing.assert_array_equal(labels, reference.target)
    assert not set(subsets["train"]) & set(subsets["test"])
    assert len(subsets["train"]) + len(subsets["test"]) == len(images)


@pytest.mark.parametrize("index", range(4))
def test_rendered_digit_follows_recorded_position(index):
    dataset = BouncingDigits("test", **SMALL)
    item = dataset[index]
    frames, positions = ink(item), item["positions"][:, 0].numpy()
    ys, xs = np.mgrid[0:32, 0:32]
    mass = frames.sum(axis=(1, 2))
    centres = np.stack([(frames * xs).sum(axis=(1, 2)), (frames * ys).sum(axis=(1, 2))], 1) / mass[:, None]
    # The mass centre moves with the recorded position (sub-pixel placement keeps it exact) ...
    np.testing.assert_allclose(centres - centres[0], positions - positions[0], atol=0.05)
    # ... the whole digit stays inside its box, and no ink is ever cut off by the border.
    d = dataset.digit_size
    for frame, (x, y) in zip(frames, positions):
        rows, cols = np.nonzero(frame > 0.02)
        assert cols.min() >= x - 1 and cols.max() <= x + d + 1
        assert rows.min() >= y - 1 and rows.max() <= y + d + 1
    np.testing.assert_allclose(mass, mass[0], rtol=1e-4)


def test_bounces_keep_digits_inside_with_bounded_speed():
    dataset = BouncingDigits("train", num_videos=20, num_frames=60, size=32, num_digits=2, max_speed=3.0)
    limit = 32 - dataset.digit_size
    flips = 0
    for index in range(20):
        item = dataset[index]
        positions, velocity = item["positions"].double().numpy(), item["velocity"].double().numpy()
        assert positions.min() >= 0.0 and positions.max() <= limit
        steps = np.linalg.norm(np.diff(positions, axis=0), axis=-1)
        assert steps.max() <= 3.0 + 1e-5
        speed = np.linalg.norm(velocity, axis=-1)
        assert speed.min() >= 1.0 - 1e-5 and speed.max() <= 3.0 + 1e-5
        np.testing.assert_allclose(speed, speed[:1].repeat(60, axis=0), atol=1e-5)  # elastic
        # Reflection rule: positions[t+1] = reflect(positions[t] + velocity[t]) into [0, limit].
        moved = positions[:-1] + velocity[:-1]
        reflected = np.where(moved < 0, -moved, np.where(moved > limit, 2 * limit - moved, moved))
        np.testing.assert_allclose(positions[1:], reflected, atol=1e-4)
        flips += int((np.sign(velocity[1:]) != np.sign(velocity[:-1])).sum())
    assert flips > 0


def test_eta_is_final_position_on_grid():
    dataset = BouncingDigits("train", num_videos=30, num_frames=10, size=32, grid=4)
    limit = 32 - dataset.digit_size
    edges = np.linspace(0.0, limit, 5)[1:-1]
    seen = set()
    for index in range(30):
        item = dataset[index]
        x, y = item["positions"][-1, 0].double().numpy()
        expected = int(np.digitize(y, edges)) * 4 + int(np.digitize(x, edges))
        assert int(item["eta"]) == expected and int(item["eta_onehot"].argmax()) == expected
        seen.add(expected)
    assert len(seen) > 4


def test_digit_count_range_pads_and_colours():
    dataset = BouncingDigits("train", num_videos=12, num_frames=4, size=32, num_digits=(1, 2), channels=3)
    counts = set()
    for index in range(12):
        item = dataset[index]
        count = int(item["num_digits"])
        counts.add(count)
        assert item["video"].shape == (4, 3, 32, 32) and item["positions"].shape == (4, 2, 2)
        assert item["digit_mask"].tolist() == [True, count == 2]
        assert (item["digits"][:count] >= 0).all() and (item["digits"][count:] == -1).all()
    assert counts == {1, 2}
    loader = torch.utils.data.DataLoader(dataset, batch_size=4)
    assert next(iter(loader))["video"].shape == (4, 4, 3, 32, 32)


@pytest.mark.parametrize("options", [dict(size=4), dict(num_digits=(2, 1)), dict(num_digits=[1, 2, 3]),
                                     dict(channels=2), dict(max_speed=100.0), dict(num_frames=0)])
def test_bad_options_are_clear_errors(options):
    with pytest.raises(KinemaError):
        BouncingDigits("train", **options)


def test_unknown_option_names_the_accepted_ones():
    with pytest.raises(KinemaError, match="no option 'speed'.*max_speed"):
        load_dataset("bouncing-digits", "train", speed=2)
