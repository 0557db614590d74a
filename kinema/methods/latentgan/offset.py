"""The offset trick of StyleVideoGAN (Sec. 3, Fig. 4): motion generated for the training
actor is moved onto a new identity.

A PCA of the training embedding (flattened W+ codes, centred on their mean mu) gives the 32
directions U in which the training frames extend the furthest: the directions of the actor's
state (pose, expression), not of its identity. A new identity's code w_new is projected onto
that affine subspace,

    w'_new = mu + U U^T (w_new - mu)         (the training actor in the new actor's state)
    Delta  = w_new - w'_new                  (orthogonal to every direction of U)

and the trajectory w_0 .. w_{t-1} of the training actor becomes w_0 + Delta, .., w_{t-1} + Delta,
which maps the anchor w'_new exactly onto w_new.
"""
from __future__ import annotations

import torch
from torch import nn

from kinema.errors import KinemaError


def principal_components(codes: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of codes (n ...) flattened to (n D): (mean (D), components (k D) orthonormal rows,
    explained variances (k), unbiased) with k capped at min(n - 1, D). Signs are fixed so the
    largest entry of each component is positive (deterministic across SVD back ends)."""
    x = codes.reshape(codes.shape[0], -1).double()
    if x.shape[0] < 2:
        raise KinemaError(f"a PCA needs at least 2 codes, got {x.shape[0]}")
    mean = x.mean(0)
    _, singular, vh = torch.linalg.svd(x - mean, full_matrices=False)
    k = min(k, x.shape[0] - 1, x.shape[1])
    components = vh[:k]
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    components = components * signs
    variances = singular[:k].pow(2) / (x.shape[0] - 1)
    return mean.float(), components.float(), variances.float()


class OffsetBasis(nn.Module):
    """The PCA of the training embedding as buffers (mean (D), components (k D), variances (k));
    codes are (... num_ws w_dim) and flattened on the fly."""

    def __init__(self, dim: int, k: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("components", torch.zeros(k, dim))
        self.register_buffer("variances", torch.zeros(k))

    @torch.no_grad()
    def fit(self, codes: torch.Tensor) -> "OffsetBasis":
        mean, components, variances = principal_components(codes, self.components.shape[0])
        k = components.shape[0]
        self.mean.copy_(mean)
        self.components.zero_()
        self.variances.zero_()
        self.components[:k].copy_(components)
        self.variances[:k].copy_(variances)
        return self

    @property
    def rank(self) -> int:
        return int((self.components.abs().sum(1) > 0).sum())

    def coordinates(self, codes: torch.Tensor) -> torch.Tensor:
        """U^T (w - mu): codes (... n c) -> (... k)."""
        flat = codes.reshape(*codes.shape[:-2], -1)
        return (flat - self.mean) @ self.components.T

    def project(self, codes: torch.Tensor) -> torch.Tensor:
        """w' = mu + U U^T (w - mu), the same shape as ``codes`` (... n c)."""
        flat = self.mean + self.coordinates(codes) @ self.components
        return flat.reshape(codes.shape)

    def offset(self, w_new: torch.Tensor) -> torch.Tensor:
        """Delta = w_new - w'_new: w_new (b n c) -> (b n c)."""
        return w_new - self.project(w_new)

    def transfer(self, trajectory: torch.Tensor, w_new: torch.Tensor) -> torch.Tensor:
        """trajectory (b t n c) of the training actor + Delta of w_new (b n c) -> (b t n c)."""
        return trajectory + self.offset(w_new)[:, None]
