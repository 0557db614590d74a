"""What ILE is used for beyond training: scoring predictions the paper's way and drawing them.

    python -m kinema.methods.ile.apps --model RUN/model --clips 100 --out DIR

``evaluate_prediction`` follows the paper's protocol (Fig. 4): from ``context`` observed frames
predict ``horizon`` frames of held-out sequences and score PSNR/SSIM per predicted frame
(the paper quotes frames 1 and 5), beside the repeat-last-input baseline on the same clips,
and the training objective in bits/dim (Eq. (2) with the Sec. 2.6 scale layer: scale-invariant,
not a normalised likelihood) plus its predictive value on the future frames.
(The metrics package has per-frame PSNR/SSIM but no prediction loop; the shared benchmark
command will be wired by the integrator.)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from kinema.metrics.psnr_ssim import psnr, ssim


@torch.no_grad()
def evaluate_prediction(model, dataset, context: int, horizon: int, num_clips: int = 100,
                        batch_size: int = 8, num_samples: int = 0,
                        generator: torch.Generator | None = None) -> dict:
    """Scores of ``model.predict`` on the first ``num_clips`` items of ``dataset`` (each item's
    ``video`` (t c h w) needs >= context + horizon frames). Returns per-step lists (index 0 =
    predicted frame 1) of PSNR/SSIM for the mean prediction, repeat-last-frame, a blank
    (all -1) frame as a control and, with
    ``num_samples`` > 0, the best of that many samples; the mean objective in bits/dim; and for
    a model without the scale layer the held-out likelihood of the predicted frames given the
    context, ``conditional_bits_per_dim``."""
    from kinema.errors import KinemaError

    count = min(num_clips, len(dataset))
    if count < 1 or context < 1 or horizon < 1:
        raise KinemaError(f"need at least one clip, one context frame and one predicted frame; "
                          f"got clips={num_clips} (dataset has {len(dataset)}), context={context}, "
                          f"horizon={horizon}")
    sums: dict[str, torch.Tensor] = {}
    bits, predictive_bits, conditional_bits = [], [], []

    def add(name: str, values: torch.Tensor) -> None:         # values (b t)
        sums[name] = sums.get(name, 0) + values.double().sum(0)

    for start in tqdm(range(0, count, batch_size), desc="ile eval", leave=False):
        items = [dataset[i] for i in range(start, min(start + batch_size, count))]
        video = torch.stack([it["video"][:context + horizon] for it in items])   # (b t c h w)
        if video.shape[1] < context + horizon:
            raise KinemaError(f"clips have {video.shape[1]} frames, need context + horizon = "
                             f"{context + horizon}")
        observed, truth = video[:, :context], video[:, context:]
        mean = model.predict(observed, horizon)[:, 0]
        last = observed[:, -1:].expand_as(truth)
        # a control: the empty background (-1, black on bouncing-digits). A model whose mean
        # prediction has not learned the content scores about this.
        blank = torch.full_like(truth, -1.0)
        for name, fake in (("ile", mean), ("repeat-last-frame", last), ("blank-frame", blank)):
            add(f"{name}/psnr", psnr(fake, truth))
            add(f"{name}/ssim", ssim(fake, truth))
        if num_samples > 0:
            samples = model.predict(observed, horizon, num_samples=num_samples, generator=generator)
            scores = psnr(samples, truth[:, None])                              # (b n t)
            best = scores.mean(-1).argmax(1)
            chosen = samples[torch.arange(len(samples)), best]
            add("ile-best-of-samples/psnr", psnr(chosen, truth))
            add("ile-best-of-samples/ssim", ssim(chosen, truth))
        out = model.objective(video, dequantize=True, context_frames=context)
        bits.append(out["objective_bits_per_dim"].item() * len(items))
        predictive_bits.append(out["predictive_objective_bits_per_dim"].item() * len(items))
        if not model.config.scale_layer:
            held_out = model.conditional_likelihood(video, context_frames=context)
            conditional_bits.append(held_out["conditional_bits_per_dim"].item() * len(items))
    result = {name: (total / count).tolist() for name, total in sums.items()}
    result["objective_bits_per_dim"] = sum(bits) / count
    result["predictive_objective_bits_per_dim"] = sum(predictive_bits) / count
    if conditional_bits:
        result["conditional_bits_per_dim"] = sum(conditional_bits) / count
    result["clips"], result["context"], result["horizon"] = count, context, horizon
    return result


def score_table(result: dict, frames: tuple[int, ...] = (1, 5)) -> str:
    """Markdown table: PSNR/SSIM at the given predicted frames (1-based) per method."""
    methods = sorted({k.split("/")[0] for k in result if "/" in k})
    head = " | ".join(f"frame {f} PSNR | frame {f} SSIM" for f in frames)
    lines = [f"| method | {head} |", "|---" * (1 + 2 * len(frames)) + "|"]
    for m in methods:
        cells = " | ".join(f"{result[m + '/psnr'][f - 1]:.2f} | {result[m + '/ssim'][f - 1]:.3f}"
                           for f in frames if f <= len(result[m + "/psnr"]))
        lines.append(f"| {m} | {cells} |")
    return "\n".join(lines)


@torch.no_grad()
def save_pictures(model, video: torch.Tensor, context: int, out_dir: str | Path,
                  num_samples: int = 2, generator: torch.Generator | None = None) -> dict[str, Path]:
    """predictions.png (per clip: truth on top, mean and samples below), xt_slices.png and
    eigenvalues.png for the clips ``video`` (b t c h w)."""
    import numpy as np

    from kinema.methods.ile import viz

    out_dir = Path(out_dir)
    observed, truth = video[:, :context], video[:, context:]
    horizon = truth.shape[1]
    mean = model.predict(observed, horizon)                                  # (b 1 t c h w)
    preds = mean
    if num_samples > 0:
        samples = model.predict(observed, horizon, num_samples=num_samples, generator=generator)
        preds = torch.cat([mean, samples], dim=1)
    figures = [viz.prediction_figure(observed[i], truth[i], preds[i]) for i in range(len(video))]
    slices = [viz.xt_figure(observed[i], truth[i], mean[i, 0]) for i in range(len(video))]
    white = lambda h, w: np.full((h, w, 3), 255, np.uint8)               # noqa: E731
    stack = lambda ims, axis: np.concatenate(                            # noqa: E731
        [x for im in ims for x in (im, white(*((8, im.shape[1]) if axis == 0 else (im.shape[0], 8))))][:-1],
        axis=axis)
    return {
        "predictions": viz.save_png(stack(figures, 0), out_dir / "predictions.png"),
        "xt_slices": viz.save_png(stack(slices, 1), out_dir / "xt_slices.png"),
        "eigenvalues": viz.save_png(viz.eigenvalue_figure(model.system.eigenvalues()),
                                    out_dir / "eigenvalues.png"),
    }


def load_ile(path: str | Path):
    """An ILE from a ``save_pretrained`` folder, a run folder (its ``model/`` or, for a run that
    was interrupted, its newest checkpoint) or one checkpoint folder (``recipe.json`` +
    ``model.safetensors``)."""
    from safetensors.torch import load_file

    from kinema.errors import KinemaError
    from kinema.methods.ile.config import ILEConfig
    from kinema.methods.ile.model import ILE
    from kinema.pretrained import config_from_dict

    path = Path(path)
    if (path / "config.json").is_file():
        return ILE.from_pretrained(path)
    if (path / "model" / "config.json").is_file():
        return ILE.from_pretrained(path / "model")
    if (path / "checkpoints" / "latest").is_file():
        path = path / "checkpoints" / (path / "checkpoints" / "latest").read_text().strip()
    recipe_file, weights = path / "recipe.json", path / "model.safetensors"
    if not (recipe_file.is_file() and weights.is_file()):
        raise KinemaError(f"{path}: not an ILE model folder, run folder or checkpoint "
                          "(expected config.json, model/, checkpoints/latest or recipe.json)")
    model = ILE(config_from_dict(ILEConfig, json.loads(recipe_file.read_text())["model"]))
    model.load_state_dict(load_file(str(weights)))
    return model


def main(argv: list[str] | None = None) -> None:
    """The command line; a ``KinemaError`` (a user mistake) prints its message alone, exit 2,
    as ``kinema`` itself does."""
    from kinema.errors import run_user_command

    run_user_command(_main, argv)


def _main(argv: list[str] | None) -> None:
    from kinema.data import load_dataset
    from kinema.errors import KinemaError

    parser = argparse.ArgumentParser(description="Score and draw a trained ILE model on held-out clips.")
    parser.add_argument("--model", type=Path, required=True,
                        help="model folder (save_pretrained), run folder or checkpoint folder")
    parser.add_argument("--dataset", default="bouncing-digits")
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--context", type=int, default=None, help="default: the model's context_frames")
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--samples", type=int, default=4, help="stochastic samples for best-of-N")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    for name in ("clips", "context", "horizon"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise KinemaError(f"--{name} must be >= 1, got {value}")
    if args.samples < 0:
        raise KinemaError(f"--samples must be >= 0, got {args.samples}")
    model = load_ile(args.model).eval()
    context = args.context or model.config.context_frames
    dataset = load_dataset(args.dataset, "test", num_frames=context + args.horizon,
                           size=model.config.image_size)
    result = evaluate_prediction(model, dataset, context, args.horizon, args.clips,
                                 num_samples=args.samples, generator=torch.Generator().manual_seed(0))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scores.json").write_text(json.dumps(result, indent=2))
    clips = torch.stack([dataset[i]["video"] for i in range(min(4, result["clips"]))])
    save_pictures(model, clips, context, args.out, generator=torch.Generator().manual_seed(0))
    print("\n" + score_table(result))
    kind = ("scale-invariant objective (Eq. 2 + Sec. 2.6, not a likelihood)" if model.config.scale_layer
            else "objective (Eq. 2 without the scale layer, x0* fitted on the scored frames)")
    print(f"{kind}, all frames: "
          f"{result['objective_bits_per_dim']:.3f} bits/dim; on the future frames given the "
          f"context: {result['predictive_objective_bits_per_dim']:.3f} bits/dim")
    if "conditional_bits_per_dim" in result:
        print(f"held-out likelihood of the predicted frames given the context (no scale layer): "
              f"{result['conditional_bits_per_dim']:.3f} bits/dim")


if __name__ == "__main__":
    main()
