"""kinema.nn.gan: every loss against a value computed by hand (with its sign), the gradient
penalties against hand-derived and finite-difference gradient norms."""
import math

import pytest
import torch

from kinema.nn.discriminators import PatchDiscriminator, TemporalDiscriminator
from kinema.nn.gan import (feature_matching, frozen, hinge_discriminator_loss, hinge_generator_loss,
                           nonsaturating_discriminator_loss, nonsaturating_generator_loss, r1_penalty,
                           wasserstein_critic_loss, wasserstein_generator_loss, wgan_gradient_penalty)

REAL = torch.tensor([2.0, -0.5], dtype=torch.float64)   # D(x) of two real samples
FAKE = torch.tensor([0.5, -3.0], dtype=torch.float64)   # D(G(z)) of two generated samples


def softplus(v: float) -> float:
    return math.log(1.0 + math.exp(v))


def test_hinge_discriminator_loss_by_hand():
    # real: relu(1 - 2) + relu(1 + 0.5) = 0 + 1.5 -> mean 0.75
    # fake: relu(1 + 0.5) + relu(1 - 3)  = 1.5 + 0 -> mean 0.75
    assert hinge_discriminator_loss(REAL, FAKE).item() == pytest.approx(1.5, abs=1e-12)
    # swapping real and fake is a different loss: relu(1-0.5)+relu(1+3) = 4.5 -> 2.25; relu(3)+relu(0.5) -> 1.75
    assert hinge_discriminator_loss(FAKE, REAL).item() == pytest.approx(4.0, abs=1e-12)


def test_hinge_generator_loss_by_hand():
    # -mean(0.5, -3) = 1.25: the generator lowers it by raising D(G(z))
    assert hinge_generator_loss(FAKE).item() == pytest.approx(1.25, abs=1e-12)


def test_hinge_losses_on_patch_maps_average_every_logit():
    real = torch.tensor([[[[2.0, 0.0], [-1.0, 0.5]]]])          # (1 1 2 2) patch logits
    fake = torch.zeros(1, 1, 2, 2)
    # real: relu(-1) + relu(1) + relu(2) + relu(0.5) = 3.5 -> /4; fake: relu(1) each -> 1
    assert hinge_discriminator_loss(real, fake).item() == pytest.approx(3.5 / 4 + 1.0)
    assert hinge_generator_loss(real).item() == pytest.approx(-1.5 / 4)


