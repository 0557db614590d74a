"""GenDeF's applications (Sec. 3.3, Sec. 4.4): everything a user does to the canonical image
reaches the whole video through the deformation fields, without any tuning.

- ``render_seed``: the canonical image, the fields and the frames of the video of one seed
  (the videos ``kinema sample --seed S`` writes are seeds S, S+1, ...);
- ``propagate``: an edited canonical image (a scribble, a recolouring, any image) warped by a
  video's fields: consistent video editing (Fig. 5);
- ``propagate_mask``: a mask drawn on the canonical image, warped likewise: video
  segmentation (Fig. 7b);
- ``track_points``: where points chosen on the canonical image are in every frame (Fig. 7a):
  the pixel p of frame t shows canonical position p + Delta m_t(p) (Eq. (3)), so a canonical
  point c is at the p with p + Delta m_t(p) = c;
- ``several_motions``: one canonical image, several z_d and motion codes (Fig. 6).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kinema.errors import KinemaError
from kinema.validate import short_repr


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


@torch.no_grad()
def render_seed(model, seed: int, num_frames: int, fps_scale: float = 1.0) -> dict:
    """The video of ``seed``: {"frames" (1 n c h w), "canonical" (1 c h w), "fields" (1 n 2 h w)
    normalised, "latents"}."""
    latents = model.sample_latents(1, (num_frames - 1) / fps_scale, _generator(seed))
    return {**model.render(latents, num_frames, fps_scale=fps_scale), "latents": latents}


@torch.no_grad()
def propagate(model, image: torch.Tensor, fields: torch.Tensor) -> torch.Tensor:
    """Eq. (3) with another canonical image: image (b c h w) in [-1, 1], fields (b n 2 h w)
    (normalised, as ``render`` returns them) -> (b n c h w)."""
    return model.warp(image.to(fields.dtype), fields)


@torch.no_grad()
def propagate_mask(model, mask: torch.Tensor, fields: torch.Tensor, threshold: float | None = 0.5) -> torch.Tensor:
    """A canonical mask (b 1 h w) in [0, 1] -> per-frame masks (b n 1 h w): bilinear, then
    ``threshold`` (None keeps the soft values)."""
    warped = model.warp(mask.float(), fields)
    return warped if threshold is None else (warped >= threshold).float()


def _sample_at(fields: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear values of fields (n 2 h w) at pixel positions points (n p 2) -> (n p 2)."""
    h, w = fields.shape[-2:]
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], dtype=fields.dtype, device=fields.device)
    grid = (points * scale - 1.0)[:, :, None]                                  # (n p 1 2)
    values = F.grid_sample(fields, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return values[..., 0].transpose(1, 2)                                       # (n p 2)


@torch.no_grad()
def track_points(fields: torch.Tensor, points: torch.Tensor, iterations: int = 30) -> torch.Tensor:
    """Where canonical points are in every frame.

    fields: (n 2 h w) Delta m_t in PIXELS for one video; points: (p 2) canonical (x, y) px.
    Returns (n p 2): for each frame the position p with p + Delta m_t(p) = c. Start at the pixel
    whose sample position is nearest to c, then iterate p <- c - Delta m_t(p) (bilinear),
    keeping the iterate of smallest residual |p + Delta m_t(p) - c| (exact for smooth fields;
    within a pixel where the field folds).
    """
    n, _, h, w = fields.shape
    fields = fields.double()
    targets = points.to(fields).reshape(1, -1, 2).expand(n, -1, -1)             # (n p 2)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=fields.dtype), torch.arange(w, dtype=fields.dtype), indexing="ij")
    landing = torch.stack([xs, ys]) + fields                                     # (n 2 h w)
    distance = (landing[:, None] - targets[..., None, None]).square().sum(dim=2)   # (n p h w)
    flat = distance.flatten(2).argmin(dim=-1)                                    # (n p)
    current = torch.stack([flat % w, flat // w], dim=-1).to(fields.dtype)
    limits = torch.tensor([w - 1, h - 1], dtype=fields.dtype)

    def residual(p):
        return (p + _sample_at(fields, p) - targets).norm(dim=-1)

    best, best_residual = current, residual(current)
    for _ in range(iterations):
        current = torch.minimum(torch.maximum(targets - _sample_at(fields, current), torch.zeros(2).to(limits)), limits)
        r = residual(current)
        better = r < best_residual
        best = torch.where(better[..., None], current, best)
        best_residual = torch.where(better, r, best_residual)
    return best.float()


@torch.no_grad()
def several_motions(model, seed: int, count: int, num_frames: int, motion_seed: int | None = None) -> dict:
    """One canonical image (of ``seed``), ``count`` different z_d and motion noises (Fig. 6):
    {"canonical" (1 c h w), "frames" (count n c h w), "fields" (count n 2 h w)}."""
    if model.frames_mode:
        raise KinemaError("the frames baseline has no canonical image to keep")
    base = model.sample_latents(1, num_frames - 1, _generator(seed))
    motion = model.sample_latents(count, num_frames - 1, _generator(seed + 1 if motion_seed is None else motion_seed))
    motion.z_c = base.z_c.expand(count, -1)
    out = model.render(motion, num_frames)
    return {"canonical": out["canonical"][:1], "frames": out["frames"], "fields": out["fields"]}


def parse_points(text: str, width: int, height: int) -> torch.Tensor:
    """"x,y;x,y" (canonical pixels) -> (p 2); a KinemaError naming --points otherwise."""
    points = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        try:
            x, y = (float(v) for v in part.split(","))
        except ValueError:
            raise KinemaError(f"--points {short_repr(text)}: expected 'x,y;x,y' with numbers, cannot read {short_repr(part)}") from None
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            raise KinemaError(f"--points: ({x:g}, {y:g}) is outside the {width}x{height} canonical image "
                              f"(x in [0, {width - 1}], y in [0, {height - 1}])")
        points.append((x, y))
    if not points:
        raise KinemaError(f"--points {short_repr(text)}: give at least one point as 'x,y'")
    return torch.tensor(points, dtype=torch.float32)


def draw_tracks(frames: torch.Tensor, tracks: torch.Tensor, scale: int = 8, trail: int = 8):
    """frames (n c h w) in [-1, 1], tracks (n p 2) px -> (n H W 3) uint8 upscaled ``scale``x,
    each point a coloured dot with its last ``trail`` positions as a line."""
    import cv2
    import numpy as np

    from kinema.data.io import to_uint8

    video = to_uint8(frames).repeat(scale, axis=1).repeat(scale, axis=2).copy()
    colours = [(255, 40, 40), (40, 220, 40), (40, 120, 255), (255, 200, 0), (255, 0, 255), (0, 230, 230)]
    positions = (tracks.numpy() * scale + (scale - 1) / 2.0)
    for t in range(len(video)):
        for i in range(positions.shape[1]):
            colour = colours[i % len(colours)]
            path = positions[max(0, t - trail):t + 1, i]
            if len(path) > 1:
                cv2.polylines(video[t], [np.round(path * 16).astype(np.int32)], False, colour, 1, cv2.LINE_AA, 4)
            x, y = positions[t, i]
            cv2.circle(video[t], (int(round(x * 16)), int(round(y * 16))), max(2, scale // 3) * 16, colour, -1,
                       cv2.LINE_AA, 4)
    return video


def render_from_w(model, w_c: torch.Tensor, w_d: torch.Tensor, motion_noise: torch.Tensor,
                  times: torch.Tensor) -> dict:
    """Like ``GenDeF.synthesize`` from w codes (W space) instead of z: w_c (b w), w_d (b w)."""
    layer = model.config.canonical_feature_layer if model.config.use_canonical_feature else None
    out = model.canonical.synthesis(w_c, noise_mode="const", feature_layer=layer)
    canonical, feature = out if layer is not None else (out, None)
    fields = model.deformation(None, motion_noise, times, feature, w=w_d)
    return {"frames": model.warp(canonical, fields), "canonical": canonical, "fields": fields}


def invert_video(model, video: torch.Tensor, steps: int = 200, lr: float = 0.1, seed: int = 0,
                 progress: bool = False) -> dict:
    """Fit GenDeF's latents to real clips (the inversion the paper's appendix D proposes for
    applying the model to real videos): w_c, w_d (started at the mappings' mean w) and the
    motion noise, by Adam on the L1 + L2 reconstruction error of every frame at t = 0..T-1.

    video: (b t c h w) in [-1, 1]. Returns ``render_from_w``'s dict for the fitted codes plus
    "psnr" (b) of the fit (dB, images in [0, 1]).
    """
    from tqdm.auto import tqdm

    if model.frames_mode:
        raise KinemaError("the frames baseline has no canonical image and fields to fit")
    b, t = video.shape[:2]
    g = _generator(seed)
    device = model.device
    w_c = model.canonical.mapping.w_avg.detach().clone()[None].repeat(b, 1).requires_grad_(True)
    w_d = model.deformation.mapping.w_avg.detach().clone()[None].repeat(b, 1).requires_grad_(True)
    noise = model.deformation.motion.sample_noise(b, t - 1, generator=g).to(device).requires_grad_(True)
    times = torch.arange(t, dtype=torch.float32, device=device)[None].expand(b, -1)
    optimiser = torch.optim.Adam([w_c, w_d, noise], lr=lr)
    target = video.to(device)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        for _ in tqdm(range(steps), desc="invert", leave=False, disable=not progress):
            optimiser.zero_grad()
            frames = render_from_w(model, w_c, w_d, noise, times)["frames"]
            loss = (frames - target).abs().mean() + (frames - target).square().mean()
            loss.backward()
            optimiser.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    with torch.no_grad():
        out = render_from_w(model, w_c, w_d, noise, times)
        mse = ((out["frames"].clamp(-1, 1) - target) / 2).square().flatten(1).mean(1)
        out["psnr"] = -10 * torch.log10(mse.clamp_min(1e-10))
    return out
