"""`kinema eval RUN --data NAME --metrics a,b,c --out results.json` and `kinema bench NAME`.

Eval reads its defaults from the model (``kinema.bench.model_defaults``)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kinema.devices import device_option


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("bench")(bench_command)


def eval_command(
    run: str = typer.Argument(..., help="a saved model folder, a bundled model's name "
                                        "(dynamics, cinn, gendef, ...: kinema/bundled/models), "
                                        "or a baseline name (repeat-last, dynamic-texture)"),
    data: str = typer.Option(..., "--data", help="dataset name (kinema data list)"),
    metrics: str = typer.Option("psnr,ssim", "--metrics", help="comma-separated metric names "
                                                               "(kinema metrics list)"),
    out: Path = typer.Option(Path("results.json"), "--out"),
    task: str = typer.Option(None, "--task", help="prediction | image-to-video | generation "
                             "(default: the task the model serves; baselines: prediction)"),
    split: str = typer.Option("test", "--split"),
    num_videos: int = typer.Option(256, "--num-videos"),
    num_frames: int = typer.Option(None, "--num-frames", help="clip length, context included "
                                   "(default: the model's clip length, or its context + 10; "
                                   "else 16)"),
    context_frames: int = typer.Option(None, "--context-frames", help="observed frames "
                                       "(default: the model's config, else 2)"),
    num_samples: int = typer.Option(1, "--num-samples", help="samples per input (best-of-N)"),
    batch_size: int = typer.Option(16, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    weights: str = typer.Option(None, "--weights",
                                help="file or folder of pretrained metric weights "
                                     "(default: $KINEMA_WEIGHTS)"),
    extractor: str = typer.Option(None, "--extractor", help="domain extractor folder"),
    i3d_resize: str = typer.Option("bilinear", "--i3d-resize",
                                   help="FVD preprocessing: bilinear | bicubic (antialiased)"),
    i3d_layer: str = typer.Option("logits", "--i3d-layer", help="FVD features: logits | pool"),
    option: list[str] = typer.Option([], "--option", help="dataset option key=value"),
    metric_option: list[str] = typer.Option(
        [], "--metric-option", help="key=value for the metrics that take it, e.g. window=30 "
                                    "stride=10 for the sliding-window distances"),
    device: Optional[str] = device_option(),
) -> None:
    """Evaluate a model on a dataset with streaming metrics; write results.json.

    Size, channels, clip length, context frames and task come from the model's config unless
    given here (--option size=N, --num-frames, --context-frames, --task); results.json says
    which values were used and where each came from ("settings"). Under `torchrun
    --nproc_per_node N -m kinema eval ...` the batches are shared out over the N processes
    (one GPU each) and rank 0 writes the same numbers one process would."""
    import json

    from kinema.bench.harness import Protocol, evaluate
    from kinema.bench.model_defaults import eval_settings
    from kinema.data.cli import parse_options

    names = check_eval_numbers(metrics, num_videos, num_frames, context_frames, num_samples,
                               batch_size, seed)
    from kinema.bundled import resolve

    run = str(resolve(run))          # a bundled model's name reads its folder (kinema.bundled)
    ranks = eval_ranks(device)
    model = entry = model_record = frames = None
    if Path(run).is_dir():
        from kinema.pretrained import load_pretrained, model_folder, read_model_class
        from kinema.registry import entry_for_class

        folder = model_folder(Path(run))
        entry = entry_for_class(read_model_class(folder))
        model = load_pretrained(folder).eval()
        model_record = {"run": str(folder), "kind": "model folder"}
        from kinema.bench.model_defaults import recipe_frames

        frames = recipe_frames(folder)
    values, data_options, settings = eval_settings(
        model, entry, data, {"task": task, "num_frames": num_frames,
                             "context_frames": context_frames}, parse_options(option), frames)
    protocol = Protocol(split=split, num_videos=num_videos, num_samples=num_samples,
                        batch_size=batch_size, seed=seed, data_options=data_options, **values)
    record = evaluate(run, data, names, protocol, weights=weights, extractor=extractor,
                      feature_options={"i3d_resize": i3d_resize, "i3d_layer": i3d_layer},
                      metric_options=parse_options(metric_option), model=model,
                      model_record=model_record, device=ranks.device, ranks=ranks)
    ranks.close()
    if record is None:      # not rank 0: its batches went to rank 0, which writes the record
        return
    record["device"] = str(ranks.device)
    record["processes"] = ranks.world_size
    record["settings"] = {name: {"value": (data_options.get(name) if name in ("size", "channels")
                                           else values[name]), "from": source}
                          for name, source in settings.items()}
    for name, item in record["settings"].items():
        if item["from"] != "command line":
            typer.echo(f"{name} = {item['value']} (from {item['from']})", err=True)
    trained_on = (record["feature_extractors"]["extractor_training"] or {}).get("dataset")
    if trained_on and trained_on != data:
        typer.echo(f"note: the domain extractor was trained on {trained_on}, not {data}: its "
                   f"features may not see what matters in these videos", err=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    for key, value in record["results"].items():
        if not isinstance(value, list):
            typer.echo(f"{key:32s} {value:.6g}" if isinstance(value, float) else f"{key:32s} {value}")
    typer.echo(f"peak memory {record['peak_rss_mb']:.0f} MB; wrote {out}")


def eval_ranks(device: str | None):
    """The process group torchrun describes (a one-rank context in a plain process), on the
    ``--device`` asked for: under torchrun a GPU device becomes the rank's own GPU."""
    from kinema.devices import rank_device, resolve_device
    from kinema.train.distributed import init_distributed

    resolved = resolve_device(device)
    ranks = init_distributed(resolved.type)
    ranks.device = rank_device(resolved, ranks.local_rank) if ranks.active else resolved
    return ranks


