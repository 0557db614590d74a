import math

import pytest
import torch

from kinema.nn import warp
from kinema.nn.warp import SPLAT_EPS, softmax_splat, softmax_splat_reference

# channel counts that take each path of the differentiable splat: one scatter / gather per corner
# (few channels, and a mid count with wider per-corner temporaries), sparse matrix products (many)
PATHS = [3, 20, 40]


def _landings(flow, i: int):
    """(y, x, qy, qx, kernel): source pixel (y, x) of item i lands at p + F(p) and reaches each of
    its 4 integer neighbours (qy, qx) that lie in the picture with the bilinear kernel."""
    h, w = flow.shape[-2:]
    for y in range(h):
        for x in range(w):
            tx, ty = x + flow[i, 0, y, x].item(), y + flow[i, 1, y, x].item()
            x0, y0 = math.floor(tx), math.floor(ty)
            for qx in (x0, x0 + 1):
                for qy in (y0, y0 + 1):
                    if 0 <= qx < w and 0 <= qy < h:
                        yield y, x, qy, qx, (1 - abs(tx - qx)) * (1 - abs(ty - qy))


def _direct_loop(image, flow, metric):
    """Softmax splatting written pixel by pixel: every source pixel pushes exp(Z) b I to the 4
    integer neighbours of p + F(p) that lie in the picture."""
    b, c, h, w = image.shape
    num = torch.zeros(b, c, h, w, dtype=image.dtype)
    den = torch.zeros(b, 1, h, w, dtype=image.dtype)
    for i in range(b):
        weight = torch.exp(metric[i, 0] - metric[i, 0].max())
        for y, x, qy, qx, kernel in _landings(flow, i):
            num[i, :, qy, qx] += kernel * weight[y, x] * image[i, :, y, x]
            den[i, 0, qy, qx] += kernel * weight[y, x]
    return num / (den + SPLAT_EPS), den > 0


@pytest.mark.parametrize("dx,dy", [(2, 0), (0, -3), (1, 2), (-4, 1)])
def test_integer_flow_moves_impulse_exactly(dx, dy):
    image = torch.zeros(1, 2, 12, 12)
    image[0, :, 5, 6] = torch.tensor([1.0, -0.5])
    flow = torch.zeros(1, 2, 12, 12)
    flow[:, 0], flow[:, 1] = dx, dy
    out, covered = softmax_splat(image, flow, torch.randn(1, 1, 12, 12))
    # forward warp: the pixel at (x=6, y=5) lands at (6 + dx, 5 + dy)
    expected = torch.zeros_like(image)
    expected[0, :, 5 + dy, 6 + dx] = torch.tensor([1.0, -0.5])
    assert torch.equal(out, expected)
    # the columns / rows shifted in from outside the picture are holes, the rest is covered
    holes = torch.ones(12, 12, dtype=torch.bool)
    holes[max(dy, 0):12 + min(dy, 0), max(dx, 0):12 + min(dx, 0)] = False
    assert torch.equal(~covered[0, 0], holes)


def test_the_channel_counts_cover_both_paths():
    assert min(PATHS) < warp._SPARSE_CHANNELS <= max(PATHS)


@pytest.mark.parametrize("channels", PATHS)
def test_agrees_with_direct_loop(channels):
    torch.manual_seed(0)
    image = torch.randn(2, channels, 5, 6, dtype=torch.float64)
    flow = torch.randn(2, 2, 5, 6, dtype=torch.float64) * 2.0     # some pixels leave the frame
    metric = torch.randn(2, 1, 5, 6, dtype=torch.float64) * 3.0
    out, covered = softmax_splat(image, flow, metric)
    expected, expected_covered = _direct_loop(image, flow, metric)
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.equal(covered, expected_covered)
    assert not covered.all()          # the case has holes


