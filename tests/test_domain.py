"""kinema.domain: a picture's statistics, the Mahalanobis distance, the threshold calibrated on
held-out pictures, and the verdicts on held-out synthetic pictures and on photographs."""
import json

import numpy as np
import pytest
import skimage.data
import torch

from kinema import domain
from kinema.data import load_dataset
from kinema.data.pictures import frames_to_model


def test_statistics_of_known_pictures():
    flat = torch.zeros(3, 6, 6)
    flat[0], flat[2] = 1.0, -1.0                       # red 1, green 0.5, blue 0 in [0, 1] units
    ramp = (torch.arange(6.0) * 0.1 * 2 - 1).expand(3, 6, 6).clone()   # 0.1 per column in [0, 1]
    stats = domain.picture_statistics(torch.stack([flat, ramp]))
    np.testing.assert_allclose(stats[0], [1.0, 0.5, 0.0, 0, 0, 0, 0.0, 0.0, 0.0], atol=1e-12)
    column = np.arange(6) * 0.1
    np.testing.assert_allclose(stats[1, :3], column.mean(), atol=1e-6)
    np.testing.assert_allclose(stats[1, 3:6], column.std(), atol=1e-6)
    np.testing.assert_allclose(stats[1, 6:], [0.1, 0.0, 0.0], atol=1e-6)   # |grad| 0.1, a plane


def test_statistics_see_the_vertical_gradient_and_the_laplacian():
    rows = torch.arange(5.0)[:, None].expand(5, 5) * 0.1
    bump = torch.zeros(5, 5)
    bump[2, 2] = 0.5
    stats = domain.picture_statistics(torch.stack([rows, bump])[:, None] * 2 - 1)
    assert stats[0, 2] == pytest.approx(0.1)            # grey channel: c=1, texture from column 2
    assert stats[1, 4] == pytest.approx((2.0 + 4 * 0.5) / 9)   # |laplacian| 2 at the centre, 0.5 at its 4 neighbours
    assert stats[1, 4] != stats[1, 2]


def test_distance_is_scipys_mahalanobis():
    from scipy.spatial.distance import mahalanobis

    rng = np.random.default_rng(0)
    mean, covariance = rng.normal(size=4), np.cov(rng.normal(size=(50, 4)), rowvar=False)
    reference = domain.DomainReference("x", (4, 4), 3, mean.tolist(), covariance.tolist(), 1.0, 50, 10)
    points = rng.normal(size=(3, 4))
    expected = [mahalanobis(p, mean, np.linalg.inv(covariance)) for p in points]
    np.testing.assert_allclose(reference.distance(points), expected, rtol=1e-10)


def test_threshold_is_the_99th_percentile_of_the_held_out_distances():
    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(64, 3, 8, 8, generator=generator) * 2 - 1
    held_out = torch.rand(40, 3, 8, 8, generator=generator) * 2 - 1
    found = domain.measure_reference(reference, held_out, "noise")
    distances = found.distance(domain.picture_statistics(held_out))
    assert found.threshold == pytest.approx(np.percentile(distances, 99.0))
    assert (distances > found.threshold).sum() == 1      # the farthest of 40 lies beyond it
    assert (found.pictures, found.held_out, found.size, found.channels) == (64, 40, (8, 8), 3)
    own = found.distance(domain.picture_statistics(reference))
    np.testing.assert_allclose((own ** 2).mean(), 9 * 63 / 64, rtol=0.01)   # mean d^2 = d (n-1)/n


def _photos(size):
    return frames_to_model([skimage.data.astronaut(), skimage.data.coffee()], 3, size)


@pytest.mark.parametrize("name, options", [("clouds", {"num_frames": 4, "size": 8}),
                                           ("swaying", {"num_frames": 8, "size": 16, "meadow_fraction": 1.0})])
def test_held_out_synthetic_pictures_are_in_domain_and_photographs_are_not(name, options):
    size = (options["size"],) * 2
    reference = domain.measure_dataset(name, options, size, 3)
    # test-split pictures the threshold was not calibrated on (it saw the first 128)
    unseen = load_dataset(name, "test", num_videos=domain.HELD_OUT_PICTURES + 64, **options)
    pictures = domain.first_frames(unseen, 64, size, 3, offset=domain.HELD_OUT_PICTURES)
    flagged = reference.distance(domain.picture_statistics(pictures)) > reference.threshold
    assert flagged.sum() <= 3                               # about 1 in 100 expected
    photo_distances = reference.distance(domain.picture_statistics(_photos(size)))
    assert (photo_distances > 2 * reference.threshold).all(), (photo_distances, reference.threshold)


def test_swaying_with_its_photo_crops_keeps_photographs_in_domain():
    """The default swaying data crops scikit-image's photographs (half its pictures; astronaut
    and coffee are among its training photos): what it was trained on, and the measure says so."""
    reference = domain.measure_dataset("swaying", {"num_frames": 8, "size": 16}, (16, 16), 3)
    assert (reference.distance(domain.picture_statistics(_photos((16, 16)))) < reference.threshold).all()


def test_reference_is_kept_in_the_model_folder_and_read_back(tmp_path, monkeypatch):
    options = {"num_frames": 4, "size": 8, "num_videos": 16}
    first = domain.reference_for(tmp_path, "clouds", options, (8, 8), 3)
    stored = json.loads((tmp_path / domain.DOMAIN_FILE).read_text())
    assert stored["threshold"] == first.threshold and stored["pictures"] == domain.REFERENCE_PICTURES
    monkeypatch.setattr(domain, "_cache", {})
    monkeypatch.setattr(domain, "measure_dataset", lambda *a: pytest.fail("measured again"))
    again = domain.reference_for(tmp_path, "clouds", options, (8, 8), 3)
    assert again.mean == first.mean and again.threshold == first.threshold
    with pytest.raises(pytest.fail.Exception):          # another size is measured anew
        domain.reference_for(tmp_path, "clouds", options, (16, 16), 3)


def test_first_frames_spread_evenly_over_the_dataset():
    items = [{"video": torch.full((2, 1, 4, 4), float(i) / 10)} for i in range(10)]
    frames = domain.first_frames(items, 4, (2, 2), 3)                # area-resized, grey to 3 channels
    assert frames.shape == (4, 3, 2, 2)
    np.testing.assert_allclose(frames[:, 0, 0, 0], [0.0, 0.2, 0.5, 0.7], atol=1e-6)
    odd = domain.first_frames(items, 10, (4, 4), 1, offset=1, step=2)
    np.testing.assert_allclose(odd[:, 0, 0, 0], [0.1, 0.3, 0.5, 0.7, 0.9], atol=1e-6)
