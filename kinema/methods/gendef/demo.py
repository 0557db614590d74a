"""GenDeF's section of ``kinema demo``, from the bundled ``gendef`` model (``kinema.bundled``:
trained on clouds; nothing is trained here): generated videos beside real held-out clips and a
real frame repeated (the still baseline of generation), then one video's canonical image, an
edit of that image propagated to the whole video, and points chosen on it tracked through the
generated deformation fields.
"""
from __future__ import annotations

import torch

from kinema.viz.sections import DemoContext, about, bundled, repeat_frame, scale_for

NAME = "gendef"
TITLE = "GenDeF on clouds: a canonical image warped by generated deformation fields"
VIDEO_FRAMES = {False: 32, True: 4}    # frames per generated video (quick: tests)
VIDEOS = {False: 3, True: 2}           # generated videos shown beside as many real ones


def demo_section(ctx: DemoContext) -> None:
    """Add the GenDeF section to the demo report."""
    from kinema.bench.harness import collate
    from kinema.data import load_dataset
    from kinema.viz.grid import video_grid

    from .apps import draw_tracks, propagate, render_seed, track_points

    s, report = ctx.settings, ctx.report
    pipe = bundled(ctx, NAME, TITLE, task="Generation")
    if pipe is None:
        return
    model = pipe.model
    frames_per_video, count = VIDEO_FRAMES[s.quick], VIDEOS[s.quick]
    generated = pipe(num_videos=count, num_frames=frames_per_video, seed=s.seed).frames_float  # (n t c h w)
    size = generated.shape[-1]
    test = load_dataset("clouds", "test", num_videos=count, num_frames=frames_per_video, size=size)
    real = collate([test[i] for i in range(len(test))])["video"]                           # (n t c h w)
    result = render_seed(model, s.seed, frames_per_video)
    canonical, fields, frames = result["canonical"], result["fields"], result["frames"]
    edited = canonical.clone()
    square = slice(size // 4, size // 2)
    edited[:, :, square, square] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]      # a red square
    edited_video = propagate(model, edited, fields)
    points = torch.tensor([[0.3 * size, 0.3 * size], [0.7 * size, 0.2 * size]]).round()
    tracks = track_points(model.to_pixels(fields[0]), points)
    drawn = torch.from_numpy(draw_tracks(frames[0], tracks, scale=scale_for(frames))).permute(0, 3, 1, 2).float() / 127.5 - 1
    ctx.log(f"gendef: {count} videos of {frames_per_video} frames, an edit and {len(points)} tracks")

    report.section(TITLE)
    report.text(f"The bundled GenDeF generates a video as one canonical image x_c = G_c(z_c) warped by "
                f"a deformation field per frame (G_d): the motion lives in the fields, so an edit of "
                f"x_c reaches every frame and a point of x_c can be followed. Mean |field| of the video "
                f"below: {float(model.to_pixels(fields).abs().mean()):.3f} px.", preformatted=False)
    panel = torch.cat([generated, real, repeat_frame(real[:, 0], frames_per_video)])
    report.video(video_grid(panel, nrow=count), fps=8, scale=scale_for(panel),
                 caption=f"rows: {count} generated videos; {count} real held-out clips; their first "
                         f"frames repeated (the still baseline of generation). {about(pipe)}")
    report.image(canonical[0], scale=scale_for(canonical), caption="one video's canonical image x_c")
    report.video(torch.cat([frames, edited_video], dim=-1)[0], fps=8, scale=scale_for(frames),
                 caption=f"its {frames_per_video}-frame video (left) and the same video with a red "
                         f"square painted on the canonical image (right)")
    report.video(drawn, fps=8, caption=f"points {points.int().tolist()} chosen on the canonical image, "
                                       f"tracked through the deformation fields")
