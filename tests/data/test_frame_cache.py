"""The real-video sources read clips from an on-disk frame cache: the same clips as decoding
the whole video, rebuilt when a source changes, nothing kept in memory, nothing half-written."""
from __future__ import annotations

import os
import pickle

import cv2
import numpy as np
import pytest

from kinema.data.folders import VideoFolder, fit_frame
from kinema.data.frame_cache import cache_root
from kinema.data.io import read_video, to_uint8, write_video
from kinema.errors import KinemaError, VideoReadError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KINEMA_FRAME_CACHE", str(folder))
    return folder


def whole_video_clip(path, start, span, stride, size, gray=False) -> np.ndarray:
    """The clip as the former in-memory path made it: decode all, fit, stack, slice."""
    frames = [fit_frame(f, size) for f in read_video(path)]
    if gray:
        frames = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None] for f in frames]
    return np.stack(frames)[start:start + span:stride]


@pytest.mark.parametrize("channels", [3, 1])
def test_clips_equal_decoding_the_whole_video(tmp_path, cache, make_video, make_frame_folder,
                                              channels):
    root = tmp_path / "videos"
    write_video(root / "a.mp4", make_video(t=11, h=30, w=44, seed=1))
    make_frame_folder(root / "b", make_video(t=9, h=26, w=20, seed=2))
    dataset = VideoFolder(root, "train", num_frames=3, stride=2, size=(12, 16), test_fraction=0,
                          channels=channels)
    assert len(dataset) == (11 - 5 + 1) + (9 - 5 + 1)
    sources = {"a.mp4": root / "a.mp4", "b": root / "b"}
    for i in range(len(dataset)):
        item = dataset[i]
        expected = whole_video_clip(sources[item["video_id"]], item["start"], 5, 2, (12, 16),
                                    gray=channels == 1)
        got = ((item["video"].permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
        np.testing.assert_array_equal(got, expected)
    assert len(list(cache.glob("*.npy"))) == 2


def test_changed_source_is_decoded_again_and_its_old_file_removed(tmp_path, cache, make_video):
    root = tmp_path / "videos"
    write_video(root / "a.mp4", make_video(t=8, h=16, w=16, seed=1))
    write_video(root / "b.mp4", make_video(t=8, h=16, w=16, seed=2))
    dataset = VideoFolder(root, "train", num_frames=4, size=8, test_fraction=0)
    dataset.fill_frame_cache(progress=False)
    before = sorted(cache.glob("*.npy"))
    assert len(before) == 2

    replacement = make_video(t=8, h=16, w=16, seed=7)
    write_video(root / "a.mp4", replacement)
    stat = (root / "a.mp4").stat()
    os.utime(root / "a.mp4", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    dataset = VideoFolder(root, "train", num_frames=4, size=8, test_fraction=0)
    first = next(i for i in range(len(dataset)) if dataset[i]["video_id"] == "a.mp4")
    expected = whole_video_clip(root / "a.mp4", 0, 4, 1, (8, 8))
    np.testing.assert_array_equal(to_uint8(dataset[first]["video"]), expected)
    after = sorted(cache.glob("*.npy"))
    assert len(after) == 2
    assert len(set(before) & set(after)) == 1        # b's file kept, a's replaced


def test_other_decoding_options_get_their_own_files(tmp_path, cache, make_video):
    root = tmp_path / "videos"
    write_video(root / "a.mp4", make_video(t=8, h=16, w=16, seed=1))
    for size in (8, 4):
        VideoFolder(root, "train", num_frames=2, size=size, test_fraction=0)[0]
    shapes = sorted(np.load(f, mmap_mode="r").shape for f in cache.glob("*.npy"))
    assert shapes == [(8, 4, 4, 3), (8, 8, 8, 3)]


def test_items_keep_no_frames_in_memory(video_folder, cache):
    root, _ = video_folder
    dataset = VideoFolder(root, "train", num_frames=2, size=8)
    empty = len(pickle.dumps(dataset))
    for i in range(len(dataset)):
        dataset[i]
    assert len(pickle.dumps(dataset)) < empty + 2000   # file paths only, no pixels


def test_a_truncated_video_leaves_no_cache_file(tmp_path, cache, make_video):
    root = tmp_path / "videos"
    write_video(root / "a.mp4", make_video(t=8, h=16, w=16, seed=1))
    dataset = VideoFolder(root, "train", num_frames=2, size=8, test_fraction=0)
    dataset.videos[0].num_frames = 12              # promise more frames than the file has
    with pytest.raises(VideoReadError, match="decoded 8 frames, expected 12"):
        dataset.fill_frame_cache(progress=False)
    assert list(cache.glob("*.npy")) == [] and list(cache.glob(".*.tmp")) == []


def test_an_unwritable_cache_is_one_error_naming_the_variable(tmp_path, monkeypatch,
                                                             make_video):
    root = tmp_path / "videos"
    write_video(root / "a.mp4", make_video(t=8, h=16, w=16, seed=1))
    (tmp_path / "taken").write_text("a file where the cache folder would go")
    monkeypatch.setenv("KINEMA_FRAME_CACHE", str(tmp_path / "taken"))
    dataset = VideoFolder(root, "train", num_frames=2, size=8, test_fraction=0)
    with pytest.raises(KinemaError, match=r"taken: cannot write the frame cache of .*a\.mp4 "
                                          r"\(.*\); set KINEMA_FRAME_CACHE"):
        dataset[0]


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KINEMA_FRAME_CACHE", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x"
    monkeypatch.delenv("KINEMA_FRAME_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "kinema" / "frames"
