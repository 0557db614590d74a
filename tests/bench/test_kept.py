"""kinema.bench.kept: a stopped benchmark's finished steps, kept and read back by key."""
import json

import torch

from kinema.bench.kept import KeptResults, content_key


def test_content_key_changes_with_any_weight_or_input_and_not_otherwise():
    torch.manual_seed(0)
    layer, picture = torch.nn.Linear(3, 2), torch.rand(1, 3, 4, 4)
    key = content_key(layer, picture)
    assert key == content_key(layer, picture.clone()) and len(key) == 16
    with torch.no_grad():
        layer.bias[1] += 1e-6
    assert content_key(layer, picture) != key
    assert content_key(picture, layer) != content_key(layer, picture)          # order counts


def test_kept_results_survive_a_new_process_and_an_unreadable_file_starts_afresh(tmp_path):
    path = tmp_path / "progress" / "study.json"
    kept = KeptResults(path)
    kept["a|seed0"] = {"seam": 0.5}
    assert json.loads(path.read_text()) == {"a|seed0": {"seam": 0.5}}          # written at once
    again = KeptResults(path)
    assert "a|seed0" in again and again["a|seed0"] == {"seam": 0.5} and "a|seed1" not in again
    path.write_text("{not json")
    assert KeptResults(path).done == {}
    memory = KeptResults(None)                                                  # nothing on disk
    memory["x"] = 1
    assert memory["x"] == 1 and not (tmp_path / "None").exists()
