"""kinema.data.pictures: a user's picture becomes a model input by centre crop, area resize,
[-1, 1] scaling and, for grey models, the RGB mean."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kinema.data.pictures import clip_to_model, picture_to_model
from kinema.errors import KinemaError


def _write(path, image):
    import cv2
    cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1]))


def test_wide_picture_is_centre_cropped_then_resized(tmp_path):
    image = np.zeros((4, 12, 3), np.uint8)
    image[:, 4:8] = 255                      # the centre square is white, the sides black
    _write(tmp_path / "p.png", image)
    x = picture_to_model(tmp_path / "p.png", 3, 2)
    assert x.shape == (1, 3, 2, 2)
    assert torch.equal(x, torch.ones(1, 3, 2, 2))


def test_grey_models_get_the_rgb_mean(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0] = 255                      # pure red: mean of (1, -1, -1) = -1/3
    _write(tmp_path / "r.png", image)
    x = picture_to_model(tmp_path / "r.png", 1, 4)
    assert x.shape == (1, 1, 4, 4)
    assert torch.allclose(x, torch.full_like(x, -1 / 3), atol=1e-6)


def test_non_square_target(tmp_path):
    image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    _write(tmp_path / "p.png", image)
    x = picture_to_model(tmp_path / "p.png", 3, (4, 8))      # crop rows 2..5, keep width
    expected = torch.from_numpy(image[2:6].astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(x[0], expected, atol=1e-6)


def test_a_short_clip_is_named(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(2):
        _write(folder / f"{i}.png", np.full((8, 8, 3), 40 * i, np.uint8))
    assert clip_to_model(folder, 3, 8, 2).shape == (1, 2, 3, 8, 8)
    with pytest.raises(KinemaError, match="has 2 frames; the model reads clips of 3"):
        clip_to_model(folder, 3, 8, 3)
