"""L_reg of Eq. (4) (edge-aware temporal smoothness on the t-1, t, t+1 triple) against hand values."""
import math

import torch

from kinema.methods.gendef.losses import edge_weights, image_gradient_magnitude, temporal_smoothness


def test_reg_matches_a_hand_computation_with_its_edge_weights():
    # one row of two pixels; frame t is black | white: an edge between them
    image = torch.tensor([[[[-1.0, 1.0]]]])                       # (1 1 1 2); in [0, 1]: 0 | 1
    fields = torch.zeros(1, 3, 2, 1, 2)
    fields[0, :, 0, 0] = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 3.0]])   # x: m_{t-1}, m_t, m_{t+1}
    fields[0, :, 1, 0] = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 2.0]])   # y
    # D = m_{t+1} - 2 m_t + m_{t-1}: x -> [1, -1], y -> [0, 2]
    # g = |I(x+1) - I(x)| (+ 0 in y): pixel 0 -> 1, pixel 1 (last column) -> 0; weights e^-1, 1
    expected = (math.exp(-1) * 1 + 1 * 1 + math.exp(-1) * 0 + 1 * 2) / 4
    assert math.isclose(float(temporal_smoothness(fields, image)), expected, rel_tol=1e-6)
    sharper = (math.exp(-3) * 1 + 1 + 2) / 4                       # beta = 3
    assert math.isclose(float(temporal_smoothness(fields, image, sharpness=3.0)), sharper, rel_tol=1e-6)


def test_reg_is_zero_for_constant_velocity_and_positive_otherwise():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 6, 6) * 2 - 1
    start, velocity = torch.randn(2, 2, 6, 6), torch.randn(2, 2, 6, 6)   # velocity varies over space
    steady = torch.stack([start + t * velocity for t in (4.0, 5.0, 6.0)], dim=1)
    assert float(temporal_smoothness(steady, image)) < 1e-6
    accelerating = torch.stack([start + t * velocity + 0.1 * t ** 2 for t in (4.0, 5.0, 6.0)], dim=1)
    # D = 0.1 (25 - 2 * 16 + ... ) = 0.2 everywhere: L = 0.2 * mean weight
    value = float(temporal_smoothness(accelerating, image))
    assert math.isclose(value, 0.2 * float(edge_weights(image).mean()), rel_tol=1e-4)


def test_reg_is_weaker_across_image_edges():
    fields = torch.zeros(1, 3, 2, 4, 4)
    fields[:, 2] = 1.0                                               # the same jump at every pixel
    flat = torch.zeros(1, 3, 4, 4)
    stripes = torch.zeros(1, 3, 4, 4)
    stripes[..., ::2] = 1.0
    stripes[..., 1::2] = -1.0                                        # an edge at every column step
    assert float(temporal_smoothness(fields, flat)) == 1.0
    assert float(temporal_smoothness(fields, stripes)) < 0.6
    g = image_gradient_magnitude(stripes)
    assert torch.allclose(g[..., :3], torch.ones(1, 1, 4, 3)) and torch.equal(g[..., 3], torch.zeros(1, 1, 4))


def test_edge_weights_carry_no_gradient():
    image = (torch.rand(1, 3, 4, 4) * 2 - 1).requires_grad_(True)
    fields = torch.randn(1, 3, 2, 4, 4, requires_grad=True)
    temporal_smoothness(fields, image).backward()
    assert image.grad is None and fields.grad.abs().sum() > 0
