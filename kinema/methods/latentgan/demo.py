"""StyleVideoGAN's section of ``kinema demo``: the three stages trained for seconds on
``actors`` (16 px), then a long video of the training actor and the same motion moved by the
offset trick onto a second, random actor, side by side, with the trajectory's first PCA
coordinates over time.

Trained for seconds, not the presets' schedules: the section shows the pipeline end to end;
trained numbers come from ``kinema bench latentgan-actors`` on the ``small`` runs.
"""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import torch

from kinema.viz.sections import DemoContext, load_clips, train_quickly

STEPS = {"image": 300, "temporal": 200, "frames": 500}
QUICK_STEPS = {"image": 3, "temporal": 3, "frames": 40}


def demo_section(ctx: DemoContext) -> None:
    from kinema.methods.latentgan.apps import loop_summary, trajectory_plot
    from kinema.methods.latentgan.config import embed_config, image_config, temporal_config
    from kinema.methods.latentgan.embed import EmbeddingWindows, LatentEmbedding
    from kinema.methods.latentgan.image import ImagePair
    from kinema.methods.latentgan.model import StyleVideoGAN

    s, report = ctx.settings, ctx.report
    steps = QUICK_STEPS if s.quick else STEPS
    torch.manual_seed(s.seed)
    frames = load_clips("actors", "train", 16 if s.quick else 400, num_frames=2, size=16,
                        num_identities=8, num_videos=16 if s.quick else 400)
    image = ImagePair(image_config("tiny"))
    image_loss = train_quickly(image, frames, steps["image"], batch_size=8, lr=3e-3, seed=s.seed,
                               grad_clip=None)["generator/l1"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        image.save_pretrained(root / "image")
        embed = LatentEmbedding(dataclasses.replace(embed_config("tiny"), image_path=str(root / "image")))
        from kinema.data import load_dataset
        embed.fit(load_dataset("actors", "train", num_videos=4 if s.quick else 20, num_frames=24,
                               size=16, num_identities=1), progress=False)
        embed.save_pretrained(root / "embed")
        cfg = dataclasses.replace(temporal_config("tiny"), image_path=str(root / "image"),
                                  embed_path=str(root / "embed"))
        model = StyleVideoGAN(cfg)
        windows = EmbeddingWindows(path=str(root / "embed"), window=cfg.window)
    history = train_quickly(model, windows, steps["temporal"], batch_size=16, lr=1e-3, seed=s.seed,
                            grad_clip=None)
    g = torch.Generator().manual_seed(s.seed)
    ws, _ = model.trajectory(1, steps["frames"], g)
    moved = model.transfer(ws, model.random_identity(1, g))
    videos = model.render(torch.cat([ws, moved]))                       # (2 t c h w)
    gap = torch.ones(*videos.shape[1:-1], 2)
    report.section("StyleVideoGAN on actors (a temporal GAN in W+)")
    report.text(f"An image generator with W+ and an encoder into W+ ({steps['image']} steps on "
                f"16 px actors frames of 8 identities), the W+ embedding of one actor's videos, "
                f"and the recurrent WGAN on 8-step windows of it ({steps['temporal']} steps): a "
                f"pipeline check, not a trained model. The video is {steps['frames']} frames, far "
                f"beyond the training window; the right half moves the same trajectory onto a "
                f"random actor by the offset trick (Delta = w_new - w'_new).", preformatted=False)
    report.video(torch.cat([videos[0], gap, videos[1]], dim=-1),
                 caption=f"{steps['frames']} generated frames: training actor (left), the same "
                         f"motion on a random actor (right)")
    report.svg(trajectory_plot(model, ws[0], title="first PCA coordinates of w over time"),
               caption=f"the latent trajectory; looping detector: {loop_summary(model, ws[0]) or 'too short to test'}")
    report.line_plot({"image pair L1": image_loss}, x_label="step", y_label="L1")
    report.line_plot({"critic": history["critic/loss"], "generator": history["generator/loss"]},
                     x_label="step", y_label="loss")
