"""The verbs several methods share: ``kinema animate`` (image to video) and ``kinema sample``
(generation). Each is defined once here; the work is done by the handler a method names in its
registry entry's ``apps`` field:

    MethodEntry(..., apps={"animate": "kinema.methods.dynamics.cli:animate"})

    def animate(image: Path, model: Path, out: Path, options: AnimateOptions) -> list[Path]
    def sample(model: Path, out: Path, options: SampleOptions) -> list[Path]

The handler is chosen by ``--method`` (a family such as ``cinn`` or an entry name such as
``cinn-flow``) or else by the model folder's ``config.json`` class: the entry that trains that
class if it has the verb, otherwise the stage of the same family that has it. Without
``--model`` (``sample``: without RUN) the verb reads its bundled model (``kinema.bundled``,
``kinema.default_models``): the first bundled entry serving the verb, or with ``--method`` the
one of that method (``--method`` may also name a bundled model, ``cinn-control``). The options
hold ``None`` for everything the user did not set, so a handler applies its own defaults
(``options.with_defaults(num=4, seed=0)``) and refuses what it cannot do
(``options.refuse(unsupported=("loop", "magnify"), method="cinn")``). ``options.device`` is
the checked ``--device`` (``kinema.devices``): the handler moves its model and inputs there and
brings the videos back to the CPU before writing. The handler writes into ``out`` and returns
the files it wrote; the verb prints them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import typer

from kinema.default_models import default_names, model_help
from kinema.devices import device_option, resolve_device
from kinema import validate
from kinema.errors import KinemaError
from kinema.outputs import write_staged

VERBS = ("animate", "sample")
# Frames (and videos) a verb makes at most, and the work it may start (kinema.validate):
# KINEMA_MAX_FRAMES / KINEMA_MAX_VIDEOS / KINEMA_MAX_WORK raise them (docs/errors.md).
MAX_FRAMES, MAX_VIDEOS = validate.MAX_FRAMES, validate.MAX_VIDEOS
# Factors and rates a verb takes: far beyond any use, and bounded so that a frame count or
# a gif's frame duration made from them stays a number
MAX_FACTOR = 1000.0         # --slowmo, --magnify
FPS_RANGE = (0.1, 1000.0)   # --fps
MAX_CONTROL = 1_000_000     # --control (a bin index; the model checks its own count)


@dataclass(frozen=True)
class VerbOptions:
    """Options of a shared verb; ``None`` = not given on the command line."""

    def given(self) -> list[str]:
        """Names of the options the user set."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def refuse(self, unsupported: tuple[str, ...] = (), method: str = "this method") -> None:
        """One ``KinemaError`` naming every option in ``unsupported`` that the user set."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(unsupported) - names)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no option(s) {', '.join(unknown)}")
        refused = [n for n in unsupported if getattr(self, n) is not None]
        if refused:
            flags = ", ".join(f"--{n.replace('_', '-')}" for n in refused)
            raise KinemaError(f"{method} does not support {flags} "
                              f"({'it' if len(refused) == 1 else 'they'} cannot be used with "
                              f"this model)")

    def with_defaults(self, **defaults):
        """A copy in which every option still ``None`` takes its value from ``defaults``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(defaults) - names)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no option(s) {', '.join(unknown)}")
        return dataclasses.replace(self, **{k: v for k, v in defaults.items()
                                            if getattr(self, k) is None})


@dataclass(frozen=True)
class AnimateOptions(VerbOptions):
    num: int | None = None          # how many different videos
    frames: int | None = None       # frames per video
    seed: int | None = None
    control: int | None = None      # a control bin (methods trained with one)
    loop: bool | None = None        # a seamless loop (True when --loop is given)
    slowmo: float | None = None     # slow-motion factor
    magnify: float | None = None    # motion magnification factor
    fps: float | None = None        # frame rate of the written videos
    device: str | None = None       # where the model runs (the verb resolves --device)
    from_video: bool | None = None  # the input is a clip animated by its own motion (--from-video)


@dataclass(frozen=True)
class SampleOptions(VerbOptions):
    num: int | None = None
    frames: int | None = None
    seed: int | None = None
    identity: str | None = None     # "random", or an image whose content the videos keep
    fps: float | None = None
    device: str | None = None       # where the model runs (the verb resolves --device)


# ------------------------------------------------------------------ choosing the handler

def _serving(verb: str) -> list:
    from kinema.registry import entries

    return [e for e in entries() if verb in e.apps]


def _names(found: list) -> str:
    return ", ".join(sorted({e.family for e in found} | {e.name for e in found})) or "none"


