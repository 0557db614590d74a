"""WGAN-GP and the gradient angle penalty against values computed by hand."""
import math

import torch
from torch import nn

from kinema.methods.latentgan.losses import (RunningNormalizer, gradient_angle_penalty,
                                             jacobian_norms, wasserstein_critic_loss,
                                             wasserstein_generator_loss, wgan_gradient_penalty)
from kinema.methods.latentgan.temporal import LatentCritic, TemporalGenerator


def test_wasserstein_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    assert float(wasserstein_critic_loss(real, fake)) == -1.0 - 2.0          # mean(fake) - mean(real)
    assert float(wasserstein_generator_loss(fake)) == 1.0                     # -mean(fake)


def test_gradient_penalty_matches_finite_differences():
    torch.manual_seed(0)
    critic = LatentCritic(num_ws=2, w_dim=3, window=5, width=8, feature_dim=4, channels=4).double()
    with torch.no_grad():          # gradient norms near 1, where the penalty is informative
        critic.temporal[-1].weight *= 2000.0
    real, fake = torch.randn(3, 5, 2, 3).double(), torch.randn(3, 5, 2, 3).double()
    eps = torch.tensor([0.2, 0.5, 0.9]).double()
    mixed = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    h = 1e-6
    norms, one_axis = [], []
    for b in range(3):
        grad = torch.zeros(mixed[b].numel(), dtype=torch.float64)
        for j in range(grad.numel()):
            step = torch.zeros(grad.numel(), dtype=torch.float64)
            step[j] = h
            with torch.no_grad():
                up = critic((mixed[b].flatten() + step).reshape(1, 5, 2, 3))
                down = critic((mixed[b].flatten() - step).reshape(1, 5, 2, 3))
            grad[j] = float(up - down) / (2 * h)
        norms.append(grad.norm())            # over ALL of (t num_ws w_dim) at once
        one_axis.append((grad.reshape(5, 2, 3).norm(dim=-1) - 1).pow(2).mean())
    expected = torch.stack([(n - 1) ** 2 for n in norms]).mean()
    got = wgan_gradient_penalty(critic, real, fake, eps)
    assert abs(float(got.detach()) - float(expected)) < 1e-6 * max(1.0, float(expected))
    # the norm over one axis only (the public attempt's bug) is another number
    assert abs(float(got) - float(torch.stack(one_axis).mean())) > 0.1


def test_running_normalizer_divides_by_the_standard_deviation():
    norm = RunningNormalizer(2, momentum=0.5)
    x = torch.tensor([[0.0, 10.0], [4.0, 10.0], [8.0, 16.0]])
    out = norm(x)                                  # first batch sets the statistics
    assert torch.allclose(norm.running_mean, torch.tensor([4.0, 12.0]))
    assert torch.allclose(norm.running_var, torch.tensor([16.0, 12.0]))
    assert torch.allclose(out[:, 0], torch.tensor([-1.0, 0.0, 1.0]), atol=1e-5)   # / 4, not / 16
    second = torch.tensor([[2.0, 0.0], [6.0, 4.0]])
    norm(second)                                   # lerp by the momentum
    assert torch.allclose(norm.running_mean, torch.tensor([4.0, 7.0]))
    assert torch.allclose(norm.running_var, torch.tensor([12.0, 10.0]))
    norm.eval()
    frozen = norm.running_mean.clone()
    assert torch.allclose(norm(second), (second - frozen) / torch.sqrt(norm.running_var + 1e-5))
    assert torch.equal(norm.running_mean, frozen)  # eval does not update


