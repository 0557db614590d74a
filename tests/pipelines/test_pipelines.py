"""kinema.pipelines as a user calls them: load a run folder, animate / predict / generate,
read .frames / .info, save, grid."""
from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import kinema.pipelines as pipelines
from kinema.errors import KinemaError


@pytest.fixture(scope="module")
def cinn_run(tmp_path_factory):
    """An (untrained) tiny cINN saved as `kinema train cinn-flow` leaves it: runs/x/model."""
    import dataclasses

    from kinema.methods.cinn.autoencoder import VideoAutoencoder
    from kinema.methods.cinn.config import autoencoder_config, flow_config, image_encoder_config
    from kinema.methods.cinn.image_encoder import ImageAutoencoder
    from kinema.methods.cinn.model import CINN

    root = tmp_path_factory.mktemp("cinn")
    torch.manual_seed(0)
    VideoAutoencoder(autoencoder_config("tiny-clouds")).save_pretrained(root / "ae" / "model")
    ImageAutoencoder(image_encoder_config("tiny-clouds")).save_pretrained(root / "image" / "model")
    cfg = dataclasses.replace(flow_config("tiny-clouds"), autoencoder_path=str(root / "ae"),
                              image_encoder_path=str(root / "image"))
    CINN(cfg).save_pretrained(root / "flow" / "model")
    return root / "flow"