def choose_entry(verb: str, model: Path | None, method: str | None = None):
    """The registry entry whose ``apps[verb]`` serves ``model`` (see the module docstring); with
    ``method``, ``model`` is not read (None checks the method alone)."""
    from kinema.pretrained import model_folder, read_model_class
    from kinema.registry import entries, entry_for_class

    serving = _serving(verb)
    if method is not None:
        named = [e for e in entries() if method in (e.name, e.family)]
        if not named:
            raise KinemaError(f"--method {validate.short_repr(method)} is no registered method; those with "
                              f"`kinema {verb}`: {_names(serving)}")
        found = [e for e in named if verb in e.apps]
        if not found:   # an entry name: its family's stage that has the verb
            families = {e.family for e in named}
            found = [e for e in serving if e.family in families]
        if not found:
            raise KinemaError(f"{method} has no `kinema {verb}`; methods that have it: "
                              f"{_names(serving)}")
        if len(found) > 1:
            raise KinemaError(f"--method {method} is ambiguous for `kinema {verb}`: "
                              f"{', '.join(e.name for e in found)}; name one of them")
        return found[0]
    folder = model_folder(model)
    target = read_model_class(folder)
    entry = entry_for_class(target)
    if entry is None:
        raise KinemaError(f"{folder} holds a {target} model, which no registered method "
                          f"trains; pass --method (methods with `kinema {verb}`: "
                          f"{_names(serving)})")
    if verb in entry.apps:
        return entry
    family = [e for e in serving if e.family == entry.family]
    if len(family) == 1:
        return family[0]
    if not family:
        raise KinemaError(f"{folder} holds a {entry.name} model; no stage of {entry.family} "
                          f"has `kinema {verb}` (methods that have it: {_names(serving)})")
    raise KinemaError(f"{folder}: several stages of {entry.family} have `kinema {verb}` "
                      f"({', '.join(e.name for e in family)}); choose one with --method")


def model_and_method(verb: str, model: Path | None, method: str | None) -> tuple[Path, str | None]:
    """(the model folder ``kinema VERB`` reads, the ``--method`` its handler is chosen by).

    ``model`` given: it (a bundled name becomes its folder). Else the verb's bundled model: of
    ``method`` when given, which is first checked to be a method with the verb (so that
    ``--method gendef`` for ``animate`` says gendef has no animate), or a bundled model's name
    (``--method cinn-control``: its folder, the handler then chosen by its class)."""
    from kinema.bundled import BY_NAME
    from kinema.default_models import model_for
    from kinema.registry import entries

    if model is not None or method is None:
        return model_for(verb, model), method
    if method in BY_NAME and not any(method in (e.name, e.family) for e in entries()):
        return model_for(verb, None, method), None
    choose_entry(verb, None, method)
    return model_for(verb, None, method), method


def handler(verb: str, model: Path | None, method: str | None = None) -> Callable:
    from kinema.registry import resolve

    return resolve(choose_entry(verb, model, method).apps[verb])


def _report(written: list[Path], model: Path | None, picture: Path | None = None) -> None:
    """The files written (stdout, one per line), then what made them (stderr, ``about: ...``:
    ``kinema.provenance``; with the input picture, whether it lies outside the training domain;
    nothing when no model was read: a clip animated by its own motion)."""
    from kinema.provenance import caption_for

    for path in written:
        typer.echo(path)
    if model is not None:
        typer.echo(f"about: {caption_for(model, picture)}", err=True)


# ------------------------------------------------------------------ the commands