def test_nonsaturating_discriminator_loss_by_hand():
    # real: softplus(-2) + softplus(0.5); fake: softplus(0.5) + softplus(-3); each averaged
    want = (softplus(-2.0) + softplus(0.5)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
    assert want == pytest.approx(1.061834, abs=1e-6)
    assert nonsaturating_discriminator_loss(REAL, FAKE).item() == pytest.approx(want, abs=1e-12)
    # it is the binary cross-entropy with label 1 for real, 0 for fake: -log sigmoid(2) - ...
    sigmoid = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    bce = (-math.log(sigmoid(2.0)) - math.log(sigmoid(-0.5))) / 2 \
        + (-math.log(1 - sigmoid(0.5)) - math.log(1 - sigmoid(-3.0))) / 2
    assert nonsaturating_discriminator_loss(REAL, FAKE).item() == pytest.approx(bce, abs=1e-12)


def test_nonsaturating_generator_loss_by_hand():
    # softplus(-0.5) + softplus(3) = 0.474077 + 3.048587 -> mean 1.761332
    want = (softplus(-0.5) + softplus(3.0)) / 2
    assert want == pytest.approx(1.761332, abs=1e-6)
    assert nonsaturating_generator_loss(FAKE).item() == pytest.approx(want, abs=1e-12)
    # non-saturating: where D(G(z)) is very negative the gradient stays near -1/b, not 0
    fake = torch.tensor([-20.0, -20.0], requires_grad=True)
    nonsaturating_generator_loss(fake).backward()
    assert torch.allclose(fake.grad, torch.full((2,), -0.5), atol=1e-6)


def test_wasserstein_losses_by_hand():
    # critic: mean(fake) - mean(real) = -1.25 - 0.75 = -2.0; generator: -mean(fake) = 1.25
    assert wasserstein_critic_loss(REAL, FAKE).item() == pytest.approx(-2.0, abs=1e-12)
    assert wasserstein_generator_loss(FAKE).item() == pytest.approx(1.25, abs=1e-12)


# ------------------------------------------------------------------ penalties


def test_r1_of_a_quadratic_critic_by_hand():
    # D(x) = sum(x^2) per sample -> grad 2x, ||grad||^2 = 4 ||x||^2 over ALL non-batch axes
    x = torch.tensor([[[[1.0, 2.0], [0.0, 0.0]]],
                      [[[0.0, 0.0], [3.0, 0.0]]]], requires_grad=True)  # (2 1 2 2): ||x||^2 = 5, 9
    logits = x.pow(2).flatten(1).sum(1)
    assert r1_penalty(logits, x).item() == pytest.approx((4 * 5 + 4 * 9) / 2)


def test_r1_backpropagates_into_the_critic_weights():
    # D(x) = sum(w * x) -> grad_x = w, R1 = ||w||^2, dR1/dw = 2 w
    w = torch.tensor([[1.0, -2.0], [0.5, 0.0]], requires_grad=True)
    x = torch.randn(3, 2, 2, requires_grad=True)
    penalty = r1_penalty((w * x).flatten(1).sum(1), x)
    assert penalty.item() == pytest.approx(1 + 4 + 0.25)
    penalty.backward()
    assert torch.allclose(w.grad, 2 * w.detach())


def _finite_difference_squared_norms(score, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """||d score(x_i) / d x_i||^2 per sample by central differences over every element."""
    flat = x.detach().clone().flatten(1)
    squared = torch.zeros(len(flat), dtype=x.dtype)
    for j in range(flat.shape[1]):
        plus, minus = flat.clone(), flat.clone()
        plus[:, j] += h
        minus[:, j] -= h
        diff = (score(plus.view_as(x)) - score(minus.view_as(x))) / (2 * h)   # (b)
        squared += diff.pow(2)
    return squared


def test_r1_matches_finite_differences_on_a_temporal_discriminator():
    torch.manual_seed(0)
    critic = TemporalDiscriminator(1, (2, 2)).double().eval()    # eval: spectral norm's u is fixed
    video = torch.randn(2, 2, 1, 4, 4, dtype=torch.float64, requires_grad=True)   # (b t c h w)
    penalty = r1_penalty(critic(video)[0], video)
    with torch.no_grad():
        want = _finite_difference_squared_norms(lambda v: critic(v)[0], video).mean()
    assert penalty.item() == pytest.approx(want.item(), rel=1e-6)


def test_wgan_gp_of_a_linear_critic_is_the_weight_norm_over_all_axes():
    # D(x) = sum(w * x): grad = w everywhere, ||w|| over (c h w) = sqrt(1 + 4 + 4) = 3
    w = torch.tensor([[[1.0, 2.0], [2.0, 0.0]]], requires_grad=True)   # (1 2 2)
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    penalty = wgan_gradient_penalty(lambda x: (w * x).flatten(1).sum(1), real, fake)
    assert penalty.item() == pytest.approx((3 - 1) ** 2, rel=1e-6)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 4/3 w: the penalty trains the critic
    penalty.backward()
    assert torch.allclose(w.grad, 4 / 3 * w.detach(), atol=1e-6)


def test_wgan_gp_is_taken_at_the_interpolates_eps_real_plus_one_minus_eps_fake():
    # D(x) = ||x||^2 / 2 -> grad = x_hat, so the penalty is (||x_hat|| - 1)^2
    real = torch.zeros(2, 1, 2, 2)
    fake = torch.zeros(2, 1, 2, 2)
    real[0, 0, 0, 0] = 3.0                     # sample 0: x_hat = 0.5 * 3 = 1.5 -> (0.5)^2
    real[1, 0, 1, 1], fake[1, 0, 1, 1] = 4.0, -2.0   # sample 1, eps 0.25: 1 - 1.5 = -0.5 -> 0.25
    real[1, 0, 0, 1] = 6.0                     # ... and 0.25 * 6 = 1.5: ||(-0.5, 1.5)|| = sqrt(2.5)
    eps = torch.tensor([0.5, 0.25])
    critic = lambda x: 0.5 * x.pow(2).flatten(1).sum(1)  # noqa: E731
    per_sample = wgan_gradient_penalty(critic, real, fake, epsilon=eps, reduction="none")
    want = torch.tensor([0.25, (math.sqrt(2.5) - 1) ** 2])
    assert torch.allclose(per_sample, want, atol=1e-6)
    mean = wgan_gradient_penalty(critic, real, fake, epsilon=eps)
    assert mean.item() == pytest.approx(want.mean().item(), abs=1e-6)


def test_wgan_gp_matches_finite_differences_on_a_patch_discriminator():
    torch.manual_seed(1)
    critic = PatchDiscriminator(2, (3, 3)).double().eval()
    score = lambda x: critic(x)[0].flatten(1).sum(1)  # noqa: E731
    real = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    fake = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    eps = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    penalty = wgan_gradient_penalty(score, real, fake, epsilon=eps, reduction="none")
    x_hat = eps.view(3, 1, 1, 1) * real + (1 - eps.view(3, 1, 1, 1)) * fake
    with torch.no_grad():
        norms = _finite_difference_squared_norms(score, x_hat).sqrt()
    assert torch.allclose(penalty, (norms - 1).pow(2), rtol=1e-6, atol=1e-9)


def test_wgan_gp_draws_eps_from_the_given_generator():
    critic = lambda x: 0.5 * x.pow(2).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    eps = torch.rand(5, generator=torch.Generator().manual_seed(7))
    drawn = wgan_gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7),
                                  reduction="none")
    given = wgan_gradient_penalty(critic, real, fake, epsilon=eps, reduction="none")
    assert torch.allclose(drawn, given)
    with pytest.raises(ValueError, match="one shape"):
        wgan_gradient_penalty(critic, real, fake[:, :2])


