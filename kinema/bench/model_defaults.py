"""What `kinema eval MODEL` takes from the model when the command line does not say it: the
task it serves, the frame size and channels of the data, the clip length and the context
frames (``kinema.pipelines.inputs.model_input``: a method's ``evaluation_defaults()`` or
``expected_input()``, else its config). The values used, and where each came from, go into
results.json under ``"settings"``."""
from __future__ import annotations

import inspect

from kinema.errors import KinemaError

TASK_NAMES = {"Prediction": "prediction", "ImageToVideo": "image-to-video",
              "Generation": "generation"}
FALLBACK = {"task": "prediction", "num_frames": 16, "context_frames": 2}
PREDICTED_FRAMES = 10     # frames after the context when only the context is known


def eval_settings(model, entry, data: str, given: dict, data_options: dict,
                  trained_frames: int | None = None) -> tuple[dict, dict, dict]:
    """(protocol values, data options, record). ``given``: task / num_frames /
    context_frames as typed (None = not given); ``data_options``: the --option values;
    ``trained_frames``: the clip length of the run's training data (its recipe.json), used
    when the model does not state one."""
    from kinema.pipelines.inputs import model_input

    record: dict = {}
    values: dict = {}

    def choose(name, from_model, source):
        if given.get(name) is not None:
            values[name], record[name] = given[name], "command line"
        elif from_model is not None:
            values[name], record[name] = from_model, source
        else:
            values[name], record[name] = FALLBACK[name], "kinema eval default"

    spec: dict = {}
    if model is not None:
        try:
            spec = model_input(model)
        except KinemaError:
            spec = {}
    tasks = [TASK_NAMES[t] for t in (entry.tasks if entry is not None else ()) if t in TASK_NAMES]
    choose("task", tasks[0] if tasks else None, f"the {entry.name if entry else ''} entry's tasks")
    source = f"the model ({type(model).__name__})"
    context = spec.get("context_frames") if values["task"] == "prediction" else None
    choose("context_frames", context, source)
    length, how = spec.get("num_frames"), source
    if length is None and trained_frames is not None and (
            context is None or trained_frames > context):
        length, how = trained_frames, "the run's recipe.json (its training clips)"
    if length is None and context is not None and given.get("context_frames") is None:
        length, how = context + PREDICTED_FRAMES, f"{source}: its context + {PREDICTED_FRAMES}"
    choose("num_frames", length, how)
    options = dict(data_options)
    accepted = _dataset_parameters(data)
    size = spec.get("size")
    if size is not None and "size" not in options and "size" in accepted:
        if size[0] != size[1]:
            raise KinemaError(f"the model reads {size[0]}x{size[1]} frames; {data} makes square "
                              f"ones: pass --option size=N for another size")
        options["size"], record["size"] = size[0], source
    if "channels" in spec and "channels" not in options and "channels" in accepted:
        options["channels"], record["channels"] = spec["channels"], source
    for name in ("size", "channels"):
        if name in data_options:
            record[name] = "command line (--option)"
    return values, options, record


def _dataset_parameters(name: str) -> set[str]:
    """The keyword options a built-in dataset's constructor names (empty if unknown)."""
    from kinema.data import DATASETS
    from kinema.registry import resolve

    if name not in DATASETS:
        return set()
    try:
        return set(inspect.signature(resolve(DATASETS[name].target)).parameters)
    except (TypeError, ValueError, ImportError, AttributeError):
        return set()


def recipe_frames(folder) -> int | None:
    """``data.options.num_frames`` of the recipe.json beside a model folder (its run's)."""
    import json
    from pathlib import Path

    for recipe in (Path(folder) / "recipe.json", Path(folder).parent / "recipe.json"):
        try:
            frames = json.loads(recipe.read_text())["data"]["options"]["num_frames"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(frames, int) and frames > 1:
            return frames
    return None