def register(app: typer.Typer) -> None:
    @app.command("animate")
    def animate_command(
        image: Path = typer.Argument(..., help="the start frame (png, jpg, ...), or with "
                                                "--from-video a clip"),
        model: Optional[Path] = typer.Option(None, help=model_help("animate")),
        method: Optional[str] = typer.Option(None, help="method family or entry (default: the "
                                                        "model folder's class); without --model, "
                                                        "its bundled model is read"),
        num: Optional[int] = typer.Option(None, help="how many different videos"),
        frames: Optional[int] = typer.Option(None, help="frames per video"),
        seed: Optional[int] = typer.Option(None, help="random seed"),
        control: Optional[int] = typer.Option(None, help="control bin (models trained with one)"),
        loop: bool = typer.Option(False, "--loop", help="a seamless loop"),
        from_video: bool = typer.Option(False, "--from-video", help="IMAGE is a video: animate its "
                                        "first frame at full resolution by the clip's own motion "
                                        "(--method dynamics: the 16 lowest frequencies of its DIS optical "
                                        "flow; --loop: one whole period of them, closed by construction); "
                                        "--model then only renders "
                                        "(default: plain softmax splatting)"),
        slowmo: Optional[float] = typer.Option(None, help="slow-motion factor"),
        magnify: Optional[float] = typer.Option(None, help="motion magnification factor"),
        fps: Optional[float] = typer.Option(None, help="frame rate of the written videos"),
        size: Optional[int] = typer.Option(None, help="display size: upscale the videos and "
                                           "pictures (nearest) until their short side is at "
                                           "least SIZE px (a 32-px model's frames are tiny)"),
        out: Path = typer.Option(Path("animations"), help="output folder, or a file: .mp4, "
                                                           ".gif or .png (a frame strip)"),
        device: Optional[str] = device_option(),
    ) -> None:
        """Animate IMAGE with a trained image-to-video model (default: the bundled one); writes
        videos into OUT.

        Example: kinema animate photo.png --method cinn --num 4 --size 256
        --fps 12 --out animations/ (or --out clip.gif: one video as a gif;
        --model runs/cinn-flow-small: a model of one's own; kinema animate
        clip.mp4 --method dynamics --from-video: a video's first frame moved by
        the video's own motion, with the loop flag one whole period of it)"""
        options = AnimateOptions(num=num, frames=frames, seed=seed, control=control,
                                 loop=True if loop else None, slowmo=slowmo, magnify=magnify,
                                 fps=fps, device=str(resolve_device(device)),
                                 from_video=True if from_video else None)
        check_options(options, size)
        if from_video and model is None:
            # a clip is its own motion model: no model folder is read (--model would only render);
            # the handler is --method's, else the default bundled model's method
            serve = handler("animate", None, method or default_names("animate")[0])
        else:
            model, method = model_and_method("animate", model, method)
            serve = handler("animate", model, method)
        _report(write_staged(out, lambda staging: serve(image, model, staging, options), size),
                model, None if from_video else image)

    @app.command("sample")
    def sample_command(
        run: Optional[Path] = typer.Argument(None, show_default=False,
                                             help=model_help("sample", flag="RUN")),
        method: Optional[str] = typer.Option(None, help="method family or entry (default: the "
                                                        "model folder's class); without RUN, its "
                                                        "bundled model is read"),
        num: Optional[int] = typer.Option(None, help="how many videos"),
        frames: Optional[int] = typer.Option(None, help="frames per video"),
        seed: Optional[int] = typer.Option(None, help="random seed"),
        identity: Optional[str] = typer.Option(None, help="'random' or an image whose content "
                                                          "the videos keep"),
        fps: Optional[float] = typer.Option(None, help="frame rate of the written videos"),
        size: Optional[int] = typer.Option(None, help="display size: upscale the videos and "
                                           "pictures (nearest) until their short side is at "
                                           "least SIZE px"),
        out: Path = typer.Option(Path("samples"), help="output folder, or a file: .mp4, .gif "
                                                        "or .png (a frame strip)"),
        device: Optional[str] = device_option(),
    ) -> None:
        """Generate videos from a trained generative model (default: the bundled one); writes
        them into OUT.

        Example: kinema sample --method latentgan --num 2 --size 256
        --out samples/ (kinema sample runs/gendef-video-small: a model of
        one's own)"""
        options = SampleOptions(num=num, frames=frames, seed=seed, identity=identity, fps=fps,
                                device=str(resolve_device(device)))
        check_options(options, size)
        run, method = model_and_method("sample", run, method)
        serve = handler("sample", run, method)
        identity_picture = Path(identity) if identity not in (None, "random") else None
        _report(write_staged(out, lambda staging: serve(run, staging, options), size), run,
                identity_picture)


def check_options(options: VerbOptions, size: int | None = None) -> None:
    """Every number a shared verb takes, before any model is read (``kinema.validate``):
    counts are integers within KINEMA_MAX_VIDEOS / KINEMA_MAX_FRAMES, seeds in torch's
    range, factors and rates finite and bounded, ``--size`` in 1..MAX_DISPLAY_SIZE."""
    given = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    validate.check_video_count("--num", given.get("num"))
    validate.check_frame_count("--frames", given.get("frames"))
    validate.check_seed("--seed", given.get("seed"))
    validate.check_number("--control", given.get("control"), 0, MAX_CONTROL, integer=True)
    for name in ("slowmo", "magnify"):
        validate.check_number(f"--{name}", given.get(name), 0, MAX_FACTOR, above=True)
    validate.check_number("--fps", given.get("fps"), *FPS_RANGE)
    check_size(size)


MAX_DISPLAY_SIZE = 4096


def check_size(size: int | None) -> None:
    """``--size``: a display size in pixels, 1..MAX_DISPLAY_SIZE."""
    validate.check_number("--size", size, 1, MAX_DISPLAY_SIZE, integer=True,
                          unit=" (pixels of the short side)")
