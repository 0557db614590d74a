"""Spectral volumes and GID's frequency-adaptive normalisation, checked against numpy."""
import numpy as np
import pytest
import torch
from einops import rearrange

from kinema.data.spectral import (CHANNELS, SpectralNormalizer, coefficient_magnitudes, frequencies,
                                  inverse_spectral_volume, spectral_volume)
from kinema.errors import KinemaError


def random_displacement(t=12, h=5, w=7, seed=0, dtype=torch.float64):
    return torch.randn(t, 2, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("num_frames", [12, 13])
def test_round_trip_when_all_frequencies_are_kept(num_frames):
    displacement = random_displacement(num_frames)
    volume = spectral_volume(displacement, num_frames // 2 + 1)
    assert volume.shape == (num_frames // 2 + 1, 4, 5, 7)
    restored = inverse_spectral_volume(volume, num_frames)
    assert torch.allclose(restored, displacement, atol=1e-12)


def test_matches_numpy_rfft_and_channel_order():
    displacement = random_displacement(16)
    volume = spectral_volume(displacement, 6).numpy()  # (k 4 h w)
    expected = np.fft.rfft(displacement.numpy(), axis=0)[:6]  # (k 2 h w) complex, unnormalised sum
    assert CHANNELS == ("re_dx", "re_dy", "im_dx", "im_dy")
    np.testing.assert_allclose(volume[:, 0:2], expected.real, atol=1e-12)
    np.testing.assert_allclose(volume[:, 2:4], expected.imag, atol=1e-12)


def test_pure_sinusoid_puts_all_energy_in_its_bin():
    num_frames, bin_index, amplitude, phase = 30, 4, 1.7, 0.6
    t = torch.arange(num_frames, dtype=torch.float64)
    signal = amplitude * torch.cos(2 * np.pi * bin_index * t / num_frames + phase)  # (t)
    displacement = torch.zeros(num_frames, 2, 3, 4, dtype=torch.float64)
    displacement[:, 1] = rearrange(signal, "t -> t 1 1")  # vertical motion only
    volume = spectral_volume(displacement, 16)
    energy = coefficient_magnitudes(volume).square()  # (k 2 h w)
    assert torch.allclose(energy[bin_index, 1], torch.full((3, 4), (amplitude * num_frames / 2) ** 2, dtype=torch.float64))
    energy[bin_index, 1] = 0
    assert energy.max() < 1e-18
    # S_k = a T/2 e^{i phase} with torch's default ("backward") normalisation
    assert torch.allclose(volume[bin_index, 1], torch.tensor(amplitude * num_frames / 2 * np.cos(phase), dtype=torch.float64))
    assert torch.allclose(volume[bin_index, 3], torch.tensor(amplitude * num_frames / 2 * np.sin(phase), dtype=torch.float64))
    assert frequencies(num_frames, fps=30.0)[bin_index] == pytest.approx(4.0)


def test_truncation_is_an_ideal_low_pass():
    num_frames, kept = 20, 5
    displacement = random_displacement(num_frames)
    restored = inverse_spectral_volume(spectral_volume(displacement, kept), num_frames).numpy()
    spectrum = np.fft.rfft(displacement.numpy(), axis=0)
    spectrum[kept:] = 0
    np.testing.assert_allclose(restored, np.fft.irfft(spectrum, n=num_frames, axis=0), atol=1e-12)
    # and a motion that is already band-limited comes back exactly
    assert torch.allclose(inverse_spectral_volume(spectral_volume(torch.from_numpy(restored), kept), num_frames),
                          torch.from_numpy(restored), atol=1e-12)


def test_leading_axes_are_batched():
    batch = torch.stack([random_displacement(10, seed=s) for s in range(3)])  # (b t 2 h w)
    volumes = spectral_volume(batch, 4)
    assert volumes.shape == (3, 4, 4, 5, 7)
    for item, volume in zip(batch, volumes):
        assert torch.allclose(volume, spectral_volume(item, 4))
    assert torch.allclose(inverse_spectral_volume(volumes, 10)[1], inverse_spectral_volume(volumes[1], 10))


def test_bad_shapes_are_clear_errors():
    with pytest.raises(KinemaError, match="num_frequencies"):
        spectral_volume(random_displacement(10), 7)
    with pytest.raises(KinemaError, match="t 2 h w"):
        spectral_volume(torch.zeros(10, 3, 4, 4))
    with pytest.raises(KinemaError, match="needs at least"):
        inverse_spectral_volume(torch.zeros(16, 4, 2, 2), num_frames=20)


def decaying_volumes(n=6, k=5, seed=1):
    """Spectral volumes whose amplitude decays with frequency, as GID's Fig. 2."""
    volumes = torch.randn(n, k, 4, 6, 8, generator=torch.Generator().manual_seed(seed))
    return volumes * rearrange(50.0 * torch.exp(-torch.arange(k, dtype=torch.float32)), "k -> k 1 1 1")


def test_normalizer_scale_is_the_95th_percentile_of_magnitudes():
    volumes = decaying_volumes()
    normalizer = SpectralNormalizer(num_frequencies=5).fit(volumes)
    v = volumes.numpy()
    magnitudes = np.sqrt(v[:, :, 0:2] ** 2 + v[:, :, 2:4] ** 2)  # (n k 2 h w)
    expected = np.percentile(rearrange(magnitudes, "n k c h w -> k (n c h w)"), 95, axis=1)
    np.testing.assert_allclose(normalizer.scale.numpy(), expected, rtol=1e-6)
    # fitting on an iterable of batches gives the same statistics
    again = SpectralNormalizer(num_frequencies=5).fit([volumes[:2], volumes[2:]])
    assert torch.allclose(again.scale, normalizer.scale)


def test_normalize_is_eq4_and_denormalize_its_exact_inverse():
    volumes = decaying_volumes()
    normalizer = SpectralNormalizer(num_frequencies=5).fit(volumes)
    normalized = normalizer.normalize(volumes)
    scale = rearrange(normalizer.scale, "k -> k 1 1 1")
    assert torch.allclose(normalized, torch.sign(volumes) * torch.sqrt(volumes.abs() / scale))
    # every frequency now spans a similar range (the point of Fig. 2, right)
    per_frequency = rearrange(normalized.abs(), "n k c h w -> k (n c h w)").amax(dim=1)
    assert per_frequency.max() / per_frequency.min() < 2.0
    restored = normalizer.denormalize(normalized)
    assert ((restored - volumes).abs() / (volumes.abs() + 1e-6)).max() < 1e-6


def test_normalizer_save_load_and_state_dict(tmp_path):
    volumes = decaying_volumes()
    normalizer = SpectralNormalizer(num_frequencies=5, percentile=90.0).fit(volumes)
    normalizer.save(tmp_path / "normalizer.safetensors")
    loaded = SpectralNormalizer.load(tmp_path / "normalizer.safetensors")
    assert loaded.percentile == 90.0
    assert torch.equal(loaded.normalize(volumes), normalizer.normalize(volumes))
    via_state_dict = SpectralNormalizer(num_frequencies=5)
    via_state_dict.load_state_dict(normalizer.state_dict())
    assert torch.equal(via_state_dict.scale, normalizer.scale)


def test_normalizer_errors():
    with pytest.raises(KinemaError, match="not fitted"):
        SpectralNormalizer(num_frequencies=5).normalize(decaying_volumes())
    with pytest.raises(KinemaError, match="5 4 h w"):
        SpectralNormalizer(num_frequencies=5).fit(torch.zeros(2, 4, 4, 3, 3))
    with pytest.raises(KinemaError, match="not found"):
        SpectralNormalizer.load("/nonexistent/normalizer.safetensors")


def test_normalizer_subsamples_large_fits_to_nearly_the_same_scale():
    volumes = decaying_volumes(n=40)  # 40 * 2 * 6 * 8 = 3840 magnitudes per frequency
    full = SpectralNormalizer(num_frequencies=5).fit(volumes)
    sampled = SpectralNormalizer(num_frequencies=5, max_values=1500).fit(volumes)
    assert not torch.equal(sampled.scale, full.scale)
    assert torch.allclose(sampled.scale, full.scale, rtol=0.08)


def test_loading_a_file_that_is_not_a_normaliser_is_one_clear_error(tmp_path):
    from safetensors.torch import save_file

    garbage = tmp_path / "scale.safetensors"
    garbage.write_text("not a safetensors file at all")
    other = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    for path in (garbage, other):
        with pytest.raises(KinemaError, match=f"{path.name}: not a spectral normaliser file"):
            SpectralNormalizer.load(path)


def test_save_is_atomic(tmp_path, monkeypatch):
    import safetensors.torch

    path = tmp_path / "scale.safetensors"
    normalizer = SpectralNormalizer(2).fit(torch.randn(3, 2, 4, 5, 5))
    normalizer.save(path)
    before = path.read_bytes()

    def dies_half_way(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 7)
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        SpectralNormalizer(2).fit(torch.randn(3, 2, 4, 5, 5)).save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]
    assert torch.equal(SpectralNormalizer.load(path).scale, normalizer.scale)
