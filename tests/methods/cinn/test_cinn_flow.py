"""The conditional INN: exact inversion, true log-determinants, conditioning, Eq. (8)."""
import math

import pytest
import torch

from kinema.methods.cinn.flow import ConditionalINN
from kinema.methods.cinn.losses import flow_nll
from kinema.nn.invertible import InvertibleLeakyReLU


def _warm(inn, dim, cond_dim, seed=0):
    """Initialise ActNorm from a batch and give the zero-initialised couplings random weights,
    so the map is far from the identity."""
    g = torch.Generator().manual_seed(seed)
    inn.to_residual(torch.randn(16, dim, generator=g, dtype=inn_dtype(inn)) * 2 + 1,
                    torch.randn(16, cond_dim, generator=g, dtype=inn_dtype(inn)))
    with torch.no_grad():
        for name, p in inn.named_parameters():
            if "subnet" in name:
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return inn


def inn_dtype(inn):
    return next(inn.parameters()).dtype


def test_inversion_with_condition():
    torch.manual_seed(0)
    inn = _warm(ConditionalINN(dim=6, cond_dim=3, blocks=3, hidden=16), 6, 3)
    z, c = torch.randn(8, 6), torch.randn(8, 3)
    nu, logdet_inv = inn.to_residual(z, c)
    back, logdet = inn.to_code(nu, c)
    assert (back - z).abs().max() < 1e-5
    assert torch.allclose(logdet, -logdet_inv, atol=1e-4)
    assert (nu - z).abs().max() > 0.1           # not the identity


def test_logdet_matches_brute_force_jacobian():
    torch.manual_seed(1)
    inn = _warm(ConditionalINN(dim=5, cond_dim=2, blocks=2, hidden=8, leaky_slope=0.5).double(), 5, 2)
    c = torch.randn(1, 2, dtype=torch.float64)
    for seed in range(3):
        z = torch.randn(1, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * 2
        _, logdet = inn.to_residual(z, c)
        jac = torch.autograd.functional.jacobian(lambda v: inn.to_residual(v, c)[0], z).reshape(5, 5)
        assert torch.allclose(logdet, torch.linalg.slogdet(jac).logabsdet, atol=1e-8)


def test_leaky_relu_logdet_is_the_true_one():
    # The official code returns 0 here; the true value is (#negative entries) * log(slope).
    layer = InvertibleLeakyReLU(0.3)
    x = torch.tensor([[-1.0, 2.0, -0.5, 0.1]], dtype=torch.float64)
    y, logdet = layer(x)
    jac = torch.autograd.functional.jacobian(lambda v: layer(v)[0], x).reshape(4, 4)
    assert logdet.item() == pytest.approx(2 * math.log(0.3))
    assert logdet.item() == pytest.approx(torch.linalg.slogdet(jac).logabsdet.item())
    assert torch.allclose(layer(y, reverse=True)[0], x)


def test_condition_changes_the_map_and_inversion_still_holds():
    torch.manual_seed(2)
    inn = _warm(ConditionalINN(dim=4, cond_dim=3, blocks=2, hidden=16), 4, 3)
    nu = torch.randn(5, 4)
    c1, c2 = torch.randn(5, 3), torch.randn(5, 3)
    z1, z2 = inn.to_code(nu, c1)[0], inn.to_code(nu, c2)[0]
    assert (z1 - z2).abs().max() > 1e-2
    assert (inn.to_residual(z2, c2)[0] - nu).abs().max() < 1e-5
    with pytest.raises(ValueError, match="condition"):
        inn.to_code(nu)


def test_flow_nll_matches_gaussian_change_of_variables():
    # For z = 2 nu + 1 (an affine flow with log|det J_{T^-1}| = -d log 2) the NLL per dim
    # of Eq. (8) plus 1/2 log 2 pi is the exact Gaussian NLL of z ~ N(1, 4 I).
    z = torch.randn(1000, 3, dtype=torch.float64) * 2 + 1
    nu = (z - 1) / 2
    logdet = torch.full((1000,), -3 * math.log(2.0), dtype=torch.float64)
    ours = flow_nll(nu, logdet) + 0.5 * math.log(2 * math.pi)
    one = torch.tensor(1.0, dtype=torch.float64)
    exact = -torch.distributions.Normal(one, 2 * one).log_prob(z).mean()
    assert ours.item() == pytest.approx(exact.item(), rel=1e-10)
