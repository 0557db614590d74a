"""``kinema bench cinn-bouncing-digits`` / ``cinn-clouds``: the cINN paper's Tables 2 and 4 on
the synthetic stand-ins (issue 5): the full model, its three ablations and baselines, scored by
the evaluation protocol (``kinema.bench.harness.evaluate``) plus control accuracy and
motion-transfer agreement measured from the generated motion.

Models are the saved runs of ``kinema train cinn-* --preset PRESET[...]`` under ``runs/``
(``--preset``, default ``small``: 32 px, 16 frames); a row whose runs are missing is listed
as not trained, with the command that trains it. The domain extractor is the data's standard
one (``runs/extractors/DATA``), trained by this benchmark if absent.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from kinema.bench.harness import train_summary
from kinema.errors import KinemaError
from kinema.data.synthetic.clouds import NUM_DIRECTIONS   # the clouds' eta bins

DATASETS = {"bouncing-digits": "", "clouds": "-clouds"}


# --------------------------------------------------------------------------- motion readers

def digit_motion(video: torch.Tensor, first_frame: torch.Tensor, first_position: torch.Tensor,
                 digit_size: int, steps: int = 2) -> torch.Tensor:
    """Displacement (n 2) of digit 0 over the first ``steps`` frames of videos (n t c h w),
    located by template matching against the real first frame (kinema.metrics.motion)."""
    from kinema.metrics.motion import digit_locations

    mask = torch.tensor([True])
    found = digit_locations(video[:, :steps + 1], first_frame, first_position[None], mask,
                            digit_size)[:, :, 0]                         # (n t 2)
    return (found[:, -1] - found[:, 0]).float()


def drift(video: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean optical flow (OpenCV DIS) summed over consecutive frames: (n t c h w) -> (n 2)
    px, (dx, dy); over ``mask`` (h w) if given (the clouds' sky)."""
    from kinema.data.flow import FlowEstimator, to_gray_uint8

    estimator = FlowEstimator("dis")   # built once, not per frame pair
    out = []
    for clip in video:
        gray = to_gray_uint8(clip)                                       # (t h w) uint8
        total = torch.zeros(2)
        for a, b in zip(gray[:-1], gray[1:]):
            flow = torch.from_numpy(estimator(a, b)).permute(2, 0, 1)    # (2 h w), (dx, dy)
            total += flow[:, mask].mean(1) if mask is not None else flow.flatten(1).mean(1)
        out.append(total)
    return torch.stack(out)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1, eps=1e-9)


def angle_bin(vector: torch.Tensor, bins: int = NUM_DIRECTIONS) -> torch.Tensor:
    angle = torch.atan2(vector[..., 1], vector[..., 0]) % (2 * math.pi)
    return (angle / (2 * math.pi / bins)).floor().long().clamp(max=bins - 1)


# --------------------------------------------------------------------------- baselines

class StaticImage:
    """x0 repeated: the still-image baseline (no motion, no diversity)."""

    def sample(self, x0, num_frames, num_samples=1, control=None, generator=None):
        return x0[:, None, None].expand(-1, num_samples, num_frames, -1, -1, -1).clone()


class FromPrediction:
    """A frame predictor used as image-to-video: x0 is its one context frame."""

    def __init__(self, model):
        self.model = model

    def sample(self, x0, num_frames, num_samples=1, control=None, generator=None):
        future = self.model.predict(x0[:, None], num_frames - 1, num_samples, generator=generator)
        start = x0[:, None, None].expand(-1, num_samples, 1, -1, -1, -1)
        return torch.cat([start, future.to(x0.dtype)], dim=2)


# --------------------------------------------------------------------------- one table

def _rows(data: str, runs: Path, preset: str) -> list[tuple[str, str, object]]:
    """(label, run folder, loader) for every row: the paper's Tables 2 and 4 plus baselines."""
    from kinema.methods.cinn.model import PriorSampler, load_flow

    stem = preset + DATASETS[data]
    flow = lambda run: lambda: load_flow(runs / run).eval()  # noqa: E731
    return [
        ("Ours (cINN)", f"cinn-flow-{stem}", flow(f"cinn-flow-{stem}")),
        ("Ours w/o cINN (z from the prior)", f"cinn-autoencoder-{stem}",
         lambda: PriorSampler.from_autoencoder(str(runs / f"cinn-autoencoder-{stem}"))),
        ("Ours w/o x0", f"cinn-flow-{stem}-no-x0", flow(f"cinn-flow-{stem}-no-x0")),
        ("Ours w/o AdaIN", f"cinn-flow-{stem}-no-adain", flow(f"cinn-flow-{stem}-no-adain")),
        ("Ours, controlled by eta", f"cinn-flow-{stem}-control", flow(f"cinn-flow-{stem}-control")),
        ("baseline: static x0", "-", lambda: StaticImage()),
        ("baseline: linear dynamic texture", "fitted on the training split", None),
    ]


