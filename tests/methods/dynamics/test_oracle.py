"""The paper's frequency regime (preset ``small150``) and the swaying oracle: what a perfect
model of the data scores against standing still (repeat-I0), by the measures of ``scores``."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kinema.data.spectral import spectral_volume
from kinema.data.synthetic.swaying import Swaying
from kinema.errors import KinemaError
from kinema.methods.dynamics.bench_oracle import picture_rows
from kinema.methods.dynamics.oracle import oracle_volumes


def test_small150_keeps_16_of_76_bins_of_150_frame_clips_with_the_motion_in_them():
    from kinema.methods.dynamics.config import render_recipe, vae_recipe

    vae = vae_recipe("small150")
    assert (vae.model.num_frequencies, vae.model.period, vae.model.image_size) == (16, 150, (64, 64))
    assert vae.model.block_out_channels == vae_recipe("small").model.block_out_channels    # small's networks
    options = vae.data.options["source_options"]
    assert options["num_frames"] == 150 and options["size"] == 64
    # the highest frequency (mode 2 of the brightest region) is bin 0.08 * 150 = 12 < K = 16
    assert 2 * options["max_frequency"] * options["num_frames"] < vae.model.num_frequencies
    assert vae_recipe("small150-k8").model.num_frequencies == 8
    assert render_recipe("small150").data.options["source_options"]["max_frequency"] == options["max_frequency"]
    assert render_recipe("small150").model.attention_path == "runs/dynamics-attention-small150"


@pytest.fixture(scope="module")
def held_out():
    source = Swaying("test", num_videos=4, num_frames=48, size=24, min_frequency=0.02, max_frequency=0.08,
                     num_frequencies=12)
    return source, [source[i] for i in range(len(source))]


def test_oracle_draws_the_items_law_with_fresh_phases(held_out):
    source, items = held_out
    item = items[0]
    volumes = oracle_volumes(source, item, num_samples=3, seed=7)
    assert volumes.shape == (3, 12, 4, 24, 24)
    assert torch.equal(volumes, oracle_volumes(source, item, num_samples=3, seed=7))     # seeded
    assert not torch.allclose(volumes[0], volumes[1])                                      # new phases each
    # sample i is the source's own law on the item's regions, drawn from generator (seed, i)
    motion = source.motion(np.random.default_rng([7, 2]), item["region_labels"].numpy(),
                           item["region_brightness"].double().numpy(), item["region_texture"].double().numpy())
    assert torch.equal(volumes[2], spectral_volume(motion["trajectories"], 12))
    assert torch.allclose(motion["frequency"], item["mode_frequency"])      # the picture's frequencies
    with pytest.raises(KinemaError, match="region_labels"):
        oracle_volumes(source, {"image": item["image"]}, 1)


def test_the_oracle_beats_standing_still_on_the_measures_that_see_motion(held_out):
    source, items = held_out
    rows = [picture_rows(source, item, num_samples=6, seed=i) for i, item in enumerate(items)]
    mean = lambda name, key: sum(r[name][key] for r in rows) / len(rows)
    oracle = "oracle (6 samples)"
    assert mean("K-bin ground truth", "amplitude_error") == 0.0
    assert mean(oracle, "amplitude_error") < 0.6 * mean("repeat I0", "amplitude_error")
    assert mean(oracle, "best_of_n_epe") < mean("repeat I0", "best_of_n_epe")
    # one sample at a random phase is no better than standing still: why best-of-n is measured
    assert mean(oracle, "trajectory_epe") > mean(oracle, "best_of_n_epe")
    assert mean("repeat I0", "pop") == 0.0 and mean("K-bin ground truth", "pop") > 0.0


@pytest.mark.slow            # ~8 s: samples the tiny models (the other benchmarks' tiny-run tests are slow too)
def test_table2_groups_seeds_into_rows_and_scores_repeat_i0_by_hand(tiny_runs, tmp_path, monkeypatch):
    import json

    from kinema.data.synthetic.swaying import Swaying
    from kinema.methods.dynamics.bench_table2 import run_groups, table2_benchmark
    from kinema.methods.dynamics.config import motion_data
    from kinema.methods.dynamics.scores import oscillation_amplitude

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "dynamics-attention-tiny").symlink_to(tiny_runs["attention"])
    (runs / "dynamics-attention-tiny-seed1").symlink_to(tiny_runs["attention"])
    (runs / "dynamics-diffusion-tiny").symlink_to(tiny_runs["diffusion"])
    (runs / "dynamics-diffusion-tinyish").mkdir()                   # not a run of the tiny base
    assert {name: len(g) for name, g in run_groups(runs, "tiny").items()} == \
        {"dynamics-attention-tiny": 2, "dynamics-diffusion-tiny": 1}
    # stage A of an ablation is no row; stage A with no stage B on top (the volume baseline) is one
    ablations = tmp_path / "ablations"
    ablations.mkdir()
    for name, run in (("attention-tiny", "attention"), ("diffusion-tiny", "diffusion"), ("attention-tiny-k4", "attention"),
                      ("diffusion-tiny-k4", "diffusion"), ("diffusion-tiny-volume", "diffusion")):
        (ablations / f"dynamics-{name}").symlink_to(tiny_runs[run])
    assert sorted(run_groups(ablations, "tiny")) == ["dynamics-attention-tiny", "dynamics-attention-tiny-k4",
                                                     "dynamics-diffusion-tiny", "dynamics-diffusion-tiny-volume"]
    md, js = table2_benchmark(tmp_path / "out", runs=runs, preset="tiny", num_videos=2, num_samples=2)
    rows = {r["row"]: r for r in json.loads(js.read_text())["rows"]}
    assert list(rows) == ["attention-tiny", "diffusion-tiny", "repeat I0", "oracle (the data's law, random phases)"]
    assert rows["attention-tiny"]["amplitude_error"]["seeds"] == 2
    assert rows["attention-tiny"]["amplitude_error"]["std"] > 0          # two sampling seeds differ
    assert rows["oracle (the data's law, random phases)"]["best_of_n_epe"]["seeds"] == 2
    # standing still misses the whole amplitude of every oscillating bin, and never moves
    options = {**motion_data("tiny", "test").options["source_options"], "num_videos": 2}
    items = [Swaying("test", num_frequencies=4, **options)[i] for i in range(2)]
    # K_eval = 5: every rfft bin of the 8-frame clips (the largest K, 24, capped), whatever rows exist
    from kinema.data.spectral import spectral_volume

    assert json.loads(js.read_text())["k_eval"] == 5
    truth = oscillation_amplitude(spectral_volume(torch.stack([item["trajectories"] for item in items]).double(), 5), 8)
    assert rows["repeat I0"]["amplitude_error"]["mean"] == pytest.approx(float(truth[:, 1:].mean()), rel=1e-6)
    still = torch.stack([item["trajectories"] for item in items]).double().norm(dim=2).mean()
    assert rows["repeat I0"]["trajectory_epe"]["mean"] == pytest.approx(float(still), rel=1e-6)
    # the motion video metric of standing still: the true motion's flow features against all-zero ones
    from kinema.methods.dynamics.bench_table2 import true_features
    from kinema.metrics.flow_statistics import motion_fd

    real = true_features(items)
    assert rows["repeat I0"]["motion_fd"]["mean"] == pytest.approx(motion_fd(real, 0 * real), rel=1e-6)
    assert rows["repeat I0"]["motion_fd"]["mean"] > 0
    assert "| repeat I0 |" in md.read_text() and "motion-FD" in md.read_text()
    for picture in ("dynamics-table2-amplitude.png", "dynamics-table2-xt.png", "dynamics-table2-loop.gif"):
        assert (tmp_path / "out" / picture).is_file() and f"]({picture})" in md.read_text()
    # a second run reads every model seed's kept scores and pictured volumes: no sampling at all
    import kinema.methods.dynamics.bench_table2 as bench_table2

    amplitude_png = (tmp_path / "out" / "dynamics-table2-amplitude.png").read_bytes()

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled again")

    monkeypatch.setattr(bench_table2, "model_volumes", no_sampling)
    _, again = table2_benchmark(tmp_path / "out", runs=runs, preset="tiny", num_videos=2, num_samples=2)
    assert json.loads(again.read_text())["rows"] == json.loads(js.read_text())["rows"]
    assert (tmp_path / "out" / "dynamics-table2-amplitude.png").read_bytes() == amplitude_png
    # another setting is not read from the kept scores
    with pytest.raises(AssertionError, match="sampled again"):
        table2_benchmark(tmp_path / "out", runs=runs, preset="tiny", num_videos=2, num_samples=3)


def test_oracle_benchmark_page_holds_both_winds_and_refuses_video_presets(tmp_path):
    import json

    from kinema.methods.dynamics.bench_oracle import oracle_benchmark

    md, js = oracle_benchmark(tmp_path / "out", preset="tiny", num_videos=2, num_samples=2)
    record = json.loads(js.read_text())
    assert list(record["rows"]) == ["region", "scene"]
    for rows in record["rows"].values():
        assert list(rows) == ["repeat I0", "oracle (2 samples)", "K-bin ground truth"]
        assert rows["repeat I0"]["pictures_below_repeat_i0"] == {"amplitude_error": 0, "best_of_n_epe": 0}
        assert rows["K-bin ground truth"]["amplitude_error"]["mean"] == 0.0
    text = md.read_text()
    assert "## Wind direction per region" in text and "## Wind direction per scene" in text
    with pytest.raises(KinemaError, match="needs a preset whose motion data is swaying"):
        oracle_benchmark(tmp_path / "paper", preset="paper")
    assert not (tmp_path / "paper").exists()


def test_table2_verdict_compares_the_mean_gap_with_the_larger_seed_spread():
    from kinema.methods.dynamics.bench_table2 import verdict

    full = {"mean": 0.50, "std": 0.02, "seeds": 3}
    # delta = other - full (lower is better); the spread is the larger std of the two rows
    assert verdict(full, {"mean": 0.60, "std": 0.05, "seeds": 3}) == pytest.approx(
        {"delta": 0.10, "spread": 0.05, "verdict": "ahead"})
    assert verdict(full, {"mean": 0.54, "std": 0.05, "seeds": 3})["verdict"] == "within spread"
    assert verdict(full, {"mean": 0.46, "std": 0.01, "seeds": 3}) == pytest.approx(
        {"delta": -0.04, "spread": 0.02, "verdict": "behind"})
    # a 1-seed row is judged by the full model's spread alone; two 1-seed rows are undecided
    assert verdict(full, {"mean": 0.53, "std": None, "seeds": 1})["verdict"] == "ahead"
    assert verdict({"mean": 0.5, "std": None, "seeds": 1}, {"mean": 0.9, "std": None, "seeds": 1})["verdict"] \
        == "undecided (1 seed each)"


def test_table2_claim_lines_name_the_paper_rows_and_count_the_goal():
    from kinema.methods.dynamics.bench_table2 import VERDICT_SCORES, claim_lines, paper_name

    assert paper_name("attention-small150-k4", "small150") == "K = 4"
    assert paper_name("diffusion-small150-volume", "small150") == "Volume pred."
    assert paper_name("diffusion-small150", "small150") == "Independent pred."
    assert paper_name("attention-small150", "small150") == "Full (K = 16)"

    def row(name, *means, std=0.01):
        return {"row": name, **{k: {"mean": m, "std": std, "seeds": 3} for k, m in zip(VERDICT_SCORES, means)}}

    rows = [row("attention-small150", 0.5, 0.5, 0.5), row("diffusion-small150-volume", 0.6, 0.5, 0.4),
            row("repeat I0", 0.6, 0.6, 0.6, std=None), row("oracle (the data's law, random phases)", 0.1, 0.1, 0.1)]
    text = "\n".join(claim_lines(rows, "attention-small150", "small150"))
    assert "| diffusion-small150-volume (Volume pred.) | ahead (+0.100 vs 0.010) | within spread (+0.000 vs 0.010) " \
           "| behind (-0.100 vs 0.010) |" in text
    assert "repeat I0: ahead on 3 of 3" in text
    assert "diffusion-small150-volume: ahead on 1 of 3 (amplitude_error)" in text
    assert "oracle" not in text.split("Goal")[0].split("|---|")[1]          # the oracle is a bound, not a rival
    assert "not trained yet" in "\n".join(claim_lines(rows[:1] + rows[2:], "attention-small150", "small150"))
