"""The latent linear system of ILE: stability for any parameters, least squares vs numpy."""
import numpy as np
import pytest
import torch

from kinema.methods.ile.linear_system import LatentLinearSystem


@pytest.mark.parametrize("scale", [0.0, 1e-16, 0.5, 1.0, 3.0, 1e6])
def test_eigenvalues_inside_unit_circle_for_any_parameters(scale):
    system = LatentLinearSystem(state_dim=16, obs_dim=20, seed=3)
    g = torch.Generator().manual_seed(int(scale * 7) % 1000)
    with torch.no_grad():
        system.theta_alpha.copy_(torch.randn(8, generator=g, dtype=torch.float64) * scale)
        system.theta_beta.copy_(torch.randn(8, generator=g, dtype=torch.float64) * scale)
    A = system.transition_matrix()
    independent = np.linalg.eigvals(A.detach().numpy())        # numpy, not our formula
    assert np.all(np.abs(independent) <= 1.0 + 1e-12)
    ours = system.eigenvalues().detach().numpy()
    assert np.allclose(np.sort_complex(ours), np.sort_complex(independent), atol=1e-10)
    assert torch.isfinite(system.observation_rows(0, 50)).all()


def test_alpha_never_reaches_one_and_sqrt_never_sees_zero():
    system = LatentLinearSystem(state_dim=4, obs_dim=4)
    with torch.no_grad():
        system.theta_alpha.zero_()
        system.theta_beta.zero_()
    alpha, beta = system.alpha_beta()
    assert torch.all(alpha < 1.0) and torch.all(beta > 0)
    assert torch.all(alpha.float() == 1.0)         # Sec. 2.5: alpha = 1 after the cast to float32
    (alpha.sum() + beta.sum()).backward()          # finite gradients through sqrt(1 - alpha^2)
    assert torch.isfinite(system.theta_alpha.grad).all()


def test_state_matches_numpy_lstsq_and_residual_is_orthogonal():
    torch.manual_seed(0)
    system = LatentLinearSystem(state_dim=6, obs_dim=10, seed=1)
    z = torch.randn(3, 5, 10, dtype=torch.float64)
    x0 = system.infer_state(z).detach().numpy()
    O = system.observation_rows(0, 5).flatten(0, 1).detach().numpy()     # ((t d) n)
    for i in range(3):
        reference, *_ = np.linalg.lstsq(O, z[i].reshape(-1).numpy(), rcond=None)
        assert np.allclose(x0[i], reference, atol=1e-10)
    residual = system.residual(z).detach().numpy().reshape(3, -1)
    assert np.allclose(residual, z.reshape(3, -1).numpy() - x0 @ O.T, atol=1e-10)
    assert np.allclose(residual @ O, 0, atol=1e-9)


def test_rollout_continues_the_observed_trajectory():
    system = LatentLinearSystem(state_dim=4, obs_dim=6, seed=2)
    x0 = torch.randn(2, 4, dtype=torch.float64)
    full = system.rollout(x0, 0, 7)
    assert torch.allclose(system.rollout(x0, 3, 4), full[:, 3:])
    # noise-free observations are explained exactly and give back x0
    assert torch.allclose(system.infer_state(full[:, :3]), x0, atol=1e-8)
