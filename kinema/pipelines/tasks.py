"""``load(path)`` and the three pipelines (see the package docstring)."""
from __future__ import annotations

from pathlib import Path

import torch

from kinema.errors import KinemaError
from kinema.pipelines.inputs import frames_for, model_input, picture_for
from kinema.pipelines.result import VideoResult

TASKS = ("ImageToVideo", "Prediction", "Generation")


class Pipeline:
    """A loaded model, its registry entry and the input it reads (``spec``: channels, size
    (h, w), num_frames / context_frames where the model says them)."""
    task = ""

    def __init__(self, model, entry=None, folder: Path | None = None):
        self.model = model.eval()
        self.entry = entry
        self.folder = folder
        self.spec = model_input(model) if self.task != "Generation" else _spec_or_empty(model)

    @property
    def device(self) -> torch.device:
        return next((p.device for p in self.model.parameters()), torch.device("cpu"))

    def _frames(self, num_frames: int | None) -> int:
        frames = num_frames if num_frames is not None else self.spec.get("num_frames", 16)
        _check_count(frames, "num_frames")
        return frames

    def _check(self, frames: int, videos: int, seed) -> None:
        """What every command checks before it starts (``kinema.validate``): the frames
        within KINEMA_MAX_FRAMES, the videos within KINEMA_MAX_VIDEOS, the seed in torch's
        range, and pixels x frames x videos within KINEMA_MAX_WORK."""
        from kinema.validate import check_frame_count, check_seed, check_video_count, check_work

        check_frame_count("num_frames", frames)
        check_video_count("num_samples" if self.task != "Generation" else "num_videos", videos)
        check_seed("seed", seed)
        if "size" in self.spec:
            check_work(f"the {self.task} pipeline", *self.spec["size"], frames, videos)

    def about(self, picture: torch.Tensor | None = None) -> dict | None:
        """``kinema.provenance.describe`` of the loaded folder (None for a model built in
        Python): name, resolution, training data, steps, and a sentence when ``picture``
        ((c h w) in [-1, 1], as the model reads it) lies outside the training domain."""
        from kinema.provenance import describe

        return describe(self.folder, picture) if self.folder is not None else None

    def __repr__(self) -> str:
        name = self.entry.name if self.entry else type(self.model).__name__
        return f"{type(self).__name__}({name}, folder={self.folder})"


class ImageToVideoPipeline(Pipeline):
    """``pipe(image, num_frames=None, num_samples=4, control=None, seed=0)``: ``image`` is a
    path, a PIL image, an (h w 3) uint8 array or a (c h w) tensor in [-1, 1]; ``num_frames``
    defaults to the model's clip length. Frame 0 of every video is the picture as the model
    reads it (``result.inputs[0]``)."""
    task = "ImageToVideo"

    def __call__(self, image, num_frames: int | None = None, num_samples: int = 4,
                 control: int | None = None, seed: int = 0) -> VideoResult:
        _check_count(num_samples, "num_samples")
        frames = self._frames(num_frames)
        self._check(frames, num_samples, seed)
        x0, fitted = picture_for(image, self.spec["channels"], self.spec["size"])
        bins = getattr(getattr(self.model, "config", None), "control_bins", 0) or 0
        if control is not None and not bins:
            raise KinemaError("this model was trained without a control eta: leave control=None")
        if control is None and bins:
            raise KinemaError(f"this model takes a control eta: pass control=0..{bins - 1}")
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            videos = self.model.sample(x0.to(self.device), frames, num_samples,
                                       control=None if control is None else [control],
                                       generator=generator)[0]
        info = {"task": self.task, "input": fitted.describe(), "original_size": fitted.original_size,
                "crop": fitted.crop, "size": fitted.size, "channels": fitted.channels,
                "num_frames": frames, "num_samples": num_samples, "control": control, "seed": seed,
                "about": self.about(x0[0].cpu())}
        return VideoResult(videos.float().cpu(), x0.cpu(), info)