def test_collision_is_a_softmax_of_the_metric():
    image = torch.zeros(1, 1, 1, 4)
    image[0, 0, 0, 0], image[0, 0, 0, 2] = 1.0, 5.0
    flow = torch.zeros(1, 2, 1, 4)
    flow[0, 0, 0, 0] = 1.0            # pixel 0 -> 1, pixel 2 -> 1: they collide at x = 1
    flow[0, 0, 0, 2] = -1.0
    flow[0, 0, 0, 1] = 2.0            # and pixel 1 leaves for x = 3
    metric = torch.zeros(1, 1, 1, 4)
    metric[0, 0, 0, 2] = math.log(3.0)   # weights 1 : 3
    out, _ = softmax_splat(image, flow, metric)
    assert out[0, 0, 0, 1].item() == pytest.approx((1.0 * 1 + 3 * 5.0) / 4, abs=1e-6)


def test_invariant_to_a_constant_added_to_the_metric():
    torch.manual_seed(1)
    image = torch.randn(1, 3, 9, 11, dtype=torch.float64)
    flow = torch.randn(1, 2, 9, 11, dtype=torch.float64) * 1.5
    metric = torch.randn(1, 1, 9, 11, dtype=torch.float64)
    out, _ = softmax_splat(image, flow, metric)
    # exp(710) overflows float64 without the per-image shift
    for constant in (-50.0, 1e4):
        shifted, _ = softmax_splat(image, flow, metric + constant)
        assert torch.allclose(out, shifted, atol=1e-9)


def assert_fast_path_equals_plain(image, flow, metric):
    """softmax_splat and the plain scatter-add reference: the same frames, coverage and
    gradients (for one random upstream gradient)."""
    args = [image.requires_grad_(), flow.requires_grad_(), metric.requires_grad_()]
    fast, fast_covered = softmax_splat(*args)
    plain, plain_covered = softmax_splat_reference(*args)
    assert torch.allclose(fast, plain, atol=1e-12)
    assert torch.equal(fast_covered, plain_covered)
    upstream = torch.randn_like(fast)
    for g_fast, g_plain in zip(torch.autograd.grad(fast, args, upstream),
                               torch.autograd.grad(plain, args, upstream)):
        assert torch.allclose(g_fast, g_plain, atol=1e-10)


@pytest.mark.parametrize("channels", PATHS)
def test_fast_path_equals_plain_scatter_add_path(channels):
    torch.manual_seed(2)
    assert_fast_path_equals_plain(torch.randn(2, channels, 7, 9, dtype=torch.float64),
                                  torch.randn(2, 2, 7, 9, dtype=torch.float64) * 2.0,
                                  torch.randn(2, 1, 7, 9, dtype=torch.float64))


@pytest.mark.parametrize("channels", [2, 17, 33])
def test_gradients_match_finite_differences(channels):
    torch.manual_seed(3)
    image = torch.randn(1, channels, 3, 4, dtype=torch.float64, requires_grad=True)
    flow = (torch.randn(1, 2, 3, 4, dtype=torch.float64) * 1.3).requires_grad_()
    metric = torch.randn(1, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda i, f, m: softmax_splat(i, f, m)[0], (image, flow, metric))


@pytest.mark.parametrize("channels", PATHS)
def test_gradients_finite_where_the_metric_is_large(channels):
    torch.manual_seed(4)
    image = torch.randn(1, channels, 16, 16, requires_grad=True)
    flow = (torch.randn(1, 2, 16, 16) * 2.0).requires_grad_()
    metric = (torch.rand(1, 1, 16, 16) * 1e4).requires_grad_()   # exp(1e4) is inf in any dtype
    out, _ = softmax_splat(image, flow, metric)
    assert torch.isfinite(out).all()
    (out * torch.randn_like(out)).sum().backward()
    for tensor in (image, flow, metric):
        assert torch.isfinite(tensor.grad).all()
        assert tensor.grad.abs().sum() > 0


