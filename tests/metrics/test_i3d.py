import cv2
import numpy as np
import pytest
import torch

from kinema.errors import KinemaError, MissingWeightsError
from kinema.metrics.features.i3d import (I3DPreprocess, InceptionI3d, TorchScriptI3D, load_i3d,
                                         load_port_state_dict, same_padding)

# Names and shapes of the pytorch-i3d port's published state dict (i3d_pretrained_400.pt).
PORT_KEYS = {
    "Conv3d_1a_7x7.conv3d.weight": (64, 3, 7, 7, 7),
    "Conv3d_1a_7x7.bn.running_var": (64,),
    "Conv3d_2c_3x3.conv3d.weight": (192, 64, 3, 3, 3),
    "Mixed_3b.b0.conv3d.weight": (64, 192, 1, 1, 1),
    "Mixed_3b.b1b.conv3d.weight": (128, 96, 3, 3, 3),
    "Mixed_4f.b2b.bn.weight": (128,),
    "Mixed_5c.b3b.conv3d.weight": (128, 832, 1, 1, 1),
    "logits.conv3d.weight": (400, 1024, 1, 1, 1),
    "logits.conv3d.bias": (400,),
}


def _random_port_file(tmp_path, drop_counters=True):
    torch.manual_seed(0)
    reference = InceptionI3d().eval()
    for m in reference.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = reference.state_dict()
    if drop_counters:  # the published file predates BatchNorm's num_batches_tracked
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "i3d_pretrained_400.pt"
    torch.save(state, path)
    return reference, path


def test_layout_matches_the_port():
    state = InceptionI3d().state_dict()
    for key, shape in PORT_KEYS.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("logits.bn") for k in state)
    assert sum(v.numel() for k, v in state.items() if "num_batches" not in k and "running" not in k) == 12697264


def test_loaded_file_reproduces_the_network(tmp_path):
    reference, path = _random_port_file(tmp_path)
    loaded = load_port_state_dict(InceptionI3d(), path).eval()
    x = torch.rand(2, 3, 8, 32, 32) * 2 - 1
    with torch.no_grad():
        for a, b in zip(reference(x), loaded(x)):
            assert torch.equal(a, b)


def test_sixteen_frame_clips_give_400_logits_and_1024_features(tmp_path, monkeypatch):
    _, path = _random_port_file(tmp_path)
    monkeypatch.setenv("KINEMA_WEIGHTS", str(tmp_path))
    extractor = load_i3d()  # found through KINEMA_WEIGHTS
    video = torch.rand(1, 16, 3, 40, 48) * 2 - 1  # (b t c h w), resized to 224 inside
    assert extractor.clip_features(video).shape == (1, 400)
    with torch.no_grad():
        pooled, logits = extractor.network(extractor.preprocess(video))
    assert pooled.shape == (1, 1024) and logits.shape == (1, 400)
    # The logits are the 1x1x1 conv of the pooled features.
    head = extractor.network.logits.conv3d
    expected = pooled @ head.weight.flatten(1).T + head.bias
    assert torch.allclose(logits, expected, atol=1e-4)


def test_wrong_layout_is_refused(tmp_path):
    _, path = _random_port_file(tmp_path)
    state = torch.load(path, weights_only=True)
    del state["Mixed_4c.b1b.conv3d.weight"]
    torch.save(state, path)
    with pytest.raises(KinemaError, match="Mixed_4c.b1b.conv3d.weight"):
        load_port_state_dict(InceptionI3d(), path)


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KINEMA_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="i3d_pretrained_400.pt.*KINEMA_WEIGHTS.*pytorch-i3d"):
        load_i3d()


def test_preprocessing_crops_time_repeats_grey_and_resizes_like_opencv():
    video = torch.rand(2, 20, 1, 10, 12) * 2 - 1
    x = I3DPreprocess(size=24)(video)
    assert x.shape == (2, 3, 16, 24, 24)
    assert torch.equal(x[:, 0], x[:, 2])
    frame = video[1, 5, 0].numpy()
    expected = cv2.resize(frame, (24, 24), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(x[1, 0, 5].numpy(), np.clip(expected, -1, 1), atol=1e-5)
    constant = torch.full((1, 16, 3, 7, 7), -0.25)
    assert torch.allclose(I3DPreprocess()(constant), torch.tensor(-0.25))


def test_same_padding_is_tensorflows():
    # TF SAME: output = ceil(n / s); total padding = max((out - 1) s + k - n, 0), front half floor.
    for n, k, s in [(16, 7, 2), (15, 7, 2), (7, 3, 1), (8, 2, 2), (9, 3, 2)]:
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        assert same_padding((n, n, n), (k, k, k), (s, s, s))[:2] == [total // 2, total - total // 2]


class _FakeDetector(torch.nn.Module):
    """Stands in for StyleGAN-V's detector: same call signature; echoes what it was given."""

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = False) -> torch.Tensor:
        flags = torch.tensor([float(rescale), float(resize), float(return_features)])
        sizes = torch.tensor([float(x.shape[2]), float(x.shape[3])])
        stats = torch.stack([x.mean(), x.amin(), x.amax()])
        return torch.cat([stats, sizes, flags]).expand(x.shape[0], 8)


def test_torchscript_detector_is_called_as_stylegan_v_calls_it(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(_FakeDetector()).save(str(path))
    extractor = load_i3d(tmp_path)
    assert isinstance(extractor, TorchScriptI3D)
    out = extractor.clip_features(torch.full((3, 18, 1, 8, 8), 0.5))
    assert out.shape == (3, 8)
    np.testing.assert_allclose(out[0].numpy(), [0.5, 0.5, 0.5, 16, 224, 0, 0, 1], atol=1e-6)


def test_fvd_metric_takes_the_preprocessing_options(tmp_path):
    from kinema.metrics import build_metric

    _, path = _random_port_file(tmp_path)
    metric = build_metric("fvd", weights=str(path),
                          feature_options={"i3d_resize": "bicubic", "i3d_layer": "pool"})
    assert metric.features.preprocess.resize == "bicubic" and metric.features.layer == "pool"
    assert metric.unit == "clip" and metric.name == "fvd"


def test_bicubic_preprocessing_is_pils_antialiased_bicubic_and_keeps_channel_order():
    from PIL import Image

    rng = np.random.default_rng(0)
    video = torch.from_numpy(rng.uniform(-1, 1, size=(1, 16, 3, 40, 52)).astype(np.float32))
    for size in (24, 64):  # down- and up-sampling
        x = I3DPreprocess(size=size, resize="bicubic")(video)  # (b c t h w)
        for channel in range(3):
            frame = video[0, 7, channel].numpy()
            expected = np.asarray(Image.fromarray(frame, mode="F").resize((size, size), Image.BICUBIC))
            np.testing.assert_allclose(x[0, channel, 7].numpy(), np.clip(expected, -1, 1), atol=1e-4)