class PredictionPipeline(Pipeline):
    """``pipe(context_frames, num_frames=10, num_samples=1, seed=0)``: the frames that follow
    ``context_frames`` (a video file or frame folder, a list of pictures, a (k h w 3) uint8
    array or a (k c h w) tensor). The model reads its last ``context_frames`` frames (its
    config's number, when it has one)."""
    task = "Prediction"

    def __call__(self, context_frames, num_frames: int = 10, num_samples: int = 1,
                 seed: int = 0) -> VideoResult:
        _check_count(num_samples, "num_samples")
        _check_count(num_frames, "num_frames")
        self._check(num_frames, num_samples, seed)
        context, fitted = frames_for(context_frames, self.spec["channels"], self.spec["size"])
        wanted = self.spec.get("context_frames")
        if wanted is not None:
            if context.shape[1] < wanted:
                raise KinemaError(f"the model reads {wanted} context frames; {context.shape[1]} "
                                  f"were given")
            context = context[:, -wanted:]
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            videos = self.model.predict(context.to(self.device), num_frames, num_samples,
                                        generator=generator)[0]
        info = {"task": self.task, "input": fitted.describe(), "original_size": fitted.original_size,
                "crop": fitted.crop, "size": fitted.size, "channels": fitted.channels,
                "context_frames": context.shape[1], "num_frames": num_frames,
                "num_samples": num_samples, "seed": seed, "about": self.about(context[0, -1].cpu())}
        return VideoResult(videos.float().cpu(), context[0].cpu(), info)


class GenerationPipeline(Pipeline):
    """``pipe(num_videos=4, num_frames=None, seed=0)``: videos drawn from the model
    (``num_frames`` defaults to its clip length)."""
    task = "Generation"

    def __call__(self, num_videos: int = 4, num_frames: int | None = None,
                 seed: int = 0) -> VideoResult:
        _check_count(num_videos, "num_videos")
        frames = self._frames(num_frames)
        self._check(frames, num_videos, seed)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            videos = self.model.generate(num_videos, frames, generator=generator)
        info = {"task": self.task, "num_videos": num_videos, "num_frames": frames, "seed": seed,
                "about": self.about()}
        return VideoResult(videos.float().cpu(), None, info)


PIPELINES = {"ImageToVideo": ImageToVideoPipeline, "Prediction": PredictionPipeline,
             "Generation": GenerationPipeline}


def load(path, task: str | None = None, device: str | torch.device = "cpu") -> Pipeline:
    """The pipeline of the model in ``path``: a run folder, a model folder, or a bundled model's
    name (``kinema.bundled``: ``load("dynamics")`` reads ``kinema/bundled/models/dynamics``
    unless a folder ``dynamics`` exists here). ``task`` ("ImageToVideo", "Prediction",
    "Generation") chooses among several the method serves; default: the first its registry
    entry lists.

    Example: ``load("dynamics")("photo.png", num_samples=2).save("photo.mp4")`` animates a
    picture with the bundled Generative Image Dynamics model; ``load("gendef")(num_videos=4)``
    draws four GenDeF videos."""
    from kinema.bundled import resolve
    from kinema.pretrained import load_pretrained, model_folder, read_model_class
    from kinema.registry import entries, entry_for_class

    if task is not None and task not in TASKS:
        raise KinemaError(f"task {task!r} is not one of {', '.join(TASKS)}")
    folder = model_folder(resolve(path))
    target = read_model_class(folder)
    entry = entry_for_class(target)
    tasks = tuple(entry.tasks) if entry is not None else ()
    if entry is None:   # a model of kinema that no entry trains: what its class implements
        from kinema.registry import resolve

        cls = resolve(target)
        tasks = tuple(t for t, verb in (("ImageToVideo", "sample"), ("Prediction", "predict"),
                                        ("Generation", "generate")) if hasattr(cls, verb))
    if not tasks:
        serving = [e.name for e in entries() if entry is not None and e.family == entry.family
                   and e.tasks]
        hint = f"; load the {serving[0]} stage's folder" if serving else ""
        raise KinemaError(f"{folder} holds a {entry.name if entry else target} model, which "
                          f"serves no task (image-to-video, prediction, generation){hint}")
    chosen = task or tasks[0]
    if chosen not in tasks:
        raise KinemaError(f"{folder} holds a {entry.name if entry else target} model, which "
                          f"serves {', '.join(tasks)}, not {chosen}")
    model = load_pretrained(folder).to(device)
    return PIPELINES[chosen](model, entry, folder)


def _spec_or_empty(model) -> dict:
    try:
        return model_input(model)
    except KinemaError:
        return {}


def _check_count(value, name: str) -> None:
    from kinema.validate import check_number

    check_number(name, value, 1, None, integer=True)
