"""kinema.nn.discriminators: the logits are the layers written out, a patch logit sees only its
patch, the clip discriminator sees the order of frames, samples do not mix."""
import torch
import torch.nn.functional as F

from kinema.nn.discriminators import PatchDiscriminator, TemporalDiscriminator


def test_patch_logits_are_the_strided_convolutions_written_out():
    torch.manual_seed(0)
    d = PatchDiscriminator(2, (3, 5)).eval()
    x = torch.randn(2, 2, 16, 16)
    logits, features = d(x)
    h1 = F.leaky_relu(F.conv2d(x, d.layers[0].weight, d.layers[0].bias, stride=2, padding=1), 0.2)
    h2 = F.leaky_relu(F.conv2d(h1, d.layers[1].weight, d.layers[1].bias, stride=2, padding=1), 0.2)
    want = F.conv2d(h2, d.head.weight, d.head.bias, padding=1)
    assert logits.shape == (2, 1, 4, 4) and torch.allclose(logits, want, atol=1e-6)
    assert len(features) == 2 and torch.allclose(features[0], h1) and torch.allclose(features[1], h2)


def test_a_patch_logit_sees_only_its_patch():
    # receptive field of logit (3, 3): head 3x3 over cells 2..3 of the 4x4 map -> cells 3..7 of
    # the 8x8 map -> input pixels 5..15. Pixel (0, 0) is outside it, inside that of logit (0, 0).
    torch.manual_seed(1)
    d = PatchDiscriminator(1, (4, 4)).eval()
    x = torch.randn(1, 1, 16, 16)
    moved = x.clone()
    moved[0, 0, 0, 0] += 5.0
    a, b = d(x)[0], d(moved)[0]
    assert torch.equal(a[0, 0, 3, 3], b[0, 0, 3, 3]) and (a[0, 0, 0, 0] - b[0, 0, 0, 0]).abs() > 1e-4


def test_clip_logit_is_the_linear_head_of_pooled_features_and_sees_frame_order():
    torch.manual_seed(2)
    d = TemporalDiscriminator(1, (4, 6)).eval()
    video = torch.randn(3, 4, 1, 8, 8)                                  # (b t c h w)
    logits, features = d(video)
    assert logits.shape == (3,) and [tuple(f.shape) for f in features] == [(3, 4, 4, 8, 8), (3, 6, 2, 4, 4)]
    want = F.linear(features[-1].mean(dim=(2, 3, 4)), d.head.weight, d.head.bias)[:, 0]
    assert torch.allclose(logits, want, atol=1e-6)
    reversed_logits = d(video.flip(1))[0]                               # the same frames, backwards
    assert (reversed_logits - logits).abs().min() > 1e-5
    changed = video.clone()
    changed[1] = -changed[1]
    other = d(changed)[0]
    assert torch.allclose(other[[0, 2]], logits[[0, 2]], atol=1e-6) and (other[1] - logits[1]).abs() > 1e-5
