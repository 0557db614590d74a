"""Rows over several seeds: which folders are a row's seeds, and mean ± std by hand."""
import math

from kinema.bench.seeds import mean_spread, seed_folder, seed_runs, summarise


def test_seed_runs_are_the_finished_run_then_seed_k_by_k(tmp_path):
    run = tmp_path / "gendef-video-small"
    for seed in (0, 2, 10, 1):
        (seed_folder(run, seed) / "model").mkdir(parents=True)
        (seed_folder(run, seed) / "model" / "config.json").write_text("{}")
    (tmp_path / "gendef-video-small-seed3").mkdir()                 # unfinished: no model
    (tmp_path / "gendef-video-small-no-fc-seed1" / "model").mkdir(parents=True)   # another row
    names = [p.name for p in seed_runs(run)]
    assert names == ["gendef-video-small", "gendef-video-small-seed1", "gendef-video-small-seed2",
                     "gendef-video-small-seed10"]


def test_summary_is_the_mean_and_sample_std():
    summary = summarise([{"fvd": 10.0, "label": "a"}, {"fvd": 14.0, "label": "b"}, {"fvd": 15.0}])
    entry = summary["fvd"]
    assert entry["n"] == 3 and math.isclose(entry["mean"], 13.0)
    assert math.isclose(entry["std"], math.sqrt(((-3) ** 2 + 1 ** 2 + 2 ** 2) / 2))   # n - 1
    assert "label" not in summary
    assert mean_spread(entry) == "13 ± 2.6"
    assert mean_spread(summarise([{"fvd": 47.21}])["fvd"]) == "47.2"
    assert mean_spread(None) == "—"
