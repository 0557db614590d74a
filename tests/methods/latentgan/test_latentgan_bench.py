"""The benchmark's measures against hand computations, and its study settings."""
import math

import torch

from kinema.methods.latentgan.bench import average_content_distance, slices
from kinema.methods.latentgan.bench_loop import STUDY_STEPS, study_folder, study_recipe


def test_average_content_distance_by_hand():
    # one video of 3 frames at 0, 3 and 4 on a line: pair distances 3, 4, 1
    features = torch.tensor([[[0.0], [3.0], [4.0]]])
    assert math.isclose(average_content_distance(features), (3 + 4 + 1) / 3)
    two = torch.cat([features, torch.zeros(1, 3, 1)])         # a constant video scores 0
    assert math.isclose(average_content_distance(two), (3 + 4 + 1) / 3 / 2)


def test_slices_cut_non_overlapping_windows():
    ws = torch.arange(2 * 60).reshape(2, 60, 1, 1).float()
    cut = slices(ws, 25)
    assert cut.shape == (4, 25, 1, 1)
    assert cut[1, 0].item() == 25 and cut[2, 0].item() == 60     # video 1 starts the third
    assert cut[3, -1].item() == 60 + 49


def test_identity_label_reads_the_actor():
    from kinema.data import load_dataset
    from kinema.metrics.features.domain_train import LABELS, recipe_for

    data = load_dataset("actors", "train", num_videos=5, num_frames=2, size=16)
    assert [LABELS["identity"](data[i]) for i in range(5)] == [int(data[i]["identity"]) for i in range(5)]
    assert recipe_for("actors").labels == ("identity",)


def test_study_recipe_keeps_the_loss_and_changes_the_size():
    with_gap = study_recipe("carphone", "small", True, 3)
    without = study_recipe("carphone", "small", False, 3)
    assert with_gap.model.gap_weight == 100.0 and without.model.gap_weight == 0.0
    assert with_gap.model.gp_weight == 50.0 and with_gap.model.window == 25
    assert with_gap.train.seed == 3 and with_gap.train.steps == STUDY_STEPS
    assert with_gap.data.options["path"] == "runs/latentgan-embed-small-carphone"
    assert study_folder("runs", "carphone", "small", False, 3).as_posix() == \
        "runs/latentgan-loop-small-carphone/no-gap-seed3"