# ------------------------------------------------------------------ feature matching, frozen


def test_feature_matching_by_hand_and_no_gradient_into_real_features():
    real = [torch.tensor([[1.0, 2.0]], requires_grad=True), torch.tensor([[0.0]], requires_grad=True)]
    fake = [torch.tensor([[0.0, 4.0]], requires_grad=True), torch.tensor([[-1.0]], requires_grad=True)]
    # layer 1: (|0-1| + |4-2|) / 2 = 1.5; layer 2: |-1-0| = 1; mean over layers 1.25
    loss = feature_matching(real, fake)
    assert loss.item() == pytest.approx(1.25)
    loss.backward()
    assert all(r.grad is None for r in real)
    # d/d fake of mean |f - r| / layers: sign(f - r) / (elements * layers)
    assert torch.allclose(fake[0].grad, torch.tensor([[-0.25, 0.25]]))
    assert torch.allclose(fake[1].grad, torch.tensor([[-0.5]]))
    with pytest.raises(ValueError, match="one fake feature per real"):
        feature_matching(real, fake[:1])


def test_frozen_turns_gradients_off_inside_and_restores_only_what_it_froze():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    b.bias.requires_grad_(False)
    with frozen(a, b):
        assert not any(p.requires_grad for p in [*a.parameters(), *b.parameters()])
        x = torch.randn(1, 2, requires_grad=True)
        a(x).sum().backward()
        assert a.weight.grad is None and x.grad is not None
    assert a.weight.requires_grad and a.bias.requires_grad and b.weight.requires_grad
    assert not b.bias.requires_grad
