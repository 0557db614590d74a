import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from kinema.errors import MissingWeightsError
from kinema.metrics.features.vgg import VGG16Features, load_vgg
from kinema.metrics.weights import resolve_weights

TORCHVISION_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def test_explicit_path_beats_the_environment(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.pt").write_bytes(b"a")
    (tmp_path / "b" / "x.pt").write_bytes(b"b")
    monkeypatch.setenv("KINEMA_WEIGHTS", str(tmp_path / "a"))
    assert resolve_weights("x.pt") == tmp_path / "a" / "x.pt"
    assert resolve_weights("x.pt", tmp_path / "b") == tmp_path / "b" / "x.pt"
    monkeypatch.delenv("KINEMA_WEIGHTS")
    with pytest.raises(MissingWeightsError, match="x.pt.*KINEMA_WEIGHTS is unset"):
        resolve_weights("x.pt")


def test_vgg_loads_torchvision_layout_and_gives_pool5_features(tmp_path):
    torch.manual_seed(0)
    net = VGG16Features(size=64)
    state = net.state_dict()
    assert sorted({int(k.split(".")[1]) for k in state}) == TORCHVISION_CONV_INDICES
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    extractor = load_vgg(tmp_path, size=64)
    frames = torch.rand(2, 1, 20, 20) * 2 - 1
    feats = extractor.frame_features(frames)
    assert feats.shape == (2, 512 * 2 * 2)  # pool5 of a 64² frame; 512·7·7 at 224²
    assert torch.allclose(feats, net(frames), atol=1e-5)


def test_missing_vgg_names_the_file(tmp_path):
    with pytest.raises(MissingWeightsError, match="vgg16.safetensors"):
        load_vgg(tmp_path)


def test_vgg_preprocessing_is_pil_bilinear_then_imagenet_normalisation():
    torch.manual_seed(0)
    net = VGG16Features(size=64).eval()
    rng = np.random.default_rng(1)
    for h, w in ((40, 52), (100, 90)):  # up- and down-sampling (antialiased)
        _check_vgg_input(net, rng.uniform(-1, 1, size=(3, h, w)).astype(np.float32))


def _check_vgg_input(net, frame):  # frame (c h w) in [-1, 1]
    from PIL import Image

    resized = np.stack([np.asarray(Image.fromarray(c, mode="F").resize((64, 64), Image.BILINEAR))
                        for c in frame])
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected_input = ((resized + 1) / 2 - mean[:, None, None]) / std[:, None, None]
    with torch.no_grad():
        expected = net.features(torch.from_numpy(expected_input).float()[None]).flatten(1)
        got = net(torch.from_numpy(frame)[None])
    assert torch.allclose(got, expected, atol=1e-4)
