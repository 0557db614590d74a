"""Feature extractors for the distribution metrics.

Every extractor offers ``clip_features(video (b t c h w)) -> (b d)`` and/or
``frame_features(frames (b c h w)) -> (b d)`` on videos in [-1, 1]:

- ``i3d``: the I3D network of FVD (``kinema.metrics.features.i3d``), clip features, from
  ``i3d_pretrained_400.pt`` (PyTorch port) or ``i3d_torchscript.pt`` (StyleGAN-V)
- ``inception``: FID's Inception-v3, frame features (``.inception``), from
  ``pt_inception-2015-12-05-6726825d.pth``
- ``vgg``: VGG-16 frame features, for the cINN paper's VGG diversity (``.vgg``)
- ``lpips``: LPIPS-VGG distances between frame pairs (``.lpips``)
- ``domain``: a small video classifier kinema trains on a dataset's labels (``.domain``),
  clip and frame features; no download
"""
from __future__ import annotations

FEATURE_KINDS = ("i3d", "inception", "vgg", "lpips", "domain")


def load_features(kind: str, weights: str | None = None, extractor: str | None = None,
                  i3d_resize: str = "bilinear", i3d_layer: str = "logits"):
    """Build the extractor ``kind``; ``weights`` is a file or folder (default: $KINEMA_WEIGHTS),
    ``extractor`` the folder of a trained domain extractor; ``i3d_resize`` / ``i3d_layer``
    select FVD's preprocessing and feature layer (see ``kinema.metrics.features.i3d``)."""
    from kinema.errors import KinemaError

    if kind == "i3d":
        from kinema.metrics.features.i3d import I3DPreprocess, load_i3d
        return load_i3d(weights, layer=i3d_layer, preprocess=I3DPreprocess(resize=i3d_resize))
    if kind == "inception":
        from kinema.metrics.features.inception import load_inception
        return load_inception(weights)
    if kind == "vgg":
        from kinema.metrics.features.vgg import load_vgg
        return load_vgg(weights)
    if kind == "lpips":
        from kinema.metrics.features.lpips import load_lpips
        return load_lpips(weights)
    if kind == "domain":
        from kinema.metrics.features.domain import load_domain_extractor
        if extractor is None:
            raise KinemaError("domain metrics need --extractor FOLDER (train one with "
                              "`kinema metrics train-extractor`)")
        return load_domain_extractor(extractor)
    raise KinemaError(f"unknown feature kind {kind!r}; known: {', '.join(FEATURE_KINDS)}")
