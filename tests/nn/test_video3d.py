"""3D ResNet blocks: shapes, downsampling and gradients."""
import torch

from kinema.nn.video3d import ResBlock3d, ResNet3d


def test_resnet3d_downsamples_space_and_time():
    net = ResNet3d(3, (4, 8, 8), time_downsample=1)
    features = net(torch.randn(2, 3, 8, 16, 16))
    assert [tuple(f.shape) for f in features] == [(2, 4, 8, 16, 16), (2, 8, 4, 8, 8), (2, 8, 4, 4, 4)]


def test_resblock_identity_skip_and_gradients():
    block = ResBlock3d(4, 4, norm="none", spectral_norm=True)
    x = torch.randn(1, 4, 3, 5, 5, requires_grad=True)
    block(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert isinstance(block.skip, torch.nn.Identity)


def test_resblock_computes_the_residual_sum():
    import torch.nn.functional as F

    torch.manual_seed(0)
    block = ResBlock3d(3, 3, norm="none")
    x = torch.randn(2, 3, 4, 5, 5)
    h = F.leaky_relu(F.conv3d(x, block.conv1.weight, block.conv1.bias, padding=1), 0.2)
    want = F.leaky_relu(F.conv3d(h, block.conv2.weight, block.conv2.bias, padding=1) + x, 0.2)
    assert torch.allclose(block(x), want, atol=1e-6)