class LinearProducer(nn.Module):
    """d = A s + B i: the Jacobians are A and B exactly."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = nn.Parameter(a), nn.Parameter(b)

    def forward(self, s, i):
        return s.flatten(1) @ self.a.T + i @ self.b.T


def test_jacobian_norms_and_gap_on_a_linear_map():
    torch.manual_seed(0)
    a, b = 0.3 * torch.randn(4, 6), torch.randn(4, 3)
    producer = LinearProducer(a, b)
    s, i = torch.randn(5, 2, 3), torch.randn(5, 3)
    norm_s, norm_i = jacobian_norms(producer, (s, i), dim=4)
    assert torch.allclose(norm_s, a.norm().expand(5), atol=1e-5)
    assert torch.allclose(norm_i, b.norm().expand(5), atol=1e-5)
    loss, phi = gradient_angle_penalty(norm_s, norm_i)
    angle = math.atan(float(a.norm() / b.norm()))
    assert angle < math.pi / 4
    assert torch.allclose(phi, torch.full((5,), angle), atol=1e-5)
    assert abs(float(loss) - (math.pi / 4 - angle) ** 2) < 1e-5
    # a gradient step on the penalty raises the angle
    loss.backward()
    with torch.no_grad():
        producer.a -= 0.1 * producer.a.grad
        producer.b -= 0.1 * producer.b.grad
    new_s, new_i = jacobian_norms(producer, (s, i), dim=4)
    assert float(torch.atan2(new_s, new_i)[0]) > angle + 1e-3


def test_gap_is_zero_from_pi_over_4():
    for ratio in (1.0, 1.5, 40.0):
        norm_s = torch.tensor([ratio], requires_grad=True)
        loss, phi = gradient_angle_penalty(norm_s, torch.tensor([1.0]))
        assert float(phi) >= math.pi / 4 - 1e-7 and float(loss) == 0.0
        loss.backward()
        assert float(norm_s.grad) == 0.0
    loss, _ = gradient_angle_penalty(torch.tensor([0.0]), torch.tensor([1.0]))
    assert abs(float(loss) - (math.pi / 4) ** 2) < 1e-7


def test_jacobian_norms_of_the_producer_match_autograd_jacobian():
    torch.manual_seed(0)
    g = TemporalGenerator(dim=3, width=8, num_ws=2, w_dim=4).double().eval()
    i, s = torch.randn(2, 3).double(), torch.randn(2, 4, 3).double()

    def end_difference(s_, i_):
        l = g.motion(i_, s_)
        return l[:, -1] - l[:, 0]

    norm_s, norm_i = jacobian_norms(end_difference, (s, i), dim=3)
    for b in range(2):
        js = torch.autograd.functional.jacobian(lambda v: end_difference(v[None], i[b:b + 1])[0], s[b])
        ji = torch.autograd.functional.jacobian(lambda v: end_difference(s[b:b + 1], v[None])[0], i[b])
        assert abs(float(norm_s[b]) - float(js.norm())) < 1e-8
        assert abs(float(norm_i[b]) - float(ji.norm())) < 1e-8
    # Hutchinson's estimate is unbiased for the squared norms
    probes = jacobian_norms(end_difference, (s, i), dim=3, probes=400,
                            generator=torch.Generator().manual_seed(1))
    assert torch.allclose(probes[0] ** 2, norm_s ** 2, rtol=0.25)
    assert torch.allclose(probes[1] ** 2, norm_i ** 2, rtol=0.25)


def test_hallucinator_with_given_statistics_matches_train_mode_per_sample():
    torch.manual_seed(0)
    g = TemporalGenerator(dim=3, width=8, num_ws=2, w_dim=4).double()
    i = torch.randn(6, 3).double()
    statistics = g.hallucinator.batch_statistics(i)
    with torch.no_grad():
        batch = g.hallucinator(i)                        # train mode: the batch's statistics
    assert torch.allclose(g.hallucinator(i, statistics), batch, atol=1e-10)
    # with the statistics fixed, a sample's memory no longer depends on the others
    alone = g.hallucinator(i[2:3], statistics)
    assert torch.allclose(alone, batch[2:3], atol=1e-10)


def test_gru_step_is_torch_gru_cell():
    from kinema.methods.latentgan.temporal import gru_step
    cell = torch.nn.GRUCell(5, 5)
    x, h = torch.randn(3, 5), torch.randn(3, 5)
    assert torch.allclose(gru_step(cell, x, h), cell(x, h), atol=1e-6)
