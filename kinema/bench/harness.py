"""One evaluation loop for every method: data -> model -> streaming metrics -> results.json.

``evaluate(run, data, metrics, protocol)`` loads the model (a saved model folder, or a
registered closed-form baseline fitted on the training split), walks the evaluation split
once in batches, asks the model for its videos according to the task, folds each batch into
every metric and keeps nothing else, so memory stays flat in the number of videos. The
record it returns names the protocol, the metrics and their versions, the data, the model and
the command, so a number can always be traced back to how it was made.
"""
from __future__ import annotations

import dataclasses
import platform
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kinema.data.io import write_atomic
from kinema.errors import KinemaError
from kinema.validate import short_repr
from kinema.pretrained import model_folder  # noqa: F401  (public here too)

TASKS = ("prediction", "image-to-video", "generation")
TASK_METHODS = {"prediction": "predict", "image-to-video": "sample", "generation": "generate"}
BASELINE_ALIASES = {"repeat-last": "baselines.repeat-last",
                    "dynamic-texture": "baselines.dynamic-texture"}


@dataclass
class Protocol:
    """What is evaluated, and how; see docs/evaluation.md for the numbers of each task."""
    task: str = "prediction"
    split: str = "test"
    num_videos: int = 256          # evaluation clips (the first ones of the split)
    num_frames: int = 16           # clip length, context included
    context_frames: int = 2        # prediction: observed frames; image-to-video: 1
    num_samples: int = 1           # samples per input (best-of-N, diversity)
    batch_size: int = 16
    seed: int = 0                  # the generator handed to the model
    fit_videos: int = 500          # closed-form baselines: training clips they are fitted on
    data_options: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("num_videos", "num_frames", "num_samples", "batch_size", "fit_videos"):
            if getattr(self, name) < 1:
                raise KinemaError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("context_frames", "seed"):
            if getattr(self, name) < 0:
                raise KinemaError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.task not in TASKS:
            raise KinemaError(f"task must be one of {', '.join(TASKS)}, got {short_repr(self.task)}")
        if self.task == "prediction" and not 1 <= self.context_frames < self.num_frames:
            raise KinemaError(f"context_frames must be in [1, num_frames), got {self.context_frames}")


def collate(items: list[dict]) -> dict:
    """Stack the tensor fields of dataset items; keep the rest as lists."""
    out = {}
    for key in items[0]:
        values = [it[key] for it in items]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out


def load_model(run: str, data: str, protocol: Protocol, progress: bool = True):
    """A saved model folder, or a registered baseline name (fitted on the training split in
    closed form, through the same ``kinema.train.recipes`` path ``kinema train`` takes)."""
    from kinema.data import load_dataset
    from kinema.pretrained import load_pretrained
    from kinema.registry import available_methods
    from kinema.train.recipes import build_recipe, fit_closed_form, model_class_of

    if Path(run).is_dir():
        folder = model_folder(Path(run))
        return load_pretrained(folder).eval(), {"run": str(folder), "kind": "model folder"}
    name = BASELINE_ALIASES.get(run, run)
    if name not in available_methods():
        raise KinemaError(f"{run!r} is neither a model folder nor a registered method; "
                          f"methods: {', '.join(available_methods())}")
    recipe = build_recipe(name, "small")
    cls = model_class_of(recipe)
    if not hasattr(cls, "fit"):
        raise KinemaError(f"{name} must be trained first (`kinema train {name}`); pass the "
                          f"saved model folder")
    train = load_dataset(data, "train", num_frames=protocol.num_frames, **protocol.data_options)
    t, c, h, w = train[0]["video"].shape
    config = recipe.model
    config = dataclasses.replace(config, **{k: v for k, v in
                                            dict(channels=c, height=h, width=w).items()
                                            if hasattr(config, k)})
    fit_videos = min(protocol.fit_videos, len(train))
    if hasattr(config, "num_components"):  # PCA needs no more components than data
        config = dataclasses.replace(
            config, num_components=min(config.num_components, c * h * w, fit_videos * t))
    model = cls(config)
    fit_closed_form(model, train, max_clips=fit_videos, progress=progress)
    return model.eval(), {"run": name, "kind": "baseline fitted on the training split",
                          "fit_videos": fit_videos,
                          "config": dataclasses.asdict(config)}


