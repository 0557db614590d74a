"""GenDeF's section of ``kinema demo``: both stages trained for seconds on 16-px clouds clips
(the ``tiny`` presets at 16 px), then a canonical image and its video, an edit of the canonical
image propagated to the video, and points chosen on the canonical image tracked through it.

Trained for seconds, not the presets' schedules: the section shows the pipeline end to end;
trained numbers come from ``kinema bench gendef-clouds`` on the ``small`` runs.
"""
from __future__ import annotations

import dataclasses

import torch

from kinema.viz.sections import DemoContext, train_quickly

TRAIN_STEPS = 200          # per stage
QUICK_TRAIN_STEPS = 3
SIZE, CLIP_FRAMES, VIDEO_FRAMES = 16, 4, 24


def demo_section(ctx: DemoContext, steps: int | None = None) -> None:
    """Add the GenDeF section to the demo report (``steps`` per stage: default ``TRAIN_STEPS``,
    ``QUICK_TRAIN_STEPS`` in quick mode)."""
    import tempfile
    from pathlib import Path

    from kinema.bench.harness import collate
    from kinema.data import load_dataset

    from .apps import draw_tracks, propagate, render_seed, track_points
    from .config import canonical_config, video_config
    from .model import CanonicalGAN, GenDeF

    s, report = ctx.settings, ctx.report
    steps = steps if steps is not None else (QUICK_TRAIN_STEPS if s.quick else TRAIN_STEPS)
    train = load_dataset("clouds", "train", num_videos=32 if s.quick else 512, num_frames=CLIP_FRAMES, size=SIZE)
    clips = collate([train[i] for i in range(len(train))])["video"]
    torch.manual_seed(s.seed)
    image_stage = CanonicalGAN(dataclasses.replace(canonical_config("tiny"), image_size=SIZE))
    image_history = train_quickly(image_stage, clips[:, :1], steps, batch_size=8, seed=s.seed)
    with tempfile.TemporaryDirectory() as tmp:
        image_stage.save_pretrained(Path(tmp) / "image")
        config = dataclasses.replace(video_config("tiny"), image_path=str(Path(tmp) / "image"))
        model = GenDeF(config)
    video_history = train_quickly(model, clips, steps, batch_size=8, seed=s.seed)

    result = render_seed(model, s.seed, VIDEO_FRAMES)
    canonical, fields, frames = result["canonical"], result["fields"], result["frames"]
    edited = canonical.clone()
    edited[:, :, 4:8, 4:8] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]      # a red square
    edited_video = propagate(model, edited, fields)
    points = torch.tensor([[5.0, 5.0], [11.0, 3.0]])
    tracks = track_points(model.to_pixels(fields[0]), points)
    drawn = torch.from_numpy(draw_tracks(frames[0], tracks, scale=8)).permute(0, 3, 1, 2).float() / 127.5 - 1

    report.section("GenDeF on clouds (a canonical image warped by generated deformation fields)")
    report.text(f"G_c pre-trained on single frames, then G_c + G_d fine-tuned on {CLIP_FRAMES}-frame clips "
                f"(3 sparse frames each, L_reg on), {steps} steps per stage on {SIZE}x{SIZE} clouds: a "
                f"pipeline check, not a trained model (see `kinema bench gendef-clouds`). The last block's "
                f"zero-initialised output makes every frame the canonical image at the start of fine-tuning; "
                f"mean |field| after it: {float(model.to_pixels(fields).abs().mean()):.3f} px.",
                preformatted=False)
    report.image(canonical[0], caption="the canonical image x_c = G_c(z_c)", min_size=128)
    report.video(torch.cat([frames, edited_video], dim=-1)[0], caption=f"its {VIDEO_FRAMES}-frame video (left) "
                 f"and the same video with a red square painted on the canonical image (right)")
    report.video(drawn, caption=f"points {points.tolist()} chosen on the canonical image, tracked through "
                 f"the deformation fields")
    report.line_plot({"image stage D": image_history["discriminator/loss"],
                      "video stage D": video_history["discriminator/loss"]}, x_label="step", y_label="loss")