def test_no_metric_is_a_bilinear_average():
    image = torch.tensor([[[[2.0, 4.0]]]])
    flow = torch.tensor([[[[0.5, -0.5]], [[0.0, 0.0]]]])   # both pixels land half-way
    out, covered = softmax_splat(image, flow)
    assert torch.allclose(out, torch.tensor([[[[3.0, 3.0]]]]))
    assert covered.all()


def test_mismatched_flow_is_refused():
    with pytest.raises(ValueError, match="does not match image"):
        softmax_splat(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 7))
    with pytest.raises(ValueError, match="metric must be"):
        softmax_splat(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8, 8))


@pytest.mark.parametrize("channels", PATHS)
def test_inference_path_equals_the_differentiable_one(channels):
    torch.manual_seed(5)
    image, flow, metric = torch.randn(2, channels, 6, 7), torch.randn(2, 2, 6, 7) * 2, torch.randn(2, 1, 6, 7)
    with torch.no_grad():
        inference, covered = softmax_splat(image, flow, metric)
    trained, trained_covered = softmax_splat(image.requires_grad_(), flow, metric)
    assert torch.allclose(inference, trained, atol=1e-6)
    assert torch.equal(covered, trained_covered)


def _direct_loop_per_destination(image, flow, metric):
    """Softmax splatting pixel by pixel with every destination's softmax taken over the sources
    landing on it (shifted by their largest Z), however far apart the weights are."""
    b, c, h, w = image.shape
    out = torch.zeros(b, c, h, w, dtype=image.dtype)
    covered = torch.zeros(b, 1, h, w, dtype=torch.bool)
    for i in range(b):
        landed = {}                                     # (qy, qx) -> [(Z, kernel, value)]
        for y, x, qy, qx, kernel in _landings(flow, i):
            if kernel > 0:
                landed.setdefault((qy, qx), []).append((metric[i, 0, y, x].item(), kernel, image[i, :, y, x]))
        for (qy, qx), sources in landed.items():
            top = max(z for z, _, _ in sources)
            weights = [kernel * math.exp(z - top) for z, kernel, _ in sources]
            num = sum(wt * value for wt, (_, _, value) in zip(weights, sources))
            out[i, :, qy, qx] = num / (sum(weights) + SPLAT_EPS)
            covered[i, 0, qy, qx] = True
    return out, covered


def test_a_layer_far_above_the_background_still_wins_its_collisions():
    """Two pixels land on x = 1 with Z = 45 (the moving layer) and Z = 5 (background), while the
    image's largest Z is 100: both are more than 30 below it. A per-image clip at max - 30 gave
    them the same weight (out 3.0, a 50/50 blend); the softmax gives the layer e^40 : 1."""
    image = torch.zeros(1, 1, 1, 5, dtype=torch.float64)
    image[0, 0, 0, 0], image[0, 0, 0, 2] = 1.0, 5.0
    flow = torch.zeros(1, 2, 1, 5, dtype=torch.float64)
    flow[0, 0, 0, 0], flow[0, 0, 0, 2] = 1.0, -1.0      # pixels 0 and 2 collide at x = 1
    flow[0, 0, 0, 1] = 3.0                               # pixel 1 leaves for x = 4
    metric = torch.tensor([[[[45.0, 100.0, 5.0, 0.0, 0.0]]]], dtype=torch.float64)
    for splat in (softmax_splat, softmax_splat_reference):
        out, covered = splat(image, flow, metric)
        assert out[0, 0, 0, 1].item() == pytest.approx((1.0 + 5.0 * math.exp(-40.0)) / (1.0 + math.exp(-40.0)), abs=1e-15)
        assert out[0, 0, 0, 4].item() == 0.0             # pixel 1 carried value 0
        assert covered[0, 0].tolist() == [[False, True, False, True, True]]