def model_videos(model, video: torch.Tensor, batch: dict, protocol: Protocol,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(fake (b n t c h w), real (b t c h w), frame_offset) for one batch of clips."""
    n, total = protocol.num_samples, video.shape[1]
    with torch.no_grad():
        if protocol.task == "prediction":
            k = protocol.context_frames
            fake = model.predict(video[:, :k], total - k, n, generator=generator)
            return fake, video[:, k:], k
        if protocol.task == "image-to-video":
            control = batch.get("eta_onehot")
            fake = model.sample(video[:, 0], total, n, control=control, generator=generator)
            return fake, video, 0
        fake = model.generate(video.shape[0], total, generator=generator).unsqueeze(1)
        return fake, video, 0


# Knuth's multiplicative constant: batch seeds of nearby seeds (0, 1, 2 ...) stay apart
BATCH_SEED_STEP = 2654435761


def batch_generator(seed: int, index: int) -> torch.Generator:
    """The generator of evaluation batch ``index``, seeded ``(seed + index * BATCH_SEED_STEP)
    mod 2**32`` (torch's CPU generator keeps 32 bits of a seed): batch 0 draws what one
    generator seeded ``seed`` draws; the seeds 0..299 share no batch stream in their first
    300 batches."""
    return torch.Generator().manual_seed((seed + index * BATCH_SEED_STEP) % 2 ** 32)


def make_videos(model, batch: dict, protocol: Protocol, index: int, device: torch.device,
                data: str) -> dict:
    """One batch of clips through the model on ``device``: the batch with ``fake``
    (b n t c h w), ``real`` (b t c h w) and ``frame_offset`` added."""
    video = batch["video"].to(device)
    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    try:
        fake, real, offset = model_videos(model, video, inputs, protocol,
                                          batch_generator(protocol.seed, index))
    except RuntimeError as error:  # mostly a model trained on another size / channel count
        raise KinemaError(
            f"{type(model).__name__} failed on {data} clips of shape (t c h w) "
            f"{tuple(video.shape[1:])}: {str(error).splitlines()[0]} (was it trained on "
            f"videos of another size or channel count? --option size=N resizes the data)"
        ) from error
    return dict(batch, fake=fake.float(), real=real.float(), frame_offset=offset)


def fold(built: dict, batch: dict, device: torch.device) -> None:
    """Fold one batch into every metric: those with a feature network see the videos on
    ``device`` (where the network is); the others compute on the CPU (OpenCV, NumPy)."""
    from kinema.metrics import metric_entry

    fields = {k: v for k, v in batch.items() if k not in ("fake", "real")}
    for name, metric in built.items():
        where = device if metric_entry(name).features is not None else torch.device("cpu")
        metric.update(batch["fake"].to(where), batch["real"].to(where), fields)


def gather_to_main(made: dict | None, ranks) -> list:
    """Every rank's batch (on the CPU) at rank 0, in rank order (= batch order); the other
    ranks get an empty list."""
    import torch.distributed as dist

    if made is not None:
        made = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in made.items()}
    out = [None] * ranks.world_size if ranks.is_main else None
    dist.gather_object(made, out, dst=0)
    return out or []


def accepted_options(name: str, options: dict) -> dict:
    """The subset of ``options`` (e.g. window=30, stride=10) metric ``name`` takes."""
    import inspect

    from kinema.metrics import metric_entry
    from kinema.registry import resolve

    params = inspect.signature(resolve(metric_entry(name).target).__init__).parameters
    taken = {k: v for k, v in options.items() if k in params}
    for key, value in taken.items():
        numeric = any(t in str(params[key].annotation) for t in ("int", "float"))
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise KinemaError(f"metric option {key}={short_repr(value)} ({name}) must be a number")
    return taken


def check_metric_options(metrics: list[str], options: dict) -> None:
    """Every --metric-option must be taken by at least one of the chosen metrics."""
    taken = {key for name in metrics for key in accepted_options(name, options)}
    unused = sorted(set(options) - taken)
    if unused:
        raise KinemaError(f"metric option(s) {', '.join(unused)} taken by none of "
                          f"{', '.join(metrics)} (e.g. window and stride are the sliding "
                          f"distances' options)")


def check_metrics_suit(built: dict, protocol: Protocol) -> None:
    """Refuse metrics whose number would mean nothing under this protocol."""
    paired = [name for name, metric in built.items() if metric.paired]
    if protocol.task == "generation" and paired:
        raise KinemaError(f"{', '.join(paired)} score each video against the truth of the same "
                          f"input; generation has no input, so use distribution metrics "
                          f"(fvd, fid, kid, kvd, domain-fvd, ...)")
    compared = protocol.num_frames - (protocol.context_frames if protocol.task == "prediction" else 0)
    for name, metric in built.items():
        if (getattr(metric, "window", None) or 0) > compared:
            raise KinemaError(f"{name}: a window of {metric.window} frames is longer than the "
                              f"{compared} compared frames; raise --num-frames or pass "
                              f"--metric-option window=N")
    too_few = [name for name, metric in built.items() if protocol.num_samples < metric.min_samples]
    if too_few:
        raise KinemaError(f"{', '.join(too_few)} compare samples of one input: pass --num-samples "
                          f"2 or more (got {protocol.num_samples})")


def extractor_training(extractor: str | None, cache: dict) -> dict | None:
    """What the domain extractor in use was trained on and how well it classifies held-out
    clips (its ``training.json``), so a domain FVD can be judged by its feature space."""
    import json

    if extractor is None or "domain" not in cache:
        return None
    record = Path(extractor) / "training.json"
    if not record.is_file():
        return {"dataset": getattr(cache["domain"].config, "dataset", None)}
    keys = ("dataset", "labels", "num_classes", "chance", "test_accuracy",
            "test_accuracy_within_one_class", "train_videos", "test_videos", "steps", "seed")
    return {k: v for k, v in json.loads(record.read_text()).items() if k in keys}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate(run, data: str, metrics: list[str], protocol: Protocol | None = None,
             weights: str | None = None, extractor: str | None = None, progress: bool = True,
             model=None, model_record: dict | None = None,
             feature_options: dict | None = None, metric_options: dict | None = None,
             device: torch.device | str | None = None, ranks=None) -> dict | None:
    """Evaluate ``run`` (or an already built ``model``) on ``data``; returns the results record.

    ``device``: where the model and the feature networks run (default: the given model's
    device, else the CPU). ``ranks``: a ``kinema.train.distributed.DistContext`` under
    torchrun: each rank makes the videos of every world_size-th batch, rank 0 folds them into
    the metrics in batch order and returns the record; the other ranks return None. Batch i
    draws from its own generator (``batch_generator``), so the numbers do not depend on the
    number of ranks."""
    from tqdm.auto import tqdm

    import kinema
    from kinema.devices import module_device, move
    from kinema.data import load_dataset
    from kinema.metrics import build_metric, metric_entry

    protocol = protocol or Protocol()
    start = time.time()
    dataset = load_dataset(data, protocol.split, num_frames=protocol.num_frames,
                           **protocol.data_options)
    count = min(protocol.num_videos, len(dataset))
    cache: dict = {}
    # Metrics first: a bad name or a missing weights file fails before a baseline is fitted.
    check_metric_options(metrics, metric_options or {})
    built = {name: build_metric(name, weights=weights, extractor=extractor, dataset=dataset,
                                feature_cache=cache, feature_options=feature_options,
                                **accepted_options(name, metric_options or {}))
             for name in metrics}
    check_metrics_suit(built, protocol)
    if model is None:
        model, model_record = load_model(str(run), data, protocol, progress)
    if not hasattr(model, TASK_METHODS[protocol.task]):
        served = [t for t, m in TASK_METHODS.items() if hasattr(model, m)]
        raise KinemaError(f"{type(model).__name__} does not serve the task {short_repr(protocol.task)} "
                          f"(it serves: {', '.join(served) or 'none'}); pick another --task")
    if device is None:
        device = module_device(model) if isinstance(model, torch.nn.Module) else "cpu"
    device = torch.device(device)
    main = ranks is None or ranks.is_main
    if isinstance(model, torch.nn.Module):
        model = model.to(device)
    if main:   # only rank 0 folds; ``to`` moves in place, so the metrics' references follow
        for kind, extractor_object in cache.items():
            cache[kind] = move(extractor_object, device)
    world, rank = (1, 0) if ranks is None else (ranks.world_size, ranks.rank)
    starts = list(range(0, count, protocol.batch_size))
    rounds = range(0, len(starts), world)
    for first in tqdm(rounds, desc=f"eval {data}", unit="batch" if world == 1 else "round",
                      disable=not (progress and main)):
        index = first + rank
        made = None
        if index < len(starts):
            items = range(starts[index], min(starts[index] + protocol.batch_size, count))
            made = make_videos(model, collate([dataset[i] for i in items]), protocol, index,
                               device, data)
        for batch in (gather_to_main(made, ranks) if world > 1 else [made]):
            if batch is not None:
                fold(built, batch, device)
    if not main:
        return None
    results: dict = {}
    for metric in built.values():
        results.update(metric.compute())
    return {
        "results": results,
        "protocol": dataclasses.asdict(protocol),
        "metrics": {name: {"version": metric_entry(name).version,
                           "summary": metric_entry(name).summary,
                           "options": {**metric_entry(name).options,
                                       **accepted_options(name, metric_options or {})},
                           "features": metric_entry(name).features} for name in metrics},
        "feature_extractors": {"weights": weights, "extractor": extractor,
                               "options": feature_options or {},
                               "extractor_training": extractor_training(extractor, cache)},
        "data": {"name": data, "split": protocol.split, "num_videos": count,
                 "options": protocol.data_options},
        "model": model_record or {"run": str(run)},
        "command": " ".join(["kinema"] + sys.argv[1:]) if Path(sys.argv[0]).name == "kinema"
        else " ".join(sys.argv),
        "kinema_version": getattr(kinema, "__version__", "0.1.0"),
        "machine": machine(),
        "seconds": round(time.time() - start, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def write_benchmark(out_dir: str | Path, name: str, title: str, body_lines: list[str],
                    record: dict) -> tuple[Path, Path]:
    """Write a benchmark's ``out_dir/name.md`` (``# title``, the body, then how it was made:
    the command and the machine) and ``out_dir/name.json`` (``record`` plus the command and
    the machine). Both files appear complete or not at all. Returns (md path, json path)."""
    import json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "kinema " + " ".join(sys.argv[1:]) if sys.argv[1:] else f"kinema bench {name}"
    m = machine()
    lines = [f"# {title}", "", *body_lines, "", "## How this was made", "",
             f"Command: `{command}`", "",
             f"Machine: {m['platform']}, {m['cpus']} CPUs, torch {m['torch']} "
             f"({m['threads']} threads), Python {m['python']}. Shared machine: timings are "
             f"indicative only.", ""]
    md, js = out_dir / f"{name}.md", out_dir / f"{name}.json"
    write_atomic(js, json.dumps(dict(record, command=command, machine=m), indent=2))
    write_atomic(md, "\n".join(lines))
    return md, js


def machine() -> dict:
    import os

    return {"platform": platform.platform(), "python": sys.version.split()[0],
            "torch": torch.__version__, "cpus": os.cpu_count(), "threads": torch.get_num_threads()}


def train_summary(run: Path) -> str:
    """'N steps at batch B, M min' from a finished run's recipe.json and metrics.jsonl, or
    'not trained' when either is missing or unreadable (for benchmark tables)."""
    import json

    run = Path(run)
    try:
        recipe = json.loads((run / "recipe.json").read_text())
        lines = (run / "metrics.jsonl").read_text().splitlines()
        last = json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return "not trained"
    train = recipe.get("train", {})
    minutes = f", {last['time'] / 60:.0f} min" if "time" in last else ""
    return f"{train.get('steps')} steps at batch {train.get('batch_size')}{minutes}"
