"""Rendered-video metrics of ``kinema bench dynamics-swaying`` (the paper's Table 2 and Fig. 6 on
held-out ``swaying`` pictures): each motion model's spectral volumes rendered into videos by
the trained renderer, and those videos scored against the real test clips in the features of
the swaying domain extractor (``runs/extractors/swaying``, trained on the clips' motion
amplitude and frequency; its held-out accuracy is quoted before any distance):

- domain FID and KID of the frames (all frames of every video pooled);
- domain FVD on the first 16 frames and on the whole ``period`` (32 for the small preset);
- sliding-window FID over time (Fig. 6: the paper slides a window of 30 of 150 frames; here a
  quarter of the period, half-overlapping), to show whether quality falls along the video.

Rows: every motion model through the full model's renderer, the full model's motion through the
"baseline splat" renderer (Table 2), repeat-I0 (the picture as every frame) and, as the floor
the distances have at this sample size, real training clips.
"""
from __future__ import annotations

import torch

from kinema.errors import KinemaError

BATCH = 8


def rendered_videos(renderer, pictures: torch.Tensor, volumes: torch.Tensor, period: int) -> torch.Tensor:
    """Videos (n period 3 h w) of ``pictures`` (n 3 h w) moved by ``volumes`` (n k 4 h w), one
    period long, as the image-to-video sampler renders them (``ImageRenderer.sample``)."""
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.render_data import motion_weight

    out = []
    for start in range(0, len(pictures), BATCH):
        motion = spectral_volume_to_motion(volumes[start:start + BATCH], period, period=period)
        image = pictures[start:start + BATCH]
        out.append(renderer.render(image, motion.to(image), motion_weight(motion).to(image)))
    return torch.cat(out)


def sliding_window(period: int) -> tuple[int, int]:
    """(window, stride) of the sliding-window FID: a quarter of the period, half-overlapping."""
    window = max(2, period // 4)
    return window, max(1, window // 2)


def video_metrics(videos: torch.Tensor, real: torch.Tensor, extractor) -> dict:
    """Domain FID / KID (frames), FVD16 and FVD on the whole clip, and the sliding-window FID
    of ``videos`` (n t 3 h w) against ``real`` (m t 3 h w)."""
    from kinema.metrics.frechet import FrechetDistance
    from kinema.metrics.kid import KernelDistance

    if videos.shape != real.shape:
        raise KinemaError(f"rendered videos {tuple(videos.shape)} and real clips {tuple(real.shape)} differ")
    t = videos.shape[1]
    window, stride = sliding_window(t)
    metrics = {"fid": FrechetDistance(extractor, unit="frame", name="fid"),
               "kid": KernelDistance(extractor, unit="frame", subset_size=min(1000, len(videos) * t),
                                     num_subsets=20, name="kid"),
               f"fvd{t}": FrechetDistance(extractor, unit="clip", name=f"fvd{t}"),
               "fid_window": FrechetDistance(extractor, unit="frame", window=window, stride=stride,
                                             name="fid_window")}
    if t > 16:
        metrics["fvd16"] = FrechetDistance(extractor, unit="clip", window=16, stride=t, name="fvd16")
    for start in range(0, len(videos), BATCH):
        for metric in metrics.values():
            metric.update(videos[start:start + BATCH], real[start:start + BATCH])
    out = {}
    for metric in metrics.values():
        out.update(metric.compute())
    return {"fid": out["fid"], "kid": out["kid"], "fvd16": out["fvd16"] if t > 16 else out[f"fvd{t}"],
            "fvd": out[f"fvd{t}"], "frames": t, "fid_per_window": out["fid_window_per_window"],
            "window_starts": out["fid_window_window_starts"], "window": window}


def extractor_note(training: dict) -> tuple[str, bool]:
    """The extractor's held-out accuracy as a sentence, and whether every label beats always
    answering the most frequent class (else its distances are not quoted as meaningful)."""
    parts, learned = [], True
    for name, acc, majority in zip(training["labels"], training["test_accuracy"], training["majority_class_rate"]):
        parts.append(f"{name} {acc:.2f} (most frequent class {majority:.2f})")
        learned &= acc > majority + 0.05
    return "held-out accuracy: " + ", ".join(parts), learned
