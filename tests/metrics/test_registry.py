import numpy as np
import pytest
import torch

import kinema.metrics as km
from kinema.errors import KinemaError, MissingWeightsError
from kinema.metrics.base import Metric


def test_every_registered_metric_resolves_to_a_metric_class():
    from kinema.registry import resolve

    names = km.available()
    assert {"psnr", "ssim", "fvd", "domain-fvd", "domain-kid", "domain-diversity",
            "position-error", "flow-epe", "spectral-error", "control-accuracy"} <= set(names)
    for name in names:
        assert issubclass(resolve(km.METRICS[name].target), Metric), name


def test_frechet_distance_api_takes_tensors_and_arrays():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(40, 3)) + 2
    assert abs(km.frechet_distance(a, b) - km.frechet_distance(torch.from_numpy(a), torch.from_numpy(b))) < 1e-12
    assert km.frechet_distance(a, b) > 10  # the means differ by 2 in each of 3 dims


def test_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("KINEMA_WEIGHTS", raising=False)
    with pytest.raises(KinemaError, match="unknown metric"):
        km.build_metric("fdv")
    with pytest.raises(KinemaError, match="--extractor"):
        km.build_metric("domain-fvd")
    with pytest.raises(MissingWeightsError, match="i3d_pretrained_400.pt"):
        km.build_metric("fvd", weights=str(tmp_path))
    with pytest.raises(KinemaError, match="digit_size"):
        km.build_metric("position-error")