def check_eval_numbers(metrics: str, num_videos, num_frames, context_frames, num_samples,
                       batch_size, seed) -> list[str]:
    """``kinema eval``'s numbers as every verb checks them (``kinema.validate``), before any
    model is read; returns the metric names (``--metrics ,`` names none: an error)."""
    from kinema.errors import KinemaError
    from kinema.validate import check_number, check_seed, short_repr

    for name, value in (("num_videos", num_videos), ("num_frames", num_frames),
                        ("num_samples", num_samples), ("batch_size", batch_size)):
        check_number(f"--{name.replace('_', '-')} ({name})", value, 1, None, integer=True)
    check_number("--context-frames (context_frames)", context_frames, 0, None, integer=True)
    check_seed("--seed", seed)
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    if not names:
        raise KinemaError(f"--metrics {short_repr(metrics)} names no metric; give "
                          f"comma-separated names (kinema metrics list)")
    return names


def bench_command(
    name: str = typer.Argument(..., help="benchmark name: metrics-sanity, eval-memory, or one "
                                         "a method registers (kinema methods lists them)"),
    out_dir: Path = typer.Option(Path("benchmarks"), "--out-dir"),
    extractor: str = typer.Option(None, "--extractor",
                                  help="metrics-sanity: an existing clouds extractor folder "
                                       "(default: train one)"),
    runs: Path = typer.Option(None, "--runs", help="method benchmarks: the folder of trained runs "
                              "they compare (each benchmark's docstring says which; most train "
                              "missing ones first)"),
    num_videos: int = typer.Option(None, "--num-videos", help="held-out videos (default: the "
                                   "benchmark's)"),
    preset: str = typer.Option(None, "--preset", help="method benchmarks: the base preset whose "
                               "runs under --runs are compared"),
    device: Optional[str] = device_option(),
) -> None:
    """Run a named benchmark; write benchmarks/NAME.md (table, command, machine) and NAME.json.

    --device reaches the benchmarks that take it, and (as KINEMA_DEVICE) every kinema command
    a benchmark starts; a benchmark that computes in this process without taking it says so."""
    from kinema.bench.benchmarks import run_benchmark
    from kinema.validate import check_number

    check_number("--num-videos", num_videos, 1, None, integer=True)
    from kinema.devices import export_device, resolve_device

    where = resolve_device(device)
    export_device(where)
    md, js = run_benchmark(name, out_dir, extractor=extractor, runs=runs, num_videos=num_videos,
                           preset=preset, device=where)
    typer.echo(Path(md).read_text())
    typer.echo(f"wrote {md} and {js}")
