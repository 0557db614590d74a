"""The benchmark's measures against hand computations, and its study settings."""
import math

import pytest
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
        return {"W+ frame": v, "W+ clip": 2 * v, "original frame": 3 * v, "original clip": 4 * v,
                "motion FD": 5 * v, "still motion FD": 30.0, "windows": 8}

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
    motion = {"still": {"motion FD": 30.0}, "training": None, "extractor": None}
    lines = _body("actors", "small", table, acd, study, cost, [], 100, (2, 100, 3, 32, 32),
                  "runs/extractors/actors", 8, 2, motion)
    assert "| Ours \\ L_GAP | 25 | 25 |" in lines and "| still (an original frame repeated) | 30 | 30 |" in lines
    assert "| Ours \\ L_GAP, still (its own first frame repeated) | 30 | 30 |" in lines
    assert lines.index("## Motion (measures that see motion, not appearance)") < \
        lines.index("## Identity consistency (ACD, lower = more consistent)")
    ours = next(line for line in lines if line.startswith("| Ours | W+ |"))
    assert ours == f"| Ours | W+ | 2 ± {math.sqrt(2):.2g} | 2 ± {math.sqrt(2):.2g} | 4 ± {2 * math.sqrt(2):.2g} | " \
                   f"4 ± {2 * math.sqrt(2):.2g} |"                           # mean ± sample std of 2
    assert "| Ours \\ L_GAP | original | 15 | 15 | 20 | 20 |" in lines       # one seed: the value
    assert "Ours: 2 seed(s)" in lines[0] and "Ours \\ L_GAP: 1 seed(s)" in lines[0]
    assert "| without L_GAP | 1/1 | 5/8 | 1 | 1/1 | 0.100 |" in lines
    # the looping study runs once (on actors, as the paper runs it once): another data's page points
    # there and judges its own seeds' models (here 2 with L_GAP, 1 without)
    looping = {"loops": False, "looping_samples": 1, "samples": 8, "still_samples": 0, "angle": 0.9}
    own = {"study_data": "actors", "samples_per_model": 8,
           "gap": [looping, {**looping, "loops": True, "looping_samples": 6, "still_samples": 2, "angle": 0.5}],
           "no-gap": [{**looping, "loops": True, "looping_samples": 8, "angle": 0.2}]}
    carphone = _body("carphone", "small-carphone", table, acd, own, cost, [], 100, (2, 100, 3, 32, 32),
                     "runs/extractors/actors", 8, 2, motion)
    assert any("](latentgan-actors.md#looping-models-trained-from-different-seeds)" in line
               and "(2 and 1 seeds" in line for line in carphone)
    assert "| with L_GAP | 1/2 | 7/16 | 2 | 0/2 | 0.700 |" in carphone
    assert "| without L_GAP | 1/1 | 8/8 | 0 | 0/1 | 0.200 |" in carphone


def _moving_square_videos(b: int = 2, t: int = 10, size: int = 32) -> torch.Tensor:
    """(b t 3 h w) in [-1, 1]: a bright textured square moving right 1 px a frame (video 1: 2 px)."""
    g = torch.Generator().manual_seed(0)
    texture = torch.rand(8, 8, generator=g) * 1.5 - 0.5
    videos = -torch.ones(b, t, 3, size, size)
    for i in range(b):
        for k in range(t):
            x = 4 + (i % 2 + 1) * k
            videos[i, k, :, 10:18, x:x + 8] = texture
    return videos


def test_still_baseline_is_the_originals_against_zero_motion():
    import numpy as np

    from kinema.methods.latentgan.bench import motion_distances, motion_references, still_baseline
    from kinema.metrics.flow_statistics import flow_features, motion_fd

    videos = _moving_square_videos()                           # 2 videos of 10 frames -> 4 windows of 5
    refs = motion_references(videos, 5)
    assert refs["flow"].shape[0] == 4 and refs["extractor"] is None
    still = still_baseline(videos, 5, refs)
    # a still window has no flow, no direction, no change: every feature is 0
    assert still["motion FD"] == pytest.approx(motion_fd(refs["flow"], np.zeros_like(refs["flow"])), rel=1e-9)
    # the originals against themselves are at distance ~0, and the still video is far from them
    assert motion_distances(videos[:, :5], {"flow": flow_features(videos[:, :5])})["motion FD"] < 1e-6 * still["motion FD"]


