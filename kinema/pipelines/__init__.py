"""Trained models from Python, one pipeline per task (the shape of diffusers' pipelines).

``load(path)`` takes a training run folder (``runs/cinn-flow-small``), its ``model/`` folder
or a bundled model's name (``load("dynamics")``, ``load("gendef")``: the models kinema ships,
``kinema.bundled``), finds the method from the folder's ``config.json`` class
(``kinema.registry``) and returns the pipeline of the task the model serves:

- ``ImageToVideoPipeline``: ``pipe(image, num_frames=16, num_samples=4, control=None, seed=0)``
  (cINN, Generative Image Dynamics, the baselines with ``task="ImageToVideo"``);
- ``PredictionPipeline``: ``pipe(context_frames, num_frames=..., num_samples=1, seed=0)``
  (ILE, the baselines);
- ``GenerationPipeline``: ``pipe(num_videos=4, num_frames=16, seed=0)`` (GenDeF, the latent
  temporal GAN, the baselines with ``task="Generation"``).

Each call returns a ``VideoResult``: ``.frames`` (n t h w c) uint8, ``.frames_float``
(n t c h w) in [-1, 1], ``.save("x.mp4" | "x.gif" | "x.png")``, ``.grid()`` (the input
beside the frames) and ``.info`` (what was done to the input: its size, the crop, the size
the model reads, the seed). A picture is centre-cropped to the model's aspect and
area-resized (``kinema.data.pictures``); the pipelines call the models' task methods
(``kinema.tasks``), so every method that serves a task has its pipeline.

Example (a repeat-last-frame baseline fitted in a second; any trained run folder works the
same way):

>>> import numpy as np, kinema.pipelines as pipelines
>>> from kinema.methods.baselines.repeat_last import RepeatLastFrame
>>> from kinema.methods.baselines.config import RepeatLastConfig
>>> import tempfile, pathlib
>>> folder = RepeatLastFrame(RepeatLastConfig(channels=3, height=16, width=16)).save_pretrained(
...     pathlib.Path(tempfile.mkdtemp()) / "model")
>>> pipe = pipelines.load(folder, task="ImageToVideo")
>>> picture = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
>>> video = pipe(picture, num_frames=8, num_samples=2, seed=0)
>>> video.frames.shape
(2, 8, 16, 16, 3)
>>> video.info["input"]
'48x64 picture: centre crop 48x48 at (top 0, left 8), area-resized to 16x16'
>>> paths = video.save(pathlib.Path(tempfile.mkdtemp()) / "x.gif")   # x-00.gif, x-01.gif
"""
from __future__ import annotations

from kinema.pipelines.tasks import (GenerationPipeline, ImageToVideoPipeline, Pipeline,
                                    PredictionPipeline, load)
from kinema.pipelines.result import VideoResult

__all__ = ["load", "Pipeline", "ImageToVideoPipeline", "PredictionPipeline",
           "GenerationPipeline", "VideoResult"]
