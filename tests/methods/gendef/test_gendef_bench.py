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
    DomainExtractor(DomainExtractorConfig(size=16, width=8, feature_dim=8)).save_pretrained(
        tmp_path / "runs" / "extractors" / "clouds")
    md, js = bench.clouds_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="tiny", num_videos=4,
                                    long_videos=2, track_clips=1, inversion_steps=1)
    text = md.read_text()
    assert "&& kinema train gendef-video --preset tiny-no-fc --out" in text      # stage 1 first
    assert "not trained: `kinema train gendef-video --preset tiny-frames --out" in text  # no stage 1
    record = json.loads(js.read_text())
    row = record["rows"][0]
    assert row["label"] == "GenDeF" and record["rows"][-1]["label"] == "reference: real training clips"
    for key in ("domain_fvd_4", "domain_fvd_128", "domain_fid", "inversion_psnr"):
        assert math.isfinite(row["results"][key]), key
    for picture in ("samples", "motions", "tracks"):
        assert (tmp_path / "out" / f"gendef-clouds-{picture}-0.png").is_file(), picture
