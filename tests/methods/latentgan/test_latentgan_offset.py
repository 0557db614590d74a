"""The offset trick: the PCA basis against scikit-learn, the anchor mapped exactly onto w_new."""
import numpy as np
import torch
from sklearn.decomposition import PCA

from kinema.methods.latentgan.offset import OffsetBasis, principal_components


def training_codes(n=60, num_ws=3, w_dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(2.0, 0.1, num_ws * w_dim)
    return (torch.randn(n, num_ws * w_dim, generator=g) * scales + 1.5).reshape(n, num_ws, w_dim)


def test_pca_matches_scikit_learn():
    codes = training_codes()
    mean, components, variances = principal_components(codes, 5)
    reference = PCA(n_components=5).fit(codes.reshape(60, -1).numpy().astype(np.float64))
    assert np.allclose(mean.numpy(), reference.mean_, atol=1e-5)
    assert np.allclose(variances.numpy(), reference.explained_variance_, rtol=1e-4)
    dots = (components.double().numpy() * reference.components_).sum(1)
    assert np.allclose(np.abs(dots), 1.0, atol=1e-4)      # the same directions up to sign
    assert torch.allclose(components @ components.T, torch.eye(5), atol=1e-5)


def test_offset_maps_the_anchor_exactly_onto_the_new_identity():
    codes = training_codes()
    basis = OffsetBasis(12, 4).fit(codes)
    w_new = torch.randn(2, 3, 4) * 3.0
    anchor = basis.project(w_new)                         # w'_new: the training actor, same state
    delta = basis.offset(w_new)
    assert torch.allclose(anchor + delta, w_new, atol=1e-6)
    assert torch.allclose(basis.project(anchor), anchor, atol=1e-5)          # a projection
    assert torch.allclose(basis.coordinates(anchor), basis.coordinates(w_new), atol=1e-5)
    assert basis.coordinates(delta + basis.mean.reshape(3, 4)).abs().max() < 1e-5  # Delta _|_ U
    # the shifted trajectory keeps its state coordinates and passes through w_new at the anchor
    trajectory = torch.stack([anchor, codes[:2], codes[2:4]], dim=1)       # (b t n c)
    moved = basis.transfer(trajectory, w_new)
    assert torch.allclose(moved[:, 0], w_new, atol=1e-6)
    assert torch.allclose(basis.coordinates(moved), basis.coordinates(trajectory), atol=1e-4)
    assert torch.allclose(moved[:, 1] - trajectory[:, 1], delta, atol=1e-6)


def test_basis_rank_caps_at_the_data():
    basis = OffsetBasis(12, 32).fit(training_codes(n=5))
    assert basis.rank == 4                                # n - 1 directions from 5 codes
    assert torch.allclose(basis.variances[4:], torch.zeros(28))
