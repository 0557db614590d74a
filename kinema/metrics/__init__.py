"""Evaluation metrics behind one registry; every metric streams (memory constant in the
number of videos). See ``docs/evaluation.md`` for the protocol and what each number means.

    >>> import kinema.metrics as km
    >>> km.available()                       # registered metric names
    >>> km.frechet_distance(feats_a, feats_b)  # (N, D), (M, D) -> float
    >>> metric = km.build_metric("psnr"); metric.update(fake, real); metric.compute()

Entries are import strings, so listing names imports nothing heavy.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MetricEntry:
    name: str
    target: str                     # "module:Class"
    summary: str
    features: str | None = None     # feature extractor kind (kinema.metrics.features)
    options: dict = field(default_factory=dict)
    dataset_options: tuple[str, ...] = ()   # constructor options read off the dataset object
    version: str = "1"


_FRECHET = "kinema.metrics.frechet:FrechetDistance"
_KID = "kinema.metrics.kid:KernelDistance"
_DIVERSITY = "kinema.metrics.diversity:Diversity"
_MOTION = "kinema.metrics.motion"

METRICS: dict[str, MetricEntry] = {e.name: e for e in [
    MetricEntry("psnr", "kinema.metrics.psnr_ssim:PSNR", "PSNR per predicted frame, best-of-N (dB)"),
    MetricEntry("ssim", "kinema.metrics.psnr_ssim:SSIM", "SSIM (Wang 2004) per predicted frame, best-of-N"),
    MetricEntry("lpips", "kinema.metrics.psnr_ssim:LPIPS",
                "LPIPS-VGG per predicted frame, best-of-N (weights files)", "lpips"),
    MetricEntry("fvd", _FRECHET, "Fréchet video distance, I3D logits (weights file)", "i3d",
                {"unit": "clip", "name": "fvd"}),
    MetricEntry("fvd-sliding", _FRECHET, "FVD over 16-frame windows slid by 4 (GID Fig. 6)", "i3d",
                {"unit": "clip", "name": "fvd_sliding", "window": 16, "stride": 4}),
    MetricEntry("kvd", _KID, "kernel video distance (KID on I3D clip features)", "i3d",
                {"unit": "clip", "name": "kvd"}),
    MetricEntry("fid", _FRECHET, "Fréchet Inception distance of single frames (weights file)",
                "inception", {"unit": "frame", "name": "fid"}),
    MetricEntry("kid", _KID, "kernel Inception distance of single frames (weights file)",
                "inception", {"unit": "frame", "name": "kid"}),
    MetricEntry("fid-sliding", _FRECHET, "FID over 8-frame windows slid by 2 (GID Fig. 6)",
                "inception", {"unit": "frame", "name": "fid_sliding", "window": 8, "stride": 2}),
    MetricEntry("i3d-diversity", _DIVERSITY, "cINN diversity in I3D feature space", "i3d",
                {"unit": "clip", "name": "i3d_diversity"}),
    MetricEntry("vgg-diversity", _DIVERSITY, "cINN diversity in VGG-16 frame features", "vgg",
                {"unit": "frame", "name": "vgg_diversity"}),
    MetricEntry("domain-fvd", _FRECHET, "Fréchet distance of domain-extractor clip features "
                "(DTFVD idea)", "domain", {"unit": "clip", "name": "domain_fvd"}),
    MetricEntry("domain-fid", _FRECHET, "per-frame Fréchet distance, domain frame features",
                "domain", {"unit": "frame", "name": "domain_fid"}),
    MetricEntry("domain-kvd", _KID, "KID of domain clip features", "domain",
                {"unit": "clip", "name": "domain_kvd"}),
    MetricEntry("domain-kid", _KID, "KID of domain frame features", "domain",
                {"unit": "frame", "name": "domain_kid"}),
    MetricEntry("domain-fvd-sliding", _FRECHET, "domain FVD over 8-frame windows slid by 2",
                "domain", {"unit": "clip", "name": "domain_fvd_sliding", "window": 8, "stride": 2}),
    MetricEntry("domain-fid-sliding", _FRECHET, "domain FID over 8-frame windows slid by 2",
                "domain", {"unit": "frame", "name": "domain_fid_sliding", "window": 8, "stride": 2}),
    MetricEntry("domain-diversity", _DIVERSITY, "cINN diversity in domain clip features",
                "domain", {"unit": "clip", "name": "domain_diversity"}),
    MetricEntry("motion-fd", "kinema.metrics.flow_statistics:MotionFD",
                "Fréchet distance of optical-flow statistics (DIS, no weights file): motion, not appearance"),
    MetricEntry("position-error", f"{_MOTION}:PositionError",
                "bouncing-digits: located vs recorded digit position (px)",
                dataset_options=("digit_size",)),
    MetricEntry("control-accuracy", f"{_MOTION}:ControlAccuracy",
                "bouncing-digits: final digit position in the cell eta asked for",
                dataset_options=("digit_size", "size", "grid")),
    MetricEntry("flow-epe", f"{_MOTION}:FlowEPE", "swaying: flow end-point error vs recorded motion (px)"),
    MetricEntry("spectral-error", f"{_MOTION}:SpectralVolumeError",
                "swaying: spectral-volume coefficient error"),
]}


def available() -> list[str]:
    """Names of the registered metrics."""
    return sorted(METRICS)


def metric_entry(name: str) -> MetricEntry:
    from kinema.errors import KinemaError

    if name not in METRICS:
        raise KinemaError(f"unknown metric {name!r}; known: {', '.join(available())}")
    return METRICS[name]


def build_metric(name: str, weights: str | None = None, extractor: str | None = None,
                 dataset=None, feature_cache: dict | None = None,
                 feature_options: dict | None = None, **options):
    """A fresh metric object. ``weights``: file or folder of pretrained weights (default
    $KINEMA_WEIGHTS); ``extractor``: a domain-extractor folder; ``dataset``: the dataset
    object for metrics that read its geometry; ``feature_cache``: shares one loaded network
    between metrics that use the same kind; ``feature_options``: passed to
    ``kinema.metrics.features.load_features`` (``i3d_resize``, ``i3d_layer``)."""
    from kinema.errors import KinemaError
    from kinema.metrics.features import load_features
    from kinema.registry import resolve

    entry = metric_entry(name)
    kwargs = dict(entry.options)
    if entry.features is not None:
        cache = feature_cache if feature_cache is not None else {}
        if entry.features not in cache:
            cache[entry.features] = load_features(entry.features, weights, extractor,
                                                  **(feature_options or {}))
        kwargs["features"] = cache[entry.features]
    for option in entry.dataset_options:
        if dataset is None or not hasattr(dataset, option):
            raise KinemaError(f"metric {name} needs a dataset with {option!r} "
                              f"(it is meant for {entry.summary.split(':')[0]})")
        kwargs[option] = getattr(dataset, option)
    kwargs.update(options)
    metric = resolve(entry.target)(**kwargs)
    metric.version = entry.version
    return metric


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between two feature sets, (N, D) and (M, D) tensors or arrays."""
    from kinema.metrics.frechet import frechet_distance as _fd

    return _fd(features_a, features_b)
