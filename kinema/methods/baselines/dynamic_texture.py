"""The linear dynamic texture of Doretto, Chiuso, Wu & Soatto, "Dynamic Textures", IJCV 2003.

Frames are the output of a linear dynamic system (their model; the paper is not in
shared/papers, so equation numbers are not cited):

    y_t = C x_t + mean + w_t,     w_t ~ N(0, R I)        (observation, C: (d n), C^T C = I)
    x_{t+1} = A x_t + B v_t,      v_t ~ N(0, I)          (state, A: (n n), Q = B B^T)

fitted in closed form (their sub-optimal closed-form solution): C are the first n
principal components of the frames (SVD), x_t = C^T (y_t - mean), A is the least-squares
transition x_{2..T} ≈ A x_{1..T-1} over all clips, Q the covariance of its residuals, R the
per-pixel variance of what the n components leave out.

One deviation, stated: A's eigenvalues are clipped to modulus <= ``max_spectral_radius``
(default 1) after the least-squares fit, so long rollouts never explode (Doretto et al. note
the fitted A can be unstable on short data).

All three tasks: ``predict`` runs a Kalman filter over the context to infer the state of the
last context frame, then rolls A forward; ``sample`` does the same from one image; ``generate``
starts from the fitted state distribution. The mean prediction rolls without noise; samples
draw the state from the filter's posterior and add the innovations B v_t. Frames shown are
C x_t + mean (the noise-free texture, as in Doretto's synthesis), clipped to [-1, 1].
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from kinema.errors import KinemaError
from kinema.methods.baselines.clips import check_count, check_frames, collect_clips
from kinema.methods.baselines.config import DynamicTextureConfig
from kinema.pretrained import Pretrained


class LinearDynamicTexture(nn.Module, Pretrained):
    config_class = DynamicTextureConfig

    def __init__(self, config: DynamicTextureConfig | None = None):
        super().__init__()
        self.config = config = config or DynamicTextureConfig()
        d, n = config.channels * config.height * config.width, config.num_components
        if not 1 <= n <= d:
            raise KinemaError(f"num_components must be in [1, c*h*w = {d}], got {n}")
        # the system lives in double precision: fitting is closed form and cheap at n x n
        f64 = dict(dtype=torch.float64)
        self.register_buffer("A", torch.zeros(n, n, **f64))           # state transition
        self.register_buffer("B", torch.zeros(n, n, **f64))           # innovation factor, Q = B B^T
        self.register_buffer("C", torch.zeros(d, n, **f64))           # principal components
        self.register_buffer("mean", torch.zeros(d, **f64))           # mean frame
        self.register_buffer("R", torch.zeros((), **f64))             # observation noise variance
        self.register_buffer("state_mean", torch.zeros(n, **f64))     # fitted state distribution
        self.register_buffer("state_cov", torch.zeros(n, n, **f64))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    # --- fitting ------------------------------------------------------------------------------

    @torch.no_grad()
    def fit(self, dataset, max_clips: int | None = None, progress: bool = True
            ) -> "LinearDynamicTexture":
        """Fit in closed form to ``dataset`` (a dataset of ``video`` items (t c h w), or a tensor
        (n t c h w)); at most ``max_clips`` clips (default ``config.max_clips``)."""
        cfg = self.config
        clips = collect_clips(dataset, max_clips or cfg.max_clips, progress)   # (m t c h w)
        check_frames(clips, "dataset videos", 5, (cfg.channels, cfg.height, cfg.width))
        m, t = clips.shape[:2]
        if t < 2:
            raise KinemaError("fitting a dynamic texture needs clips of at least 2 frames")
        n = cfg.num_components
        frames = rearrange(clips.double(), "m t c h w -> (m t) (c h w)")
        if n > len(frames):
            raise KinemaError(f"num_components={n} needs at least {n} frames, got {len(frames)}")
        mean = frames.mean(0)
        centred = frames - mean
        C = _principal_components(centred, n)                       # (d n), orthonormal columns
        states = centred @ C                                        # x_t = C^T (y_t - mean)
        R = (centred - states @ C.T).pow(2).mean()                  # per-pixel noise variance
        states = rearrange(states, "(m t) n -> m t n", m=m)
        before = rearrange(states[:, :-1], "m t n -> (m t) n")
        after = rearrange(states[:, 1:], "m t n -> (m t) n")
        # x_{t+1} = A x_t for all t and clips, in rows: after = before A^T (least squares)
        A = torch.linalg.lstsq(before, after, driver="gelsd").solution.T
        A = clip_spectral_radius(A, cfg.max_spectral_radius)
        residual = after - before @ A.T                             # B v_t
        eye = torch.eye(n, dtype=torch.float64)
        Q = residual.T @ residual / len(residual)
        B = torch.linalg.cholesky(Q + cfg.jitter * eye)
        flat = rearrange(states, "m t n -> (m t) n")
        state_mean = flat.mean(0)
        state_cov = torch.cov(flat.T, correction=0).reshape(n, n)
        for name, value in dict(A=A, B=B, C=C, mean=mean, R=R, state_mean=state_mean,
                                state_cov=state_cov).items():
            getattr(self, name).copy_(value)
        self.fitted.fill_(True)
        return self

    # --- the three tasks ----------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, context: torch.Tensor, num_frames: int, num_samples: int = 1,
                generator: torch.Generator | None = None,
                stochastic: bool | None = None) -> torch.Tensor:
        """context: (b k c h w). Returns (b n t c h w): the t frames after the context.

        ``stochastic`` (default: ``num_samples > 1``): False gives the mean prediction (the
        filtered state rolled forward without noise), True draws samples."""
        self._check_fitted()
        check_frames(context, "context", 5, self._chw)
        check_count(num_frames, "num_frames")
        check_count(num_samples, "num_samples")
        stochastic = num_samples > 1 if stochastic is None else stochastic
        x = self._initial_states(context, num_samples, stochastic, generator)  # (b s n)
        states = self._rollout(self._step(x, stochastic, generator), num_frames,
                               stochastic, generator)
        return self._render(states, context.dtype)

    @torch.no_grad()
    def sample(self, x0: torch.Tensor, num_frames: int, num_samples: int = 1,
               control: torch.Tensor | None = None,
               generator: torch.Generator | None = None,
               stochastic: bool | None = None) -> torch.Tensor:
        """x0: (b c h w). Returns (b n t c h w) whose frame 0 is x0 seen through the model
        (its projection on the n components). ``control`` has no effect (the model has none);
        ``stochastic`` as in ``predict``."""
        self._check_fitted()
        check_frames(x0, "x0", 4, self._chw)
        check_count(num_frames, "num_frames")
        check_count(num_samples, "num_samples")
        stochastic = num_samples > 1 if stochastic is None else stochastic
        x = self._initial_states(x0[:, None], num_samples, stochastic, generator)
        return self._render(self._rollout(x, num_frames, stochastic, generator), x0.dtype)

    @torch.no_grad()
    def generate(self, num_videos: int, num_frames: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Returns (b t c h w): initial states from the fitted state distribution, then the
        system driven by its Gaussian innovations."""
        self._check_fitted()
        check_count(num_videos, "num_videos")
        check_count(num_frames, "num_frames")
        chol = torch.linalg.cholesky(self.state_cov + self.config.jitter * self._eye)
        noise = self._randn((num_videos, 1, len(self.A)), generator)
        x = self.state_mean + noise @ chol.T                         # (b 1 n)
        video = self._render(self._rollout(x, num_frames, True, generator), torch.float32)
        return video[:, 0]

    # --- pieces -------------------------------------------------------------------------------

    def filter(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kalman filter (Welch & Bishop) over frames (b k c h w); returns the posterior of the
        last frame's state: mean (b n) and covariance (n n).

        Because C has orthonormal columns, the pixel observation y_t = C x_t + mean + w_t
        carries all its information on x_t in z_t = C^T (y_t - mean) = x_t + C^T w_t, whose
        noise is N(0, R I_n): the filter runs in n dimensions, never in d."""
        z = (rearrange(frames.to(self.C), "b k c h w -> b k (c h w)") - self.mean) @ self.C
        eye, Q = self._eye, self.B @ self.B.T
        r = self.R.clamp_min(1e-12)
        mean = self.state_mean.expand(len(z), -1)
        cov = self.state_cov + self.config.jitter * eye               # prior of x_1
        for k in range(z.shape[1]):
            if k > 0:                                                 # time update
                mean = mean @ self.A.T
                cov = self.A @ cov @ self.A.T + Q
            gain = torch.linalg.solve(cov + r * eye, cov).T           # K = P (P + rI)^-1
            mean = mean + (z[:, k] - mean) @ gain.T                   # measurement update
            cov = (eye - gain) @ cov
            cov = (cov + cov.T) / 2
        return mean, cov

    def _initial_states(self, frames, num_samples, stochastic, generator):
        mean, cov = self.filter(frames)                               # (b n), (n n)
        x = mean[:, None].expand(-1, num_samples, -1)                 # (b s n)
        if stochastic:
            chol = torch.linalg.cholesky(cov + self.config.jitter * self._eye)
            x = x + self._randn(x.shape, generator) @ chol.T
        return x

    def _step(self, x, stochastic, generator):
        x = x @ self.A.T
        if stochastic:
            x = x + self._randn(x.shape, generator) @ self.B.T        # x_{t+1} = A x_t + B v_t
        return x

    def _rollout(self, x, num_frames, stochastic, generator) -> torch.Tensor:
        """x: (b s n) the first state; returns (b s t n)."""
        states = [x]
        for _ in range(num_frames - 1):
            states.append(self._step(states[-1], stochastic, generator))
        return torch.stack(states, dim=2)

    def _render(self, states: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """states (b s t n) -> frames (b s t c h w), y_t = C x_t + mean, clipped to [-1, 1]."""
        cfg = self.config
        frames = (states @ self.C.T + self.mean).clamp(-1, 1)
        return rearrange(frames, "b s t (c h w) -> b s t c h w", c=cfg.channels,
                         h=cfg.height).to(dtype)

    def _randn(self, shape, generator) -> torch.Tensor:
        device = generator.device if generator is not None else self.A.device
        noise = torch.randn(shape, generator=generator, device=device, dtype=torch.float64)
        return noise.to(self.A.device)

    @property
    def _eye(self) -> torch.Tensor:
        return torch.eye(len(self.A), dtype=self.A.dtype, device=self.A.device)

    @property
    def _chw(self) -> tuple[int, int, int]:
        return self.config.channels, self.config.height, self.config.width

    def _check_fitted(self) -> None:
        if not bool(self.fitted):
            raise KinemaError("LinearDynamicTexture is not fitted: call fit(dataset) first "
                              "(or load a fitted model folder)")


def _principal_components(centred: torch.Tensor, n: int) -> torch.Tensor:
    """The first n right singular vectors of centred (N d), as columns (d n). Each column's
    sign is fixed (largest entry positive) so that fits are reproducible."""
    if min(centred.shape) <= 4096:
        C = torch.linalg.svd(centred, full_matrices=False).Vh[:n].T
    else:   # randomised SVD (Halko et al.) when the exact one would not fit in memory
        C = torch.svd_lowrank(centred, q=min(n + 10, min(centred.shape)), niter=4)[2][:, :n]
    sign = torch.sign(C.gather(0, C.abs().argmax(0, keepdim=True)))
    return C * sign


def clip_spectral_radius(A: torch.Tensor, max_radius: float) -> torch.Tensor:
    """Return A with every eigenvalue of modulus > ``max_radius`` scaled onto that circle
    (A = V diag(λ) V^-1, done in complex double and taken back to the reals: conjugate pairs
    stay conjugate, so the imaginary part is round-off)."""
    eigenvalues, vectors = torch.linalg.eig(A.double())
    modulus = eigenvalues.abs()
    if modulus.max() <= max_radius:
        return A
    scale = torch.where(modulus > max_radius, max_radius / modulus, torch.ones_like(modulus))
    clipped = (vectors @ torch.diag(eigenvalues * scale) @ torch.linalg.inv(vectors)).real
    radius = torch.linalg.eigvals(clipped).abs().max()
    if radius > max_radius:      # round-off or a near-defective A: shrink the whole matrix
        clipped = clipped * (max_radius / radius) * (1 - 1e-12)
    return clipped.to(A.dtype)
