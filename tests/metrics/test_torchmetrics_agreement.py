"""Cross-check the streamed Fréchet distance and KID with torchmetrics' FID/KID, which accept
a custom feature module (an independent implementation of both formulas)."""
import torch
import torch.nn.functional as F

from kinema.metrics.frechet import FrechetDistance
from kinema.metrics.kid import KernelDistance


class PooledFrames(torch.nn.Module):
    def forward(self, frames):  # (b c h w) -> (b 12); torchmetrics probes it with uint8
        return F.adaptive_avg_pool2d(frames.float(), 2).flatten(1) * 3

    def frame_features(self, frames):
        return self(frames)


def test_fid_and_kid_agree_with_torchmetrics(generator):
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    fake = torch.rand(20, 1, 3, 3, 8, 8, generator=generator) * 2 - 1   # (b n t c h w): 60 frames
    real = torch.rand(20, 3, 3, 8, 8, generator=generator) * 1.6 - 0.7  # 60 frames
    module = PooledFrames()
    ours_fid = FrechetDistance(module, unit="frame")
    ours_kid = KernelDistance(module, unit="frame")
    their_fid = FrechetInceptionDistance(feature=module)
    their_kid = KernelInceptionDistance(feature=module, subsets=1, subset_size=60)
    for s in range(0, 20, 5):
        ours_fid.update(fake[s:s + 5], real[s:s + 5])
        ours_kid.update(fake[s:s + 5], real[s:s + 5])
        for metric in (their_fid, their_kid):
            metric.update(real[s:s + 5].flatten(0, 1), real=True)
            metric.update(fake[s:s + 5].flatten(0, 2), real=False)
    assert abs(ours_fid.compute()["frechet"] - float(their_fid.compute())) < 1e-4
    # one subset of all 60 rows per side: the same unbiased MMD² up to row order
    assert abs(ours_kid.compute()["kid"] - float(their_kid.compute()[0])) < 1e-5
