"""kinema bench speed compares equal work: the plain PyTorch reference flow computes kinema's
paper-shaped flow's loss and gradients (float64, to 1e-9), and the benchmark's faster paths
compute what the plain ones do."""
import math

import torch

from kinema.bench.speed_reference import ReferenceFlow, copy_from_kinema, reference_loss
from kinema.methods.cinn.config import flow_config
from kinema.methods.cinn.flow import ConditionalINN
from kinema.methods.cinn.losses import flow_nll


def _paper_flow(dim=8, cond=4, blocks=3, hidden=16):
    c = flow_config("paper")
    return ConditionalINN(dim, cond, blocks, hidden, c.clamp, c.leaky_slope, 0,
                          subnet_layers=c.subnet_layers, activation=c.activation,
                          separate_scale_shift=c.separate_scale_shift)


def test_reference_flow_computes_kinemas_loss_and_gradients():
    torch.manual_seed(0)
    ours = _paper_flow().double()
    z, cond = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    ours.to_residual(z, cond)                     # actnorm initialisation
    with torch.no_grad():
        for p in ours.parameters():               # off the zero-initialised last layers
            p.add_(torch.randn_like(p) * 0.1)
    reference = ReferenceFlow(8, 4, blocks=3, hidden=16, depth=2).double()
    copy_from_kinema(reference, ours)
    zs = [z.clone().requires_grad_(True) for _ in range(2)]
    loss_ours = flow_nll(*ours.to_residual(zs[0], cond))
    loss_ref = reference_loss(reference, zs[1], cond)
    assert abs(loss_ours.item() - loss_ref.item()) < 1e-12
    loss_ours.backward()
    loss_ref.backward()
    assert torch.allclose(zs[0].grad, zs[1].grad, atol=1e-12)
    # the first coupling's s net, first layer: the same parameter in both
    s_ours = ours.chain.layers[2].subnet.scale[0].weight.grad
    s_ref = reference.couplings[0].s[0].main[0].weight.grad
    assert torch.allclose(s_ours, s_ref, atol=1e-12)
    t_ours = ours.chain.layers[3].subnet.shift[-1].weight.grad   # second coupling's t net
    t_ref = reference.couplings[0].t[1].main[-1].weight.grad
    assert torch.allclose(t_ours, t_ref, atol=1e-12) and t_ref.abs().max() > 0


def test_the_benchmarks_fast_paths_compute_the_plain_ones():
    """Section (a): kinema with plain and with fused AdamW reach the same weights after three
    steps; (c): the bare loop trains to the trainer's weights. (b)'s channels-last layout:
    tests/nn/test_video3d_layout.py (gradients; Adam's first steps turn round-off in
    near-zero gradients into +-lr, so weights are no fair test there)."""
    from kinema.bench.speed import flow_variants, trainer_runs

    variants, facts = flow_variants(batch=4, blocks=2, hidden=16)
    assert facts["parameters"] == facts["reference_parameters"]
    for step in variants.values():
        for _ in range(3):
            step()
    plain, fused = (variants[k].model for k in list(variants)[1:3])
    for a, b in zip(plain.state_dict().values(), fused.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    start = flow_variants(batch=4, blocks=2, hidden=16)[0]
    moved = [(a - b).abs().max() for a, b in zip(next(iter(start.values())).model.parameters(),
                                                  variants[list(variants)[0]].model.parameters())]
    assert max(moved) > 1e-6                      # the steps did train

    runs = trainer_runs(steps=4)
    assert runs["same_weights"]


def test_the_bf16_rows_run_the_forward_pass_in_the_trainers_bf16_autocast():
    """The bf16 rows differ from the fp32 ones by MixedPrecision's autocast alone."""
    from kinema.bench.speed import BF16_ROW, flow_variants, in_bf16

    a, b = torch.randn(2, 3), torch.randn(3, 4)
    assert in_bf16(torch.matmul)(a, b).dtype == torch.bfloat16
    assert torch.matmul(a, b).dtype == torch.float32              # (nothing left switched on)
    variants, _ = flow_variants(batch=4, blocks=2, hidden=16)
    fp32, bf16 = variants["kinema (default: fused AdamW)"], variants[BF16_ROW]
    seen = []
    for step in (fp32, bf16):
        linear = next(m for m in step.model.modules() if isinstance(m, torch.nn.Linear))
        hook = linear.register_forward_hook(
            lambda *_: seen.append(torch.is_autocast_enabled("cpu")))
        step()
        hook.remove()
    assert seen == [False, True]


def test_an_autoencoder_step_with_a_non_finite_gradient_is_skipped_and_counted():
    from kinema.bench.speed import autoencoder_variants

    variants, _ = autoencoder_variants("tiny", batch=2)
    step = variants["kinema (default: fused AdamW)"]
    model = step.model
    real = model.training_step

    def poisoned(batch, group):        # the discriminators' update gets a NaN gradient
        losses = real(batch, group)
        return {**losses, "loss": losses["loss"] * math.nan} if group == "discriminator" \
            else losses
    model.training_step = poisoned
    groups = model.parameter_groups()
    before = {g: [p.detach().clone() for p in ps] for g, ps in groups.items()}
    step()
    assert step.skipped == 1
    assert all(torch.equal(a, p) for a, p in zip(before["discriminator"], groups["discriminator"]))
    assert any(not torch.equal(a, p) for a, p in zip(before["generator"], groups["generator"]))
