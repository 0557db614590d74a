"""Stage ``latentgan-embed``: every frame of the training videos into W+ (Sec. 3, "we first
use pSp to embed the training video in W+"), cached on disk.

The stage's model folder is the cache: ``model.safetensors`` holds ``codes`` (n num_ws w_dim),
all videos' frames concatenated, and ``lengths`` (videos), the frame count of each video;
``config.json`` names the image stage it was made with (and its weights' sha256 under
``built_from``). ``EmbeddingWindows`` serves the temporal stage t-step windows of it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from kinema.errors import KinemaError
from kinema.methods.latentgan.config import EmbedConfig
from kinema.methods.latentgan.image import LatentImageModel, check_pair, encode_frames
from kinema.pretrained import Pretrained, config_to_dict
from kinema.stages import open_stage, record_sources


def embed_videos(image_model: LatentImageModel, dataset, batch_size: int = 64,
                 progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """W+ codes of every frame of every item's ``video`` (t c h w): (codes (n num_ws w_dim),
    lengths (videos)). Works with any ``LatentImageModel``, e.g. a user's own pair."""
    from tqdm.auto import tqdm

    check_pair(image_model)
    codes, lengths = [], []
    bar = tqdm(total=len(dataset), desc="embed into W+", unit="video", disable=not progress)
    for index in range(len(dataset)):
        video = dataset[index]["video"]
        expected = (image_model.channels, image_model.resolution, image_model.resolution)
        if tuple(video.shape[1:]) != expected:
            raise KinemaError(f"video {index} has frames (c h w) {tuple(video.shape[1:])}; the image "
                              f"model reads {expected} (set the data's size/channels to match)")
        codes.append(encode_frames(image_model, video, batch_size).cpu())
        lengths.append(video.shape[0])
        bar.update(1)
        bar.set_postfix(frames=sum(lengths))
    bar.close()
    if not codes:
        raise KinemaError("the embedding's dataset holds no videos")
    return torch.cat(codes), torch.tensor(lengths, dtype=torch.long)


class LatentEmbedding(nn.Module, Pretrained):
    """The W+ embedding of the training videos (stage 2); ``fit(dataset)`` makes it."""

    config_class = EmbedConfig

    def __init__(self, config: EmbedConfig):
        super().__init__()
        self.config = config
        self._image: list = []   # the image stage while fitting; not part of this model's weights
        if config.image is None:
            image = open_stage(config, "image_path")
            config.image = config_to_dict(image.config)
            record_sources(self, image_path=image)
            self._image.append(image.eval())
        self.register_buffer("codes", torch.zeros(config.num_codes, config.num_ws, config.w_dim))
        self.register_buffer("lengths", torch.zeros(config.num_videos, dtype=torch.long))

    def fit(self, dataset, progress: bool = True) -> "LatentEmbedding":
        if not self._image:
            raise KinemaError("this embedding was loaded from its folder; build a new one from "
                              "the image stage (kinema train latentgan-embed) to embed again")
        image = self._image[0]
        codes, lengths = embed_videos(image, dataset, self.config.batch_size, progress)
        self.codes, self.lengths = codes, lengths
        self.config.num_codes, self.config.num_videos = codes.shape[0], lengths.shape[0]
        self.config.num_ws, self.config.w_dim = codes.shape[1], codes.shape[2]
        return self

    def videos(self) -> list[torch.Tensor]:
        """The codes of each video: [(t num_ws w_dim)]."""
        return list(self.codes.split(self.lengths.tolist()))


class EmbeddingWindows(Dataset):
    """Every ``window``-step run of consecutive codes (every ``stride`` steps) of the embedding
    in folder ``path`` (a latentgan-embed model or run folder): items {"ws": (window n c)}.
    The embedding is of training videos, so both splits serve the same windows."""

    def __init__(self, split: str = "train", path: str = "", window: int = 25, stride: int = 1):
        from kinema.pretrained import model_folder

        try:
            folder = model_folder(Path(path))
        except KinemaError:
            raise KinemaError(f"data.options.path={path!r} holds no latentgan-embed model: make it "
                              f"with `kinema train latentgan-embed --preset PRESET --out {path}`") from None
        embedding = LatentEmbedding.from_pretrained(folder)
        self.codes = embedding.codes
        self.window = window
        self.starts: list[int] = []
        offset = 0
        for length in embedding.lengths.tolist():
            self.starts += list(range(offset, offset + length - window + 1, stride))
            offset += length
        if not self.starts:
            raise KinemaError(f"the embedding's videos ({embedding.lengths.tolist()} frames) are all "
                              f"shorter than the window of {window} steps")

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = self.starts[index]
        return {"ws": self.codes[start:start + self.window]}
