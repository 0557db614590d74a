"""The latent linear time-invariant system of ILE (Sec. 2.3-2.5 of the paper).

    x_t = A x_{t-1},   z_t = C x_t + noise,   noise ~ N(0, I)

so z_t = C A^t x_0. A is kept in real Jordan normal form (Sec. 2.5): 2x2 blocks
[[alpha, beta], [-beta, alpha]], each simulating multiplication by the complex eigenvalue
alpha + i beta, with (alpha, beta) produced from free parameters (theta_alpha, theta_beta) so
that |eigenvalue| <= 1 for any parameter values. C is a learned dense matrix (the similarity
transform that makes the Jordan form general is absorbed in it, Sec. 2.5).

The initial state x0* = O^+ Z (Sec. 2.3, O the observability matrix [C; CA; ...; CA^{T-1}])
is solved in float64 by a reduced QR factorisation of O, never forming a pseudo-inverse.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from kinema.nn.precision import fp32_function

EPSILON = 1e-14   # Sec. 2.5: with double precision alpha can reach 1 - 1e-14 and never sqrt(0)


class LatentLinearSystem(nn.Module):
    """A (state_dim x state_dim, real Jordan form) and C (obs_dim x state_dim).

    ``theta_alpha``/``theta_beta`` are float64 parameters (the reparameterisation of Sec. 2.5 is
    computed in double precision); C is float32 and promoted to float64 in use."""

    def __init__(self, state_dim: int, obs_dim: int, seed: int = 0):
        super().__init__()
        if state_dim % 2:
            raise ValueError(f"state_dim must be even, got {state_dim}")
        if obs_dim < state_dim:
            raise ValueError(f"obs_dim ({obs_dim}) must be >= state_dim ({state_dim})")
        g = torch.Generator().manual_seed(seed)
        m = state_dim // 2
        # Initial eigenvalues (not given in the paper): just inside the unit circle, at angles
        # phi spread uniformly over [0, pi/2] -- alpha = cos(phi), beta ~ sin(phi) -- so that the
        # system starts with slow and fast rotations alike (motion at different speeds needs
        # different frequencies). The reparameterisation keeps alpha, beta >= 0, so eigenvalues
        # live in the right half of the unit disc (angles in [-pi/2, pi/2]).
        phi = torch.rand(m, generator=g, dtype=torch.float64) * (math.pi / 2)
        self.theta_alpha = nn.Parameter(1.0 - torch.cos(phi))
        self.theta_beta = nn.Parameter(torch.rand(m, generator=g, dtype=torch.float64) * 0.02)
        self.C = nn.Parameter(torch.randn(obs_dim, state_dim, generator=g) / math.sqrt(state_dim))
        self.state_dim, self.obs_dim = state_dim, obs_dim

    def alpha_beta(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Sec. 2.5: alpha = max((1 - eps) - |theta_a|, 0); beta = max(1 - |theta_b|, 0) sqrt(1 - alpha^2)."""
        theta_a, theta_b = self.theta_alpha.double(), self.theta_beta.double()
        alpha = torch.clamp((1.0 - EPSILON) - theta_a.abs(), min=0.0)
        beta = torch.clamp(1.0 - theta_b.abs(), min=0.0) * torch.sqrt(1.0 - alpha ** 2)
        return alpha, beta

    def eigenvalues(self) -> torch.Tensor:
        """The complex eigenvalues alpha +- i beta of A, (state_dim,) complex128."""
        alpha, beta = self.alpha_beta()
        plus = torch.complex(alpha, beta)
        return torch.stack([plus, plus.conj()], dim=1).flatten()

    def transition_matrix(self) -> torch.Tensor:
        """A in real Jordan form, (n n) float64, block j = [[alpha_j, beta_j], [-beta_j, alpha_j]]."""
        alpha, beta = self.alpha_beta()
        diagonal = alpha.repeat_interleave(2)
        off = torch.stack([beta, torch.zeros_like(beta)], dim=1).flatten()[:-1]
        return torch.diag(diagonal) + torch.diag(off, 1) - torch.diag(off, -1)

    def observation_rows(self, start: int, num: int) -> torch.Tensor:
        """C A^t for t = start .. start+num-1, (t d n) float64."""
        A = self.transition_matrix()
        rows, current = [], self.C.double() @ torch.linalg.matrix_power(A, start)
        for _ in range(num):
            rows.append(current)
            current = current @ A
        return torch.stack(rows)

    def _factor(self, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Reduced QR of the observability matrix O = [C; CA; ...] of ``num_frames`` rows."""
        O = self.observation_rows(0, num_frames).flatten(0, 1)    # ((t d) n)
        return torch.linalg.qr(O, mode="reduced")

    @fp32_function("ile linear system")   # fp32 island (itself float64): QR and solve
    def infer_state(self, z: torch.Tensor) -> torch.Tensor:
        """Least-squares initial state x0* = argmin ||O x - Z|| (Sec. 2.3), z: (b t d) -> (b n) float64."""
        Q, R = self._factor(z.shape[1])
        rhs = Q.T @ z.double().flatten(1).T                      # (n b)
        return torch.linalg.solve_triangular(R, rhs, upper=True).T

    @fp32_function("ile linear system")   # fp32 island (itself float64): QR and solve
    def residual(self, z: torch.Tensor) -> torch.Tensor:
        """Z - O O^+ Z (the predictive error of Eq. (2)), z: (b t d) -> (b t d) float64."""
        Q, _ = self._factor(z.shape[1])
        flat = z.double().flatten(1).T                            # ((t d) b)
        return (flat - Q @ (Q.T @ flat)).T.reshape(z.shape)

    @fp32_function("ile linear system")   # fp32 island (itself float64): QR and solve
    def rollout(self, x0: torch.Tensor, start: int, num: int) -> torch.Tensor:
        """Noise-free observations C A^t x0 for t = start .. start+num-1: (b n) -> (b t d) float64."""
        return torch.einsum("tdn,bn->btd", self.observation_rows(start, num), x0.double())
