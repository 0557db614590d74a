import math

import numpy as np
import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.baselines.config import DynamicTextureConfig
from kinema.methods.baselines.dynamic_texture import (LinearDynamicTexture,
                                                      clip_spectral_radius)

SIZE = 6            # frames of 1 x 6 x 6 = 36 pixels
N = 4               # state dimension


def _rotation(radius, angle):
    return radius * torch.tensor([[math.cos(angle), -math.sin(angle)],
                                  [math.sin(angle), math.cos(angle)]], dtype=torch.float64)


def _lds_videos(A, clips=60, frames=10, state_noise=0.0, pixel_noise=0.0, seed=0):
    """Videos (m t 1 6 6) of y_t = C x_t, x_{t+1} = A x_t (+ noise). Initial states come in
    pairs (x, -x) so the data mean is exactly zero and the centred system stays linear."""
    g = torch.Generator().manual_seed(seed)
    C = torch.randn(SIZE * SIZE, len(A), generator=g, dtype=torch.float64)
    x = torch.randn(clips // 2, len(A), generator=g, dtype=torch.float64)
    states = [torch.cat([x, -x])]
    for _ in range(frames - 1):
        noise = state_noise * torch.randn(states[-1].shape, generator=g, dtype=torch.float64)
        states.append(states[-1] @ A.T + noise)
    y = torch.stack(states, 1) @ C.T
    y = y + pixel_noise * torch.randn(y.shape, generator=g, dtype=torch.float64)
    y = y / (1.1 * y.abs().max())                       # inside [-1, 1], no clipping
    return y.reshape(clips, frames, 1, SIZE, SIZE).float()


def _true_A(seed=0):
    g = torch.Generator().manual_seed(seed)
    P = torch.randn(N, N, generator=g, dtype=torch.float64)
    return P @ torch.block_diag(_rotation(0.95, 0.3), _rotation(0.9, 1.1)) @ torch.linalg.inv(P)


def _model(**kw):
    return LinearDynamicTexture(DynamicTextureConfig(height=SIZE, width=SIZE,
                                                     num_components=N, **kw))


def _match(found, expected, tol):
    """Every eigenvalue has a partner within tol in the other set (both ways)."""
    d = (found[:, None] - expected[None, :]).abs()
    return bool(d.min(0).values.max() < tol and d.min(1).values.max() < tol)


def test_fit_recovers_the_spectrum_and_predicts_a_noise_free_lds():
    A = _true_A()
    videos = _lds_videos(A)
    model = _model().fit(videos, progress=False)
    assert _match(torch.linalg.eigvals(model.A), torch.linalg.eigvals(A), 1e-4)
    future = model.predict(videos[:, :5], num_frames=5)
    assert future.shape == (60, 1, 5, 1, SIZE, SIZE)
    assert (future[:, 0] - videos[:, 5:]).abs().max() < 1e-4


def test_unstable_fit_is_clipped_to_the_unit_circle():
    A = torch.block_diag(_rotation(1.08, 0.4), _rotation(0.7, 1.0))
    model = _model().fit(_lds_videos(A, frames=8), progress=False)
    modulus = torch.linalg.eigvals(model.A).abs()
    assert modulus.max() <= 1.0 + 1e-9
    assert torch.allclose(modulus.sort().values, torch.tensor([0.7, 0.7, 1.0, 1.0],
                                                              dtype=torch.float64), atol=1e-4)


def test_clip_spectral_radius_keeps_stable_matrices_and_eigenvectors():
    A = _true_A()
    assert torch.equal(clip_spectral_radius(A, 1.0), A)
    clipped = clip_spectral_radius(A, 0.92)
    expected = torch.linalg.eigvals(A)
    expected = torch.where(expected.abs() > 0.92, expected / expected.abs() * 0.92, expected)
    assert _match(torch.linalg.eigvals(clipped), expected, 1e-8)


def _pixel_space_kalman(model, frames):
    """The textbook Kalman filter in pixel space (d-dimensional observations), numpy."""
    A, C, mu = model.A.numpy(), model.C.numpy(), model.mean.numpy()
    Q = (model.B @ model.B.T).numpy()
    R = float(model.R) * np.eye(len(C))
    y = frames.double().reshape(frames.shape[0], frames.shape[1], -1).numpy()
    means = []
    for video in y:
        m = model.state_mean.numpy().copy()
        P = model.state_cov.numpy() + model.config.jitter * np.eye(len(A))
        for t, obs in enumerate(video):
            if t:
                m, P = A @ m, A @ P @ A.T + Q
            K = P @ C.T @ np.linalg.inv(C @ P @ C.T + R)
            m = m + K @ (obs - mu - C @ m)
            P = (np.eye(len(A)) - K @ C) @ P
        means.append(m)
    return np.stack(means), P


def test_state_space_filter_equals_the_pixel_space_kalman_filter():
    videos = _lds_videos(_true_A(), state_noise=0.05, pixel_noise=0.05, seed=3)
    model = _model().fit(videos, progress=False)
    assert float(model.R) > 0 and float((model.B @ model.B.T).trace()) > 1e-4
    mean, cov = model.filter(videos[:5, :4])
    ref_mean, ref_cov = _pixel_space_kalman(model, videos[:5, :4])
    np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cov.numpy(), ref_cov, rtol=1e-6, atol=1e-10)


