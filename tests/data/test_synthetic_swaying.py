import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt, gaussian_filter

from kinema.data import load_dataset
from kinema.data.synthetic import Swaying
from kinema.data.synthetic.scenes import PHOTOS
from kinema.data.synthetic.swaying import TEXTURE_FLOOR, TEXTURE_FULL
from kinema.errors import KinemaError
from kinema.nn.warp import backward_warp

SMALL = dict(num_videos=8, num_frames=16, size=32)


@pytest.fixture(scope="module")
def items():
    dataset = Swaying("train", **SMALL)
    return dataset, [dataset[i] for i in range(len(dataset))]


def interior(labels, region, margin):
    """Pixels of ``region`` at least ``margin`` px away from any other region."""
    return distance_transform_edt(labels == region) > margin


def test_default_options_load_with_documented_shapes():
    item = load_dataset("swaying", "test")[0]
    assert item["video"].shape == (32, 3, 64, 64) and item["image"].shape == (3, 64, 64)
    assert item["displacement"].shape == item["trajectories"].shape == (32, 2, 64, 64)
    assert item["spectral_volume"].shape == (16, 4, 64, 64)


def test_deterministic_and_seeds_and_splits_differ(items):
    dataset, first = items
    assert torch.equal(dataset[5]["video"], first[5]["video"])
    assert torch.equal(Swaying("train", **SMALL)[5]["displacement"], first[5]["displacement"])
    assert not torch.equal(Swaying("train", seed=3, **SMALL)[5]["video"], first[5]["video"])
    assert not torch.equal(Swaying("test", **SMALL)[5]["video"], first[5]["video"])


def test_sources_cover_meadows_and_the_splits_photos():
    assert not set(PHOTOS["train"]) & set(PHOTOS["test"])
    sources = {int(Swaying("test", num_videos=12, num_frames=4, size=32)[i]["source"]) for i in range(12)}
    assert -1 in sources and sources - {-1} <= set(range(len(PHOTOS["test"])))


def test_video_is_image_backward_warped_by_displacement(items):
    _, examples = items
    for item in examples:
        image = item["image"][None].expand(16, -1, -1, -1)
        np.testing.assert_allclose(backward_warp(image, item["displacement"]), item["video"], atol=1e-5)
        assert item["displacement"][0].abs().max() == 0 and item["trajectories"][0].abs().max() == 0
        assert item["displacement"].abs().max() > 0.05      # something moves


def test_trajectories_are_the_forward_inverse_of_displacement(items):
    _, examples = items
    for item in examples:
        displacement, forward = item["displacement"].double(), item["trajectories"].double()
        # pixel q of frame 0 is at p = q + T(q) in frame t, and frame t samples p + D(p) = q.
        residual = backward_warp(displacement, forward) + forward
        assert residual[..., 2:-2, 2:-2].abs().max() < 1e-3


def test_spectral_volume_is_rfft_of_trajectories(items):
    _, examples = items
    for item in examples[:3]:
        spectrum = np.fft.rfft(item["trajectories"].double().numpy(), axis=0)[:9]      # (k 2 h w)
        expected = np.concatenate([spectrum.real, spectrum.imag], axis=1)               # Re x, Re y, Im x, Im y
        np.testing.assert_allclose(item["spectral_volume"].numpy(), expected, atol=1e-3)


def test_frequency_follows_region_brightness_and_amplitude_texture(items):
    dataset, examples = items
    for item in examples:
        image = (item["image"].double().numpy() + 1.0) / 2.0
        luma = np.tensordot([0.299, 0.587, 0.114], image, axes=1)
        labels = item["region_labels"].numpy()
        for region in np.unique(labels):
            brightness = luma[labels == region].mean()
            expected = dataset.min_frequency + (dataset.max_frequency - dataset.min_frequency) * brightness
            assert item["mode_frequency"][region, 0] == pytest.approx(expected, abs=1e-4)
            assert item["mode_frequency"][region, 1] == pytest.approx(2 * expected, abs=2e-4)
        # amplitude = shrink * amplitude_option * ramp(texture), one shrink <= 1 per item
        texture, amplitude = item["region_texture"].double().numpy(), item["mode_amplitude"].double().numpy()
        ramp = np.clip((texture - TEXTURE_FLOOR) / (TEXTURE_FULL - TEXTURE_FLOOR), 0, 1)
        assert ((ramp == 0) == (amplitude[:, 0] == 0)).all()
        shrink = amplitude[ramp > 0, 0] / (dataset.amplitude * ramp[ramp > 0])
        np.testing.assert_allclose(shrink, shrink[0], rtol=1e-4)
        assert shrink[0] <= 1.0 + 1e-4
        np.testing.assert_allclose(amplitude[:, 1], amplitude[:, 0] / 4, rtol=1e-5)


