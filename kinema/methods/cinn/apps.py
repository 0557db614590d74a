"""The cINN's applications (Sec. 3.4, Sec. 4.4, appendix A.5), on a trained ``CINN``:

- ``animate``: several videos from one image (nu ~ N(0, I)); longer than one clip by chaining
  from the last generated frame.
- ``transfer_motion``: nu~ = T^-1(q_phi(X~); x~0) of a source video, applied to new start frames.
- ``video_to_video``: controlled video-to-video synthesis: keep nu~ of a video, change eta.
- ``prepare_image`` / ``prepare_video``: user pictures and videos to the model's size and range.
"""
from __future__ import annotations

import torch

from kinema.errors import KinemaError


def prepare_image(path, channels: int, size: int) -> torch.Tensor:
    """An image file -> (1 c size size) in [-1, 1] (kinema.data.pictures: checked, centre
    crop, area resize)."""
    from kinema.data.pictures import picture_to_model

    return picture_to_model(path, channels, size)


def prepare_video(path, channels: int, size: int, num_frames: int) -> torch.Tensor:
    """A video file or frame folder -> (1 t c size size) in [-1, 1], its first ``num_frames``
    (only those are decoded)."""
    from kinema.data.pictures import clip_to_model

    return clip_to_model(path, channels, size, num_frames)


@torch.no_grad()
def animate(model, x0: torch.Tensor, num_frames: int, num_samples: int, control=None,
            seed: int = 0) -> torch.Tensor:
    """x0 (b c h w) -> (b n t c h w): ``num_samples`` different videos per image."""
    generator = torch.Generator().manual_seed(seed)
    return model.sample(x0, num_frames, num_samples, control=control, generator=generator)


@torch.no_grad()
def transfer_motion(model, source: torch.Tensor, images: torch.Tensor, source_control=None,
                    control=None) -> torch.Tensor:
    """Motion transfer (Sec. 4.4, Fig. 8): source (1 t c h w) or (b t c h w), images (b c h w)
    -> (b t c h w): each image animated with the source's residual nu~."""
    nu = model.encode_residual(source, source_control)            # (1 d) or (b d)
    if nu.shape[0] == 1:
        nu = nu.expand(images.shape[0], -1)
    if nu.shape[0] != images.shape[0]:
        raise KinemaError(f"{source.shape[0]} source videos for {images.shape[0]} images")
    return model.decode_residual(images, nu, control if control is not None else source_control)


@torch.no_grad()
def video_to_video(model, video: torch.Tensor, source_control, new_control) -> torch.Tensor:
    """Controlled video-to-video (appendix A.5): nu~ = T^-1(q_phi(X); x0, eta), then
    X' = p_psi(x0, T(nu~; x0, eta')). video (b t c h w) -> (b t c h w)."""
    if not model.config.control_bins:
        raise KinemaError("video-to-video control needs a cINN trained with eta (a -control preset)")
    nu = model.encode_residual(video, source_control)
    return model.decode_residual(video[:, 0], nu, new_control)


# ---------------------------------------------------------------------- eta of a source clip

CLOUD_DIRECTIONS = 36     # kinema/data/synthetic/clouds.py: 36 direction bins


def infer_control(source: torch.Tensor, data: str | None, bins: int,
                  options: dict | None = None) -> tuple[int, str]:
    """eta of a source clip (1 t c h w) in [-1, 1], where the data defines it
    (kinema/data/synthetic): ``clouds``, the bin of the drift direction (DIS optical flow
    between consecutive frames, the median of the moving pixels' vectors, angle from +x
    towards +y); ``bouncing-digits``, the grid cell of the digit's top-left corner in the last
    frame (the bright pixels' bounding box, on a sqrt(bins) grid over [0, size - digit]).
    Other data: bin 0, said so. Returns (eta, how it was found)."""
    import math

    options = options or {}
    if data == "clouds" and bins == CLOUD_DIRECTIONS:
        angle = drift_direction(source[0])
        if angle is None:
            return 0, "clouds: no motion found in the source, so the default eta 0"
        eta = min(int(angle / (2 * math.pi / bins)), bins - 1)
        return eta, f"clouds: drift direction {math.degrees(angle):.0f} deg of the source -> bin {eta}"
    grid = math.isqrt(bins)
    if data == "bouncing-digits" and grid * grid == bins:
        found = final_position_bin(source[0, -1], grid, options.get("digit_size"))
        if found is None:
            return 0, "bouncing-digits: no digit in the last frame, so the default eta 0"
        eta, (top, left) = found
        return eta, (f"bouncing-digits: the digit ends at (top {top}, left {left}) -> grid cell "
                     f"{eta} of {grid}x{grid}")
    return 0, (f"{data or 'unknown data'}: kinema cannot read eta from a clip of it, so the "
               f"default eta 0 (pass --control 0..{bins - 1} to choose)")


def drift_direction(video: torch.Tensor) -> float | None:
    """The direction (radians in [0, 2 pi), from +x towards +y) in which the moving part of
    ``video`` (t c h w) drifts, or None if nothing moves."""
    import math

    from kinema.data.flow import optical_flow

    vectors = []
    for a, b in zip(video[:-1], video[1:]):
        flow = optical_flow(a, b).reshape(2, -1)             # (2 h*w): dx, dy per pixel
        moving = flow.norm(dim=0) > 0.1
        if moving.sum() > 0:
            vectors.append(flow[:, moving].median(dim=1).values)
    if not vectors:
        return None
    dx, dy = torch.stack(vectors).mean(0).tolist()
    if math.hypot(dx, dy) < 1e-3:
        return None
    return math.atan2(dy, dx) % (2 * math.pi)


def final_position_bin(frame: torch.Tensor, grid: int, digit_size: int | None = None
                       ) -> tuple[int, tuple[int, int]] | None:
    """(row * grid + column, (top, left)) of the digit in ``frame`` (c h w) in [-1, 1]: its
    top-left corner is the brightness-weighted centre minus half the digit's box
    (``digit_size``, default the data's round(size * 7 / 16)), on ``grid`` equal cells of the
    top-left range [0, size - digit_size] (kinema/data/synthetic/digits.py)."""
    weight = (frame.float().mean(0) + 1).clamp(min=0) / 2         # (h w) brightness in [0, 1]
    if float(weight.sum()) < 1e-6:
        return None
    size = frame.shape[-1]
    digit = digit_size or round(size * 7 / 16)
    limit = max(size - digit, 1)
    ys, xs = torch.arange(frame.shape[1]).float(), torch.arange(size).float()
    total = weight.sum()
    centre_y = float((weight.sum(1) * ys).sum() / total)
    centre_x = float((weight.sum(0) * xs).sum() / total)
    top = min(max(centre_y - (digit - 1) / 2, 0.0), float(limit))
    left = min(max(centre_x - (digit - 1) / 2, 0.0), float(limit))

    def cell(coordinate: float) -> int:
        return min(int(coordinate / limit * grid), grid - 1)

    return cell(top) * grid + cell(left), (round(top), round(left))
