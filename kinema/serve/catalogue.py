"""The pictures and clips a request may name, by id, all held in memory.

A request never names a file: it names an id from this catalogue — one of scikit-image's
bundled photographs, a first frame of the synthetic suite, or a picture uploaded earlier in
this session (``Uploads``, a bounded in-memory store) — or a clip of the synthetic suite (the
motion source of the cINN's transfer). An unknown id is a 404 that lists nothing from disk.
"""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from kinema.serve.requests import ApiError
from kinema.validate import short_repr

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "moon", "retina",
          "hubble_deep_field", "immunohistochemistry", "grass", "gravel")
PHOTO_SIZE = (160, 256)          # (h, w): the size Generative Image Dynamics animates here
SYNTHETIC_SIZE = 128
# (dataset, split, item): first frames of the synthetic suite, and clips for motion transfer
SYNTHETIC_PICTURES = (("swaying", "test", 0), ("swaying", "test", 1), ("swaying", "test", 2),
                      ("clouds", "test", 0), ("bouncing-digits", "test", 0), ("actors", "test", 0))
CLIPS = (("clouds", "test", 0), ("clouds", "test", 1), ("clouds", "test", 2),
         ("bouncing-digits", "test", 0), ("bouncing-digits", "test", 1))


@dataclass(frozen=True)
class Picture:
    id: str
    title: str
    kind: str                               # "photo", "synthetic" or "upload"
    load: Callable[[], np.ndarray]          # -> (h w 3) uint8 RGB


def _photo(name: str) -> np.ndarray:
    import skimage.data

    from kinema.serve.media import fit

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    if image.dtype != np.uint8:
        image = (image.astype(np.float64) / np.iinfo(image.dtype).max * 255).round().astype(np.uint8)
    return fit(np.ascontiguousarray(image), *PHOTO_SIZE)


def synthetic_item(dataset: str, split: str, index: int, size: int, num_frames: int) -> dict:
    from kinema.data import load_dataset

    options = {"num_videos": index + 1, "num_frames": num_frames, "size": size}
    return load_dataset(dataset, split, **options)[index]


def _first_frame(dataset: str, split: str, index: int) -> np.ndarray:
    from kinema.data.io import to_uint8

    frames = 32 if dataset == "swaying" else 4
    return to_uint8(synthetic_item(dataset, split, index, SYNTHETIC_SIZE, frames)["video"][:1])[0]


def _cached(make: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    return lru_cache(maxsize=1)(make)


def builtin_pictures() -> dict[str, Picture]:
    pictures = [Picture(f"photo-{name}", name.replace("_", " "), "photo",
                        _cached(lambda name=name: _photo(name))) for name in PHOTOS]
    pictures += [Picture(f"{d}-{i}", f"{d} #{i} (first frame)", "synthetic",
                         _cached(lambda d=d, s=s, i=i: _first_frame(d, s, i)))
                 for d, s, i in SYNTHETIC_PICTURES]
    return {p.id: p for p in pictures}


@dataclass(frozen=True)
class Clip:
    id: str
    title: str
    dataset: str
    split: str
    index: int

    def video(self, size: int, num_frames: int) -> dict:
        """The clip at a model's size: ``video`` (t c h w) in [-1, 1] and ``eta`` if known."""
        return _clip_item(self.dataset, self.split, self.index, size, num_frames)


@lru_cache(maxsize=16)
def _clip_item(dataset: str, split: str, index: int, size: int, num_frames: int) -> dict:
    return synthetic_item(dataset, split, index, size, num_frames)


def builtin_clips() -> dict[str, Clip]:
    return {f"clip-{d}-{i}": Clip(f"clip-{d}-{i}", f"{d} #{i}", d, s, i) for d, s, i in CLIPS}


class Uploads:
    """Pictures uploaded in this session: at most ``capacity``, the oldest dropped first.

    Each is kept as the compressed bytes that were sent (at most the upload limit each) and
    decoded when a request uses it: a 47 KB all-black 4000x4000 PNG would hold 48 MB decoded,
    a thousandfold, and sixteen of them most of a gigabyte."""

    def __init__(self, capacity: int = 16):
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[bytes, Callable[[bytes], np.ndarray]]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, data: bytes, decode: Callable[[bytes], np.ndarray]) -> str:
        """Keep ``data`` (an encoded picture, already checked by ``decode``); ``decode(data)``
        -> (h w 3) uint8 is called on every use."""
        key = f"upload-{secrets.token_hex(6)}"
        with self._lock:
            self._items[key] = (bytes(data), decode)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            item = self._items.get(key)
        return None if item is None else item[1](item[0])

    def stored_bytes(self) -> int:
        """Bytes held for all uploads (what the store costs in memory)."""
        with self._lock:
            return sum(len(data) for data, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


class Catalogue:
    """Builtin pictures and clips plus this session's uploads, looked up by id only."""

    def __init__(self, upload_capacity: int = 16):
        self.pictures = builtin_pictures()
        self.clips = builtin_clips()
        self.uploads = Uploads(upload_capacity)

    def picture(self, key: str) -> np.ndarray:
        if key in self.pictures:
            return self.pictures[key].load()
        upload = self.uploads.get(key) if key.startswith("upload-") else None
        if upload is None:
            raise ApiError(404, f"no picture {short_repr(key)}: pick one from the catalogue "
                                f"(GET /api/state lists them) or upload one")
        return upload

    def clip(self, key: str) -> Clip:
        if key not in self.clips:
            raise ApiError(404, f"no clip {short_repr(key)}; clips: {', '.join(self.clips)}")
        return self.clips[key]

    def listing(self) -> dict:
        return {"pictures": [{"id": p.id, "title": p.title, "kind": p.kind}
                             for p in self.pictures.values()],
                "clips": [{"id": c.id, "title": c.title} for c in self.clips.values()]}
