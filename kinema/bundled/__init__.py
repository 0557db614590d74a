"""The trained models kinema ships: one per method, so that the first command shows learned motion.

Each lives in ``kinema/bundled/models/NAME/`` as an ordinary model folder (``config.json``,
``model.safetensors``, and beside them ``recipe.json``, ``metrics.jsonl``, ``domain.json`` and
``card.md`` / ``card.json``: what ``kinema.provenance`` and the studio read). They are trained by
``make -f benchmarks/runs.mk bundled-runs`` and written here by ``kinema bundle export``
(``kinema.bundled.export``); their numbers are measured by ``kinema bench bundled-models``.

A bundled model is named by its family (``dynamics``, ``cinn``, ``gendef``, ...): wherever a
model folder is read from the command line or Python (``--model``, ``kinema.pipelines.load``),
such a name reads the bundled folder, unless a folder of that name exists where the user is.
``KINEMA_BUNDLED=DIR`` points at another folder of bundled models (the tests' tiny ones).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kinema.errors import KinemaError

ENV = "KINEMA_BUNDLED"
MAKE_TARGET = "make -f benchmarks/runs.mk bundled-models"


@dataclass(frozen=True)
class Bundled:
    """A bundled model: its ``name``, the ``run`` (runs/RUN) it is exported from, and the verbs
    it is the default model of (``kinema VERB`` without ``--model``)."""
    name: str
    run: str
    verbs: tuple[str, ...]
    limits: str = ""     # what it cannot do, for its model card (kinema.bundled.export)


# The order is the order of the studio's and demo's pages. A verb's default is the first entry
# that lists it; --method FAMILY picks the first entry of that family serving the verb.
BUNDLED = (
    Bundled("dynamics", "dynamics-render-small150", ("animate", "poke"), limits=(
        "Trained on kinema's synthetic `swaying` scenes only: procedural meadows and crops of "
        "scikit-image's photos whose regions oscillate in place, brighter regions faster and "
        "textured ones wider. It makes small periodic sway and nothing else: nothing travels "
        "across the picture, the camera never moves, water, smoke and people do not move as "
        "they do. On a photograph it moves what is textured, not what is semantically movable "
        "(a textured wall sways like grass), and it sees and renders the picture at its "
        "training resolution only.")),
    Bundled("cinn", "cinn-flow-small-clouds", ("animate",), limits=(
        "Trained on kinema's synthetic `clouds` only: fractal clouds drifting in a straight line "
        "at constant speed over a still landscape. It knows that one motion, a cloud layer "
        "sliding in some direction while the ground stays; it cannot move objects, bodies or "
        "anything that deforms, and on a photograph it slides or smears textured, sky-like "
        "regions rather than moving what would move. The direction is its own random choice "
        "(the cinn-control model takes one), and it works at its training resolution only.")),
    Bundled("cinn-control", "cinn-flow-small-clouds-control", ("animate", "transfer"), limits=(
        "The cinn model with a control: trained on the same synthetic `clouds`, with the drift "
        "direction given as a direction bin. It steers only that, the direction of a cloud "
        "layer's straight drift; the speed is its own choice, and motion transfer carries over "
        "a source clip's cloud drift, not a person's or an object's motion. On photographs it "
        "slides textured regions, at its training resolution only.")),
    Bundled("gendef", "gendef-video-small", ("sample", "edit", "track"), limits=(
        "Trained on kinema's synthetic `clouds` only. It draws new cloud videos as one "
        "canonical picture warped by smooth deformation fields, so nothing can appear or "
        "disappear, and its edits and tracks follow those smooth deformations only; its clouds "
        "drift more slowly than the training clips' (the benchmark's speed ratio). It takes no "
        "input picture: it generates skies of drifting clouds at its training resolution, "
        "nothing else.")),
    Bundled("latentgan", "latentgan-temporal-small", ("sample",), limits=(
        "Trained on kinema's synthetic `actors` (small articulated figures walking, waving or "
        "doing jumping jacks): a small StyleGAN-style image generator, and a recurrent network "
        "walking its latent space along the embedded clips of the one actor its temporal stage "
        "saw. At this CPU-sized preset (8000 image steps at 32 px) the generator draws the "
        "figure, but its encoder's reconstructions keep the body and head and lose the thin "
        "limbs, so the embedded clips it learned from hardly walk or wave: its videos show a "
        "figure that stands almost still while the background's colour drifts "
        "(benchmarks/bundled/latentgan.png), not the actors' gestures; its motion-fd win over a "
        "still frame is mostly that drift (its flow is faster than the real clips': the flow "
        "speed ratio of its benchmark). It takes no input picture.")),
    Bundled("ile", "ile-small", (), limits=(
        "Trained on kinema's synthetic `bouncing-digits` (grey handwritten digits bouncing in a "
        "square), predicting in latent linear dynamics. At this CPU-sized preset it does not "
        "keep the digit: what it predicts is a blurred, dotted blob that moves (more than a "
        "still frame does, by the benchmark), often away from where the digit was and fading "
        "(benchmarks/bundled/ile.png); its predictions do not vary with the seed. It knows no "
        "motion but the digits', and reads only grey frames at its training resolution. No "
        "verb uses it by default (pipelines and the demo do).")),
)
BY_NAME = {b.name: b for b in BUNDLED}


def root() -> Path:
    """The folder of bundled models: ``$KINEMA_BUNDLED`` or ``kinema/bundled/models``."""
    given = os.environ.get(ENV)
    return Path(given) if given else Path(__file__).resolve().parent / "models"


def names() -> list[str]:
    """The bundled models present in ``root()``, in ``BUNDLED`` order (then any others)."""
    here = root()
    if not here.is_dir():
        return []
    present = {p.name for p in here.iterdir() if (p / "config.json").is_file()}
    return [b.name for b in BUNDLED if b.name in present] + sorted(present - set(BY_NAME))


def folder(name: str) -> Path:
    """The bundled model ``name``'s folder; a ``KinemaError`` naming the missing file and how to
    make it when it is not there."""
    path = root() / name
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        return path
    if name not in BY_NAME and not path.exists():
        known = ", ".join(b.name for b in BUNDLED)
        raise KinemaError(f"{name!r} is no bundled model (bundled: {known})")
    missing = path / ("config.json" if not (path / "config.json").is_file() else "model.safetensors")
    run = BY_NAME[name].run if name in BY_NAME else name
    raise KinemaError(f"the bundled model {name!r} is missing {missing}: train and export it with "
                      f"`{MAKE_TARGET}` (it trains runs/{run}), or pass --model FOLDER")


def is_name(value) -> bool:
    """``value`` is a bundled model's name and not a path that exists where the user is."""
    return isinstance(value, (str, Path)) and str(value) in BY_NAME and not Path(value).exists()


def resolve(path) -> Path:
    """A model folder argument: a bundled name becomes its folder; anything else is returned as a
    ``Path`` unchanged (``kinema.pretrained.model_folder`` then checks it)."""
    return folder(str(path)) if is_name(path) else Path(path)


def for_verb(verb: str, family: str | None = None) -> Path:
    """The bundled model ``kinema VERB`` reads without ``--model``: the first listing ``verb``
    (of ``family`` when given: a method family or a bundled name)."""
    candidates = [b for b in BUNDLED if verb in b.verbs]
    if family is not None:
        chosen = [b for b in candidates if b.name == family] or \
                 [b for b in candidates if b.name.split("-")[0] == family.split("-")[0]]
        if not chosen:
            serving = ", ".join(b.name for b in candidates) or "none"
            raise KinemaError(f"no bundled model of {family} serves `kinema {verb}` (bundled ones that "
                              f"do: {serving}); pass --model FOLDER")
        candidates = chosen
    if not candidates:
        raise KinemaError(f"no bundled model serves `kinema {verb}`; pass --model FOLDER")
    return folder(candidates[0].name)