def test_displacement_is_blurred_regions_times_their_recorded_damped_modes():
    dataset = Swaying("train", num_videos=4, num_frames=24, size=40, meadow_fraction=0.5)
    time = np.arange(24)[:, None]
    for index in range(4):
        item = dataset[index]
        labels = item["region_labels"].numpy()
        expected = np.zeros((24, 2, 40, 40))
        for region in range(dataset.max_regions):
            omega = 2 * np.pi * item["mode_frequency"][region].double().numpy()
            amplitude = item["mode_amplitude"][region].double().numpy()
            phase = item["mode_phase"][region].double().numpy()
            scalar = (amplitude * np.exp(-dataset.damping * omega * time) * np.cos(omega * time + phase)).sum(-1)
            motion = (scalar - scalar[0])[:, None] * item["mode_direction"][region].double().numpy()  # (t 2)
            # scipy's "mirror" border is OpenCV's default reflect-101; truncate=4 is OpenCV's kernel size
            mask = gaussian_filter((labels == region).astype(float), dataset.smooth_sigma, mode="mirror", truncate=4.0)
            expected += motion[:, :, None, None] * mask
        np.testing.assert_allclose(item["displacement"].numpy(), expected, atol=2e-3)


def test_undamped_single_mode_peaks_at_its_frequency():
    dataset = Swaying("train", num_videos=4, num_frames=64, size=48, num_modes=1, damping=0.0,
                      meadow_fraction=1.0, min_frequency=0.05, max_frequency=0.2, smooth_sigma=1.0)
    item = dataset[1]
    labels = item["region_labels"].numpy()
    moving = [r for r in np.unique(labels) if item["mode_amplitude"][r, 0] > 0.3 and interior(labels, r, 4).any()]
    assert moving
    for region in moving:
        y, x = np.argwhere(interior(labels, region, 4))[0]
        trajectory = item["displacement"][:, :, y, x].double().numpy() @ item["mode_direction"][region].double().numpy()
        peak = np.abs(np.fft.rfft(trajectory))[1:].argmax() + 1
        assert abs(peak - 64 * float(item["mode_frequency"][region, 0])) <= 1.0


@pytest.mark.parametrize("options", [dict(num_frames=8, num_frequencies=16), dict(max_frequency=0.3),
                                     dict(meadow_fraction=1.5), dict(size=8), dict(num_regions=1),
                                     dict(amplitude=-1.0), dict(damping="high")])
def test_bad_options_are_clear_errors(options):
    with pytest.raises(KinemaError):
        Swaying("train", **options)


def test_scene_wind_moves_every_region_along_one_line_of_the_same_pictures(items):
    dataset, by_region = items
    scene = Swaying("train", wind="scene", **SMALL)
    for i in range(3):
        item, regional = scene[i], by_region[i]
        assert torch.equal(item["image"], regional["image"])                  # the same pictures and laws
        assert torch.equal(item["mode_frequency"], regional["mode_frequency"])
        # the same amplitudes up to the item's common shrink (MAX_STRAIN depends on the directions)
        moving = regional["mode_amplitude"] > 0
        ratio = item["mode_amplitude"][moving] / regional["mode_amplitude"][moving]
        assert torch.allclose(ratio, ratio[:1].expand_as(ratio), rtol=1e-5)
        direction = item["mode_direction"]
        assert torch.equal(direction, direction[:1].expand_as(direction))      # one direction per scene
        assert torch.equal(direction[0], regional["mode_direction"][0])
        # every pixel moves along it: the displacement's component across the wind is 0
        across = item["displacement"][:, 0] * direction[0, 1] - item["displacement"][:, 1] * direction[0, 0]
        assert across.abs().max() < 1e-5 * max(1.0, item["displacement"].abs().max().item())
    with pytest.raises(KinemaError, match="wind must be one of region, scene"):
        Swaying("train", wind="gusty", **SMALL)
