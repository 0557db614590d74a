import pytest
import torch

from kinema.errors import KinemaError, MissingWeightsError
from kinema.metrics.features.inception import FIDInceptionV3, InceptionFrameFeatures, load_inception

FILE = "pt_inception-2015-12-05-6726825d.pth"


def test_layout_is_fids_inception():
    network = FIDInceptionV3()
    state = network.state_dict()
    for key, shape in {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
                       "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
                       "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
                       "Mixed_7c.branch3x3dbl_3b.bn.running_var": (384,),
                       "fc.weight": (1008, 2048)}.items():
        assert tuple(state[key].shape) == shape, key
    # torchvision's Inception3 without aux logits has 23,834,568 parameters at 1000 classes;
    # FID's file has 1008 classes: 8 more rows of 2048 weights + 1 bias each.
    params = sum(p.numel() for p in network.parameters())
    assert params == 23_834_568 + 8 * 2049


def test_loads_a_file_of_that_layout_and_gives_2048_features(tmp_path, monkeypatch):
    torch.manual_seed(0)
    reference = FIDInceptionV3().eval()
    state = {k: v for k, v in reference.state_dict().items() if "num_batches" not in k}
    torch.save(state, tmp_path / FILE)
    monkeypatch.setenv("KINEMA_WEIGHTS", str(tmp_path))
    extractor = load_inception()
    small = InceptionFrameFeatures(extractor.network, size=75)  # 299 in real use; 75 is the smallest it takes
    frames = torch.rand(1, 1, 20, 20) * 2 - 1
    feats = small.frame_features(frames)
    assert feats.shape == (1, 2048)
    expected = reference(torch.nn.functional.interpolate(frames.expand(-1, 3, -1, -1), size=(75, 75),
                                                         mode="bilinear", align_corners=False))
    assert torch.allclose(feats, expected, atol=1e-5)
    del state["Mixed_6a.branch3x3.conv.weight"]
    torch.save(state, tmp_path / FILE)
    with pytest.raises(KinemaError, match="Mixed_6a.branch3x3.conv.weight"):
        load_inception()


def test_missing_file_names_it_and_its_source(tmp_path):
    with pytest.raises(MissingWeightsError, match="pt_inception.*torchmetrics"):
        load_inception(tmp_path)


def test_preprocessing_is_grey_to_rgb_and_opencv_bilinear_in_minus_one_to_one():
    # pytorch-fid's resize (bilinear, half-pixel centres, no antialiasing) = OpenCV's INTER_LINEAR;
    # FID's Inception takes [-1, 1] as is.
    import cv2
    import numpy as np

    seen = InceptionFrameFeatures(torch.nn.Identity(), size=48)
    grey = torch.rand(1, 1, 20, 28) * 2 - 1
    x = seen(grey)
    assert x.shape == (1, 3, 48, 48) and torch.equal(x[:, 0], x[:, 2])
    expected = cv2.resize(grey[0, 0].numpy(), (48, 48), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(x[0, 1].numpy(), expected, atol=1e-5)
