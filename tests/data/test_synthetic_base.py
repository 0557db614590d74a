"""The synthetic datasets' common tensor conversion, by value."""
import numpy as np
import torch

from kinema.data.synthetic._base import video_tensor


def test_video_tensor_maps_unit_range_to_minus_one_one_in_t_c_h_w():
    frames = np.zeros((2, 1, 3, 2), np.float64)              # (t h w c)
    frames[0, 0, :, 0] = [0.0, 0.25, 1.0]
    frames[1, 0, :, 1] = [0.5, -0.3, 1.7]                    # out of [0, 1]: clipped first
    video = video_tensor(frames)
    assert video.dtype == torch.float32 and video.shape == (2, 2, 1, 3)
    assert video[0, 0, 0].tolist() == [-1.0, -0.5, 1.0]
    assert video[1, 1, 0].tolist() == [0.0, -1.0, 1.0]
    assert torch.equal(video[0, 1], torch.full((1, 3), -1.0))
    other = video_tensor(np.moveaxis(frames, -1, 1), layout="t c h w")
    assert torch.equal(other, video)