def control_and_transfer(model, data: str, dataset, count: int, seed: int = 0) -> dict:
    """Control accuracy (clouds; digits use the registered metric) and motion-transfer
    agreement: mean cosine between the source's true motion and the transferred video's."""
    from kinema.bench.harness import collate

    g = torch.Generator().manual_seed(seed)
    batch = collate([dataset[i] for i in range(count)])
    video = batch["video"]
    out: dict = {}
    if data == "clouds":
        mask = batch["sky_mask"]
        fake = model.sample(video[:, 0], video.shape[1], 1, control=batch["eta_onehot"], generator=g)[:, 0]
        moved = torch.stack([drift(f[None], m)[0] for f, m in zip(fake, mask)])
        hits = (angle_bin(moved) - batch["eta"]).abs()
        out["direction_within_1_bin"] = float((torch.minimum(hits, NUM_DIRECTIONS - hits) <= 1).double().mean())
        out["direction_cosine"] = float(cosine(moved, torch.stack(
            [torch.cos(batch["angle"]), torch.sin(batch["angle"])], -1)).mean())
    if not hasattr(model, "encode_residual"):
        return out
    # transfer the motion of clip i to the start frame of clip i+1 (eta: the source's)
    target = video.roll(-1, 0)
    eta = batch["eta_onehot"] if model.config.control_bins else None
    with torch.no_grad():
        nu = model.encode_residual(video, eta)
        moved = model.decode_residual(target[:, 0], nu, eta)
    if data == "clouds":
        mask = batch["sky_mask"].roll(-1, 0)
        got = torch.stack([drift(m[None], k)[0] for m, k in zip(moved, mask)])
        want = torch.stack([torch.cos(batch["angle"]), torch.sin(batch["angle"])], -1)
    else:
        size = dataset.digit_size
        pos = batch["positions"][:, :, 0]                                   # (b t 2)
        got = torch.stack([digit_motion(m[None], t0, p0, size)[0]
                           for m, t0, p0 in zip(moved, target[:, 0], pos.roll(-1, 0)[:, 0])])
        want = pos[:, 2] - pos[:, 0]
    out["transfer_agreement"] = float(torch.nan_to_num(cosine(got, want)).mean())
    return out


def cinn_benchmark(data: str, out_dir: Path, runs: str | Path | None = None, num_videos: int | None = None,
                   transfer_videos: int = 32, preset: str | None = None, **_) -> tuple[Path, Path]:
    """One table (``benchmarks/cinn-DATA.md``; ``cinn-DATA-PRESET.md`` for a preset other than
    ``small``) comparing the runs of ``kinema train cinn-* --preset PRESET[...]`` under ``runs``."""
    from kinema.bench.harness import Protocol, evaluate, load_model, write_benchmark
    from kinema.data import load_dataset
    from kinema.methods.cinn.config import SIZES, parse_preset
    from kinema.metrics.features.domain_train import recipe_for, train_extractor

    runs = Path(runs or "runs")
    preset = preset or "small"
    try:
        parts = parse_preset(preset)
    except ValueError as err:
        raise KinemaError(str(err)) from None
    if preset != parts["base"]:
        raise KinemaError(f"--preset takes a base preset ({', '.join(SIZES)}); the benchmark "
                          f"adds the -clouds, ablation and -control variants itself, got {preset!r}")
    size, frames = SIZES[preset]
    num_videos = num_videos or 64
    protocol = Protocol(task="image-to-video", num_videos=num_videos, num_frames=frames, num_samples=5,
                        batch_size=16, fit_videos=500, data_options={"size": size})
    # the standard domain extractor of the data (32 px; other sizes are resized to it)
    extractor, recipe = runs / "extractors" / data, recipe_for(data)
    if not (extractor / "config.json").is_file():
        train_extractor(data, extractor, recipe=recipe, progress=False)
    training = json.loads((extractor / "training.json").read_text()) \
        if (extractor / "training.json").is_file() else {}
    accuracy = ", ".join(f"{n} {a:.2f} (chance {c:.2f})" for n, a, c in zip(
        training.get("labels", []), training.get("test_accuracy", []), training.get("chance", [])))
    metrics = ["domain-fvd", "domain-diversity", "psnr", "ssim"]
    if data == "bouncing-digits":
        metrics.append("control-accuracy")
    test = load_dataset(data, "test", num_frames=frames, size=size)
    record: dict = {"preset": preset, "rows": []}
    lines = []
    models: dict = {}
    for label, source, make in _rows(data, runs, preset):
        try:
            if make is None:
                model, _ = load_model("dynamic-texture", data, protocol, progress=False)
                model = FromPrediction(model)
            else:
                model = make()
        except KinemaError as err:   # a stage not trained: the row says so
            lines.append(f"| {label} | not trained: {err} |" + " |" * 6)
            record["rows"].append({"label": label, "run": source, "missing": str(err)})
            continue
        result = evaluate(source, data, metrics, protocol, model=model, extractor=str(extractor),
                          progress=False, model_record={"run": source})
        r = result["results"]
        extra = control_and_transfer(model, data, test, transfer_videos)
        control = r.get("control_accuracy", extra.get("direction_within_1_bin"))
        r.update(extra)
        record["rows"].append({"label": label, "run": source, "results": r})
        models[label] = model
        fmt = lambda v: "—" if v is None else f"{v:.3g}"  # noqa: E731
        lines.append(f"| {label} | {fmt(r['domain_fvd'])} | {fmt(r['domain_diversity'])} | "
                     f"{r['psnr']:.2f} | {r['ssim']:.3f} | {fmt(control)} | "
                     f"{fmt(r.get('transfer_agreement'))} | `{source}` |")
    control_name = ("control accuracy (final cell of digit 0 = eta; 16 cells)" if data == "bouncing-digits"
                    else "direction within ±1 of 36 bins (DIS flow on the sky)")
    ae = train_summary(runs / f"cinn-autoencoder-{preset}{DATASETS[data]}")
    fl = train_summary(runs / f"cinn-flow-{preset}{DATASETS[data]}")
    body = [f"**Preset `{preset}`** ({size}x{size} px, {frames} frames; autoencoder {ae}; flow {fl}; "
            f"recipe: `kinema.methods.cinn.config`), trained once each on a 2-core CPU, far smaller "
            f"and shorter than the paper's 64 px models: numbers compare rows with each other, not "
            f"with the paper. {num_videos} test clips, 5 samples per start frame; every sampled "
            f"or transferred video's frame 0 is the given start frame itself (the decoder's "
            f"reconstruction of it is replaced).",
            "", f"Columns: domain FVD (Fréchet distance in the clip features of the domain extractor "
            f"`{extractor}`, trained on `{data}` labels at {recipe.size} px; held-out accuracy: "
            f"{accuracy or 'not recorded'}); diversity = mean pairwise Euclidean "
            f"distance of those clip features between the 5 samples (appendix C.1); best-of-5 "
            f"PSNR/SSIM over all frames; {control_name}, given the data's eta (uncontrolled rows "
            f"ignore it: their value is the chance level of following it); motion-transfer "
            f"agreement = mean cosine between the source clip's true motion and the motion "
            f"measured in the transferred video ({transfer_videos} pairs; 0 = unrelated, 1 = same "
            f"direction).", "",
            "| method | domain FVD ↓ | diversity ↑ | PSNR best-of-5 ↑ | SSIM best-of-5 ↑ | control ↑ | "
            "transfer agreement ↑ | run |", "|---|---|---|---|---|---|---|---|", *lines]
    name = f"cinn-{data}" if preset == "small" else f"cinn-{data}-{preset}"
    pictures = write_pictures(models, data, test, Path(out_dir), name)
    if pictures:
        body += ["", "Pictures (from the first test clips; every row is a video, frames left to right):", ""]
        body += [f"- {caption}: ![{caption}]({path.name})" for caption, path in pictures]
    return write_benchmark(Path(out_dir), name, f"cINN benchmark on {data}", body, record)