def test_tasks_shapes_ranges_and_stochasticity():
    videos = _lds_videos(_true_A(), state_noise=0.05, seed=1)
    model = _model().fit([{"video": v} for v in videos], progress=False)
    g = torch.Generator().manual_seed(0)
    samples = model.predict(videos[:3, :4], num_frames=6, num_samples=4, generator=g)
    assert samples.shape == (3, 4, 6, 1, SIZE, SIZE)
    assert not torch.allclose(samples[:, 0], samples[:, 1])
    mean = model.predict(videos[:3, :4], num_frames=6, num_samples=2, stochastic=False)
    assert torch.equal(mean[:, 0], mean[:, 1])
    from_image = model.sample(videos[:2, 0], num_frames=5, num_samples=3, generator=g)
    assert from_image.shape == (2, 3, 5, 1, SIZE, SIZE)
    generated = model.generate(7, 9, generator=g)
    assert generated.shape == (7, 9, 1, SIZE, SIZE)
    long = model.generate(2, 400, generator=g)          # clipped spectrum: no explosion
    assert torch.isfinite(long).all()


def test_samples_are_the_lds_driven_by_its_noise_written_out():
    # x_k ~ N(filtered mean, P) (Kalman posterior of the last context frame), then
    # x_{t+1} = A x_t + B v_t with v_t ~ N(0, I), rendered y_t = clip(C x_t + mean): Doretto's LDS
    videos = _lds_videos(_true_A(), state_noise=0.05, seed=1)
    model = _model().fit([{"video": v} for v in videos], progress=False)
    context = videos[:3, :4]
    samples = model.predict(context, num_frames=3, num_samples=2,
                            generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    mean, cov = model.filter(context)
    n = len(model.A)
    chol = torch.linalg.cholesky(cov + model.config.jitter * torch.eye(n, dtype=torch.float64))
    x = mean[:, None] + torch.randn((3, 2, n), generator=g, dtype=torch.float64) @ chol.T
    for t in range(3):
        x = x @ model.A.T + torch.randn((3, 2, n), generator=g, dtype=torch.float64) @ model.B.T
        frame = (x @ model.C.T + model.mean).clamp(-1, 1).reshape(3, 2, 1, SIZE, SIZE)
        assert torch.allclose(samples[:, :, t], frame.float(), atol=1e-5), t
    model.mean += 5.0                        # every rendered pixel beyond 1: clipped to exactly 1
    assert torch.equal(model.predict(context, 2, stochastic=False), torch.ones(3, 1, 2, 1, SIZE, SIZE))


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    videos = _lds_videos(_true_A(), state_noise=0.05, seed=2)
    model = _model().fit(videos, progress=False)
    model.save_pretrained(tmp_path / "dt")
    loaded = LinearDynamicTexture.from_pretrained(tmp_path / "dt")
    assert loaded.config == model.config and bool(loaded.fitted)
    for m in (model, loaded):
        m.out = m.predict(videos[:4, :5], 5, 3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(model.out, loaded.out)


def test_errors_name_the_problem():
    model = _model()
    with pytest.raises(KinemaError, match="not fitted"):
        model.generate(1, 3)
    model.fit(_lds_videos(_true_A(), clips=10, frames=4), progress=False)
    with pytest.raises(KinemaError, match="c h w"):
        model.predict(torch.zeros(1, 3, 1, 8, 8), 2)
    with pytest.raises(KinemaError, match="num_components"):
        LinearDynamicTexture(DynamicTextureConfig(height=2, width=2, num_components=5))
    with pytest.raises(KinemaError, match="2 frames"):
        _model().fit(torch.zeros(10, 1, 1, SIZE, SIZE), progress=False)


def test_mean_rollouts_render_the_filtered_state_moved_by_powers_of_A():
    videos = _lds_videos(_true_A(), state_noise=0.05, pixel_noise=0.05, seed=4)
    model = _model().fit(videos, progress=False)
    A, C, mu = model.A.numpy(), model.C.numpy(), model.mean.numpy()

    def rendered(states):                                     # (b n) -> (b d), y = C x + mean
        return np.clip(states @ C.T + mu, -1, 1)

    context = videos[:3, :4]
    x = model.filter(context)[0].numpy()                      # the last context frame's state
    future = model.predict(context, 3, stochastic=False)[:, 0].reshape(3, 3, -1).numpy()
    for t in range(3):                                        # x_{k+t+1} = A^{t+1} x_k
        expected = rendered(x @ np.linalg.matrix_power(A, t + 1).T)
        np.testing.assert_allclose(future[:, t], expected, atol=1e-5)

    x0 = model.filter(context[:, :1])[0].numpy()              # frame 0 of sample: x0's state
    still = model.sample(context[:, 0], 2, stochastic=False)[:, 0].reshape(3, 2, -1).numpy()
    np.testing.assert_allclose(still[:, 0], rendered(x0), atol=1e-5)
    np.testing.assert_allclose(still[:, 1], rendered(x0 @ A.T), atol=1e-5)
