"""The flow's subnet shape (issue 16): the paper preset is the official architecture, and a
flow saved before the shape fields existed still loads with today's default shape."""
import torch

from kinema.methods.cinn.config import FlowConfig, flow_config
from kinema.methods.cinn.flow import ConditionalINN
from kinema.nn.invertible import AffineCoupling, SeparateScaleShift
from kinema.pretrained import config_from_dict


def flow_of(config: FlowConfig, dim=64, cond=64) -> ConditionalINN:
    return ConditionalINN(dim, cond, config.blocks, config.hidden, config.clamp, config.leaky_slope,
                          config.seed, subnet_layers=config.subnet_layers,
                          activation=config.activation,
                          separate_scale_shift=config.separate_scale_shift)


def test_paper_preset_is_the_official_architecture():
    config = flow_config("paper")
    flow = flow_of(config)
    couplings = [m for m in flow.modules() if isinstance(m, AffineCoupling)]
    assert len(couplings) == 40                     # 20 blocks x 2 couplings
    subnet = couplings[0].subnet
    assert isinstance(subnet, SeparateScaleShift)
    for net in (subnet.scale, subnet.shift):
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        assert [(l.in_features, l.out_features) for l in linears] == \
            [(32 + 64, 512), (512, 512), (512, 512), (512, 32)]   # 3 hidden layers of 512
        acts = [m for m in net if not isinstance(m, torch.nn.Linear)]
        assert all(isinstance(a, torch.nn.LeakyReLU) and a.negative_slope == 0.01 for a in acts)
    # the count: 80 MLPs of 96*512+512 + 2*(512*512+512) + 512*32+32, plus actnorms
    mlp = 96 * 512 + 512 + 2 * (512 * 512 + 512) + 512 * 32 + 32
    assert sum(p.numel() for p in flow.parameters()) == 80 * mlp + 20 * 2 * 64
    assert round(80 * mlp / 1e6, 1) == 47.3


def test_separate_nets_drive_scale_and_shift_respectively():
    torch.manual_seed(0)
    coupling = AffineCoupling(4, cond_channels=0, spatial=False, clamp=1.0,
                              subnet_constructor=lambda i, o: SeparateScaleShift(
                                  torch.nn.Linear(i, o // 2), torch.nn.Linear(i, o // 2)))
    x = torch.randn(3, 4)
    s_net, t_net = coupling.subnet.scale, coupling.subnet.shift
    y, logdet = coupling(x)
    log_s = torch.tanh(s_net(x[:, :2]))           # clamp 1: log s = tanh(raw), the official form
    assert torch.allclose(y[:, 2:], x[:, 2:] * torch.exp(log_s) + t_net(x[:, :2]), atol=1e-6)
    assert torch.allclose(y[:, :2], x[:, :2])
    assert torch.allclose(logdet, log_s.sum(1), atol=1e-6)


def test_configs_without_the_shape_fields_build_the_first_shape():
    saved = {"blocks": 2, "hidden": 16, "clamp": 2.0, "leaky_slope": 0.9, "seed": 0}
    config = config_from_dict(FlowConfig, saved)
    assert (config.subnet_layers, config.activation, config.separate_scale_shift) == (2, "relu", False)
    keys = {k: tuple(v.shape) for k, v in flow_of(config, dim=8, cond=4).state_dict().items()}
    # the keys and shapes the first code wrote: subnet = Linear, ReLU, Linear, ReLU, Linear
    assert keys["chain.layers.2.subnet.0.weight"] == (16, 4 + 4)
    assert keys["chain.layers.2.subnet.2.weight"] == (16, 16)
    assert keys["chain.layers.2.subnet.4.weight"] == (8, 16)
    assert not any(".subnet.6." in k or ".scale." in k for k in keys)


def test_paper_flow_inverts_to_float32_round_off():
    torch.manual_seed(0)
    flow = flow_of(flow_config("paper"), dim=8, cond=4)
    z, c = torch.randn(5, 8), torch.randn(5, 4)
    flow.to_residual(z, c)                         # actnorm init
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    nu, logdet = flow.to_residual(z, c)
    back, logdet_back = flow.to_code(nu, c)
    assert (back - z).abs().max() < 1e-4
    assert torch.allclose(logdet_back, -logdet, atol=1e-4)
