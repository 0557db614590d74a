"""WGAN-GP and the gradient angle penalty against values computed by hand."""
import math

import torch
from torch import nn

from kinema.methods.latentgan.losses import (RunningNormalizer, distance_gradient_norms,
                                             gradient_angle_penalty, wasserstein_critic_loss,
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
    """d = ||A s + B i||: the gradients are A^T u and B^T u, u the unit vector of A s + B i."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = nn.Parameter(a), nn.Parameter(b)

    def forward(self, s, i):
        return (s.flatten(1) @ self.a.T + i @ self.b.T).norm(dim=1)


def test_distance_gradient_norms_and_gap_on_a_linear_map():
    torch.manual_seed(0)
    a, b = 0.3 * torch.randn(4, 6).double(), torch.randn(4, 3).double()
    producer = LinearProducer(a, b)
    s, i = torch.randn(5, 2, 3).double(), torch.randn(5, 3).double()
    norm_s, norm_i = distance_gradient_norms(producer, (s, i))
    v = s.flatten(1) @ a.T + i @ b.T                                     # (5 4)
    u = v / v.norm(dim=1, keepdim=True)
    assert torch.allclose(norm_s, (u @ a).norm(dim=1), atol=1e-12)       # ||A^T u|| per sample
    assert torch.allclose(norm_i, (u @ b).norm(dim=1), atol=1e-12)
    loss, phi = gradient_angle_penalty(norm_s, norm_i)
    angles = torch.atan((u @ a).norm(dim=1) / (u @ b).norm(dim=1))
    assert bool((angles < math.pi / 4).all())
    assert torch.allclose(phi, angles, atol=1e-12)
    assert abs(float(loss) - float(((math.pi / 4 - angles) ** 2).mean())) < 1e-12
    # a gradient step on the penalty raises the angle
    loss.backward()
    with torch.no_grad():
        producer.a -= 0.1 * producer.a.grad
        producer.b -= 0.1 * producer.b.grad
    new_s, new_i = distance_gradient_norms(producer, (s, i))
    assert float(torch.atan2(new_s, new_i).mean()) > float(angles.mean()) + 1e-3


def test_gap_is_zero_from_pi_over_4():
    for ratio in (1.0, 1.5, 40.0):
        norm_s = torch.tensor([ratio], requires_grad=True)
        loss, phi = gradient_angle_penalty(norm_s, torch.tensor([1.0]))
        assert float(phi) >= math.pi / 4 - 1e-7 and float(loss) == 0.0
        loss.backward()
        assert float(norm_s.grad) == 0.0
    loss, _ = gradient_angle_penalty(torch.tensor([0.0]), torch.tensor([1.0]))
    assert abs(float(loss) - (math.pi / 4) ** 2) < 1e-7


def unrolled_codes(g: TemporalGenerator, i_b, s_b, mean, var, first: int):
    """l_{t-1} - l_first of ONE sample by hand: H's layers with the batch norm at (mean, var),
    then torch.nn.GRUCell called step by step (cell 0 reads s_k, cell j the new memory of cell
    j - 1, the top cell's memory is l)."""
    hn = g.hallucinator.norm
    h = (g.hallucinator.body(i_b[None]) - mean) / torch.sqrt(var + hn.eps) * hn.weight + hn.bias
    memory = list(h.reshape(1, -1, i_b.shape[0]).unbind(1)) + [i_b[None]]
    codes = [memory[-1]]
    for k in range(s_b.shape[0]):
        x = s_b[k][None]
        for j, cell in enumerate(g.producer.cells):
            memory[j] = cell(x, memory[j])
            x = memory[j]
        codes.append(x)
    return (codes[-1] - codes[first])[0]


def hand_angle(g, i, s, b, mean, var, d_mean, d_var, first=1, eps=1e-5):
    i_b, s_b = i[b].clone().requires_grad_(True), s[b].clone().requires_grad_(True)
    difference = unrolled_codes(g, i_b, s_b, mean, var, first)
    d = torch.sqrt((((difference - d_mean) / torch.sqrt(d_var + eps)) ** 2).sum())   # a scalar
    grad_s, grad_i = torch.autograd.grad(d, (s_b, i_b))
    return math.atan(float(grad_s.norm() / grad_i.norm()))


def test_gap_angle_of_a_tiny_producer_by_hand():
    from kinema.methods.latentgan.model import generator_gap

    torch.manual_seed(0)
    g = TemporalGenerator(dim=2, width=4, num_ws=1, w_dim=2).double()      # train mode
    i, s = torch.randn(3, 2).double(), torch.randn(3, 4, 2).double()       # t = 5 steps
    normalizer = RunningNormalizer(2).double()
    normalizer.running_mean.copy_(torch.tensor([0.3, -0.2]))
    normalizer.running_var.copy_(torch.tensor([2.0, 0.5]))
    loss, phi = generator_gap(g, normalizer, i, s)
    with torch.no_grad():                                    # H normalises with the batch's statistics
        body = g.hallucinator.body(i)
    mean, var = body.mean(0), body.var(0, unbiased=False)
    want = [hand_angle(g, i, s, b, mean, var, normalizer.running_mean, normalizer.running_var)
            for b in range(3)]
    assert torch.allclose(phi, torch.tensor(want, dtype=phi.dtype), atol=1e-10)
    assert abs(float(loss) - sum(max(0.0, math.pi / 4 - a) ** 2 for a in want) / 3) < 1e-10
    # reading l_0 (= i) as the first step instead adds i's identity path: another angle
    with_l0 = [hand_angle(g, i, s, b, mean, var, normalizer.running_mean, normalizer.running_var,
                          first=0) for b in range(3)]
    assert max(abs(a - w) for a, w in zip(want, with_l0)) > 1e-3


def test_diagnostic_angle_normalises_by_its_own_samples():
    from kinema.methods.latentgan.losses import end_difference
    from kinema.methods.latentgan.model import generator_angles

    torch.manual_seed(1)
    g = TemporalGenerator(dim=2, width=4, num_ws=1, w_dim=2).double()
    with torch.no_grad():                                    # running statistics of H's batch norm
        g.hallucinator.norm.running_mean.uniform_(-0.5, 0.5)
        g.hallucinator.norm.running_var.uniform_(0.5, 2.0)
    g.eval()
    i, s = torch.randn(4, 2).double(), torch.randn(4, 5, 2).double()
    phi = generator_angles(g, i, s)
    with torch.no_grad():
        differences = end_difference(g.motion(i, s))
    d_mean, d_var = differences.mean(0), differences.var(0)   # of these 4 samples, unbiased
    hn = g.hallucinator.norm
    want = [hand_angle(g, i, s, b, hn.running_mean, hn.running_var, d_mean, d_var) for b in range(4)]
    assert torch.allclose(phi, torch.tensor(want, dtype=phi.dtype), atol=1e-10)


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
