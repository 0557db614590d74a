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

The unit. The paper computes the flows from pixel coordinates m at its one resolution, 256 x 256
(Sec. 4.1), and sets lambda_reg = 1 "across datasets" (Fig. 4 shows what it does there). kinema's
fields are in normalised coordinates (1 = half the image), in which the same loss is (S - 1) / 2
times weaker at S px than on pixel flows (15.5x at 32 px, 127.5x at 256 px), and on pixel flows
of the training resolution lambda_reg = 1 would be 8x weaker at 32 px than at 256 px for one
motion. ``field_smoothness`` therefore measures flows in pixels of the paper's 256-px image,
whatever the training resolution: fields x (256 - 1) / 2. The strength of lambda_reg = 1 is then
the same at every resolution for a motion covering the same part of the image, and equals the
paper's at 256 px. (The edge weights stay per pixel of the training image, as Godard's are.)

The official code leaves its regulariser off by default and regularises another quantity; this
follows the paper. The adversarial terms (Eq. (5), non-saturating, and R1) are kinema.nn.gan's.
"""
from __future__ import annotations

import torch

from kinema.nn.precision import fp32_function


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


@fp32_function("loss reduction")
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


PAPER_RESOLUTION = 256                               # Sec. 4.1: every dataset at 256 x 256
PAPER_PIXELS_PER_UNIT = (PAPER_RESOLUTION - 1) / 2.0  # normalised field units -> 256-px pixels


@fp32_function("loss reduction")
def field_smoothness(fields: torch.Tensor, image: torch.Tensor, sharpness: float = 1.0) -> torch.Tensor:
    """L_reg of Eq. (4) for fields (b 3 2 h w) in NORMALISED coordinates, at the unit the module
    docstring decides: flows in pixels of a 256-px image, at any training resolution."""
    return temporal_smoothness(fields * PAPER_PIXELS_PER_UNIT, image, sharpness)
