import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from kinema.errors import KinemaError
from kinema.metrics.features.lpips import TAPS, load_lpips
from kinema.metrics.features.vgg import VGG16Features
from kinema.metrics.psnr_ssim import LPIPS


@pytest.fixture
def lpips_folder(tmp_path):
    torch.manual_seed(0)
    save_file(VGG16Features().state_dict(), str(tmp_path / "vgg16.safetensors"))
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1)
            for i, c in enumerate((64, 128, 256, 512, 512))}
    torch.save(lins, tmp_path / "lpips_vgg.pth")
    return tmp_path


def _numpy_lpips(net, x, y, lins):
    """Eq. (1) of Zhang et al. 2018 written out with numpy on the backbone's activations."""
    def acts(v):
        v = (v.expand(-1, 3, -1, -1) - net.shift) / net.scale
        out = []
        with torch.no_grad():
            for i, layer in enumerate(net.backbone.features[:TAPS[-1] + 1]):
                v = layer(v)
                if i in TAPS:
                    out.append(v.double().numpy())
        return out
    total = np.zeros(x.shape[0])
    for l, (a, b) in enumerate(zip(acts(x), acts(y))):
        a = a / (np.sqrt((a ** 2).sum(1, keepdims=True)) + 1e-10)
        b = b / (np.sqrt((b ** 2).sum(1, keepdims=True)) + 1e-10)
        w = lins[f"lin{l}.model.1.weight"].double().numpy().reshape(1, -1, 1, 1)
        total += (w * (a - b) ** 2).sum(1).mean(axis=(1, 2))
    return total


def test_lpips_matches_the_formula_and_is_zero_on_equal_frames(lpips_folder):
    net = load_lpips(lpips_folder)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    y = (x + 0.3 * torch.randn(2, 1, 32, 32)).clamp(-1, 1)
    lins = torch.load(lpips_folder / "lpips_vgg.pth", weights_only=True)
    np.testing.assert_allclose(net.distance(x, y).detach().numpy(), _numpy_lpips(net, x, y, lins),
                               rtol=1e-4)
    assert net.distance(x, x).abs().max() < 1e-6


def test_lpips_metric_takes_the_lowest_sample(lpips_folder):
    net = load_lpips(lpips_folder)
    real = torch.rand(1, 2, 1, 32, 32) * 2 - 1
    fake = torch.stack([real + 0.5 * torch.randn_like(real), real + 0.01 * torch.randn_like(real)], 1)
    metric = LPIPS(net)
    metric.update(fake, real)
    result = metric.compute()
    assert result["lpips"] < result["lpips_mean_of_samples"]


def test_wrong_linear_file_is_refused(lpips_folder):
    torch.save({"lin0.weight": torch.zeros(1)}, lpips_folder / "lpips_vgg.pth")
    with pytest.raises(KinemaError, match="lin0.model.1.weight"):
        load_lpips(lpips_folder)


def test_lpips_constants_are_the_lpips_packages(lpips_folder):
    # The lpips package's ScalingLayer (shift, scale) and its VGG taps relu1_2 … relu5_3,
    # which the formula test above takes from the network itself.
    net = load_lpips(lpips_folder)
    np.testing.assert_allclose(net.shift.flatten().numpy(), [-0.030, -0.088, -0.188], atol=1e-7)
    np.testing.assert_allclose(net.scale.flatten().numpy(), [0.458, 0.448, 0.450], atol=1e-7)
    layers = net.backbone.features
    assert all(isinstance(layers[i], torch.nn.ReLU) for i in TAPS)
    assert [layers[i - 1].out_channels for i in TAPS] == [64, 128, 256, 512, 512]
    assert [sum(isinstance(m, torch.nn.MaxPool2d) for m in layers[:i]) for i in TAPS] == [0, 1, 2, 3, 4]
    assert all(isinstance(layers[i + 1], torch.nn.MaxPool2d) for i in TAPS)  # last ReLU of a block
