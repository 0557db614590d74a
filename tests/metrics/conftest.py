import pytest
import torch
import torch.nn.functional as F
from einops import rearrange


class PooledPixels:
    """A fixed, transparent feature extractor for tests: 4x4 average-pooled pixels."""

    def frame_features(self, frames):  # (b c h w) -> (b d)
        return F.adaptive_avg_pool2d(frames, 4).flatten(1)

    def clip_features(self, video):  # (b t c h w) -> (b d)
        b = video.shape[0]
        feats = self.frame_features(rearrange(video, "b t c h w -> (b t) c h w"))
        return rearrange(feats, "(b t) d -> b (t d)", b=b)


@pytest.fixture
def pooled_pixels():
    return PooledPixels()


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)
