"""The objective of Eq. (2) + the scale layer of Sec. 2.6 against an independent computation
(numpy least squares + scipy's Gaussian log-density), its scale invariance (which is why it is
not a normalised density), the dequantisation that the bits/dim accounting assumes (bins of
width 1 / 2^n_bits), and the held-out likelihood of the variant without the scale layer."""
import math

import numpy as np
import torch
from scipy.stats import multivariate_normal

from kinema.methods.ile.config import ile_config
from kinema.methods.ile.linear_system import LatentLinearSystem
from kinema.methods.ile.losses import scale_invariant_objective
from kinema.methods.ile.model import ILE


def independent_nll(y, logdet, O_rows, fit_frames):
    """Per-frame NLL (nats) of frames, x0 by numpy lstsq on ``fit_frames`` of z = y / mean|y|."""
    b, t, d = y.shape
    out = np.zeros((b, t))
    for i in range(b):
        gamma = np.abs(y[i]).mean(axis=1)                          # Sec. 2.6, per frame
        z = y[i] / gamma[:, None]
        O = O_rows[:fit_frames].reshape(fit_frames * d, -1)
        x0, *_ = np.linalg.lstsq(O, z[:fit_frames].reshape(-1), rcond=None)
        for s in range(t):
            mean = O_rows[s] @ x0
            log_p = multivariate_normal(mean=mean, cov=np.eye(d)).logpdf(z[s])
            # log p(o) = log N(z) + log|det dz/dy| + log|det dy/do|, with z = y / gamma
            out[i, s] = -(log_p - d * math.log(gamma[s]) + logdet[i, s])
    return out


def test_objective_and_bits_per_dim_match_independent_computation():
    torch.manual_seed(0)
    system = LatentLinearSystem(state_dim=4, obs_dim=6, seed=4)
    y = torch.randn(2, 5, 6, dtype=torch.float64) * 3.0
    logdet = torch.randn(2, 5, dtype=torch.float64) * 10.0
    out = scale_invariant_objective(y, logdet, system, n_bits=8, context_frames=3)
    O_rows = system.observation_rows(0, 5).detach().numpy()         # (t d n)
    fit = independent_nll(y.numpy(), logdet.numpy(), O_rows, fit_frames=5)
    expected_bits = fit.sum(1).mean() / (5 * 6) / math.log(2) + 8
    assert abs(out["objective_bits_per_dim"].item() - expected_bits) < 1e-5
    assert abs(out["loss"].item() - fit.sum(1).mean() / 30) < 1e-5
    predictive = independent_nll(y.numpy(), logdet.numpy(), O_rows, fit_frames=3)[:, 3:]
    expected_predictive = predictive.mean() / 6 / math.log(2) + 8
    assert abs(out["predictive_objective_bits_per_dim"].item() - expected_predictive) < 1e-5


def test_scale_layer_makes_the_objective_scale_invariant():
    """Sec. 2.6: scaling the embedding by c adds D log c to the flow's log-det and the same to
    D log gamma, so the loss cannot be lowered by a runaway scale."""
    system = LatentLinearSystem(state_dim=4, obs_dim=8, seed=1)
    y = torch.randn(3, 4, 8, dtype=torch.float64)
    logdet = torch.randn(3, 4, dtype=torch.float64)
    base = scale_invariant_objective(y, logdet, system, n_bits=8)["loss"]
    for c in (1e-3, 7.0, 1e4):
        scaled = scale_invariant_objective(y * c, logdet + 8 * math.log(c), system, n_bits=8)["loss"]
        assert abs(scaled.item() - base.item()) < 1e-5
    # without the matching log-det the loss does change: the test can fail
    assert abs(scale_invariant_objective(y * 7.0, logdet, system, n_bits=8)["loss"].item() - base.item()) > 0.1


def test_dequantisation_bins_have_width_one_over_levels():
    """bits/dim = nll / (D ln 2) + n_bits assumes each pixel level owns a bin of width 2^-n_bits
    in the flow's input space: the dequantised value stays in its level's bin."""
    model = ILE(ile_config("tiny"))
    levels = model.levels
    grid = torch.arange(levels, dtype=torch.float32) / (levels - 1) * 2 - 1      # every level
    frames = grid.reshape(1, 1, 1, 16, 16).expand(64, 1, 1, 16, 16)
    u = model.to_flow_input(frames)
    lower = torch.arange(levels, dtype=torch.float32) / levels - 0.5
    lower = lower.reshape(1, 1, 1, 16, 16)
    assert torch.all(u >= lower) and torch.all(u < lower + 1.0 / levels)
    assert (u - lower).std() > 0.2 / levels                       # noise fills the bin
    centre = model.to_flow_input(frames[:1], dequantize=False)
    assert torch.allclose(model.from_flow_output(centre), frames[:1], atol=1e-6)


