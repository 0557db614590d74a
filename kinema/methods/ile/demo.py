"""ILE's section of ``kinema demo``: train a small ILE briefly on bouncing digits, predict the
test clips' futures, score them frame by frame and draw predictions, X-t slices and the
eigenvalues of A. ``demo_section(ctx)`` is named by the ``ile`` registry entry's ``demo``.

Trained for seconds, not the preset's schedule: the section shows the pipeline end to end;
the trained numbers come from ``python -m kinema.methods.ile.apps`` on a trained model.
"""
from __future__ import annotations

import time

import torch

from kinema.methods.ile.config import ILEConfig
from kinema.viz.sections import (DemoContext, load_clips, prediction_grid, score_predictions,
                                  train_quickly)

# Enough steps for visible learning (~6.3 -> ~5.4 bits/dim at 400 steps) within the demo's
# budget; the quick (test) demo only checks the pipeline.
TRAIN_STEPS = 300
QUICK_TRAIN_STEPS = 2


def demo_config(image_size: int, context_frames: int) -> ILEConfig:
    """A light ILE: 4 scales at 32 px, 2 couplings each, narrow subnets."""
    blocks = 4 if image_size % 16 == 0 else 2
    return ILEConfig(image_size=image_size, blocks=blocks, steps_per_block=2, hidden=32,
                     state_dim=32, context_frames=context_frames)


def demo_section(ctx: DemoContext, train_steps: int | None = None) -> None:
    """Add the ILE section to the demo report and its rows to ``ctx.scores``.

    ``train_steps`` defaults to ``TRAIN_STEPS`` (``QUICK_TRAIN_STEPS`` in quick mode)."""
    from kinema.methods.ile import viz
    from kinema.methods.ile.model import ILE

    s, report = ctx.settings, ctx.report
    k, n = s.context_frames, s.predicted_frames
    steps = train_steps if train_steps is not None else (
        QUICK_TRAIN_STEPS if s.quick else TRAIN_STEPS)
    options = dict(num_frames=k + n, size=s.digits_size)
    train = load_clips("bouncing-digits", "train", s.fit_clips, num_videos=s.fit_clips, **options)
    test = load_clips("bouncing-digits", "test", s.eval_clips, num_videos=s.eval_clips, **options)
    context, future = test[:, :k], test[:, k:]

    torch.manual_seed(s.seed)
    model = ILE(demo_config(s.digits_size, k))
    started = time.perf_counter()
    # Adam (AdamW without decay) at 2e-3, gradient norm clipped at 5, batches of 4
    history = train_quickly(model, train, steps, batch_size=4, lr=2e-3, seed=s.seed,
                            grad_clip=5.0)["model/objective_bits_per_dim"]
    ctx.log(f"ILE: {steps} training steps in {time.perf_counter() - started:.1f} s, "
            f"objective {history[0]:.3f} -> {history[-1]:.3f} bits/dim")
    generator = torch.Generator().manual_seed(s.seed)
    mean = model.predict(context, n)[:, 0]
    samples = model.predict(context, n, num_samples=s.num_samples, generator=generator)
    held_out = model.objective(test, dequantize=True, context_frames=k)

    report.section("ILE on bouncing-digits")
    report.text(f"Invertible Linear Embedding (invertible network + latent linear dynamics), "
                f"trained for only {steps} steps here on {len(train)} clips "
                f"({sum(p.numel() for p in model.parameters()):,} parameters). Its training "
                f"objective (Eq. 2 with the Sec. 2.6 scale layer: scale-invariant, not a "
                f"normalised likelihood) on held-out clips: "
                f"{held_out['objective_bits_per_dim'].item():.3f} bits/dim; on the {n} future "
                f"frames given {k}: {held_out['predictive_objective_bits_per_dim'].item():.3f} "
                f"bits/dim.", preformatted=False)
    report.video(prediction_grid(context, [future, mean, *samples.unbind(1)], s.shown_clips),
                 caption="rows: test clips; columns: ground truth, ILE mean prediction, "
                         f"{s.num_samples} ILE samples (after {k} context frames)")
    report.image(viz.xt_figure(context[0], future[0], mean[0]),
                 caption="X-t slice of the most moving row: truth (left), ILE mean (right)")
    report.image(viz.eigenvalue_figure(model.system.eigenvalues()),
                 caption="eigenvalues of A on the unit circle (angle: frequency, radius: damping)")
    report.line_plot({"bits/dim": history}, x_label="step", y_label="bits/dim",
                     caption="ILE training objective (Eq. 2 with the scale layer; not a likelihood)")

    rows, _ = score_predictions(ctx, "bouncing-digits",
                                {"ILE (mean)": mean, "ILE (one sample)": samples[:, 0]}, future)
    report.table(rows, caption=f"ILE on bouncing-digits: scores per predicted frame "
                               f"(mean over {len(test)} clips)")
