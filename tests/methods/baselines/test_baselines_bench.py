"""`kinema bench baselines` (the baselines' benchmark, registered by their entry)."""
import json

from kinema.bench import benchmarks
from kinema.bench.harness import Protocol
from kinema.methods.baselines import bench


def test_baselines_benchmark_writes_its_table(tmp_path, monkeypatch):
    tiny = Protocol(task="prediction", num_videos=4, num_frames=5, context_frames=2, batch_size=4,
                    fit_videos=6, data_options={"size": 16})
    monkeypatch.setattr(bench, "BASELINE_SETTINGS", {"bouncing-digits": tiny})
    md, js = benchmarks.run_benchmark("baselines", tmp_path)
    text = md.read_text()
    assert "| repeat-last |" in text and "| dynamic-texture (best of 5) |" in text
    assert "Command: `" in text and "Machine:" in text
    record = json.loads(js.read_text())
    assert [r["protocol"]["num_samples"] for r in record["runs"]] == [1, 1, 5]
    rows = [r["results"]["psnr_per_step"] for r in record["runs"]]
    assert all(len(r) == 3 for r in rows)
