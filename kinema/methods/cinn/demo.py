"""The cINN's section of ``kinema demo``: its three stages trained for seconds on tiny clouds
clips (16x16 px, 4 frames; the ``tiny-clouds`` presets at 16 px), then several samples from one image,
samples controlled to four drift directions, a motion transfer and best-of-N scores (in
this section's own table).

Trained for seconds, not the presets' schedules: the section shows the pipeline end to end;
trained numbers come from ``kinema bench cinn-clouds`` on the ``small`` runs.
"""
from __future__ import annotations

import dataclasses

import torch

from kinema.viz.sections import DemoContext, train_quickly

# Steps of the autoencoder and image-encoder stages (the flow takes twice as many): a
# pipeline check within the demo's budget, not a trained model.
TRAIN_STEPS = 150
QUICK_TRAIN_STEPS = 6
LR = 3e-3
BATCH_SIZE = 8


def _train(model, data: dict, steps: int, seed: int) -> list[float]:
    """The stage through the real Trainer; the loss of its last optimiser group per step."""
    history = train_quickly(model, data, steps, batch_size=BATCH_SIZE, lr=LR, seed=seed,
                            grad_clip=None)
    last = list(model.parameter_groups())[-1]
    return history[f"{last}/loss"]



def demo_section(ctx: DemoContext, steps: int | None = None) -> None:
    """Add the cINN section to the demo report (``steps``: default ``TRAIN_STEPS``,
    ``QUICK_TRAIN_STEPS`` in quick mode)."""
    import tempfile
    from pathlib import Path

    from kinema.bench.harness import collate
    from kinema.data import load_dataset
    from kinema.methods.cinn.apps import animate, transfer_motion
    from kinema.methods.cinn.autoencoder import VideoAutoencoder
    from kinema.methods.cinn.config import autoencoder_config, flow_config, image_encoder_config
    from kinema.methods.cinn.image_encoder import ImageAutoencoder
    from kinema.methods.cinn.model import CINN
    from kinema.metrics.psnr_ssim import psnr, ssim
    from kinema.viz.grid import video_grid

    s, report = ctx.settings, ctx.report
    quick = s.quick
    steps = steps if steps is not None else (QUICK_TRAIN_STEPS if quick else TRAIN_STEPS)
    options = dict(num_frames=4, size=16)   # 16 px: SSIM's 11-tap window needs >= 11
    train = load_dataset("clouds", "train", num_videos=64 if quick else 256, **options)
    test = load_dataset("clouds", "test", num_videos=max(s.eval_clips, 4), **options)
    train_batch = collate([train[i] for i in range(len(train))])
    data = {"video": train_batch["video"], "eta": train_batch["eta"]}
    torch.manual_seed(s.seed)
    ae = VideoAutoencoder(dataclasses.replace(autoencoder_config("tiny-clouds"), image_size=16,
                                              decoder_widths=(8, 8, 8), gan_start=steps // 2))
    ae_loss = _train(ae, data, steps, s.seed)
    image = ImageAutoencoder(dataclasses.replace(image_encoder_config("tiny-clouds"), image_size=16))
    _train(image, data, steps, s.seed)
    with tempfile.TemporaryDirectory() as tmp:
        ae.save_pretrained(Path(tmp) / "ae")
        image.save_pretrained(Path(tmp) / "image")
        cfg = dataclasses.replace(flow_config("tiny-clouds-control"), autoencoder_path=str(Path(tmp) / "ae"),
                                  image_encoder_path=str(Path(tmp) / "image"))
        model = CINN(cfg)
    flow_loss = _train(model, data, 2 * steps, s.seed)

    test_batch = collate([test[i] for i in range(len(test))])
    video, test_eta = test_batch["video"], test_batch["eta"]              # (b t c h w), (b)
    x0 = video[:1, 0]
    samples = animate(model, x0, 8, 4, control=test_eta[:1], seed=s.seed)[0]    # (n t c h w), chained
    directions = torch.tensor([0, 9, 18, 27])
    controlled = animate(model, x0.expand(4, -1, -1, -1), 8, 1, control=directions, seed=s.seed)[:, 0]
    moved = transfer_motion(model, video[:1], video[1:4, 0], source_control=test_eta[:1])
    report.section("cINN on clouds (stochastic, controllable image-to-video)")
    report.text(f"Video autoencoder (SPADE on x0, AdaIN on z, D_S and D_T), image encoder and "
                f"conditional INN z = T(nu; x0, eta), each trained for {steps}-{2 * steps} steps on "
                f"16x16 clouds clips of 4 frames (the tiny-clouds presets at 16 px): a pipeline check, not a "
                f"trained model. 8-frame videos are two chained 4-frame segments.", preformatted=False)
    report.video(video_grid(torch.cat([video[:1, :4].expand(1, -1, -1, -1, -1), samples[:, :4]]), nrow=5),
                 caption="the real clip, then 4 samples nu ~ N(0, I) from its first frame")
    report.video(video_grid(controlled, nrow=4), caption="eta = drift direction 0°, 90°, 180°, 270°")
    report.video(video_grid(torch.cat([video[:1], moved]), nrow=4),
                 caption="motion transfer: source clip, then its nu~ applied to three other start frames")
    report.line_plot({"autoencoder (generator loss)": ae_loss}, x_label="step", y_label="loss")
    report.line_plot({"flow NLL per dim, Eq. (8)": flow_loss}, x_label="step", y_label="nats")
    many = model.sample(video[:, 0], video.shape[1], s.num_samples, control=test_eta,
                        generator=torch.Generator().manual_seed(s.seed))      # (b n t c h w)
    truth = video[:, None].expand_as(many)
    p = psnr(many, truth).mean(-1).max(1).values.mean()
    q = ssim(many, truth).mean(-1).max(1).values.mean()
    # kept in this section: the closing table compares frame predictors on their datasets
    report.table([{"dataset": "clouds (16 px)", "method": f"cINN (best of {s.num_samples})",
                   "PSNR (dB)": float(p), "SSIM": float(q)}],
                 caption=f"cINN: best-of-{s.num_samples} PSNR/SSIM over all frames, "
                         f"{len(video)} test clips")
