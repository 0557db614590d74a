"""Which trained models the studio serves, found once at start-up, loaded once, cached.

``discover(models_dir)`` looks at each sub-folder of ``--models DIR`` (a model folder, or a
run folder holding ``model/``), reads the class its ``config.json`` names and asks the registry
which entry trains it (``kinema.registry.entry_for_class``). The entry's family picks the
studio adapter from the fixed table ``ADAPTERS`` — a request names a model only by the id
found here, so nothing a request sends is ever imported or opened.

``kinema studio`` without ``--models`` serves the bundled models (``kinema.bundled.root()``,
``models_folder``). A tab whose methods have no trained model here says which ``kinema train``
commands make one, and where the bundled models are (or how to make them).
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from kinema.errors import KinemaError
from kinema.serve.requests import ApiError
from kinema.validate import short_repr

log = logging.getLogger("kinema.studio")

# family -> the studio module that drives its models (kinema/serve/adapters/<family>.py)
ADAPTERS = {"cinn": "kinema.serve.adapters.cinn", "dynamics": "kinema.serve.adapters.dynamics",
            "gendef": "kinema.serve.adapters.gendef",
            "latentgan": "kinema.serve.adapters.latentgan"}
FAMILY_TITLES = {"cinn": "the cINN", "dynamics": "Generative Image Dynamics",
                 "gendef": "GenDeF", "latentgan": "the latent temporal GAN"}


@dataclass(frozen=True)
class Tab:
    name: str
    title: str
    families: tuple[str, ...]     # methods whose models serve this tab (named when none is here)
    summary: str


TABS = (
    Tab("animate", "Animate", ("dynamics", "cinn"), "a picture to a video: loop, slow motion, magnification"),
    Tab("poke", "Poke", ("dynamics",), "drag a part of the picture and let go: the modal simulation"),
    Tab("vary", "Vary", ("cinn",), "cINN samples of one picture, the control eta, motion transfer"),
    Tab("edit", "Edit", ("gendef",), "GenDeF canonical image: scribble, propagate, track points"),
    Tab("generate", "Generate", ("latentgan",), "long videos of one identity"),
)


@dataclass
class ServedModel:
    id: str
    folder: Path
    model_class: str
    entry: str
    family: str
    adapter: str | None            # module name from ADAPTERS, None if the family has none
    usable: bool                   # the stage users load (not an intermediate stage)
    info: dict                     # sizes and options the page shows, from config.json
    device: str = "cpu"            # where the model runs once loaded
    _model: object = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def module(self):
        return importlib.import_module(self.adapter)

    def tabs(self) -> list[str]:
        return [t.name for t in TABS if self.usable and t.name in self.module().TABS]

    def load(self):
        """The loaded model, built on first use (one thread builds it; others wait)."""
        with self._lock:
            if self._model is None:
                self._model = self.module().load(self.folder).to(self.device)
            return self._model

    def about(self, picture=None) -> dict:
        """What a result of this model is (``kinema.provenance.describe``: name, resolution,
        training data and steps; ``domain``, a sentence when ``picture``, (h w 3) uint8, lies
        outside the training domain) and that as one line, ``caption``."""
        from kinema.provenance import caption, describe

        about = describe(self.folder, picture)
        return {**about, "caption": caption(about)}

    def public(self) -> dict:
        out = {"id": self.id, "family": self.family, "entry": self.entry,
               "class": self.model_class, "tabs": self.tabs(), "info": self.info,
               "about": self.about()}
        return out


def with_about(served: ServedModel, fields: dict, catalogue, work):
    """The job ``work`` whose result also carries ``about`` (``ServedModel.about``), measured
    against the request's picture where the request uses one (not a latent GAN's training or
    random identity)."""
    picture_id = fields.get("picture")
    uses_picture = isinstance(picture_id, str) and fields.get("identity") in (None, "picture")

    def run(progress):
        result = work(progress)
        result.info["about"] = served.about(catalogue.picture(picture_id) if uses_picture else None)
        return result
    return run


def discover(models_dir: Path, adapters: dict[str, str] | None = None
             ) -> tuple[list[ServedModel], list[str]]:
    """(served models, notes on folders skipped and why). ``adapters``: family -> module,
    default ``ADAPTERS`` (a caller may add its own methods' modules)."""
    adapters = ADAPTERS if adapters is None else adapters
    from kinema.pretrained import model_folder, read_meta
    from kinema.registry import entry_for_class

    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise KinemaError(f"--models {models_dir} is not a folder (it should hold trained model "
                          f"or run folders, e.g. runs/ after `kinema train`)")
    served, notes = [], []
    children = sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if is_bundled_folder(models_dir):   # kinema.bundled's order: a tab's first model is the verb's default
        from kinema.bundled import names

        order = {name: i for i, name in enumerate(names())}
        children.sort(key=lambda p: order.get(p.name, len(order)))
    for child in children:
        try:
            folder = model_folder(child)
            meta = read_meta(folder)
        except KinemaError:
            continue                                   # not a model or run folder
        target = meta["class"]
        entry = entry_for_class(target)
        if entry is None:
            notes.append(f"{child.name}: class {target} is no registered method's model")
            continue
        adapter = adapters.get(entry.family)
        if adapter is None:
            notes.append(f"{child.name}: the studio has no page for {entry.family}")
            continue
        module = importlib.import_module(adapter)
        usable = module.accepts(entry)
        try:
            info = module.summarize(meta["config"]) if usable else {}
        except (KeyError, TypeError, ValueError) as err:
            notes.append(f"{child.name}: config.json of {entry.name} lacks {err}")
            continue
        served.append(ServedModel(child.name, folder, target, entry.name, entry.family, adapter,
                                  usable, info))
    return served, notes


def models_folder(given: Path | None) -> Path:
    """The folder ``kinema studio`` serves: ``--models`` when given, else the bundled models
    (``kinema.bundled.root()``); a ``KinemaError`` saying how to make them when none is there."""
    from kinema import bundled

    if given is not None:
        return Path(given)
    if not bundled.names():
        raise KinemaError(f"kinema studio without --models serves the bundled models, and "
                          f"{bundled.root()} holds none: make them with `{bundled.MAKE_TARGET}`, "
                          f"or pass --models runs (your own trained runs; `make studio-tiny` "
                          f"trains tiny ones in seconds)")
    return bundled.root()


def is_bundled_folder(models_dir: Path) -> bool:
    """``models_dir`` is the folder of bundled models (``kinema.bundled.root()``)."""
    from kinema.bundled import root

    try:
        return Path(models_dir).resolve() == root().resolve()
    except OSError:
        return False


def missing_hint(family: str, models_dir: Path) -> str:
    """What a tab says when ``family`` has no model in ``models_dir`` (this studio's models):
    the commands that train one, and the bundled models: the ``kinema studio`` that serves
    them, or when they are the folder served, the make target that makes them."""
    from kinema import bundled

    title = FAMILY_TITLES.get(family, family)
    if is_bundled_folder(models_dir):
        return (f"No trained model of {title} in {models_dir} (this studio's --models: the "
                f"bundled models, kinema studio's default): make the bundled models with "
                f"`{bundled.MAKE_TARGET}`, or {train_commands(family)}, then restart "
                f"`kinema studio --models runs`.")
    shipped = [n for n in bundled.names() if n.split("-")[0] == family]
    where = (f"serves the bundled {', '.join(shipped)} model(s) ({bundled.root()})" if shipped else
             f"serves the bundled models ({bundled.root()}, made by `{bundled.MAKE_TARGET}`)")
    return (f"No trained model of {title} in {models_dir} (this studio's --models): "
            f"{train_commands(family)}, then restart `kinema studio --models runs`; "
            f"`kinema studio` without --models {where}.")


def train_commands(family: str) -> str:
    """The ``kinema train`` commands that make a model of ``family``, its stages in order, each
    with its measured time where `make studio-tiny` trains it (``kinema.serve.train_times``)."""
    from kinema.registry import METHODS, available_methods
    from kinema.serve.train_times import measured_on, studio_runs

    available_methods()                              # registers the built-in methods
    stages = [e for e in METHODS.values() if e.family == family]
    if not stages:
        return (f"{FAMILY_TITLES.get(family, family)} is not in this kinema yet (`kinema methods` "
                f"lists the methods it has); once it is, train it with `kinema train` and its "
                f"stage names")
    runs = studio_runs([e.name for e in stages])
    if len(runs) != len(stages):
        steps = " && ".join(f"kinema train {e.name} --preset {_preset(e)}" for e in stages)
        return f"train it with `{steps}` (runs go to runs/)"
    steps = " && ".join(f"`kinema train {stage} --preset {preset}` ({seconds:.0f} s)"
                        for stage, preset, seconds in runs)
    total = sum(seconds for *_, seconds in runs)
    return (f"train it with {steps}, {total:.0f} s in all ({measured_on()}; the tiny presets check "
            f"the pipeline, --preset small trains motion you can see); runs go to runs/")


def _preset(entry) -> str:
    return "small" if "small" in entry.presets or not entry.presets else entry.presets[0]


class ModelStore:
    def __init__(self, models_dir: Path, adapters: dict[str, str] | None = None,
                 device: str = "cpu"):
        self.models_dir = Path(models_dir)
        found, self.notes = discover(self.models_dir, adapters)
        for served in found:
            served.device = device
        self.models = {m.id: m for m in found}
        for note in self.notes:
            log.info("skipped %s", note)

    def get(self, key: str, tab: str) -> ServedModel:
        model = self.models.get(key)
        if model is None:
            raise ApiError(404, f"no model {short_repr(key)}; models: {', '.join(self.models) or 'none'}")
        if tab not in model.tabs():
            raise ApiError(400, f"model {short_repr(key)} ({model.entry}) does not serve the {tab} tab; "
                                f"it serves: {', '.join(model.tabs()) or 'no tab (an intermediate stage)'}")
        return model

    def tab_state(self, tab: Tab) -> dict:
        """The tab's models; ``missing`` (no model: the tab cannot run) or ``also`` (some of its
        methods have no model) say which commands train the missing ones."""
        models = [m.id for m in self.models.values() if tab.name in m.tabs()]
        out = {"name": tab.name, "title": tab.title, "summary": tab.summary, "models": models}
        served = {self.models[m].family for m in models}
        absent = [f for f in tab.families if f not in served]
        text = " ".join(missing_hint(f, self.models_dir) for f in absent)
        if absent:
            out["missing" if not models else "also"] = text
        return out

    def state(self) -> dict:
        return {"models": [m.public() for m in self.models.values()],
                "tabs": [self.tab_state(t) for t in TABS], "skipped": self.notes}
