"""kinema.nn.precision: an fp32 island turns autocast off and casts 16-bit inputs to float32
(float64 kept); backward_warp_exact, the float32 warp of GenDeF, is exact for a zero field under
autocast and equals grid_sample's warp, gradients included."""
from __future__ import annotations

import torch

from kinema.nn.precision import fp32_function, fp32_island, observe_islands

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def test_island_casts_in_and_turns_autocast_off():
    x = torch.randn(2, 3, dtype=torch.bfloat16)
    with torch.autocast(**BF16):
        assert torch.is_autocast_enabled("cpu")
        with fp32_island("test", x) as inside:
            assert inside.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
            assert (inside @ inside.T).dtype == torch.float32
        assert torch.is_autocast_enabled("cpu")
    with fp32_island("test", x.double()) as kept:          # float64 stays float64
        assert kept.dtype == torch.float64


def test_fp32_function_casts_arguments_and_is_observed():
    @fp32_function("test reduction")
    def mean_square(x, *, y):
        return (x * y).mean()

    x = torch.randn(3, 4).bfloat16()
    with observe_islands() as visits, torch.autocast(**BF16):
        out = mean_square(x, y=x)
    assert out.dtype == torch.float32
    assert out == (x.float() * x.float()).mean()
    assert [(v.name, v.dtypes, v.autocast) for v in visits] == \
        [("test reduction", (torch.float32, torch.float32), False)]


def test_gendef_warp_is_fp32_and_exact_for_a_zero_field_under_autocast():
    from kinema.nn.warp import backward_warp, backward_warp_exact

    torch.manual_seed(0)
    image = torch.randn(2, 3, 9, 7)
    with torch.autocast(**BF16):
        same = backward_warp_exact(image.bfloat16(), torch.zeros(2, 2, 9, 7))
        flow = torch.randn(2, 2, 9, 7) * 2
        warped = backward_warp_exact(image, flow)
    assert same.dtype == torch.float32 and torch.equal(same, image.bfloat16().float())
    assert torch.equal(backward_warp_exact(image, torch.zeros(2, 2, 9, 7)), image)
    assert torch.allclose(warped, backward_warp(image, flow), atol=1e-5)
    shift = torch.zeros(2, 2, 9, 7)
    shift[:, 0] = 1.0                     # sample one pixel to the right: columns move left
    assert torch.equal(backward_warp_exact(image, shift)[..., :-1], image[..., 1:])


def test_warp_gradients_equal_grid_sample_in_float64():
    from kinema.nn.warp import backward_warp, backward_warp_exact

    torch.manual_seed(1)
    image = torch.randn(2, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    flow = (torch.randn(2, 2, 6, 5, dtype=torch.float64) * 2).requires_grad_()
    weights = torch.randn(2, 2, 6, 5, dtype=torch.float64)
    exact = torch.autograd.grad((backward_warp_exact(image, flow) * weights).sum(), (image, flow))
    plain = torch.autograd.grad((backward_warp(image, flow) * weights).sum(), (image, flow))
    for a, b in zip(exact, plain):
        assert torch.allclose(a, b, atol=1e-10)