def _variant(config, scale=0.3, seed=0):
    """An ILE without the scale layer whose flow is far from the identity (random weights)."""
    import dataclasses

    torch.manual_seed(seed)
    model = ILE(dataclasses.replace(config, scale_layer=False)).double()
    with torch.no_grad():
        for p in model.flow.parameters():
            p.copy_(torch.randn_like(p) * scale)
        model.system.C.mul_(3.0)
    return model


def test_the_variant_without_the_scale_layer_has_a_normalised_conditional_density():
    """∫ p(u | context) du = 1 over a future frame's flow input u in R^4 (a 2x2 grey frame),
    by a Riemann sum on a grid that covers the density; a flipped log-det sign gives ~0.55."""
    from kinema.methods.ile.config import ILEConfig
    from kinema.methods.ile.losses import conditional_nll

    model = _variant(ILEConfig(channels=1, image_size=2, blocks=1, steps_per_block=2, hidden=8,
                               state_dim=2, context_frames=2))
    context = torch.rand(2, 1, 2, 2, dtype=torch.float64) - 0.5       # two frames' flow inputs
    with torch.no_grad():
        context_y = model.flow.encode(context)[0][None]               # (1 2 4)
        mean = model.system.rollout(model.system.infer_state(context_y), 2, 1)[0, 0]
        spread = model.flow.decode(mean + torch.randn(20000, 4, dtype=torch.float64)).flatten(1)
        axes = [torch.linspace(float(lo) - 0.5, float(hi) + 0.5, 18, dtype=torch.float64)
                for lo, hi in zip(spread.min(0).values, spread.max(0).values)]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 1, 2, 2)
        future_y, future_logdet = model.flow.encode(grid)
        nll = conditional_nll(context_y.expand(len(grid), -1, -1), future_y[:, None],
                              future_logdet[:, None], model.system)
    cell = math.prod(float(a[1] - a[0]) for a in axes)
    assert abs(float(torch.exp(-nll).sum() * cell) - 1.0) < 2e-3
    flipped = nll + 2 * future_logdet
    assert abs(float(torch.exp(-flipped).sum() * cell) - 1.0) > 0.2


def test_conditional_likelihood_matches_a_brute_force_change_of_variables():
    """ILE.conditional_likelihood against autograd's Jacobian of the flow (slogdet), numpy
    least squares for x0* on the context only, and scipy's Gaussian log-density."""
    model = _variant(ile_config("tiny"), scale=0.1, seed=3)
    video = torch.rand(2, 4, 1, 8, 8, dtype=torch.float64) * 2 - 1
    k, d = 2, 64
    torch.manual_seed(11)
    out = model.conditional_likelihood(video, context_frames=k)
    torch.manual_seed(11)                    # the same dequantisation noise for the future frames
    future_u = model.to_flow_input(video[:, k:].flatten(0, 1)).reshape(2, 2, 1, 8, 8)
    context_u = model.to_flow_input(video[:, :k].flatten(0, 1), dequantize=False)
    O_rows = model.system.observation_rows(0, 4).detach().numpy()    # (t d n)
    encode = lambda u: model.flow.encode(u.reshape(1, 1, 8, 8))[0][0]   # noqa: E731
    with torch.no_grad():
        context_y = model.flow.encode(context_u)[0].reshape(2, k, d).numpy()
    for i in range(2):
        x0, *_ = np.linalg.lstsq(O_rows[:k].reshape(k * d, -1), context_y[i].reshape(-1), rcond=None)
        expected = 0.0
        for s in range(2):
            u = future_u[i, s].flatten()
            J = torch.autograd.functional.jacobian(encode, u)                 # (d d)
            y = encode(u).detach().numpy()
            log_p = multivariate_normal(mean=O_rows[k + s] @ x0, cov=np.eye(d)).logpdf(y)
            expected -= log_p + torch.linalg.slogdet(J).logabsdet.item()
        assert abs(out["conditional_nll"][i].item() - expected) < 1e-6 * abs(expected)
    bits = out["conditional_nll"].mean().item() / (2 * d) / math.log(2) + 8
    assert abs(out["conditional_bits_per_dim"].item() - bits) < 1e-5


def test_a_model_with_the_scale_layer_has_no_conditional_likelihood():
    import pytest

    from kinema.errors import KinemaError

    with pytest.raises(KinemaError, match="scale_layer=false"):
        ILE(ile_config("tiny")).conditional_likelihood(torch.zeros(1, 4, 1, 8, 8))
