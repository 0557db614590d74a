"""GenDeF's structural temporal smoothness constraint L_reg (Eq. (4), appendix A).

The optical flow between neighbouring frames is read off the deformation fields,
F_{t->t+1} = m_{t+1} - m_t (Sec. 3.2), and Eq. (4) asks neighbouring flows to be similar,
Sim(F_{t-1->t}, F_{t->t+1}), with "the simple edge-aware smoothness loss [10]" (Godard et al.
2017) as Sim. Written out here (the paper gives no formula): Godard's loss penalises a field's
derivative |d| weighted by exp(-|grad I|), so that it may change across image edges; taken
along time on the triple t-1, t, t+1 of appendix A, the derivative is the change of flow

    D(p) = F_{t->t+1}(p) - F_{t-1->t}(p) = m_{t+1}(p) - 2 m_t(p) + m_{t-1}(p),

and L_reg = mean over pixels p and the two components of  exp(-beta g(p)) |D(p)|, with
g(p) = mean over colour channels of (|I(p + e_x) - I(p)| + |I(p + e_y) - I(p)|) on frame t in
[0, 1] (forward differences; 0 past the last row / column). A constant-velocity motion has
D = 0 everywhere; the weight is computed without gradient, so the generator cannot lower the
loss by drawing edges.

The official code leaves its regulariser off by default and regularises another quantity; this
follows the paper. The adversarial terms (Eq. (5), non-saturating, and R1) are kinema.nn.gan's.
"""
from __future__ import annotations

import torch


def image_gradient_magnitude(image: torch.Tensor) -> torch.Tensor:
    """g(p) of the module docstring: image (b c h w) in [-1, 1] -> (b 1 h w)."""
    unit = (image + 1.0) / 2.0
    dx = torch.zeros_like(unit)
    dy = torch.zeros_like(unit)
    dx[..., :, :-1] = (unit[..., :, 1:] - unit[..., :, :-1]).abs()
    dy[..., :-1, :] = (unit[..., 1:, :] - unit[..., :-1, :]).abs()
    return (dx + dy).mean(dim=1, keepdim=True)


def edge_weights(image: torch.Tensor, sharpness: float = 1.0) -> torch.Tensor:
    """exp(-beta g(p)): (b c h w) -> (b 1 h w), 1 in flat regions, smaller across edges (no gradient)."""
    with torch.no_grad():
        return torch.exp(-sharpness * image_gradient_magnitude(image))


def temporal_smoothness(fields: torch.Tensor, image: torch.Tensor, sharpness: float = 1.0) -> torch.Tensor:
    """L_reg of Eq. (4) on one triple.

    fields: (b 3 2 h w), the deformation fields m_{t-1}, m_t, m_{t+1} (any unit; the flows are
    their differences); image: (b c h w), frame t, in [-1, 1]. Returns a scalar.
    """
    if fields.ndim != 5 or fields.shape[1] != 3 or fields.shape[2] != 2:
        raise ValueError(f"fields must be (b 3 2 h w), the triple t-1, t, t+1; got {tuple(fields.shape)}")
    before = fields[:, 1] - fields[:, 0]          # F_{t-1 -> t}
    after = fields[:, 2] - fields[:, 1]           # F_{t -> t+1}
    weights = edge_weights(image, sharpness)      # (b 1 h w)
    return (weights * (after - before).abs()).mean()
