"""Invertibility, exact log-determinants (brute-force Jacobian) and memory-saving gradients of
kinema.nn.invertible."""
import math

import pytest
import torch

from kinema.nn.invertible import (ActNorm, AffineCoupling, FixedPermutation, Invertible1x1Conv,
                                  InvertibleLeakyReLU, InvertibleSequence, Squeeze)


def randomize(module: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> None:
    """Move every parameter off its identity initialisation (zero last layers)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def brute_force_logdet(layer, x, cond=None):
    """log|det J| of the map x -> layer(x) for each batch element, from the dense Jacobian."""
    out = []
    for i in range(x.shape[0]):
        xi = x[i:i + 1]
        ci = None if cond is None else cond[i:i + 1]
        jac = torch.autograd.functional.jacobian(lambda v: layer(v, cond=ci)[0], xi)
        n = xi.numel()
        out.append(torch.linalg.slogdet(jac.reshape(n, n)).logabsdet)
    return torch.stack(out)


def vector_chain(dim=6, cond_dim=0, memory_saving=False):
    layers = []
    for k in range(3):
        layers += [ActNorm(dim), AffineCoupling(dim, hidden=16, cond_channels=cond_dim, spatial=False),
                   FixedPermutation(dim, seed=k), InvertibleLeakyReLU(0.3)]
    return InvertibleSequence(layers, memory_saving=memory_saving)


def map_chain(channels=1, cond_dim=0, memory_saving=False):
    c = 4 * channels
    layers = [Squeeze()]
    for k in range(3):
        layers += [ActNorm(c), AffineCoupling(c, hidden=8, cond_channels=cond_dim, flip=k % 2 == 1),
                   Invertible1x1Conv(c, seed=k), FixedPermutation(c, seed=k), InvertibleLeakyReLU(0.5)]
    return InvertibleSequence(layers, memory_saving=memory_saving)


CASES = {
    "vector": lambda: (vector_chain(), torch.randn(3, 6), None),
    "vector+cond": lambda: (vector_chain(cond_dim=3), torch.randn(3, 6), torch.randn(3, 3)),
    "map": lambda: (map_chain(), torch.randn(2, 1, 4, 4), None),
    "map+cond(bkhw)": lambda: (map_chain(cond_dim=2), torch.randn(2, 1, 4, 4), torch.randn(2, 2, 2, 2)),
    "map+cond(bk)": lambda: (map_chain(cond_dim=3), torch.randn(2, 1, 4, 4), torch.randn(2, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_inverse_and_logdet(case):
    torch.manual_seed(0)
    chain, x, cond = CASES[case]()
    chain(x, cond=cond)                      # ActNorm data-dependent initialisation
    randomize(chain)
    chain = chain.double()
    x = x.double()
    cond = None if cond is None else cond.double()
    y, logdet = chain(x, cond=cond)
    assert logdet.shape == (x.shape[0],)
    x_back, logdet_back = chain(y, cond=cond, reverse=True)
    assert (x_back - x).abs().max() < 1e-10
    assert torch.allclose(logdet_back, -logdet, atol=1e-10)
    assert torch.allclose(logdet, brute_force_logdet(chain, x, cond), atol=1e-8)
    if cond is not None:      # the condition must matter, and inversion holds for each condition
        y_other, _ = chain(x, cond=cond + 1.0)
        assert (y_other - y).abs().max() > 1e-3


def test_inversion_float32_error_small():
    torch.manual_seed(1)
    chain = map_chain(channels=2)
    x = torch.randn(4, 2, 8, 8)
    chain(x)
    randomize(chain, scale=0.1)
    y, _ = chain(x)
    assert (chain.inverse(y) - x).abs().max() < 1e-5


def test_leaky_relu_returns_true_logdet():
    layer = InvertibleLeakyReLU(0.2)
    x = torch.tensor([[-1.0, 2.0, -3.0, 4.0]])
    y, logdet = layer(x)
    assert torch.allclose(y, torch.tensor([[-0.2, 2.0, -0.6, 4.0]]))
    assert logdet.item() == pytest.approx(2 * math.log(0.2))


def test_actnorm_initialises_from_first_batch_only():
    layer = ActNorm(3)
    x = torch.randn(64, 3, 5, 5) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1) + 4.0
    y, _ = layer(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(y.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    bias = layer.bias.detach().clone()
    layer(x * 5)
    assert torch.equal(layer.bias.detach(), bias)
    assert bool(layer.initialized)


def test_permutation_uses_local_generator_and_is_a_buffer():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = FixedPermutation(10, seed=5), FixedPermutation(10, seed=5)
    assert torch.equal(torch.rand(1), before)           # global RNG untouched
    assert torch.equal(a.perm, b.perm)
    assert "perm" in dict(a.named_buffers()) and not list(a.parameters())


@pytest.mark.parametrize("kind", ["vector+cond", "map+cond(bkhw)"])
def test_memory_saving_gradients_equal_ordinary(kind):
    torch.manual_seed(2)
    make = {"vector+cond": lambda ms: (vector_chain(cond_dim=3, memory_saving=ms),
                                       torch.randn(3, 6), torch.randn(3, 3)),
            "map+cond(bkhw)": lambda ms: (map_chain(cond_dim=2, memory_saving=ms),
                                          torch.randn(2, 1, 4, 4), torch.randn(2, 2, 2, 2))}[kind]
    plain, x, cond = make(False)
    plain(x, cond=cond)
    randomize(plain)
    saving, _, _ = make(True)
    saving.load_state_dict(plain.state_dict())
    grads = {}
    for name, chain in (("plain", plain.double()), ("saving", saving.double())):
        xi = x.double().clone().requires_grad_(True)
        ci = cond.double().clone().requires_grad_(True)
        y, logdet = chain(xi, cond=ci)
        loss = (y ** 2).sum() * 0.5 - logdet.sum() + (y[:, :1] ** 3).sum()
        chain.zero_grad()
        loss.backward()
        grads[name] = [xi.grad, ci.grad] + [p.grad for p in chain.parameters()]
    assert all(g is not None for g in grads["saving"])
    for g_plain, g_saving in zip(grads["plain"], grads["saving"]):
        assert torch.allclose(g_plain, g_saving, atol=1e-9, rtol=1e-7)


def test_custom_subnet_constructor():
    made = []

    def subnet(c_in, c_out):
        made.append((c_in, c_out))
        return torch.nn.Linear(c_in, c_out)

    layer = AffineCoupling(5, cond_channels=2, spatial=False, subnet_constructor=subnet)
    assert made == [(2 + 2, 2 * 3)]
    x, c = torch.randn(4, 5), torch.randn(4, 2)
    y, _ = layer(x, cond=c)
    assert torch.allclose(layer(y, cond=c, reverse=True)[0], x, atol=1e-5)
