import torch

from kinema.metrics.diversity import Diversity
from kinema.metrics.frechet import FrechetDistance
from kinema.metrics.kid import KernelDistance
from kinema.metrics.psnr_ssim import PSNR, SSIM


def _state_bytes(obj, seen=None) -> int:
    """Bytes of every tensor reachable from the metric's attributes (not its extractor)."""
    if isinstance(obj, (int, float)):
        return 8
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(_state_bytes(o, seen) for o in obj)
    if isinstance(obj, dict):
        return sum(_state_bytes(o, seen) for o in obj.values())
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("kinema.metrics"):
        return sum(_state_bytes(v, seen) for k, v in vars(obj).items() if k != "features")
    return 0


def test_metric_state_does_not_grow_with_the_number_of_videos(pooled_pixels, generator):
    def make():
        return [PSNR(), SSIM(), FrechetDistance(pooled_pixels, unit="clip"),
                FrechetDistance(pooled_pixels, unit="frame", window=2, stride=1),
                KernelDistance(pooled_pixels, unit="frame", reservoir=64), Diversity(pooled_pixels)]

    sizes = []
    for batches in (6, 30):  # 6 batches fill the KID reservoirs (64 rows)
        metrics = make()
        for _ in range(batches):
            fake = torch.rand(4, 2, 3, 1, 12, 12, generator=generator) * 2 - 1
            real = torch.rand(4, 3, 1, 12, 12, generator=generator) * 2 - 1
            for m in metrics:
                m.update(fake, real)
        sizes.append([_state_bytes(m) for m in metrics])
    assert all(s > 0 for s in sizes[0])
    assert sizes[0] == sizes[1]
