"""ILE's section of ``kinema demo``, from the bundled ``ile`` model (``kinema.bundled``: trained on
bouncing digits; nothing is trained here): the held-out clips' futures predicted from their first
frames beside the truth and the last context frame repeated (the still baseline), scored frame by
frame (the rows join the closing table beside the baselines' on the same clips), an X-t slice and
the eigenvalues of its linear dynamics A. ``demo_section(ctx)`` is named by the ``ile`` registry
entry's ``demo``.
"""
from __future__ import annotations

import torch

from kinema.viz.sections import (DISPLAY_SIZE, DemoContext, about, bundled, load_clips,
                                  prediction_grid, repeat_frame, scale_for, score_predictions)

NAME = "ile"


def demo_section(ctx: DemoContext) -> None:
    """Add the ILE section to the demo report and its rows to ``ctx.scores``."""
    from kinema.methods.ile import viz

    s, report = ctx.settings, ctx.report
    title = "ILE on bouncing-digits"
    pipe = bundled(ctx, NAME, title, task="Prediction")
    if pipe is None:
        return
    model = pipe.model
    k, n = model.config.context_frames, s.predicted_frames
    test = load_clips("bouncing-digits", "test", s.eval_clips, num_videos=s.eval_clips,
                      num_frames=k + n, size=model.config.image_size)
    context, future = test[:, :k], test[:, k:]
    generator = torch.Generator().manual_seed(s.seed)
    with torch.no_grad():
        mean = model.predict(context, n)[:, 0]
        samples = model.predict(context, n, num_samples=s.num_samples, generator=generator)
        held_out = model.objective(test, dequantize=True, context_frames=k)
    still = repeat_frame(context[:, -1], n)
    ctx.log(f"ile: {len(test)} clips, {k} context frames, {n} predicted")

    report.section(title)
    report.text(f"Invertible Linear Embedding: an invertible network maps each frame to a latent "
                f"state that evolves linearly (y_t+1 = A y_t); the bundled model reads {k} frames and "
                f"predicts the next {n}. Its training objective (Eq. 2 with the Sec. 2.6 scale layer: "
                f"scale-invariant, not a normalised likelihood) on these held-out clips: "
                f"{held_out['objective_bits_per_dim'].item():.3f} bits/dim; on the {n} future frames "
                f"given {k}: {held_out['predictive_objective_bits_per_dim'].item():.3f} bits/dim.",
                preformatted=False)
    columns = [future, still, mean, *samples.unbind(1)]
    report.video(prediction_grid(context, columns, s.shown_clips), fps=5, scale=scale_for(context),
                 caption=f"rows: held-out clips; columns: the truth, the last context frame repeated "
                         f"(the still baseline), ILE's mean prediction, {s.num_samples} ILE samples "
                         f"(each after the same {k} context frames). {about(pipe, context[0, -1])}")
    report.image(viz.xt_figure(context[0], future[0], mean[0]), min_size=DISPLAY_SIZE,
                 caption="X-t slice of the most moving row: truth (left), ILE mean (right)")
    report.image(viz.eigenvalue_figure(model.system.eigenvalues()),
                 caption="eigenvalues of A on the unit circle (angle: frequency, radius: damping)")

    predictions = {"ILE (mean)": mean, "ILE (one sample)": samples[:, 0]}
    # the baselines' section scores the same held-out clips when the sizes agree; else the still
    # baseline is scored here, on these
    same = (model.config.image_size, k) == (s.digits_size, s.context_frames)
    dataset = "bouncing-digits" if same else f"bouncing-digits ({model.config.image_size} px, {k} context frames)"
    if not same:
        predictions["repeat last frame"] = still
    rows, _ = score_predictions(ctx, dataset, predictions, future)
    report.table(rows, caption=f"{dataset}: scores per predicted frame, mean over {len(test)} held-out "
                               f"clips" + ("; the baselines' on the same clips are in the closing table"
                                           if same else ""))
