import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

from kinema.nn.warp import backward_warp, backward_warp_video, flow_to_grid, invert_flow


def test_zero_flow_is_identity():
    image = torch.rand(2, 3, 7, 9)
    out = backward_warp(image, torch.zeros(2, 2, 7, 9))
    assert torch.allclose(out, image, atol=1e-6)


@pytest.mark.parametrize("dx,dy", [(2, 0), (0, -3), (1, 2)])
def test_integer_flow_moves_impulse_exactly(dx, dy):
    image = torch.zeros(1, 1, 12, 12)
    image[0, 0, 5, 6] = 1.0
    flow = torch.zeros(1, 2, 12, 12)
    flow[:, 0], flow[:, 1] = dx, dy
    out = backward_warp(image, flow)
    # output(p) = image(p + flow): the impulse at (x=6, y=5) appears at (6 - dx, 5 - dy).
    expected = torch.zeros_like(image)
    expected[0, 0, 5 - dy, 6 - dx] = 1.0
    assert torch.allclose(out, expected, atol=1e-6)


def test_matches_scipy_map_coordinates():
    rng = np.random.default_rng(0)
    image = rng.random((2, 10, 13))
    flow = rng.normal(0.0, 3.0, size=(2, 10, 13))           # (2 h w): x, y; some leave the frame
    out = backward_warp(torch.from_numpy(image)[None], torch.from_numpy(flow)[None])[0].numpy()
    ys, xs = np.meshgrid(np.arange(10), np.arange(13), indexing="ij")
    coords = np.stack([ys + flow[1], xs + flow[0]])
    # mode="nearest" extends the edge values, the same as grid_sample's border padding.
    expected = np.stack([map_coordinates(c, coords, order=1, mode="nearest") for c in image])
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_grid_of_zero_flow_spans_minus_one_to_one():
    grid = flow_to_grid(torch.zeros(1, 2, 4, 5))
    assert grid.shape == (1, 4, 5, 2)
    assert torch.allclose(grid[0, 0, 0], torch.tensor([-1.0, -1.0]))
    assert torch.allclose(grid[0, -1, -1], torch.tensor([1.0, 1.0]))


def test_video_warp_is_per_frame_warp():
    image = torch.rand(3, 8, 8)
    flows = torch.randn(4, 2, 8, 8)
    video = backward_warp_video(image, flows)
    for t in range(4):
        assert torch.allclose(video[t], backward_warp(image[None], flows[t:t + 1])[0])


def test_invert_flow_composes_to_identity():
    ys, xs = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    flow = torch.stack([1.5 * torch.sin(ys / 5.0), 1.0 * torch.cos(xs / 6.0)])[None].double()
    forward = invert_flow(flow)
    # q + T(q) = p with p + D(p) = q  <=>  D(q + T(q)) + T(q) = 0
    residual = backward_warp(flow, forward) + forward
    assert residual[..., 3:-3, 3:-3].abs().max() < 1e-6


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="does not match"):
        backward_warp(torch.rand(1, 3, 8, 8), torch.zeros(1, 2, 8, 9))
