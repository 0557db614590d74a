"""``swaying``: still images whose regions oscillate as damped harmonic modes (GID's task).

An item starts from a still image: a crop of a bundled scikit-image photo (split by picture)
or a procedural meadow (``scenes.py``), with probability ``meadow_fraction``. The image is cut
into regions: a meadow by what is drawn (sky, ground, grass, tree, flower); a photo by its
blurred brightness into ``num_regions`` quantile bands. Each region r gets ``num_modes`` damped
modes whose parameters follow from what is drawn there, so the motion is predictable from the
image:

- brightness b_r (mean BT.601 luma in [0, 1]) sets the frequency:
  ``f_r = min_frequency + (max_frequency - min_frequency) * b_r`` (cycles per frame); mode m
  (1-based) runs at ``m * f_r``;
- texture tau_r (mean Sobel gradient magnitude of the luma, per pixel) sets the amplitude:
  ``a_r = amplitude * clip((tau_r - TEXTURE_FLOOR) / (TEXTURE_FULL - TEXTURE_FLOOR), 0, 1)``,
  mode m has ``a_r / m**2`` (smooth sky and ground stay still, grass and leaves sway);
- direction: one random unit vector per region within ~20 degrees of horizontal (wind), or
  with ``wind="scene"`` one for the whole picture (a scene's wind blows one way: every region
  sways along the same line, which a model can then learn as one choice instead of one per
  region); phase: random per mode;
- damping: ratio ``damping`` (zeta) of the damped oscillator, decay rate ``zeta * 2 pi f``.

Oscillation of region r: ``u_r(t) = sum_m A_rm exp(-zeta w_rm t) cos(w_rm t + phi_rm) * dir_r``,
``w = 2 pi f``; it is taken relative to frame 0 (``u_r(t) - u_r(0)``) and spread over the image
with the regions' one-hot masks blurred by a Gaussian of ``smooth_sigma`` px (physically smooth
motion). If that field would fold (spatial derivative above ``MAX_STRAIN``), all amplitudes of
the item are scaled down together; the recorded ``mode_amplitude`` is the one applied.

Ground truth (conventions agreed with ``kinema.data.flow`` / ``kinema.data.spectral``):
- ``displacement`` (t 2 h w), channels (dx, dy) in px, the **backward** field:
  ``video[t] = kinema.nn.warp.backward_warp(image, displacement[t])``, i.e.
  ``frame_t(p) = image(p + displacement[t](p))``. Zero at t = 0. Compare with
  ``flow.trajectories(video, direction="backward")``.
- ``trajectories`` (t 2 h w): the **forward** field, pixel q of frame 0 is at
  ``q + trajectories[t](q)`` in frame t (the exact inverse of ``displacement``, by fixed-point
  iteration ``kinema.nn.warp.invert_flow``). This is GID's motion texture and what
  ``flow.trajectories(video)`` (default ``direction="forward"``) estimates.
- ``spectral_volume`` (k 4 h w) = ``kinema.data.spectral.spectral_volume(trajectories, K)``:
  ``torch.fft.rfft`` over time (norm "backward", a plain sum), the K lowest bins, channels
  [Re dx, Re dy, Im dx, Im dy]. K = ``num_frequencies``, default min(16, t // 2 + 1).
- ``image`` (3 h w) in [-1, 1]; ``region_labels`` (h w); per region (r = max(num_regions, 5),
  unused rows zero): ``region_brightness``, ``region_texture`` (r), ``mode_frequency``,
  ``mode_amplitude``, ``mode_phase`` (r m), ``mode_direction`` (r 2); ``source`` (): the photo's
  index in ``scenes.PHOTOS[split]``, or -1 for a meadow.
"""
from __future__ import annotations

import numpy as np
import torch
from einops import rearrange

from kinema.data.options import check_float, check_int, check_range
from kinema.data.synthetic._base import SyntheticVideos, video_tensor
from kinema.data.synthetic.scenes import LUMA, MEADOW_KINDS, meadow, photo_crop
from kinema.errors import KinemaError

TEXTURE_FLOOR = 0.02   # mean gradient (luma per pixel) below which a region does not move
TEXTURE_FULL = 0.08    # ... and from which it moves at full amplitude
MAX_STRAIN = 0.4       # largest spatial derivative of the displacement: the field never folds
WIND_CHOICES = ("region", "scene")   # one wind direction per region, or one per picture
INVERSION_TOLERANCE = 1e-3  # px; the forward field's error is below ~ tolerance / (1 - MAX_STRAIN)


