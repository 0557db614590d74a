"""GenDeF's Eq. (3) warping, the zero-initialised deformation generator and the applications
that read the fields (editing, masks, tracking), checked by values."""
import dataclasses
import math

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.gendef.apps import parse_points, propagate, propagate_mask, several_motions, track_points
from kinema.methods.gendef.config import video_recipe
from kinema.methods.gendef.model import GenDeF


def tiny(**changes) -> GenDeF:
    """A tiny GenDeF whose G_c starts from scratch (no stage-1 folder needed)."""
    torch.manual_seed(0)
    return GenDeF(dataclasses.replace(video_recipe("tiny-no-pretrain").model, **changes))


def test_zero_deformation_reproduces_the_canonical_image_exactly():
    model = tiny()
    canonical = torch.rand(2, 3, 8, 8) * 2 - 1
    frames = model.warp(canonical, torch.zeros(2, 5, 2, 8, 8))
    assert torch.equal(frames, canonical[:, None].expand(2, 5, 3, 8, 8))


def test_constant_offset_shifts_by_exactly_that_many_pixels():
    model = tiny()
    canonical = torch.rand(1, 3, 8, 8) * 2 - 1
    fields = torch.zeros(1, 1, 2, 8, 8)
    fields[:, :, 0] = 2.0 * 2 / 7           # normalised units: 2 px right in an 8-px image ...
    fields[:, :, 1] = -1.0 * 2 / 7          # ... and 1 px up
    frame = model.warp(canonical, fields)[0, 0]
    # frame(p) = canonical(p + offset): frame[:, y, x] = canonical[:, y - 1, x + 2]
    assert torch.allclose(frame[:, 1:, :6], canonical[0, :, :7, 2:], atol=1e-6)


def test_zero_initialised_output_gives_zero_fields_and_canonical_frames_at_init():
    model = tiny()
    latents = model.sample_latents(2, 9, torch.Generator().manual_seed(1))
    out = model.render(latents, 10)
    assert torch.equal(out["fields"], torch.zeros_like(out["fields"]))
    assert torch.equal(out["frames"], out["canonical"][:, None].expand_as(out["frames"]))
    # Table A1's "w/o multi.": the default initialisation starts from random fields
    plain = tiny(use_multiplier=False).render(latents, 10)["fields"]
    assert plain.abs().mean() > 1e-3


def test_first_fine_tuning_step_moves_the_fields():
    model = tiny()
    batch = {"video": torch.rand(4, 4, 3, 8, 8) * 2 - 1}
    params = model.parameter_groups()["generator"]
    optimiser = torch.optim.Adam(params, lr=1e-3)
    torch.manual_seed(0)
    model.training_step(batch, "generator")["loss"].backward()
    head = model.deformation.heads[-1]
    assert head.conv.weight.grad.abs().sum() > 0 and head.bias.grad.abs().sum() > 0
    optimiser.step()
    latents = model.sample_latents(2, 9, torch.Generator().manual_seed(1))
    assert model.render(latents, 10)["fields"].abs().max() > 1e-5


def test_canonical_feature_conditions_the_fields():
    model = tiny()
    model.deformation.heads[-1].conv.weight.data.normal_()                    # leave the zero init
    model.deformation.heads[-1].bias.data.fill_(0.1)
    latents = model.sample_latents(1, 3, torch.Generator().manual_seed(0))
    times = torch.arange(4.0)[None]
    fields = model.synthesize(latents, times, noise_mode="const")["fields"]
    latents.z_c = torch.randn_like(latents.z_c)                               # same z_d and motion
    moved = model.synthesize(latents, times, noise_mode="const")["fields"]
    assert (moved - fields).abs().max() > 1e-4
    blind = tiny(use_canonical_feature=False)
    assert blind.deformation.canonical_channels == 0
    assert model.deformation.canonical_channels == model.canonical.synthesis.layer_shape(-1)[0]


