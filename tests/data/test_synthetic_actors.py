import numpy as np
import pytest
import torch

from kinema.data import load_dataset
from kinema.data.synthetic import Actors
from kinema.data.synthetic.actors import KEYPOINTS
from kinema.errors import KinemaError

SMALL = dict(num_videos=24, num_frames=12, size=64)


@pytest.fixture(scope="module")
def dataset():
    return Actors("train", **SMALL)


def colour_at(video, frame, point):
    x, y = np.round(np.asarray(point, dtype=float)).astype(int)
    return ((video[frame, :, y, x] + 1.0) / 2.0).double().numpy()


def test_default_options_load_with_documented_shapes():
    item = load_dataset("actors", "train")[0]
    assert item["video"].shape == (16, 3, 64, 64) and item["video"].dtype == torch.float32
    assert item["pose"].shape == (16, 9) and item["root"].shape == (16, 2)
    assert item["keypoints"].shape == (16, len(KEYPOINTS), 2)


def test_deterministic_and_seeds_and_splits_differ(dataset):
    assert torch.equal(dataset[3]["video"], Actors("train", **SMALL)[3]["video"])
    assert not torch.equal(dataset[3]["video"], Actors("train", seed=5, **SMALL)[3]["video"])
    assert not torch.equal(dataset[3]["video"], Actors("test", **SMALL)[3]["video"])


def test_same_identity_has_same_colours_across_videos_and_splits(dataset):
    test_split = Actors("test", **SMALL)
    items = [dataset[i] for i in range(24)] + [test_split[i] for i in range(24)]
    by_identity = {}
    for item in items:
        keypoints = item["keypoints"][0].double().numpy()
        head, neck, hip = keypoints[0], keypoints[1], keypoints[2]
        look = dataset.appearance(int(item["identity"]))
        radius = look.head_radius * look.height * 64
        colours = np.stack([colour_at(item["video"], 0, head + [0, 0.5 * radius]),   # face, below the hair
                            colour_at(item["video"], 0, 0.75 * neck + 0.25 * hip)])   # chest (the near arm only ever covers it with the sleeve, same colour)
        np.testing.assert_allclose(colours, [look.skin, look.shirt], atol=1e-5)
        by_identity.setdefault(int(item["identity"]), []).append(colours)
    assert max(len(v) for v in by_identity.values()) >= 3
    for colours in by_identity.values():
        np.testing.assert_allclose(colours, colours[0][None].repeat(len(colours), 0), atol=1e-5)
    looks = {dataset.appearance(i).shirt for i in range(8)}
    assert len(looks) == 8


def test_keypoints_follow_the_documented_kinematics(dataset):
    for index in range(6):
        item = dataset[index]
        look = dataset.appearance(int(item["identity"]))
        unit = look.height * 64
        pose, root = item["pose"].double().numpy(), item["root"].double().numpy()
        for t in range(12):
            lean, l_sh, l_el, r_sh, r_el, l_hip, l_kn, r_hip, r_kn = pose[t]

            def limb(start, angle, length):
                return start + length * unit * np.array([np.sin(angle), np.cos(angle)])

            neck = root[t] + look.torso * unit * np.array([np.sin(lean), -np.cos(lean)])
            expected = {
                "neck": neck,
                "left_hand": limb(limb(neck, l_sh, look.upper_arm), l_sh + l_el, look.forearm),
                "right_foot": limb(limb(root[t], r_hip, look.thigh), r_hip + r_kn, look.shin),
            }
            for name, point in expected.items():
                np.testing.assert_allclose(item["keypoints"][t, KEYPOINTS.index(name)].double().numpy(),
                                           point, atol=1e-3)


def test_rendering_follows_the_recorded_pose_every_frame(dataset):
    checked = 0
    for index in range(10):
        item = dataset[index]
        look = dataset.appearance(int(item["identity"]))
        head_radius = look.head_radius * look.height * 64
        keypoints = item["keypoints"].double().numpy()
        assert keypoints.min() >= 0 and keypoints.max() <= 63            # the actor stays in frame
        name = {n: KEYPOINTS.index(n) for n in KEYPOINTS}
        for t in range(12):
            forearm = (keypoints[t, name["left_elbow"]] + keypoints[t, name["left_hand"]]) / 2
            shin = (keypoints[t, name["left_knee"]] + keypoints[t, name["left_foot"]]) / 2
            np.testing.assert_allclose(colour_at(item["video"], t, shin), look.trousers, atol=1e-5)
            if np.linalg.norm(forearm - keypoints[t, name["head"]]) > head_radius + 2:
                np.testing.assert_allclose(colour_at(item["video"], t, forearm), look.forearm_colour, atol=1e-5)
                checked += 1
        assert item["pose"].std(dim=0).max() > 0.1                          # the pose changes over time
    assert checked >= 100


def test_identities_and_actions_options():
    dataset = Actors("train", num_videos=30, num_frames=4, size=32, num_identities=3, actions=("walk",))
    identities = {int(dataset[i]["identity"]) for i in range(30)}
    assert identities == {0, 1, 2}
    assert {int(dataset[i]["action"]) for i in range(30)} == {0}
    walker = dataset[0]["root"][:, 0]
    steps = walker[1:] - walker[:-1]
    assert (steps > 0).all() or (steps < 0).all()                        # walking keeps a direction


@pytest.mark.parametrize("options", [dict(num_identities=0), dict(actions=("dance",)), dict(actions="run"),
                                     dict(size=8), dict(colour=1)])
def test_bad_options_are_clear_errors(options):
    with pytest.raises(KinemaError):
        Actors("train", **options)