def region_features(image: np.ndarray, labels: np.ndarray, num_regions: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean luma and mean Sobel gradient magnitude of each region: (r,), (r,)."""
    import cv2

    luma = image @ LUMA
    gradient = np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)) / 8.0
    counts = np.bincount(labels.ravel(), minlength=num_regions)
    safe = np.maximum(counts, 1)
    brightness = np.bincount(labels.ravel(), luma.ravel(), minlength=num_regions) / safe
    texture = np.bincount(labels.ravel(), gradient.ravel(), minlength=num_regions) / safe
    return brightness, texture


def brightness_regions(image: np.ndarray, num_regions: int, sigma: float) -> np.ndarray:
    """Labels (h w) 0..num_regions-1: quantile bands of the Gaussian-blurred luma."""
    import cv2

    luma = cv2.GaussianBlur(image @ LUMA, (0, 0), sigma)
    edges = np.quantile(luma, np.linspace(0, 1, num_regions + 1)[1:-1])
    return np.digitize(luma, edges).astype(np.int64)


class Swaying(SyntheticVideos):
    """Still images with swaying regions; see the module docstring.

    Options: ``num_videos`` (10000 train / 1000 test), ``num_frames`` (32), ``size`` (64),
    ``seed``, ``num_frequencies`` (K, default min(16, t//2 + 1)), ``num_regions`` (4, photos),
    ``num_modes`` (2), ``amplitude`` (px at full texture; default size/16), ``min_frequency``/
    ``max_frequency`` (0.04 / 0.16 cycles per frame), ``damping`` (0.02), ``smooth_sigma``
    (px; default size/12), ``meadow_fraction`` (0.5), ``wind`` ("region": a direction per
    region; "scene": one per picture).
    """

    def __init__(self, split: str = "train", num_videos: int | None = None, num_frames: int = 32,
                 size: int = 64, seed: int = 0, num_frequencies: int | None = None, num_regions: int = 4,
                 num_modes: int = 2, amplitude: float | None = None, min_frequency: float = 0.04,
                 max_frequency: float = 0.16, damping: float = 0.02, smooth_sigma: float | None = None,
                 meadow_fraction: float = 0.5, wind: str = "region", **unknown):
        num_videos = num_videos if num_videos is not None else (10_000 if split == "train" else 1_000)
        super().__init__(split, num_videos, num_frames, size, seed, min_size=16, unknown=unknown)
        available = self.num_frames // 2 + 1
        self.num_frequencies = check_int("num_frequencies", num_frequencies if num_frequencies is not None
                                         else min(16, available), 1)
        if self.num_frequencies > available:
            raise KinemaError(f"num_frequencies ({self.num_frequencies}) needs num_frames >= "
                              f"{2 * (self.num_frequencies - 1)}; got num_frames={self.num_frames}")
        self.num_regions = check_int("num_regions", num_regions, 2)
        self.max_regions = max(self.num_regions, len(MEADOW_KINDS))
        self.num_modes = check_int("num_modes", num_modes, 1)
        self.amplitude = check_float("amplitude", amplitude if amplitude is not None else size / 16, 0.0)
        self.min_frequency, self.max_frequency = check_range("frequency", min_frequency, max_frequency)
        if self.max_frequency * self.num_modes >= 0.5:
            raise KinemaError(f"max_frequency * num_modes must stay below 0.5 cycles/frame (Nyquist); "
                              f"got {self.max_frequency} * {self.num_modes}")
        self.damping = check_float("damping", damping, 0.0, 1.0)
        self.smooth_sigma = check_float("smooth_sigma", smooth_sigma if smooth_sigma is not None
                                        else max(2.0, size / 12), 0.5)
        self.meadow_fraction = check_float("meadow_fraction", meadow_fraction, 0.0, 1.0)
        if wind not in WIND_CHOICES:
            raise KinemaError(f"wind must be one of {', '.join(WIND_CHOICES)}; got {wind!r}")
        self.wind = wind

    def generate(self, rng: np.random.Generator, index: int) -> dict[str, torch.Tensor]:
        from kinema.data.spectral import spectral_volume
        from kinema.nn.warp import backward_warp_video

        if rng.random() < self.meadow_fraction:
            image, labels = meadow(rng, self.size)
            source = -1
        else:
            image, source = photo_crop(rng, self.split, self.size)
            labels = brightness_regions(image, self.num_regions, max(1.0, self.size / 32))
        brightness, texture = region_features(image, labels, self.max_regions)
        motion = self.motion(rng, labels, brightness, texture)
        still = torch.from_numpy(np.ascontiguousarray(rearrange(image, "h w c -> c h w")))
        video = backward_warp_video(still, motion["displacement"])             # (t c h w) in [0, 1]
        return {
            "video": video_tensor(video.numpy(), "t c h w"),
            "image": still * 2.0 - 1.0,
            "displacement": motion["displacement"],
            "trajectories": motion["trajectories"],
            "spectral_volume": spectral_volume(motion["trajectories"], self.num_frequencies),
            "region_labels": torch.from_numpy(labels),
            "region_brightness": torch.from_numpy(brightness).float(),
            "region_texture": torch.from_numpy(texture).float(),
            "mode_frequency": motion["frequency"],
            "mode_amplitude": motion["amplitude"],
            "mode_phase": motion["phase"],
            "mode_direction": motion["direction"],
            "source": torch.tensor(source),
        }

    def motion(self, rng: np.random.Generator, labels: np.ndarray, brightness: np.ndarray,
               texture: np.ndarray) -> dict[str, torch.Tensor]:
        """The motion of a picture's regions by the module's rules, phases and directions drawn
        from ``rng``: ``displacement`` and ``trajectories`` (t 2 h w) and the modes applied
        (``frequency``, ``amplitude``, ``phase`` (r m), ``direction`` (r 2)). Anyone who knows the
        regions (labels (h w)), their brightness and texture (r,) can draw motion of the law
        this way (the oracle of ``kinema bench dynamics-oracle``)."""
        from kinema.nn.warp import invert_flow

        modes = self.modes(rng, brightness, texture)
        oscillation = self.oscillation(*modes)                                  # (t r 2)
        masks = self.soft_masks(labels)                                         # (r h w)
        displacement = rearrange(rearrange(oscillation, "t r c -> (t c) r").astype(np.float32) @
                                 rearrange(masks, "r h w -> r (h w)"),
                                 "(t c) (h w) -> t c h w", c=2, h=labels.shape[0])
        strain = max(np.abs(np.diff(displacement, axis=-1)).max(initial=0.0),
                     np.abs(np.diff(displacement, axis=-2)).max(initial=0.0))
        shrink = min(1.0, MAX_STRAIN / strain) if strain > 0 else 1.0
        frequency, amplitude, phase, direction = modes
        amplitude, displacement = amplitude * shrink, displacement * shrink
        displacement = torch.from_numpy(np.ascontiguousarray(displacement, np.float32))  # (t 2 h w)
        return {"displacement": displacement,
                "trajectories": invert_flow(displacement, tolerance=INVERSION_TOLERANCE),
                "frequency": torch.from_numpy(frequency).float(),
                "amplitude": torch.from_numpy(amplitude).float(),
                "phase": torch.from_numpy(phase).float(),
                "direction": torch.from_numpy(direction).float()}

    def modes(self, rng: np.random.Generator, brightness: np.ndarray, texture: np.ndarray):
        """Per region: frequency, amplitude, phase (r m) and direction (r 2) by the module's rules."""
        order = np.arange(1, self.num_modes + 1)
        base_frequency = self.min_frequency + (self.max_frequency - self.min_frequency) * brightness
        frequency = base_frequency[:, None] * order                                             # (r m)
        strength = np.clip((texture - TEXTURE_FLOOR) / (TEXTURE_FULL - TEXTURE_FLOOR), 0.0, 1.0)
        amplitude = self.amplitude * strength[:, None] / order**2                               # (r m)
        phase = rng.uniform(0.0, 2.0 * np.pi, size=frequency.shape)
        angle = rng.normal(0.0, np.deg2rad(20.0), size=len(brightness)) + np.pi * rng.integers(0, 2, len(brightness))
        if self.wind == "scene":       # the same draws as "region" (items keep their pictures), one used
            angle = np.full_like(angle, angle[0])
        direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)                            # (r 2)
        return frequency, amplitude, phase, direction

    def oscillation(self, frequency, amplitude, phase, direction) -> np.ndarray:
        """Damped modes summed per region, relative to frame 0: (t r 2) in px."""
        time = np.arange(self.num_frames)[:, None, None]                                        # (t 1 1)
        omega = 2.0 * np.pi * frequency
        modes = amplitude * np.exp(-self.damping * omega * time) * np.cos(omega * time + phase)  # (t r m)
        scalar = modes.sum(-1)                                                                   # (t r)
        return (scalar - scalar[:1])[..., None] * direction                                      # (t r 2)

    def soft_masks(self, labels: np.ndarray) -> np.ndarray:
        """One-hot region masks blurred by a Gaussian of ``smooth_sigma`` px: (r h w), summing to 1."""
        import cv2

        one_hot = (labels[None] == np.arange(self.max_regions)[:, None, None]).astype(np.float32)
        blurred = cv2.GaussianBlur(rearrange(one_hot, "r h w -> h w r"), (0, 0), self.smooth_sigma)
        return rearrange(blurred.reshape(*labels.shape, -1), "h w r -> r h w")