def test_motion_distances_read_the_motion_extractor_clip_features():
    from kinema.methods.latentgan.bench import frechet, motion_distances, motion_references

    class MeanExtractor:                                       # clip features: mean colour per frame half
        def clip_features(self, video):
            return torch.stack([video[:, : video.shape[1] // 2].mean((1, 2, 3, 4)),
                                video[:, video.shape[1] // 2:].mean((1, 2, 3, 4)),
                                video[:, :, :, :, :16].mean((1, 2, 3, 4))], 1)

    videos = _moving_square_videos(b=3)
    refs = motion_references(videos, 5, MeanExtractor())
    fake = videos.flip(1)[:, :5]                               # moving left
    out = motion_distances(fake, refs, MeanExtractor())
    assert out["motion clip"] == pytest.approx(frechet(MeanExtractor().clip_features(fake), refs["extractor"]))
    assert set(out) == {"motion FD", "motion clip"}


def test_motion_lines_quote_accuracy_first_and_judge_each_row_against_the_still_video():
    from kinema.bench.seeds import summarise
    from kinema.methods.latentgan.bench import motion_lines

    def row(*values, still=(4.0, 8.5)):
        return {length: summarise([{"motion FD": v, "motion clip": 2 * v, "still motion FD": still[0],
                                    "still motion clip": still[1] + v} for v in values])
                for length in ("short", "long")}

    # Ours: 2 ± 1.41, clip 4 ± 2.83, its still clip 10.5 ± 1.41; the one-seed row: 9, 18 vs 4, 17.5
    table = {"Ours": row(1.0, 3.0), "Ours \\ L_GAP": row(9.0)}
    training = {"labels": ["identity", "action"], "test_accuracy": [0.99, 0.8], "chance": [0.125, 1 / 3],
                "majority_class_rate": [0.15, 0.35], "test_videos": 300, "steps": 3000, "circular_labels": []}
    motion = {"still": {"motion FD": 4.0, "motion clip": 0.5}, "training": training,
              "extractor": "runs/extractors/actors-motion"}
    lines = motion_lines(table, motion, 25)
    assert lines[2].startswith("`runs/extractors/actors-motion`") and "0.990, 0.800 (chance 0.125, 0.333" in lines[2]
    assert "| still (an original frame repeated) | 4 | 4 | 0.5 | 0.5 |" in lines
    assert "| Ours, still (its own first frame repeated) | 4 ± 0 | 4 ± 0 | 10.5 ± 1.4 | 10.5 ± 1.4 |" in lines
    # Ours against its own still: 4 - 2 = 2 > 1.41 (motion FD); 10.5 - 4 = 6.5 > 2.83 (clip); the real
    # still's 0.5 is not the yardstick. The one-seed row: 9 > 4 and 18 > 17.5, behind on all four
    assert "Ours below its own still video by more than the seed spread on 4 of 4" in lines[-2]
    assert "Ours \\ L_GAP below its own still video by more than the seed spread on 0 of 4 (none)" in lines[-2]
    carphone = motion_lines({"Ours": row(1.0)}, {"still": {"motion FD": 0.5}, "training": None, "extractor": None}, 25)
    assert "no motion labels" in carphone[2] and "motion clip" not in carphone[6]


class _BrightnessModel:
    """A stand-in temporal model: trajectories are seeded random W+ codes (b t 1 2); a frame renders
    a square moving right 1 px a frame whose brightness is the code's first value, so a video's
    first frame and its last frame (or a real frame) differ in looks."""

    class config:
        window = 5

    class basis:
        @staticmethod
        def coordinates(windows):
            return windows.flatten(2)

    def trajectory(self, count, length, g):
        return torch.rand(count, length, 1, 2, generator=g) * 1.6 - 0.8, None

    def render(self, windows):
        b, t = windows.shape[:2]
        video = -torch.ones(b, t, 3, 32, 32)
        for k in range(t):
            video[:, k, :, 10:18, 4 + k:12 + k] = windows[:, k, 0, 0].view(b, 1, 1, 1)
        return video


class _LooksExtractor:
    """Frame and clip features that see brightness, so a still video's features depend on its frame."""

    def frame_features(self, frames):                         # x 20: the square is 1/16 of a frame
        return 20 * torch.stack([frames.mean((1, 2, 3)), frames[:, :, :, :16].mean((1, 2, 3))], 1)

    def clip_features(self, video):
        return 20 * torch.stack([video[:, :1].mean((1, 2, 3, 4)), video[:, -1:].mean((1, 2, 3, 4)),
                                 video[:, :, :, :, :16].mean((1, 2, 3, 4))], 1)


def test_each_model_still_is_its_own_rendered_first_frame_repeated():
    from kinema.methods.latentgan import bench
    from kinema.methods.latentgan.bench import distances, frechet, motion_distances, motion_references

    model, looks = _BrightnessModel(), _LooksExtractor()
    real = _moving_square_videos(b=2, t=10)
    refs = motion_references(real, 5, looks)
    rows = distances(model, real_windows=torch.rand(4, 5, 1, 2), real_frames=real, extractor=looks,
                     count_short=3, count_long=2, seed=7, motion=refs, motion_extractor=looks)
    g = torch.Generator().manual_seed(7)                       # the same draws distances() makes
    for name, count, length in (("short", 3, 5), ("long", 2, bench.LONG)):
        video = model.render(bench.slices(model.trajectory(count, length, g)[0], 5))
        own_still = video[:, :1].expand_as(video).contiguous()
        assert rows[name]["still motion clip"] == pytest.approx(frechet(looks.clip_features(own_still), refs["extractor"]))
        assert rows[name]["motion clip"] == pytest.approx(motion_distances(video, refs, looks)["motion clip"])
        # the last frame repeated, or a real frame repeated, would score another distance
        last = video[:, -1:].expand_as(video).contiguous()
        kept = rows[name]["still motion clip"]
        assert abs(frechet(looks.clip_features(last), refs["extractor"]) - kept) > 1e-3 * kept
        real_still = bench.slices(real, 5)[:, :1].expand(-1, 5, -1, -1, -1)
        assert abs(frechet(looks.clip_features(real_still), refs["extractor"]) - kept) > 1e-3 * kept
