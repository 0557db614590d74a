"""StyleGAN2 blocks and StyleGAN-V motion codes: values, not only shapes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from kinema.nn.modulated import (EqualizedLinear, MappingNetwork, ModulatedConv2d, StyleGenerator,
                                 SynthesisNetwork, ToImage, modulated_conv2d)
from kinema.nn.motion_codes import MotionCodes


def test_equalized_linear_scales_weight_and_bias_at_run_time():
    torch.manual_seed(0)
    layer = EqualizedLinear(5, 3, lr_multiplier=0.1, bias_init=2.0)
    x = torch.randn(4, 5)
    expected = x @ (layer.weight * 0.1 / math.sqrt(5)).T + layer.bias * 0.1
    assert torch.allclose(layer(x), expected, atol=1e-6)
    assert torch.allclose(layer.bias * 0.1, torch.full((3,), 2.0))      # bias_init is the effective bias


def test_modulated_conv_equals_plain_conv_with_per_sample_scaled_weight():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 7, 7, dtype=torch.float64)
    weight = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    styles = torch.randn(3, 4, dtype=torch.float64)
    out = modulated_conv2d(x, weight, styles, demodulate=True, padding=1)
    plain = modulated_conv2d(x, weight, styles, demodulate=False, padding=1)
    for i in range(3):
        w = weight * styles[i][None, :, None, None]                       # Eq. (1)
        assert torch.allclose(plain[i:i + 1], F.conv2d(x[i:i + 1], w, padding=1), atol=1e-10)
        w = w / torch.sqrt((w ** 2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)   # Eq. (3)
        assert torch.allclose(out[i:i + 1], F.conv2d(x[i:i + 1], w, padding=1), atol=1e-10)


def test_demodulation_keeps_unit_output_variance_for_unit_input():
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 32, 3, w_dim=16)
    x = torch.randn(16, 64, 20, 20)
    w = torch.randn(1, 16).expand(16, 16)                 # one style, 16 unit-variance inputs
    with torch.no_grad():
        y = conv(x, w)[:, :, 1:-1, 1:-1]                 # zero padding thins the border's sums
        per_channel = y.var(dim=(0, 2, 3))                # each demodulated filter
        assert abs(y.var().item() - 1.0) < 0.03
        assert (per_channel - 1.0).abs().max() < 0.1
        conv.demodulate = False                           # styles 1 + N(0,1): second moment ~2
        assert conv(x, w)[:, :, 1:-1, 1:-1].var().item() > 1.3


def test_mapping_normalises_z_and_truncates_to_the_mean():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 6, num_layers=3).eval()
    z = torch.randn(5, 8)
    assert torch.allclose(mapping(z), mapping(3.0 * z), atol=1e-5)   # z enters normalised
    mapping.w_avg.copy_(torch.randn(6))
    assert torch.allclose(mapping(z, truncation_psi=0.0), mapping.w_avg.expand(5, 6))
    half = mapping.w_avg + 0.5 * (mapping(z) - mapping.w_avg)
    assert torch.allclose(mapping(z, truncation_psi=0.5), half, atol=1e-6)


def test_mapping_tracks_running_mean_of_w_in_training():
    torch.manual_seed(0)
    mapping = MappingNetwork(4, 3, num_layers=2, w_avg_beta=0.9)
    z = torch.randn(6, 4)
    w = mapping(z)
    assert torch.allclose(mapping.w_avg, 0.1 * w.detach().mean(0), atol=1e-6)


def _synthesis() -> SynthesisNetwork:
    torch.manual_seed(0)
    net = SynthesisNetwork(w_dim=8, resolution=16, out_channels=3, channel_base=128, channel_max=16)
    for layer in net.layers:                         # noise visible, so its sharing is tested
        layer.noise_strength.data.fill_(0.5)
    return net


def test_w_plus_with_all_equal_ws_equals_the_w_path():
    net = _synthesis()
    w = torch.randn(2, 8)
    assert net.num_ws == net.num_layers + 1 == 6
    image_w = net(w, noise_mode="const")
    image_plus = net(w[:, None].expand(2, net.num_ws, 8).clone(), noise_mode="const")
    assert image_w.shape == (2, 3, 16, 16)
    assert torch.equal(image_w, image_plus)


def test_every_w_of_w_plus_is_used_and_features_only_see_earlier_ws():
    net = _synthesis()
    ws = torch.randn(1, net.num_ws, 8)
    image, features = net(ws, noise_mode="const", feature_layer=2)
    assert features.shape[1:] == (net.layer_shape(2)[0], 8, 8)
    for k in range(net.num_ws):
        moved = ws.clone()
        moved[:, k] += 1.0
        image_k, features_k = net(moved, noise_mode="const", feature_layer=2)
        assert (image_k - image).abs().max() > 1e-4, f"w {k} does not reach the image"
        assert torch.equal(features_k, features) == (k > 2), f"layer 2 features and w {k}"


def test_penultimate_features_are_the_last_layers_output():
    net = _synthesis()
    w = torch.randn(2, 8)
    _, last = net(w, noise_mode="const", feature_layer=-1)
    _, same = net(w, noise_mode="const", feature_layer=net.num_layers - 1)
    assert last.shape == (2, 8, 16, 16) and torch.equal(last, same)     # 128 // 16 channels at 16 px
    with pytest.raises(ValueError, match="feature_layer"):
        net(w, feature_layer=net.num_layers)


def test_frames_of_one_sample_share_their_noise():
    net = _synthesis()
    w = torch.randn(2, 8).repeat_interleave(2, dim=0)                 # 2 videos x 2 frames, same w per video
    torch.manual_seed(1)
    image = net(w, noise_mode="random", frames_per_sample=2)
    assert torch.equal(image[0], image[1]) and torch.equal(image[2], image[3])
    torch.manual_seed(1)
    per_frame = net(w, noise_mode="random", frames_per_sample=1)
    assert (per_frame[0] - per_frame[1]).abs().max() > 1e-3


def test_zeroed_to_image_outputs_exact_zero_and_generator_runs_end_to_end():
    head = ToImage(4, 2, w_dim=3).zero_()
    assert torch.equal(head(torch.randn(2, 4, 5, 5), torch.randn(2, 3)), torch.zeros(2, 2, 5, 5))
    torch.manual_seed(0)
    generator = StyleGenerator(z_dim=8, w_dim=8, resolution=8, mapping_layers=2, channel_base=64, channel_max=8)
    image, features = generator(torch.randn(3, 8), feature_layer=-1)
    assert image.shape == (3, 3, 8, 8) and features.shape == (3, 8, 8, 8)
    image.sum().backward()
    assert generator.mapping.layers[0].weight.grad.abs().sum() > 0


def _motion() -> MotionCodes:
    torch.manual_seed(0)
    return MotionCodes(z_dim=6, hidden_dim=6, num_frequencies=4, distance=4.0, kernel_size=3,
                       min_period=4.0, max_period=32.0, max_frames=32)


def test_motion_codes_at_anchor_times_are_the_aligners():
    motion = _motion()
    noise = motion.sample_noise(2)
    t = torch.tensor([[0.0, 4.0, 8.0, 12.0]]).expand(2, 4)
    codes = motion(t, noise)
    anchors = motion.anchors(noise)                                   # (b k hidden)
    assert torch.allclose(codes, motion.aligners(anchors[:, :4]), atol=1e-5)


def test_motion_codes_are_continuous_in_t_and_defined_between_frames():
    motion = _motion()
    noise = motion.sample_noise(1)
    t = torch.linspace(0.0, 30.0, 3001)[None]                         # steps of 0.01 frame
    with torch.no_grad():
        codes = motion(t, noise)[0]
    steps = (codes[1:] - codes[:-1]).abs().max(dim=1).values
    assert steps.max() < 0.05                                         # no jump anywhere, anchors included
    around = motion(torch.tensor([[3.9999, 4.0, 4.0001]]), noise)[0]
    assert (around[0] - around[2]).abs().max() < 1e-3
    between = motion(torch.tensor([[2.0, 2.5, 3.0]]), noise)[0]
    assert torch.isfinite(between).all()
    assert (between[1] - between[0]).abs().max() > 1e-3 and (between[1] - between[2]).abs().max() > 1e-3


def test_motion_codes_do_not_depend_on_other_times_or_on_longer_noise():
    # float64: in float32 the convolutions' round-off (up to ~1e-5, depending on the thread
    # count) would hide below any tolerance that a real dependence (order 1) could not pass
    motion = _motion().double()
    noise = motion.sample_noise(1).double()
    t = torch.arange(0, 20, dtype=torch.float64)[None]
    together = motion(t, noise)
    alone = torch.cat([motion(t[:, i:i + 1], noise) for i in range(20)], dim=1)
    assert torch.allclose(together, alone, atol=1e-10)
    longer = torch.cat([noise, torch.randn(1, 7, 6, dtype=torch.float64)], dim=1)   # more anchors
    assert torch.allclose(motion(t, longer), together, atol=1e-10)
    with pytest.raises(ValueError, match="does not cover"):
        motion(torch.tensor([[200.0]]), noise)