def test_edit_and_mask_propagate_through_the_fields():
    model = tiny()
    fields = torch.zeros(1, 3, 2, 8, 8)
    fields[0, 1, 0] = 1.0 * 2 / 7                                   # frame 1: content moves 1 px left
    edited = -torch.ones(1, 3, 8, 8)
    edited[..., 4, 4] = 1.0                                          # a one-pixel scribble at (4, 4)
    frames = propagate(model, edited, fields)
    assert frames[0, 0, :, 4, 4].eq(1).all() and frames[0, 1, :, 4, 3].eq(1).all()
    assert frames[0, 1, :, 4, 4].eq(-1).all()
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:5, 2:5] = 1
    masks = propagate_mask(model, mask, fields)
    assert torch.equal(masks[0, 1, 0, :, 1:4], mask[0, 0, :, 2:5])


def test_tracking_through_a_known_deformation_recovers_the_point():
    # frame t samples the canonical at p + D(p) = R(p - o) + o + s: a rotation about o and a shift
    h = w = 16
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    grid = torch.stack([xs, ys])                                     # (2 h w)
    centre = torch.tensor([7.5, 7.5], dtype=torch.float64)[:, None, None]
    fields = []
    for t in range(4):
        a = 0.05 * t
        rotation = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
        sampled = torch.einsum("ij,jhw->ihw", rotation, grid - centre) + centre
        sampled = sampled + torch.tensor([0.7 * t, -0.4 * t], dtype=torch.float64)[:, None, None]
        fields.append(sampled - grid)
    fields = torch.stack(fields).float()
    points = torch.tensor([[5.0, 6.0], [10.3, 9.2]])
    tracks = track_points(fields, points)                            # (t p 2)
    for t in range(4):
        a = 0.05 * t
        rotation = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        shift = torch.tensor([0.7 * t, -0.4 * t])
        # the frame position p with R(p - o) + o + s = c is p = R^T (c - s - o) + o
        expected = (points - shift - 7.5) @ rotation + 7.5
        assert torch.allclose(tracks[t], expected, atol=1e-3), t


def test_tracking_a_rendered_video_lands_on_the_canonical_colour():
    model = tiny()
    model.deformation.heads[-1].conv.weight.data.normal_(std=0.3)             # some motion
    out = model.render(model.sample_latents(1, 5, torch.Generator().manual_seed(3)), 6)
    fields_px = model.to_pixels(out["fields"][0])
    tracks = track_points(fields_px, torch.tensor([[3.0, 4.0]]))
    # where the track lands, the frame's sample position is the chosen canonical point
    landing = tracks + torch.stack([torch.nn.functional.grid_sample(
        fields_px[t:t + 1], (tracks[t:t + 1] * 2 / 7 - 1)[:, :, None], align_corners=True)[0, :, :, 0].T
        for t in range(6)])
    assert torch.allclose(landing, torch.tensor([[3.0, 4.0]]).expand(6, 1, 2), atol=0.05)


def test_several_motions_share_the_canonical_image():
    model = tiny()
    model.deformation.heads[-1].conv.weight.data.normal_(std=0.3)
    out = several_motions(model, seed=2, count=3, num_frames=4)
    assert out["frames"].shape == (3, 4, 3, 8, 8)
    reference = model.render(model.sample_latents(1, 3, torch.Generator().manual_seed(2)), 4)["canonical"]
    assert torch.allclose(out["canonical"], reference, atol=1e-6)
    assert (out["fields"][0] - out["fields"][1]).abs().max() > 1e-4


def test_points_are_parsed_and_checked():
    assert torch.equal(parse_points("1,2; 3.5,4", 8, 8), torch.tensor([[1.0, 2.0], [3.5, 4.0]]))
    with pytest.raises(KinemaError, match="outside"):
        parse_points("9,1", 8, 8)
    with pytest.raises(KinemaError, match="cannot read"):
        parse_points("1;2", 8, 8)
