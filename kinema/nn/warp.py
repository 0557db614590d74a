"""Warping images by dense flow fields.

Convention (used everywhere in kinema): a flow is a tensor ``(b 2 h w)`` in **pixels**, channel 0
the x (column) offset, channel 1 the y (row) offset. Backward warping samples

    output(p) = image(p + flow(p))

bilinearly, with border padding (samples outside the frame take the nearest border value) and
pixel centres at integer coordinates (``align_corners=True``), so an integer flow moves pixels
exactly. This is PyTorch's ``grid_sample``; only the pixel -> normalised-coordinate conversion
is written here.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from einops import rearrange
from torch.autograd.function import once_differentiable

from kinema.nn.precision import fp32_island


def _grid_parts(height: int, width: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The identity grid (h w 2) in normalised coordinates and the pixel -> normalised scale (2,)."""
    # align_corners=True: pixel 0 -> -1, pixel (n-1) -> +1; a 1-pixel axis maps to 0.
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], device=like.device, dtype=like.dtype)
    ys = torch.arange(height, device=like.device, dtype=like.dtype)
    xs = torch.arange(width, device=like.device, dtype=like.dtype)
    identity = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1) * scale - 1.0   # (h w 2)
    return identity, scale


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """Turn a pixel flow into a ``grid_sample`` grid.

    flow: (b 2 h w) pixel offsets (x, y). Returns (b h w 2) sampling positions p + flow(p) in
    the normalised [-1, 1] coordinates of ``grid_sample(..., align_corners=True)``.
    """
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (b 2 h w), got shape {tuple(flow.shape)}")
    identity, scale = _grid_parts(flow.shape[2], flow.shape[3], flow)
    return identity + rearrange(flow, "b c h w -> b h w c") * scale                      # (b h w 2)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``p + flow(p)`` for every pixel p.

    image: (b c h w); flow: (b 2 h w) in pixels, (x, y). Returns (b c h w). Bilinear, border
    padding, differentiable in both arguments.
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (b c h w), got shape {tuple(image.shape)}")
    if flow.shape[0] != image.shape[0] or flow.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"flow {tuple(flow.shape)} does not match image {tuple(image.shape)}: "
                         "need (b 2 h w) with the image's b, h, w")
    # fp32 island: sampling positions of up to the image size need float32's 24 bits
    with fp32_island("backward warp positions", image, flow) as (image, flow):
        grid = flow_to_grid(flow.to(image.dtype))
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def backward_warp_exact(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``backward_warp`` computed in pixel coordinates, in float32 (an fp32 island).

    grid_sample takes positions normalised to [-1, 1]; converting p -> 2 p / (w - 1) - 1 and
    back costs about 1e-6 px in float32, which bilinear sampling turns into colour errors of
    that size where the flow is 0. Here a position is ``p + flow(p)``, an integer plus the flow,
    so a zero (or integer) flow samples pixels with weights exactly 1 and 0 and returns them
    bit for bit; elsewhere it equals ``backward_warp`` to float rounding (tested), gradients
    included. image: (b c h w); flow: (b 2 h w) in pixels (x, y). Returns (b c h w).
    """
    if image.ndim != 4 or flow.shape[0] != image.shape[0] or flow.shape[1] != 2 \
            or flow.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"need image (b c h w) and flow (b 2 h w) of the same b, h, w; got "
                         f"{tuple(image.shape)} and {tuple(flow.shape)}")
    # fp32 island: sampling positions of up to the image size need float32's 24 bits (bfloat16
    # would put a pixel of a 256-px image 1 px off)
    with fp32_island("backward warp positions", image, flow) as (image, flow):
        flow = flow.to(image.dtype)
        b, c, h, w = image.shape
        xs = torch.arange(w, device=flow.device, dtype=flow.dtype)
        ys = torch.arange(h, device=flow.device, dtype=flow.dtype)[:, None]
        x = (flow[:, 0] + xs).clamp(0, w - 1)               # (b h w); border padding
        y = (flow[:, 1] + ys).clamp(0, h - 1)
        x0, y0 = x.detach().floor(), y.detach().floor()
        ax, ay = (x - x0).unsqueeze(1), (y - y0).unsqueeze(1)   # (b 1 h w) in [0, 1)
        x0, y0 = x0.long(), y0.long()
        x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
        flat = image.reshape(b, c, h * w)

        def at(yi, xi):
            index = (yi * w + xi).reshape(b, 1, h * w).expand(b, c, h * w)
            return torch.gather(flat, 2, index).reshape(b, c, h, w)
        top = at(y0, x0) * (1 - ax) + at(y0, x1) * ax
        bottom = at(y1, x0) * (1 - ax) + at(y1, x1) * ax
        return top * (1 - ay) + bottom * ay


def backward_warp_video(image: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """Warp one still image by a flow per frame.

    image: (c h w); flows: (t 2 h w). Returns (t c h w), frame t = backward_warp(image, flows[t]).
    """
    frames = image.unsqueeze(0).expand(flows.shape[0], *image.shape)  # (t c h w)
    return backward_warp(frames, flows)


def invert_flow(flow: torch.Tensor, iterations: int = 30, tolerance: float = 1e-5) -> torch.Tensor:
    """Invert a backward-warp field by fixed-point iteration.

    flow: (b 2 h w), a field D with ``output(p) = image(p + D(p))``. Returns the forward field
    T with ``q + T(q) = p`` wherever ``p + D(p) = q``, i.e. T(q) = -D(q + T(q)): where the pixel
    at q of the input ends up in the output. Converges when D's spatial Lipschitz constant L is
    below 1 (smooth, small fields); the error shrinks by L per iteration. Stops after
    ``iterations`` or once no pixel moves by more than ``tolerance`` px in an iteration.
    """
    identity, scale = _grid_parts(flow.shape[2], flow.shape[3], flow)   # built once, reused below
    forward = -flow
    for _ in range(iterations):
        grid = identity + rearrange(forward, "b c h w -> b h w c") * scale
        updated = -F.grid_sample(flow, grid, mode="bilinear", padding_mode="border", align_corners=True)
        change = (updated - forward).abs().max()
        forward = updated
        if change <= tolerance:
            break
    return forward


# --- Forward (softmax) splatting ----------------------------------------------------------------
# Softmax splatting (Niklaus & Liu, CVPR 2020; the rendering of Sec. 5 of the Generative Image
# Dynamics paper): every source pixel p is pushed to p + flow(p) and spread bilinearly over the
# 4 neighbouring pixels q; where several land on one q they are blended with weights exp(Z(p)):
#
#     out(q) = sum_p b(q, p + F(p)) exp(Z(p)) I(p) / (sum_p b(q, p + F(p)) exp(Z(p)) + eps)
#
# with b the bilinear kernel. Hand-written: no maintained package has it (the public CUDA
# kernels have no CPU path). Stability: the ratio at q is unchanged by any shift of Z that is
# the same for every source landing on q. Where an image's Z spans at most ``span`` (30), one
# shift per image, by its maximum, is used: every exp is in [e^-30, 1], nothing overflows (Z =
# 1e4) and no weight falls to eps's size (a lone low-Z pixel is not mistaken for a hole). Where
# Z spans more, the shift is per destination pixel, by the largest Z among the sources landing
# there (with a bilinear weight > 0): the winner at q has exp = 1, so the softmax stays exact
# however far apart the weights are (a per-image clip at max - 30 would give every source below
# it the same weight, and a moving layer 40 above the background would blend with it 50/50).
# eps keeps the division finite; pixels nothing lands on are holes, 0 in the coverage mask.

SPLAT_SPAN = 30.0   # exp(-30) ~ 1e-13: within this span one per-image shift keeps every weight >> eps
SPLAT_EPS = 1e-20   # far below every exp(Z - max) * bilinear weight that carries content
# From this many channels a differentiable splat runs as sparse matrix products; below, as one
# scatter (forward) and one gather (backward) per corner. Fwd+bwd at 256x160 on one thread, b = 1,
# the per-corner path took 0.6x the sparse path's time at C = 19 (0.9x at b = 8), 0.7x at 24,
# about the same at 32 and 1.4x at 64.
_SPARSE_CHANNELS = 32
_BORDER = 2             # the accumulator's border, where corners outside the picture land


def _corner_offsets(w: int) -> tuple[int, ...]:
    """The 4 corners' offsets from the top-left one on the padded grid (row length w + 4), in the
    corner order (x0, y0), (x0+1, y0), (x0, y0+1), (x0+1, y0+1)."""
    row = w + 2 * _BORDER
    return 0, 1, row, row + 1


def _corner_index(base: torch.Tensor, w: int) -> torch.Tensor:
    """(b n) top-left corners -> (b 4 n) the flat padded index of every corner."""
    return base[:, None] + torch.tensor(_corner_offsets(w), device=base.device).view(1, 4, 1)


def _splat_weights(metric: torch.Tensor | None, like: torch.Tensor, base: torch.Tensor, bil: torch.Tensor,
                   span: float) -> torch.Tensor:
    """The softmax weights exp(Z - shift), differentiable in Z: (b 1 n), one per source pixel,
    shifted by the image's max Z where Z spans at most ``span``; else (b 4 n), one per source
    pixel and destination corner, shifted by the max Z landing on that destination (see the
    comment above). Ones (b 1 n) without a metric. base (b n), bil (b 4 n): ``_splat_corners``."""
    b, n = like.shape[0], like.shape[2] * like.shape[3]
    if metric is None:
        return like.new_ones(b, 1, n)
    if metric.ndim != 4 or metric.shape[1] != 1 or metric.shape[0] != b \
            or metric.shape[-2:] != like.shape[-2:]:
        raise ValueError(f"metric must be (b 1 h w) with the image's b, h, w; got {tuple(metric.shape)} "
                         f"for image {tuple(like.shape)}")
    z = metric.to(like.dtype).reshape(b, 1, n)
    # The shifts are constants of the softmax (detached: the ratio does not depend on them).
    shifted = z - z.detach().amax(dim=2, keepdim=True)
    if bool(shifted.detach().amin() >= -span):
        return shifted.exp()
    idx = _corner_index(base, like.shape[3])
    landing = torch.where(bil > 0, shifted.detach(), float("-inf")).reshape(b, -1)       # (b 4n)
    size = int(idx.max()) + 1
    top = landing.new_full((b, size), float("-inf")).scatter_reduce(1, idx.reshape(b, -1), landing, "amax")
    per_corner = torch.gather(top, 1, idx.reshape(b, -1)).reshape(b, 4, n)
    # corners of bilinear weight 0 may sit where nothing else lands (-inf): exp is capped at 1
    return (shifted - per_corner).clamp(max=0.0).exp()


def _splat_corners(flow: torch.Tensor):
    """Where each source pixel lands: one flat index per source pixel, its top-left corner's.

    The accumulator has a 2-pixel border (``(h+4) x (w+4)``, flattened): a corner outside the
    picture lands in the border, which is cut off afterwards, so no corner needs a validity
    test; positions are clamped to the border first (only whole-border corners change). The
    other 3 corners are the same index into the accumulator shifted by ``_corner_offsets``.
    flow: (b 2 h w). Returns base (b n) int64 into the padded (h+4)(w+4) grid (n = h*w), bil
    (b 4 n) bilinear weights in the corner order of ``_corner_offsets``, and axis_weights
    (b 2 2 n): [[1 - ax, ax], [1 - ay, ay]] with ax, ay the fractional parts (bil is their
    outer product).
    """
    b, _, h, w = flow.shape
    f = flow.detach()
    target = torch.empty(b, 2, h, w, device=f.device, dtype=f.dtype)                 # p + F(p): (x, y)
    torch.add(f[:, 0], torch.arange(w, device=f.device, dtype=f.dtype), out=target[:, 0])
    torch.add(f[:, 1], torch.arange(h, device=f.device, dtype=f.dtype)[:, None], out=target[:, 1])
    target = target.reshape(b, 2, -1)
    corner = target.floor()                                                         # (b 2 n): x0, y0
    frac = target - corner                                                          # ax, ay
    # x0 in [-2, w] -> padded column x0 + 2 in [0, w + 2]; its right neighbour is still inside.
    # Integers below 2^24: the float sum is exact.
    corner[:, 0].clamp_(-_BORDER, w)
    corner[:, 1].clamp_(-_BORDER, h)
    row = w + 2 * _BORDER
    base = torch.add(corner[:, 0], corner[:, 1], alpha=row).add_(_BORDER * row + _BORDER).long()
    axis_weights = torch.stack([1 - frac, frac], dim=2)                             # (b 2 2 n)
    # bil_k = wy[k // 2] * wx[k % 2]: (x0, y0), (x0+1, y0), (x0, y0+1), (x0+1, y0+1)
    bil = (axis_weights[:, 1, :, None] * axis_weights[:, 0, None, :]).reshape(b, 4, -1)
    return base, bil, axis_weights


def _padded(shape_hw: tuple[int, int]) -> int:
    return (shape_hw[0] + 2 * _BORDER) * (shape_hw[1] + 2 * _BORDER)


def _crop(acc: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(b c P) on the padded grid -> (b c h w), the picture without its border."""
    return acc.reshape(*acc.shape[:2], h + 2 * _BORDER, w + 2 * _BORDER)[..., _BORDER:h + _BORDER, _BORDER:w + _BORDER]


def _pad(values: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(b c h w) -> (b c P): onto the padded grid, zeros in the border."""
    b, c = values.shape[:2]
    out = values.new_zeros(b, c, h + 2 * _BORDER, w + 2 * _BORDER)
    out[..., _BORDER:h + _BORDER, _BORDER:w + _BORDER] = values
    return out.reshape(b, c, -1)


class _WeightedSplat(torch.autograd.Function):
    """out = sum b e I / (sum b e + eps), forward and backward written out by hand: nothing per
    corner is kept for autograd, and for many channels both directions are sparse matrix
    products with one (source pixel x destination pixel) matrix A^T of bilinear weights.
    e: (b 1 n) one weight per source pixel, or (b 4 n) one per source pixel and corner.
    Few channels: corner k of every source is one scatter of all channels into the padded
    accumulator seen from ``_corner_offsets[k]`` on, with the top-left index for all 4 (no
    index tensor per corner)."""

    @staticmethod
    def forward(ctx, image, flow, e, eps, base, bil, axis_weights):
        b, c, h, w = image.shape
        n, size = h * w, _padded((h, w))
        per_corner = e.shape[1] == 4
        if per_corner:    # [I, 1] spread with the weights b_k e_k of each corner
            src, corner_weight = torch.cat([image.reshape(b, c, n), image.new_ones(b, 1, n)], dim=1), bil * e
        else:             # [I e, e] written in place, spread with b_k
            src, corner_weight = image.new_empty(b, c + 1, n), bil
            torch.mul(image.reshape(b, c, n), e, out=src[:, :c])
            src[:, c:] = e
        offsets = _corner_offsets(w)
        if c >= _SPARSE_CHANNELS and any(ctx.needs_input_grad[:3]):
            pattern = _bilinear_matrix(_corner_index(base, w), corner_weight, size)
            # (c+1, b n) @ A^T: the scatter of every channel and corner in one product
            acc = rearrange(rearrange(src, "b c n -> c (b n)") @ pattern, "c (b n) -> b c n", b=b)
            ctx.pattern = pattern
        else:   # one scatter per corner; for many channels (inference) no 4x temporary either
            acc = image.new_zeros(b, c + 1, size)                   # (b c+1 P) on the padded grid
            index = base[:, None].expand(b, c + 1, n)
            for k, offset in enumerate(offsets):
                acc[:, :, offset:].scatter_add_(2, index, src * corner_weight[:, k:k + 1])
        acc = _crop(acc, h, w)
        den = acc[:, c:] + eps                                      # (b 1 h w)
        out = acc[:, :c] / den
        covered = acc[:, c:] > 0
        ctx.save_for_backward(image, e, base, bil, axis_weights, out, den)
        ctx.mark_non_differentiable(covered)
        return out, covered

    @staticmethod
    @once_differentiable   # the corners and bilinear weights are constants here (flow detached)
    def backward(ctx, grad_out, _grad_covered):
        image, e, base, bil, axis_weights, out, den = ctx.saved_tensors
        need_image, need_flow, need_e = ctx.needs_input_grad[:3]
        b, c, h, w = image.shape
        n = h * w
        per_corner = e.shape[1] == 4
        # With G = dL/dout / den and H = <G, out>, a weight w_k = b_k e_k of a normalised sum
        # has dL/dw_k = <G(q_k), I(p)> - H(q_k), and dL/dI(p) = sum_k b_k e_k G(q_k).
        grad_image = grad_flow = grad_e = None
        if c >= _SPARSE_CHANNELS:   # the pattern's values are b_k e_k per corner, or b_k
            g = grad_out / den
            h_dot = (g * out).sum(1, keepdim=True)                  # (b 1 h w)
            spread, dots = _sparse_backward(ctx.pattern, g, h_dot, image, _corner_index(base, w))
            spread = spread if per_corner else spread * rearrange(e, "b 1 n -> b n 1")
            grad_image = rearrange(spread, "b (h w) c -> b c h w", h=h)
        else:
            # [G, H] written straight into the padded grid (zero border), then read at the 4
            # corners of every source: one gather per corner from the shifted grid
            g_full = image.new_zeros(b, c + 1, h + 2 * _BORDER, w + 2 * _BORDER)
            inner = g_full[..., _BORDER:h + _BORDER, _BORDER:w + _BORDER]
            g = torch.div(grad_out, den, out=inner[:, :c])
            torch.sum(g * out, 1, keepdim=True, out=inner[:, c:])
            g_full = g_full.reshape(b, c + 1, -1)
            index = base[:, None].expand(b, c + 1, n)
            gk = image.new_empty(b, 4, c + 1, n)                                # G(q_k), H(q_k)
            for k, offset in enumerate(_corner_offsets(w)):
                torch.gather(g_full[:, :, offset:], 2, index, out=gk[:, k])
            # sums of a few products as multiply-adds into one tensor: no (b c 4 n) temporaries
            if need_image:
                corner_weight = bil * e if per_corner else bil                  # (b 4 n)
                grad_image = gk[:, 0, :c] * corner_weight[:, None, 0]
                for k in range(1, 4):
                    grad_image.addcmul_(gk[:, k, :c], corner_weight[:, None, k])
                grad_image = (grad_image if per_corner else grad_image * e).reshape(b, c, h, w)
            dots = None
            if need_flow or need_e:
                dots = -gk[:, :, c]                                             # (b 4 n)
                for channel in range(c):
                    dots.addcmul_(gk[:, :, channel], image.reshape(b, c, 1, n)[:, channel])
        if need_e:
            grad_e = dots * bil if per_corner else (dots * bil).sum(1, keepdim=True)
        if need_flow:
            # dL/dx = sum over the corner rows ky of (g_bil(ky, x0+1) - g_bil(ky, x0)) wy[ky];
            # dL/dy likewise over the columns with wx
            g_bil = (dots * e).reshape(b, 2, 2, n)                  # (b ky kx n)
            grad_flow = image.new_empty(b, 2, n)
            torch.sum((g_bil[:, :, 1] - g_bil[:, :, 0]) * axis_weights[:, 1], 1, out=grad_flow[:, 0])
            torch.sum((g_bil[:, 1] - g_bil[:, 0]) * axis_weights[:, 0], 1, out=grad_flow[:, 1])
            grad_flow = grad_flow.reshape(b, 2, h, w)
        return grad_image, grad_flow, grad_e, None, None, None, None


def _bilinear_matrix(idx: torch.Tensor, bil: torch.Tensor, size: int) -> torch.Tensor:
    """A^T as a sparse CSR matrix (b n, b P): row p holds the 4 bilinear weights of p at the
    columns of its destinations on its image's padded grid of P pixels."""
    b, _, n = idx.shape
    cols = rearrange(idx + (torch.arange(b, device=idx.device) * size).view(b, 1, 1), "b k n -> (b n k)")
    crow = torch.arange(0, 4 * b * n + 1, 4, device=idx.device)
    with warnings.catch_warnings():   # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, rearrange(bil, "b k n -> (b n k)"),
                                       (b * n, b * size), check_invariants=False)


def _sparse_backward(pattern, g, h_dot, image, idx):
    """The backward's per-corner gathers as two sparse products over all channels at once:
    A^T G gives sum_k b_k G(q_k); the product I G^T sampled on A's pattern gives <G(q_k), I(p)>.
    g (b c h w) = dL/dout / den, h_dot (b 1 h w). Returns spread (b n c) and dots (b 4 n)."""
    b, c, h, w = g.shape
    row = w + 2 * _BORDER
    g_rows = g.new_zeros(b, h + 2 * _BORDER, row, c)               # (pixel, channel), zero border
    g_rows[:, _BORDER:h + _BORDER, _BORDER:w + _BORDER] = rearrange(g, "b c h w -> b h w c")
    g_rows = g_rows.reshape(-1, c)
    h_full = _pad(h_dot, h, w).reshape(b, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        spread = (pattern @ g_rows).reshape(b, h * w, c)
        i_rows = rearrange(image, "b c h w -> (b h w) c").contiguous()
        sampled = torch.sparse.sampled_addmm(pattern, i_rows, g_rows.t(), beta=0.0, alpha=1.0)
    dots = rearrange(sampled.values(), "(b n k) -> b k n", b=b, k=4) \
        - torch.gather(h_full, 1, idx.reshape(b, -1)).reshape(b, 4, -1)
    return spread, dots


def _check_splat_inputs(image: torch.Tensor, flow: torch.Tensor) -> None:
    if image.ndim != 4:
        raise ValueError(f"image must be (b c h w), got shape {tuple(image.shape)}")
    if flow.ndim != 4 or flow.shape[1] != 2 or flow.shape[0] != image.shape[0] \
            or flow.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"flow {tuple(flow.shape)} does not match image {tuple(image.shape)}: "
                         "need (b 2 h w) with the image's b, h, w")


def softmax_splat(image: torch.Tensor, flow: torch.Tensor, metric: torch.Tensor | None = None,
                  span: float = SPLAT_SPAN, eps: float = SPLAT_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward-warp ``image`` by ``flow``: the pixel at p moves to p + flow(p).

    image: (b c h w); flow: (b 2 h w) in pixels, (x, y) (the convention of this module); metric:
    (b 1 h w) softmax importance Z (larger wins where pixels collide), None for a plain
    bilinear average. Returns (splatted (b c h w), covered (b 1 h w) bool: False at holes,
    where the splatted value is 0). Differentiable in image, flow and metric; CPU and GPU.
    """
    _check_splat_inputs(image, flow)
    # fp32 island: target positions (as in backward_warp) and the normalised softmax sums
    with fp32_island("softmax splatting", image, flow, metric) as (image, flow, metric):
        flow = flow.to(image.dtype)
        base, bil, axis_weights = _splat_corners(flow)
        e = _splat_weights(metric, image, base, bil, span)
        out, covered = _WeightedSplat.apply(image, flow, e, eps, base, bil, axis_weights)
    return out, covered


def softmax_splat_reference(image: torch.Tensor, flow: torch.Tensor, metric: torch.Tensor | None = None,
                            span: float = SPLAT_SPAN, eps: float = SPLAT_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain form of ``softmax_splat`` (same arguments and result): four ``scatter_add``
    calls differentiated by autograd. Kept as the check of the fast path and as the
    benchmark's reference."""
    _check_splat_inputs(image, flow)
    b, c, h, w = image.shape
    n = h * w
    flow = flow.to(image.dtype)
    xs = torch.arange(w, device=image.device, dtype=image.dtype)
    ys = torch.arange(h, device=image.device, dtype=image.dtype)[:, None]
    tx, ty = (flow[:, 0] + xs).reshape(b, n), (flow[:, 1] + ys).reshape(b, n)
    x0, y0 = tx.detach().floor(), ty.detach().floor()
    corners = []                                                    # (index (b n), bilinear weight (b n))
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x, y = x0 + dx, y0 + dy
        weight = (1 - (tx - x).abs()) * (1 - (ty - y).abs())        # bilinear kernel, in [0, 1]
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        corners.append((torch.where(inside, y.long() * w + x.long(), n), weight))
    if metric is None:
        z = image.new_zeros(b, n)
    else:
        z = metric.to(image.dtype).reshape(b, n)
    z = z - z.detach().amax(dim=1, keepdim=True)                    # the per-image shift
    top = None
    if bool(z.detach().amin() < -span):                             # the per-destination shift
        top = image.new_full((b, n + 1), float("-inf"))
        for index, weight in corners:
            landing = torch.where(weight.detach() > 0, z.detach(), float("-inf"))
            top = top.scatter_reduce(1, index, landing, "amax")
    values = torch.cat([image.reshape(b, c, n), image.new_ones(b, 1, n)], dim=1)      # [I, 1]
    if top is None:
        values = values * z.exp()[:, None]
    acc = image.new_zeros(b, c + 1, n + 1)
    for index, weight in corners:
        if top is not None:
            weight = weight * (z - torch.gather(top, 1, index)).clamp(max=0.0).exp()
        acc = acc.scatter_add(2, index[:, None].expand(b, c + 1, n), values * weight[:, None])
    den = acc[:, c:, :n]
    out = acc[:, :c, :n] / (den + eps)
    return out.reshape(b, c, h, w), (den > 0).reshape(b, 1, h, w)
