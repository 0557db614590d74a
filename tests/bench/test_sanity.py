import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from kinema.bench.benchmarks import sanity_distances
from kinema.data import load_dataset


class PooledMotion:
    """A transparent extractor that sees appearance and motion: frames pooled to 4×4; clip
    features are the mean pooled frame and the changes between consecutive pooled frames,
    concatenated over time, the changes scaled to order one
    (KID's kernel (x·y/d + 1)³ is nearly linear for small features and would then compare
    only means). The trained domain extractor is checked in the slow test."""

    def frame_features(self, frames):
        return F.adaptive_avg_pool2d(frames, 4).flatten(1)

    def clip_features(self, video):
        b = video.shape[0]
        feats = rearrange(self.frame_features(rearrange(video, "b t c h w -> (b t) c h w")),
                          "(b t) d -> b t d", b=b)
        changes = 8 * rearrange(feats[:, 1:] - feats[:, :-1], "b t d -> b (t d)")
        return torch.cat([feats.mean(1), changes], dim=1)


def _videos(n, frames=8):
    test = load_dataset("bouncing-digits", "test", num_videos=2 * n, num_frames=frames, size=16)
    return torch.stack([test[i]["video"] for i in range(2 * n)])


def _check(table):
    for m in ("domain-fvd", "domain-kvd"):
        assert table["real'"][m] < table["shuffled in time"][m] < table["noise"][m], (m, table)
    # A per-frame metric cannot see a shuffle in time: the same set of frames (KID differs
    # only through its random subsets when there are more than 1000 frames).
    for m, tolerance in (("domain-fid", 1e-6), ("domain-kid", 0.02)):
        assert abs(table["real'"][m] - table["shuffled in time"][m]) < tolerance * table["noise"][m]
        assert table["real'"][m] < table["noise"][m]


def test_distances_order_real_shuffled_noise():
    videos = _videos(120, frames=6)
    _check(sanity_distances(PooledMotion(), videos[:120], videos[120:], num_frames=6))


@pytest.mark.slow
def test_order_holds_for_a_trained_domain_extractor(tmp_path):
    from kinema.metrics.features.domain import load_domain_extractor
    from kinema.metrics.features.domain_train import ExtractorRecipe, train_extractor

    recipe = ExtractorRecipe(labels=("motion",), size=16, num_frames=8, train_videos=400,
                             test_videos=100, steps=200, batch_size=16)
    record = train_extractor("bouncing-digits", tmp_path / "ext", recipe=recipe, progress=False)
    assert record["test_accuracy"][0] > 2 * record["chance"][0]
    videos = _videos(200)
    net = load_domain_extractor(tmp_path / "ext")
    _check(sanity_distances(net, videos[:200], videos[200:], num_frames=8))
