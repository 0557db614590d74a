"""The cINN's applications (Sec. 3.4, Sec. 4.4, appendix A.5), on a trained ``CINN``:

- ``animate``: several videos from one image (nu ~ N(0, I)); longer than one clip by chaining
  from the last generated frame.
- ``transfer_motion``: nu~ = T^-1(q_phi(X~); x~0) of a source video, applied to new start frames.
- ``video_to_video``: controlled video-to-video synthesis: keep nu~ of a video, change eta.
- ``prepare_image`` / ``prepare_video``: user pictures and videos to the model's size and range.
"""
from __future__ import annotations

import torch

from kinema.errors import KinemaError


def prepare_image(path, channels: int, size: int) -> torch.Tensor:
    """An image file -> (1 c size size) in [-1, 1] (kinema.data.pictures: checked, centre
    crop, area resize)."""
    from kinema.data.pictures import picture_to_model

    return picture_to_model(path, channels, size)


def prepare_video(path, channels: int, size: int, num_frames: int) -> torch.Tensor:
    """A video file or frame folder -> (1 t c size size) in [-1, 1], its first ``num_frames``
    (only those are decoded)."""
    from kinema.data.pictures import clip_to_model

    return clip_to_model(path, channels, size, num_frames)


@torch.no_grad()
def animate(model, x0: torch.Tensor, num_frames: int, num_samples: int, control=None,
            seed: int = 0) -> torch.Tensor:
    """x0 (b c h w) -> (b n t c h w): ``num_samples`` different videos per image."""
    generator = torch.Generator().manual_seed(seed)
    return model.sample(x0, num_frames, num_samples, control=control, generator=generator)


@torch.no_grad()
def transfer_motion(model, source: torch.Tensor, images: torch.Tensor, source_control=None,
                    control=None) -> torch.Tensor:
    """Motion transfer (Sec. 4.4, Fig. 8): source (1 t c h w) or (b t c h w), images (b c h w)
    -> (b t c h w): each image animated with the source's residual nu~."""
    nu = model.encode_residual(source, source_control)            # (1 d) or (b d)
    if nu.shape[0] == 1:
        nu = nu.expand(images.shape[0], -1)
    if nu.shape[0] != images.shape[0]:
        raise KinemaError(f"{source.shape[0]} source videos for {images.shape[0]} images")
    return model.decode_residual(images, nu, control if control is not None else source_control)


@torch.no_grad()
def video_to_video(model, video: torch.Tensor, source_control, new_control) -> torch.Tensor:
    """Controlled video-to-video (appendix A.5): nu~ = T^-1(q_phi(X); x0, eta), then
    X' = p_psi(x0, T(nu~; x0, eta')). video (b t c h w) -> (b t c h w)."""
    if not model.config.control_bins:
        raise KinemaError("video-to-video control needs a cINN trained with eta (a -control preset)")
    nu = model.encode_residual(video, source_control)
    return model.decode_residual(video[:, 0], nu, new_control)