def _picture(h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_first_frame_is_the_input_picture_after_the_pipelines_resizing(cinn_run):
    import cv2

    pipe = pipelines.load(cinn_run)                       # the run folder, not model/
    assert isinstance(pipe, pipelines.ImageToVideoPipeline)
    size = pipe.spec["size"]
    picture = _picture()
    video = pipe(picture, num_frames=6, num_samples=3, seed=0)
    # the resizing done by hand: centre crop to the model's aspect (square), INTER_AREA
    side = min(picture.shape[:2])
    left = (picture.shape[1] - side) // 2
    expected = cv2.resize(picture[:, left:left + side], size[::-1], interpolation=cv2.INTER_AREA)
    expected = torch.from_numpy(expected).permute(2, 0, 1).float() / 127.5 - 1
    if pipe.spec["channels"] == 1:
        expected = expected.mean(0, keepdim=True)
    for sample in video.frames_float:
        torch.testing.assert_close(sample[0], expected, rtol=0, atol=1e-6)
    assert video.frames.shape == (3, 6, *size, 3) and video.frames.dtype == np.uint8
    assert video.info["crop"] == (0, left, side, side)
    assert video.info["original_size"] == (40, 56) and video.info["size"] == size
    assert "centre crop 40x40 at (top 0, left 8)" in video.info["input"]
    # later frames are the decoder's, not copies of the picture
    assert not torch.allclose(video.frames_float[:, 1], video.frames_float[:, 0])


def test_inputs_of_every_kind_give_the_same_video(cinn_run, tmp_path):
    from PIL import Image

    pipe = pipelines.load(cinn_run / "model")               # the model folder works too
    picture = _picture(32, 32, seed=3)
    path = tmp_path / "p.png"
    Image.fromarray(picture).save(path)
    tensor = torch.from_numpy(picture).permute(2, 0, 1).float() / 127.5 - 1
    videos = [pipe(x, num_frames=4, num_samples=2, seed=5).frames_float
              for x in (picture, Image.fromarray(picture), str(path), tensor)]
    for other in videos[1:]:
        torch.testing.assert_close(other, videos[0], rtol=0, atol=1e-6)
    # the seed decides the samples
    assert not torch.allclose(pipe(picture, num_frames=4, num_samples=2, seed=6).frames_float,
                              videos[0])


def test_save_and_grid(cinn_run, tmp_path):
    from kinema.data.io import read_video

    pipe = pipelines.load(cinn_run)
    video = pipe(_picture(), num_frames=4, num_samples=2, seed=0)
    mp4s = video.save(tmp_path / "x.mp4")
    assert [p.name for p in mp4s] == ["x-00.mp4", "x-01.mp4"]
    assert read_video(mp4s[0]).shape[0] == 4
    gif = pipelines.VideoResult(video.frames_float[:1], video.inputs).save(tmp_path / "one.gif")
    assert [p.name for p in gif] == ["one.gif"]
    np.testing.assert_array_equal(read_video(gif[0])[0], video.frames[0, 0])   # gif is lossless
    grid = video.grid()
    h, w = pipe.spec["size"]
    assert grid.shape == (2 * h + 2, 5 * (w + 2) - 2, 3)
    # the first column is the input picture, then a white gap, then the 4 frames
    np.testing.assert_array_equal(grid[:h, :w], video.frames[0, 0])
    assert (grid[:h, w:w + 2] == 255).all()
    np.testing.assert_array_equal(grid[h + 2:, 2 * (w + 2):3 * (w + 2) - 2], video.frames[1, 1])
    (png,) = video.save(tmp_path / "grid.png")
    from PIL import Image

    saved = np.asarray(Image.open(png).convert("RGB"))
    # each cell upscaled by the integer factor that brings a frame's short side to >= 96 px
    factor = -(-96 // min(h, w))
    assert saved.shape == (grid.shape[0] * factor, grid.shape[1] * factor, 3)
    np.testing.assert_array_equal(saved[::factor, ::factor], grid)


def test_grid_upscale_is_capped_on_the_long_side():
    frames = torch.zeros(1, 200, 3, 8, 8)
    picture = pipelines.VideoResult(frames).grid(cell_size=96, max_side=4096)
    # 200 cells of 8 px with 2-px gaps: 1998 px wide; factor 2 is the largest under 4096
    assert picture.shape == (16, 3996, 3)


def test_wrong_control_and_counts_are_one_error(cinn_run):
    pipe = pipelines.load(cinn_run)
    with pytest.raises(KinemaError, match="without a control"):
        pipe(_picture(), control=3)
    with pytest.raises(KinemaError, match="num_samples"):
        pipe(_picture(), num_samples=0)
    with pytest.raises(KinemaError, match="uint8"):
        pipe(np.zeros((8, 8, 3), dtype=np.float32))


def test_an_earlier_stage_names_the_stage_to_load(cinn_run):
    with pytest.raises(KinemaError, match="serves no task.*cinn-flow"):
        pipelines.load(cinn_run.parent / "ae")


def test_prediction_pipeline_reads_the_models_context_frames(tmp_path):
    from kinema.methods.ile.config import ile_config
    from kinema.methods.ile.model import ILE

    torch.manual_seed(0)
    ILE(ile_config("tiny")).save_pretrained(tmp_path / "ile" / "model")
    pipe = pipelines.load(tmp_path / "ile")
    assert isinstance(pipe, pipelines.PredictionPipeline)
    k = pipe.spec["context_frames"]
    clip = np.random.default_rng(0).integers(0, 256, (k + 2, 20, 20, 3), dtype=np.uint8)
    out = pipe(clip, num_frames=3, seed=0)
    assert out.frames.shape[:2] == (1, 3)
    assert out.info["context_frames"] == k
    # the last k frames are read: the same prediction from exactly those frames
    again = pipe(clip[-k:], num_frames=3, seed=0)
    torch.testing.assert_close(out.frames_float, again.frames_float)
    with pytest.raises(KinemaError, match=f"reads {k} context frames"):
        pipe(clip[:k - 1], num_frames=3)


def test_generation_pipeline_of_a_baseline_and_task_choice(tmp_path):
    from kinema.methods.baselines.config import RepeatLastConfig
    from kinema.methods.baselines.repeat_last import RepeatLastFrame

    model = RepeatLastFrame(RepeatLastConfig(channels=1, height=8, width=8, bank_size=4))
    model.bank.copy_(torch.linspace(-1, 1, 4)[:, None, None, None].expand(4, 1, 8, 8))
    model.fitted.fill_(True)
    folder = model.save_pretrained(tmp_path / "model")
    assert isinstance(pipelines.load(folder), pipelines.PredictionPipeline)   # listed first
    pipe = pipelines.load(folder, task="Generation")
    out = pipe(num_videos=3, num_frames=5, seed=1)
    assert out.frames.shape == (3, 5, 8, 8, 3)
    banks = {round(float(v), 4) for v in torch.linspace(-1, 1, 4)}
    assert {round(float(v[0, 0, 0, 0]), 4) for v in out.frames_float} <= banks
    with pytest.raises(KinemaError, match="not one of"):
        pipelines.load(folder, task="Painting")


def test_the_package_docstring_examples_run():
    result = doctest.testmod(pipelines, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


def test_first_frame_is_the_input_for_a_baseline_image_to_video_model(tmp_path):
    from kinema.data.pictures import frames_to_model
    from kinema.methods.baselines.config import RepeatLastConfig
    from kinema.methods.baselines.repeat_last import RepeatLastFrame

    folder = RepeatLastFrame(RepeatLastConfig(channels=3, height=12, width=20)).save_pretrained(
        tmp_path / "run" / "model")
    pipe = pipelines.load(tmp_path / "run", task="ImageToVideo")
    picture = _picture(30, 30, seed=2)
    video = pipe(picture, num_frames=3, num_samples=1)
    expected = frames_to_model([picture], 3, (12, 20))[0]
    torch.testing.assert_close(video.frames_float[0, 0], expected, rtol=0, atol=0)
    assert video.info["crop"] == (6, 0, 18, 30)          # 12:20 of a 30x30 picture: 18 rows
    assert folder.name == "model"