@pytest.mark.parametrize("channels", PATHS)
def test_weights_spanning_hundreds_agree_with_the_direct_loop(channels):
    torch.manual_seed(6)
    image = torch.randn(2, channels, 5, 6, dtype=torch.float64)
    flow = torch.randn(2, 2, 5, 6, dtype=torch.float64) * 2.0
    metric = torch.randn(2, 1, 5, 6, dtype=torch.float64) * 60.0   # spans ~300: per-destination shifts
    out, covered = softmax_splat(image, flow, metric)
    expected, expected_covered = _direct_loop_per_destination(image, flow, metric)
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.equal(covered, expected_covered)
    assert_fast_path_equals_plain(image, flow, metric)


@pytest.mark.parametrize("channels", [2, 17, 33])
def test_per_destination_gradients_match_finite_differences(channels):
    torch.manual_seed(7)
    image = torch.randn(1, channels, 3, 4, dtype=torch.float64, requires_grad=True)
    flow = (torch.randn(1, 2, 3, 4, dtype=torch.float64) * 1.3).requires_grad_()
    metric = (torch.randn(1, 1, 3, 4, dtype=torch.float64) * 8.0).requires_grad_()
    metric.data[0, 0, 0, 0] = 60.0                       # one source far above: per-destination shifts
    assert torch.autograd.gradcheck(lambda i, f, m: softmax_splat(i, f, m)[0], (image, flow, metric))


@pytest.mark.parametrize("channels", [3, 64])
@pytest.mark.parametrize("spread", [1.0, 60.0])      # one per-image shift / per-destination shifts
def test_fast_path_equals_plain_at_the_benchmark_channel_counts(channels, spread):
    torch.manual_seed(8)
    assert_fast_path_equals_plain(torch.randn(3, channels, 6, 8, dtype=torch.float64),
                                  torch.randn(3, 2, 6, 8, dtype=torch.float64) * 2.5,
                                  torch.randn(3, 1, 6, 8, dtype=torch.float64) * spread)


@pytest.mark.parametrize("channels", PATHS)
def test_fast_path_equals_plain_without_a_metric(channels):
    torch.manual_seed(9)
    image = torch.randn(2, channels, 5, 7, dtype=torch.float64, requires_grad=True)
    flow = (torch.randn(2, 2, 5, 7, dtype=torch.float64) * 2.0).requires_grad_()
    fast, fast_covered = softmax_splat(image, flow)
    plain, plain_covered = softmax_splat_reference(image, flow)
    assert torch.allclose(fast, plain, atol=1e-12)
    assert torch.equal(fast_covered, plain_covered)
    upstream = torch.randn_like(fast)
    for g_fast, g_plain in zip(torch.autograd.grad(fast, (image, flow), upstream),
                               torch.autograd.grad(plain, (image, flow), upstream)):
        assert torch.allclose(g_fast, g_plain, atol=1e-10)


@pytest.mark.parametrize("channels", PATHS)
@pytest.mark.parametrize("spread", [1.0, 60.0])
@pytest.mark.parametrize("needed", [(True, False, False), (False, True, False), (False, False, True),
                                    (True, False, True)])
def test_gradients_of_a_subset_of_the_inputs_equal_the_plain_ones(channels, spread, needed):
    """The backward computes only the gradients asked for (a renderer trained on given flows
    needs none for the flow); those it computes equal the plain path's."""
    torch.manual_seed(10)
    args = [torch.randn(2, channels, 5, 6, dtype=torch.float64), torch.randn(2, 2, 5, 6, dtype=torch.float64) * 2.0,
            torch.randn(2, 1, 5, 6, dtype=torch.float64) * spread]
    args = [a.requires_grad_(need) for a, need in zip(args, needed)]
    wanted = [a for a in args if a.requires_grad]
    fast, plain = softmax_splat(*args)[0], softmax_splat_reference(*args)[0]
    upstream = torch.randn_like(fast)
    for g_fast, g_plain in zip(torch.autograd.grad(fast, wanted, upstream), torch.autograd.grad(plain, wanted, upstream)):
        assert torch.allclose(g_fast, g_plain, atol=1e-10)
