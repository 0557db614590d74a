"""The memory-saving backward's per-layer step: an affine coupling's one-subnet-pass
``recompute`` gives the same input, output, log-det and gradients as the default (invert,
then re-run), for both halves (flip) and a condition; and it runs the subnet once."""
import pytest
import torch

from kinema.nn.invertible import AffineCoupling, InvertibleLayer


def _random_coupling(flip: bool, spatial: bool) -> AffineCoupling:
    torch.manual_seed(4)
    layer = AffineCoupling(4, hidden=8, cond_channels=2, spatial=spatial, flip=flip).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return layer


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("spatial", [False, True])
def test_coupling_recompute_equals_invert_then_rerun(flip, spatial):
    layer = _random_coupling(flip, spatial)
    shape = (3, 4, 2, 2) if spatial else (3, 4)
    x = torch.randn(*shape, dtype=torch.float64)
    cond = torch.randn(3, 2, dtype=torch.float64)
    y, logdet = layer(x, cond=cond)
    g_y, g_ld = torch.randn_like(y), torch.randn_like(logdet)
    results = []
    for recompute in (layer.recompute, lambda v, cond: InvertibleLayer.recompute(layer, v, cond)):
        c = cond.clone().requires_grad_(True)
        parts, join, out, ld = recompute(y, cond=c)
        grads = torch.autograd.grad([out, ld], [*parts, c, *layer.parameters()], [g_y, g_ld])
        n = len(parts)
        results.append((join([p.detach() for p in parts]), out.detach(), ld.detach(),
                        join(list(grads[:n])), grads[n:]))
    (x_a, out_a, ld_a, gx_a, rest_a), (x_b, out_b, ld_b, gx_b, rest_b) = results
    assert torch.allclose(x_a, x, atol=1e-12) and torch.allclose(x_b, x, atol=1e-12)
    assert torch.allclose(out_a, y, atol=1e-12) and torch.allclose(ld_a, logdet, atol=1e-12)
    assert torch.allclose(out_a, out_b, atol=1e-12) and torch.allclose(ld_a, ld_b, atol=1e-12)
    assert torch.allclose(gx_a, gx_b, atol=1e-10)
    for a, b in zip(rest_a, rest_b):
        assert torch.allclose(a, b, atol=1e-10)


def test_coupling_recompute_runs_the_subnet_once():
    layer = _random_coupling(False, False)
    calls = []
    layer.subnet.register_forward_hook(lambda *_: calls.append(1))
    y, _ = layer(torch.randn(3, 4, dtype=torch.float64), cond=torch.randn(3, 2, dtype=torch.float64))
    calls.clear()
    layer.recompute(y, cond=torch.randn(3, 2, dtype=torch.float64))
    assert len(calls) == 1


def test_the_allocator_is_tuned_once_and_never_against_the_users_settings(monkeypatch):
    import ctypes

    from kinema.nn.invertible import sequence

    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.setattr("platform.libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setitem(sequence._ALLOCATOR, "tuned", False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert sequence.keep_freed_memory() is False and calls == []       # the user's choice
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setitem(sequence._ALLOCATOR, "tuned", False)
    assert sequence.keep_freed_memory() is True
    assert calls == [(-3, 32 * 2**20), (-1, 2**30)]    # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    assert sequence.keep_freed_memory() is False and len(calls) == 2    # once per process