def write_pictures(models: dict, data: str, test, out_dir: Path, name: str) -> list[tuple[str, Path]]:
    """Filmstrips next to the table: samples of the full model and of the prior from one start
    frame, controlled samples for four etas, and a motion transfer; (caption, path) each."""
    from kinema.bench.harness import collate
    from kinema.viz.grid import filmstrip
    from kinema.viz.report import encode_png

    out_dir.mkdir(parents=True, exist_ok=True)
    batch = collate([test[i] for i in range(3)])
    video = batch["video"]
    frames = video.shape[1]
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    out: list[tuple[str, Path]] = []

    def save(suffix: str, caption: str, rows: torch.Tensor) -> None:
        path = out_dir / f"{name}-{suffix}.png"
        path.write_bytes(encode_png(filmstrip(rows.clamp(-1, 1)), min_size=256))
        out.append((caption, path))

    full, prior = models.get("Ours (cINN)"), models.get("Ours w/o cINN (z from the prior)")
    if full is not None and prior is not None:
        rows = [video[:1], full.sample(video[:1, 0], frames, 4, generator=g())[0],
                prior.sample(video[:1, 0], frames, 4, generator=g())[0]]
        save("samples", "the real clip, 4 samples of the cINN, 4 samples without the cINN (prior z)",
             torch.cat(rows))
    controlled = models.get("Ours, controlled by eta")
    if controlled is not None:
        bins = controlled.config.control_bins
        etas = [0, bins // 4, bins // 2, 3 * bins // 4] if data == "clouds" else [0, 3, 12, 15]
        rows = torch.cat([controlled.sample(video[:1, 0], frames, 1, control=[eta], generator=g())[0]
                          for eta in etas])
        what = "directions" if data == "clouds" else "final grid cells (corners)"
        save("control", f"one start frame, eta = {etas} ({what})", torch.cat([video[:1], rows]))
    if full is not None and hasattr(full, "encode_residual"):
        with torch.no_grad():
            nu = full.encode_residual(video[:1])
            moved = full.decode_residual(video[1:3, 0], nu.expand(2, -1))
        save("transfer", "motion transfer: the source clip, then its residual on two other start frames",
             torch.cat([video[:1], moved]))
    return out


def digits_benchmark(out_dir: Path, **options):
    return cinn_benchmark("bouncing-digits", out_dir, **options)


def clouds_benchmark(out_dir: Path, **options):
    return cinn_benchmark("clouds", out_dir, **options)
