"""benchmarks/runs.mk trains every run a benchmark compares: each `kinema train METHOD --preset
P` it issues is a registered method and preset, trained into the folder its later stages read
(their ``stage_path`` fields), and after the runs those fields name."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kinema.stages import stage_fields
from kinema.train.recipes import build_recipe

ROOT = Path(__file__).parents[2]
TRAIN = re.compile(r" train (\S+) --preset (\S+) \\?\s*(?:--seed (\d+) )?--out (\S+)")
BENCHES = ("cinn-bouncing-digits", "cinn-clouds", "ile-bouncing-digits", "dynamics-swaying",
           "dynamics-real", "dynamics-render-real", "gendef-clouds", "gendef-actors", "latentgan-actors",
           "latentgan-carphone")


def planned(target: str, cwd: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(method, preset, out) of each training `make -n TARGET` prints, in order (a seeded run's
    out is checked to be its row's folder + -seedK); its bench lines."""
    text = subprocess.run(["make", "-s", "-f", str(ROOT / "benchmarks" / "runs.mk"), "-n", target],
                          cwd=cwd, capture_output=True, text=True, check=True).stdout
    runs = []
    for method, preset, seed, out in TRAIN.findall(text.replace("\\\n", " ")):
        if seed:
            assert out == f"runs/{method}-{preset}-seed{seed}", out
            out = out.removesuffix(f"-seed{seed}")
        runs.append((method, preset, out))
    return runs, [l for l in text.splitlines() if " bench " in l]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", BENCHES)
def test_every_stage_is_trained_before_the_stages_that_read_it(target, tmp_path):
    runs, benches = planned(target, tmp_path)
    assert len(benches) == 1 and f"bench {target} " in benches[0]
    done: set[str] = set()
    for method, preset, out in runs:
        assert out == f"runs/{method}-{preset}"
        recipe = build_recipe(method, preset)          # a registered method and a valid preset
        for field in stage_fields(recipe.model):
            path = getattr(recipe.model, field)
            if path:
                assert str(Path(path)).removesuffix("/model") in done, (method, preset, field, path)
        done.add(out)
    if target.startswith(("cinn", "gendef", "latentgan")):
        # gendef: one image stage, the 6 rows a paper claim compares x 3 seeds, 2 rows x 1 seed;
        # latentgan: image, embed, 2 rows x 3 seeds
        assert len(runs) == {"cinn": 8, "gendef": 1 + 6 * 3 + 2, "latentgan": 2 + 2 * 3}[target.split("-")[0]]
    if target.startswith("gendef"):
        trainings = [out for _, _, out in runs]             # a seeded run's out is its row's folder
        stem = "small" if target == "gendef-clouds" else "small-actors"
        for row in ("", "-no-fc", "-no-reg", "-no-multiplier", "-no-pretrain", "-freeze-canonical"):
            assert trainings.count(f"runs/gendef-video-{stem}{row}") == 3, row
        for row in ("-early-fc", "-frames"):
            assert trainings.count(f"runs/gendef-video-{stem}{row}") == 1, row


def test_dynamics_plan_holds_every_table_2_row(tmp_path):
    runs, _ = planned("dynamics-swaying", tmp_path)
    presets = {(m, p) for m, p, _ in runs}
    for k in ("small-k4", "small-k8", "small-k24", "small-no-adaptive-norm", "small"):
        assert ("dynamics-attention", k) in presets
    assert {("dynamics-diffusion", "small-volume"), ("dynamics-render", "small-baseline-splat")} <= presets


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_dynamics_table2_plan_trains_each_seed_as_a_whole_chain(tmp_path):
    """The paper's regime (small150): every Table 2 row, the full model and the volume baseline
    from 3 seeds whose every stage reads its own seed's previous stage (--set), then the bench."""
    text = subprocess.run(["make", "-s", "-f", str(ROOT / "benchmarks" / "runs.mk"), "-n", "dynamics-table2"],
                          cwd=tmp_path, capture_output=True, text=True, check=True).stdout.replace("\\\n", " ")
    line = re.compile(r" train (\S+) --preset (\S+) (?:--seed (\d+) )?(?:--set model\.(\w+)=(\S+) )?\s*--out (\S+)")
    done = []
    for method, preset, seed, field, path, out in line.findall(text):
        build_recipe(method, preset)                               # a registered method and a valid preset
        assert out == f"runs/{method}-{preset}" + (f"-seed{seed}" if seed else "")
        if seed and method != "dynamics-vae":                      # a seed's chain: its own upstream run
            upstream = {"vae_path": "dynamics-vae", "diffusion_path": "dynamics-diffusion"}[field]
            assert path == f"runs/{upstream}-small150-seed{seed}" and path in done, (out, path)
        done.append(out)
    for row in ("dynamics-attention-small150", "dynamics-diffusion-small150-volume"):
        assert {row, f"runs/{row}-seed1", f"runs/{row}-seed2"} - {row} <= set(done) and f"runs/{row}" in done
    for k in ("k4", "k8", "k24", "no-adaptive-norm"):
        assert f"runs/dynamics-attention-small150-{k}" in done
    assert len(done) == 3 * 3 + 3 + 4 * 3                        # 3 chains, 3 volume runs, 4 ablation chains
    benches = [l for l in text.splitlines() if " bench " in l]
    assert len(benches) == 1 and "bench dynamics-table2 --runs runs --preset small150 " in benches[0]
