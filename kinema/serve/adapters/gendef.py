"""GenDeF in the studio (``kinema.methods.gendef.apps``): *Edit* — the canonical image and video
of a seed; scribbles drawn on the canonical image propagated through the video by its
deformation fields (Eq. (3), Fig. 5; the scribbled region also as a propagated mask, Fig. 7b);
points clicked on the canonical image tracked through every frame (Fig. 7a)."""
from __future__ import annotations

import numpy as np

from kinema.serve.jobs import Result
from kinema.serve.media import png
from kinema.serve.requests import ApiError, Payload

TABS = ("edit",)
MAX_FRAMES = 128
MAX_STROKES = 64
FPS = 12.0


def accepts(entry) -> bool:
    return entry.name == "gendef-video"


def summarize(config: dict) -> dict:
    image = config["image"]
    side = image["image_size"]
    return {"shape": [side, side], "channels": image["channels"], "max_frames": MAX_FRAMES,
            "canonical": config["output"] != "frames"}


def load(folder):
    from kinema.pretrained import load_pretrained

    return load_pretrained(folder).eval()


def _colour(text) -> tuple[int, int, int]:
    if not (isinstance(text, str) and len(text) == 7 and text[0] == "#"):
        raise ApiError(400, f"a stroke's 'colour' must be '#rrggbb'; got {text!r}")
    try:
        return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        raise ApiError(400, f"a stroke's 'colour' must be '#rrggbb'; got {text!r}") from None


def strokes_field(p: Payload) -> list[dict]:
    """[{"colour": "#rrggbb", "width": fraction of the side, "points": [[x, y], ...]}]."""
    strokes = p.data.get("strokes", [])
    p.read.add("strokes")
    if not isinstance(strokes, list) or not 1 <= len(strokes) <= MAX_STROKES:
        raise ApiError(400, f"field 'strokes' must be a list of 1..{MAX_STROKES} strokes (scribble on "
                            f"the canonical image first)")
    out = []
    for stroke in strokes:
        if not isinstance(stroke, dict) or set(stroke) - {"colour", "width", "points"}:
            raise ApiError(400, "each stroke must be {'colour': '#rrggbb', 'width': w, 'points': [[x, y], ...]}")
        inner = Payload({"points": stroke.get("points"), "width": stroke.get("width", 0.05)})
        points = inner.points("points", 2048, required=True, min_points=1)
        out.append({"colour": _colour(stroke.get("colour", "#ff2050")), "points": points,
                    "width": inner.number("width", 0.05, 0.005, 0.5)})
    return out


def draw_strokes(canonical: np.ndarray, strokes: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(h w 3) uint8 -> (the scribbled picture, the scribbled mask (h w) float in {0, 1})."""
    import cv2

    h, w = canonical.shape[:2]
    edited, mask = canonical.copy(), np.zeros((h, w), np.uint8)
    for stroke in strokes:
        points = np.round(np.array(stroke["points"]) * [w - 1, h - 1]).astype(np.int32)
        thickness = max(1, round(stroke["width"] * w))
        for target, colour in ((edited, stroke["colour"]), (mask, 1)):
            if len(points) == 1:
                cv2.circle(target, tuple(int(c) for c in points[0]), max(1, thickness // 2), colour, -1)
            else:
                cv2.polylines(target, [points], False, colour, thickness)
    return edited, mask.astype(np.float32)


def request(tab: str, p: Payload, served, catalogue):
    action = p.text("action", "render", choices=("render", "propagate", "track"))
    seed = p.integer("seed", 0, 0, 2 ** 31)
    frames = p.integer("frames", 32, 2, MAX_FRAMES)
    strokes = strokes_field(p) if action == "propagate" else None
    points = p.points("points", 16, required=True) if action == "track" else None
    if action == "track" and not points:
        raise ApiError(400, "field 'points' must hold at least one [x, y] pair: click points on the canonical image")
    p.done()

    def work(progress) -> Result:
        import torch

        from kinema.data.io import to_tensor, to_uint8
        from kinema.methods.gendef.apps import draw_tracks, propagate, propagate_mask, render_seed, track_points

        progress(0.05, "loading GenDeF")
        model = served.load()
        if model.frames_mode:
            raise ApiError(400, "this GenDeF model is the frames baseline: it has no canonical image to edit")
        progress(0.2, f"generating the video of seed {seed} ({frames} frames)")
        video = render_seed(model, seed, frames)
        canonical, fields = video["canonical"], video["fields"]              # (1 c h w), (1 n 2 h w)
        result = Result({"seed": seed})
        canonical_png = to_uint8(canonical)[0]
        result.add_image(png(canonical_png), "canonical image x_c")
        result.add_video(video["frames"][0], f"seed {seed}: the generated video", FPS)
        if action == "propagate":
            progress(0.6, "propagating the scribble through the deformation fields")
            edited, mask = draw_strokes(canonical_png, strokes)
            image = to_tensor(edited[None]).to(fields.device)                 # (1 c h w) in [-1, 1]
            if model.image_config.channels == 1:
                image = image.mean(1, keepdim=True)
            with torch.no_grad():
                moved = propagate(model, image, fields)[0]                    # (n c h w)
                masks = propagate_mask(model, torch.from_numpy(mask)[None, None].to(fields.device),
                                       fields)[0]
            result.add_video(moved, "the scribble, propagated (Eq. (3) on the edited canonical image)", FPS)
            tint = torch.tensor([1.0, -1.0, -1.0] if moved.shape[1] == 3 else [1.0],
                                device=moved.device).view(1, -1, 1, 1)
            shade = video["frames"][0] * (1 - 0.6 * masks) + 0.6 * masks * tint   # red where the mask is
            result.add_video(shade, "the scribbled region as a mask through the video (segmentation)", FPS)
        if action == "track":
            progress(0.6, "tracking the points")
            h, w = canonical.shape[-2:]
            at = torch.tensor([[x * (w - 1), y * (h - 1)] for x, y in points])
            tracks = track_points(model.to_pixels(fields[0]).cpu(), at)      # (n p 2) px
            scale = max(1, 256 // max(h, w))
            result.add_video(draw_tracks(video["frames"][0].cpu(), tracks, scale=scale),
                             f"{len(points)} point(s) tracked", FPS)
            result.info["tracks"] = tracks.tolist()
        return result

    return work
