"""StyleVideoGAN's section of ``kinema demo``, from the bundled ``latentgan`` model
(``kinema.bundled``: the temporal GAN in W+ of an image generator trained on ``actors``; nothing is
trained here): a video far longer than the training windows, the same motion moved onto a random
new actor by the offset trick, beside a real held-out clip of the training actor and its first
frame repeated (the still baseline of generation), and the latent trajectory with the looping
detector's verdict.
"""
from __future__ import annotations

import torch

from kinema.viz.sections import DemoContext, about, bundled, repeat_frame, scale_for

NAME = "latentgan"
TITLE = "StyleVideoGAN on actors: a temporal GAN in W+"
FRAMES = {False: 100, True: 8}       # frames of the shown videos (quick: tests)


def demo_section(ctx: DemoContext) -> None:
    """Add the StyleVideoGAN section to the demo report."""
    from kinema.data import load_dataset
    from kinema.methods.latentgan.apps import loop_summary, trajectory_plot

    s, report = ctx.settings, ctx.report
    pipe = bundled(ctx, NAME, TITLE, task="Generation")
    if pipe is None:
        return
    model = pipe.model
    frames = FRAMES[s.quick]
    generator = torch.Generator().manual_seed(s.seed)
    with torch.no_grad():
        ws, _ = model.trajectory(1, frames, generator)
        moved = model.transfer(ws, model.random_identity(1, generator))
        videos = model.render(torch.cat([ws, moved]))                          # (2 t c h w)
    size = videos.shape[-1]
    real = load_dataset("actors", "test", num_videos=1, num_frames=frames, size=size,
                        num_identities=1)[0]["video"][None]                    # (1 t c h w)
    loops = loop_summary(model, ws[0])
    ctx.log(f"latentgan: {frames} frames of the training actor and of a random one")

    report.section(TITLE)
    report.text(f"The bundled model: an image generator with W+ and an encoder into W+, the W+ "
                f"embedding of one actor's videos, and a recurrent WGAN trained on windows of "
                f"{model.config.window} steps of it. The video is {frames} frames long, "
                f"{frames / model.config.window:.0f} times the training window; the offset trick "
                f"(Delta = w_new - w'_new) moves the same trajectory onto a random new actor.",
                preformatted=False)
    panel = torch.cat([videos[0], videos[1], real[0], repeat_frame(real[:, 0], frames)[0]], dim=-1)
    report.video(panel, fps=10, scale=scale_for(real),
                 caption=f"left to right: {frames} generated frames of the training actor; the same "
                         f"motion on a random actor; a real held-out clip of the training actor; its "
                         f"first frame repeated (the still baseline). {about(pipe)}")
    verdict = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in loops.items())
    report.svg(trajectory_plot(model, ws[0], title="first PCA coordinates of w over time"),
               caption=f"the latent trajectory; looping detector: {verdict or 'too short to test'}")
