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


def test_table_cells_are_mean_and_spread_over_seeds():
    from kinema.bench.seeds import summarise
    from kinema.methods.latentgan.bench import _body

    def distances(v):
        return {"W+ frame": v, "W+ clip": 2 * v, "original frame": 3 * v, "original clip": 4 * v, "windows": 8}

    table = {"Ours": {length: summarise([distances(1.0), distances(3.0)]) for length in ("short", "long")},
             "Ours \\ L_GAP": {length: summarise([distances(5.0)]) for length in ("short", "long")}}
    acd = {label: summarise([{"real videos": 1.0, "training actor": v, "random actors (offset trick)": v}])
           for label, v in (("Ours", 2.0), ("Ours \\ L_GAP", 0.5))}
    verdict = {"loops": True, "died_out": False, "looping_samples": 5, "samples": 8,
               "still_samples": 1, "angle": 0.5}
    study = {"seeds": 1, "steps": 10, "batch_size": 4, "model": {}, "samples_per_model": 8,
             "gap": [verdict], "no-gap": [{**verdict, "died_out": True, "angle": 0.1}]}
    cost = {"window": 25, "w_plus_seconds": 0.2, "image_space_seconds": 2.0, "resolution": 32,
            "ratio": 10.0, "batch": 16}
    lines = _body("actors", "small", table, acd, study, cost, [], 100, (2, 100, 3, 32, 32),
                  "runs/extractors/actors", 8, 2)
    ours = next(line for line in lines if line.startswith("| Ours | W+ |"))
    assert ours == f"| Ours | W+ | 2 ± {math.sqrt(2):.2g} | 2 ± {math.sqrt(2):.2g} | 4 ± {2 * math.sqrt(2):.2g} | " \
                   f"4 ± {2 * math.sqrt(2):.2g} |"                           # mean ± sample std of 2
    assert "| Ours \\ L_GAP | original | 15 | 15 | 20 | 20 |" in lines       # one seed: the value
    assert "Ours: 2 seed(s)" in lines[0] and "Ours \\ L_GAP: 1 seed(s)" in lines[0]
    assert "| without L_GAP | 1/1 | 5/8 | 1 | 1/1 | 0.100 |" in lines
