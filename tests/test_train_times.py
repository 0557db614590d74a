"""kinema.train_times and `kinema methods`: every tiny preset measured, every larger preset's
time quoted from the benchmark note it names, printed beside the presets."""
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kinema import train_times

ROOT = Path(__file__).parents[1]


def test_every_registered_tiny_preset_is_measured_with_date_and_machine():
    from kinema.registry import entries

    times = train_times.load_times()
    for entry in entries():
        if "tiny" in entry.presets:
            found = times[(entry.name, "tiny")]
            assert 0 < found["seconds"] < 120 and not found["estimate"], entry.name
            assert found["machine"] == train_times.MACHINE
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", found["date"])
            assert f"train {entry.name} --preset tiny" in found["source"]
    for stage, preset in train_times.EXTRA_RUNS:
        assert (stage, preset) in times


def test_collected_times_are_quoted_from_their_notes():
    data = json.loads(train_times.TIMES_FILE.read_text())
    assert data["collected"]
    for row in data["collected"]:
        text = (ROOT / row["source"]).read_text().replace("`", "")
        text = re.sub(r"\s*\n#?\s*", " ", text)                # a runs.mk comment spans lines
        assert row["quote"] in text, row
        minutes = re.search(r"(\d+) min\)?$", row["quote"])
        if minutes and not row.get("estimate"):
            assert row["seconds"] == 60 * int(minutes.group(1)), row
        if row.get("estimate"):               # steps x a timed step, as the note says
            steps, per_step = re.fullmatch(r"(\d+) steps(?: x ([\d.]+) s)?", row["note"]).groups()
            assert per_step is None or row["seconds"] == pytest.approx(int(steps) * float(per_step))
            assert per_step is None or per_step in row["quote"]


@pytest.mark.parametrize("seconds, text", [(3.74, "3.7 s"), (84, "1.4 min"), (2100, "35 min"),
                                           (59.96, "60.0 s")])
def test_format_seconds(seconds, text):
    assert train_times.format_seconds(seconds) == text


def test_preset_times_lists_variants_and_says_not_measured():
    times = {("a", "tiny"): {"seconds": 4.0, "estimate": False},
             ("a", "small-clouds"): {"seconds": 240.0, "estimate": False},
             ("a", "small"): {"seconds": 2100.0, "estimate": True},
             ("b", "small"): {"seconds": 1.0, "estimate": False}}
    assert (train_times.preset_times("a", ("tiny", "small", "paper"), times)
            == "tiny 4.0 s, small ~35 min, small-clouds 4.0 min, paper not measured")


def test_a_variant_is_listed_once_under_the_longest_preset_it_extends():
    times = {("a", "small"): {"seconds": 2100.0, "estimate": False},
             ("a", "small-clouds"): {"seconds": 240.0, "estimate": False},
             ("a", "small-real"): {"seconds": 3240.0, "estimate": False},
             ("a", "small-real-l1"): {"seconds": 1860.0, "estimate": False}}
    assert (train_times.preset_times("a", ("small", "small-real"), times)
            == "small 35 min, small-clouds 4.0 min, small-real 54 min, small-real-l1 31 min")
    # without small-real listed, its runs are variants of small
    assert (train_times.preset_times("a", ("small",), times)
            == "small 35 min, small-clouds 4.0 min, small-real 54 min, small-real-l1 31 min")


def test_kinema_methods_prints_each_presets_time():
    from kinema.cli import app

    result = CliRunner().invoke(app, ["methods"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    times = train_times.load_times()
    row = lines.index(next(line for line in lines if line.strip().startswith("cinn-autoencoder ")))
    expected = (f"train time: tiny {train_times.format_seconds(times[('cinn-autoencoder', 'tiny')]['seconds'])}, "
                f"tiny-clouds {train_times.format_seconds(times[('cinn-autoencoder', 'tiny-clouds')]['seconds'])}, "
                f"small 35 min, small-clouds 32 min, bench not measured, paper not measured")
    assert lines[row + 1].strip() == expected
    assert "dynamics-vae" in result.output and "small150 ~29 min" in result.output
    # the renderer trained on real footage is a listed preset, timed from its benchmark page
    row = lines.index(next(line for line in lines if line.strip().startswith("dynamics-render ")))
    assert "presets: tiny,small,small-real,small150,paper " in lines[row]
    assert lines[row + 1].strip() == ("train time: tiny "
                                      f"{train_times.format_seconds(times[('dynamics-render', 'tiny')]['seconds'])}, "
                                      "small not measured, small-real 54 min, small-real-l1 31 min, "
                                      "small150 not measured, paper not measured")
    assert lines[-1].startswith("train times: wall, shared 2-core CPU, 1 thread")
