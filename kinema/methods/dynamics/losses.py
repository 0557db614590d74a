"""Losses of the spectral-volume VAE (Sec. 7: L1, multi-scale gradient consistency, KL with
weights 1, 0.2, 1e-6; inputs are normalised spectral-volume slices (n 4 h w)) and of the
renderer without VGG weights (L1, MS-SSIM, image-gradient L1; pictures (n 3 h w) in [-1, 1])."""
from __future__ import annotations

import torch

from kinema.errors import KinemaError
from kinema.nn.precision import fp32_function

# MS-SSIM's exponents per scale, finest first (Wang, Simoncelli & Bovik 2003; torchmetrics' default)
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_WINDOW = 11        # the Gaussian window of SSIM (sigma 1.5), at every scale


@fp32_function("loss reduction")
def l1_reconstruction(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every element."""
    return (reconstruction - target).abs().mean()


@fp32_function("loss reduction")
def gradient_consistency(reconstruction: torch.Tensor, target: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Multi-scale gradient consistency (MegaDepth, the paper's refs. [54-56]).

    With the residual R = reconstruction - target subsampled by 2**s (every 2**s-th pixel, as
    MegaDepth does) at scales s = 0 .. scales-1:
    ``sum_s mean|R_s[..., :, 1:] - R_s[..., :, :-1]| + mean|R_s[..., 1:, :] - R_s[..., :-1, :]|``.
    It asks the reconstruction's spatial gradients to match the target's, at several scales.
    """
    residual = reconstruction - target
    total = residual.new_zeros(())
    for s in range(scales):
        r = residual[..., :: 2 ** s, :: 2 ** s]
        if r.shape[-1] > 1:
            total = total + (r[..., :, 1:] - r[..., :, :-1]).abs().mean()
        if r.shape[-2] > 1:
            total = total + (r[..., 1:, :] - r[..., :-1, :]).abs().mean()
    return total


@fp32_function("loss reduction")
def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over a sample's latent elements, mean over samples:
    ``mean_n sum 0.5 (mean^2 + exp(logvar) - 1 - logvar)`` (the LDM autoencoder's convention)."""
    per_element = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar)
    return per_element.flatten(1).sum(dim=1).mean()


def ms_ssim_betas(scales: int) -> tuple[float, ...]:
    """The exponents of the ``scales`` finest of MS-SSIM's five scales, renormalised to sum 1 (so a
    perfect match still scores 1)."""
    if not 1 <= scales <= len(MS_SSIM_BETAS):
        raise KinemaError(f"MS-SSIM takes 1 to {len(MS_SSIM_BETAS)} scales; got {scales}")
    kept = MS_SSIM_BETAS[:scales]
    return tuple(b / sum(kept) for b in kept)


def ms_ssim_min_side(scales: int) -> int:
    """The smallest picture side MS-SSIM of ``scales`` scales takes: its coarsest scale (side /
    2^(scales-1)) must hold the 11-px window, and torchmetrics asks side // max(1, scales-1)^2 > 10.
    5 scales need 176 px, 3 scales 44 px (64 px pictures: 3 scales), 1 scale (plain SSIM) 11 px."""
    coarsest = MS_SSIM_WINDOW * 2 ** (scales - 1)
    torchmetrics_bound = (MS_SSIM_WINDOW - 1) * max(1, scales - 1) ** 2 + 1
    return max(coarsest, torchmetrics_bound, 2 ** scales)


@fp32_function("loss reduction")
def ms_ssim_loss(prediction: torch.Tensor, target: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """1 - MS-SSIM of pictures (n c h w) in [-1, 1] (data range 2), over the ``scales`` finest scales
    (``ms_ssim_betas``), mean over the batch. torchmetrics' ``normalize="relu"``: negative
    contrast-structure terms clamp to 0, so a fractional power of one gives no NaN in training."""
    side = min(prediction.shape[-2:])
    if side < ms_ssim_min_side(scales):
        raise KinemaError(f"MS-SSIM of {scales} scales needs pictures of at least {ms_ssim_min_side(scales)} px; "
                          f"got {tuple(prediction.shape[-2:])} (lower ms_ssim_scales)")
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    score = multiscale_structural_similarity_index_measure(
        prediction, target, gaussian_kernel=True, sigma=1.5, kernel_size=MS_SSIM_WINDOW, data_range=2.0,
        betas=ms_ssim_betas(scales), normalize="relu")
    return 1.0 - score
