"""kinema.bundled's contract: which folder a bundled name reads, when a folder of that name where
the user is wins, which model a verb (and --method FAMILY) gets, and the one-sentence errors."""
from __future__ import annotations

from pathlib import Path

import pytest

import kinema.bundled as bundled
from kinema.bundled import BUNDLED, ENV, MAKE_TARGET
from kinema.errors import KinemaError


def place(root: Path, *names: str, weights: bool = True) -> None:
    """Stand-in bundled folders (what folder() checks: config.json and model.safetensors)."""
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "config.json").write_text("{}")
        if weights:
            (root / name / "model.safetensors").write_bytes(b"")


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    here = tmp_path / "bundled"
    here.mkdir()
    monkeypatch.setenv(ENV, str(here))
    monkeypatch.chdir(tmp_path)          # where "the user is": no folder named like a bundle
    return here


def test_root_is_the_environment_variable_or_the_package_folder(root, monkeypatch):
    assert bundled.root() == root
    monkeypatch.delenv(ENV)
    assert bundled.root() == Path(bundled.__file__).resolve().parent / "models"


def test_names_lists_present_models_in_bundled_order(root):
    place(root, "ile", "gendef", "dynamics", "zz-own")
    place(root, "cinn", weights=False)       # a config.json is enough to be listed
    (root / "latentgan").mkdir()             # an empty folder is not
    assert bundled.names() == ["dynamics", "cinn", "gendef", "ile", "zz-own"]


def test_folder_names_the_missing_file_and_the_make_target(root):
    place(root, "dynamics")
    assert bundled.folder("dynamics") == root / "dynamics"
    place(root, "cinn", weights=False)
    with pytest.raises(KinemaError) as info:
        bundled.folder("cinn")
    assert str(info.value) == (
        f"the bundled model 'cinn' is missing {root / 'cinn' / 'model.safetensors'}: train and "
        f"export it with `{MAKE_TARGET}` (it trains runs/cinn-flow-small-clouds), or pass --model FOLDER")
    with pytest.raises(KinemaError, match=f"missing {root / 'gendef' / 'config.json'}: .*runs/gendef-video-small"):
        bundled.folder("gendef")
    with pytest.raises(KinemaError, match=r"^'nope' is no bundled model \(bundled: dynamics, cinn, "):
        bundled.folder("nope")


def test_a_folder_where_the_user_is_wins_over_the_bundled_name(root, tmp_path):
    place(root, "dynamics")
    assert bundled.is_name("dynamics") and bundled.is_name(Path("dynamics"))
    assert bundled.resolve("dynamics") == root / "dynamics"
    (tmp_path / "dynamics").mkdir()
    assert not bundled.is_name("dynamics")
    assert bundled.resolve("dynamics") == Path("dynamics")
    assert bundled.resolve("runs/cinn-flow-small") == Path("runs/cinn-flow-small")
    assert not bundled.is_name("runs") and not bundled.is_name(3) and not bundled.is_name(None)


def test_resolve_of_a_missing_bundle_is_its_one_sentence_error(root):
    with pytest.raises(KinemaError, match="the bundled model 'latentgan' is missing"):
        bundled.resolve("latentgan")


def test_for_verb_takes_the_first_serving_entry_and_the_family_asked_for(root):
    place(root, *(b.name for b in BUNDLED))
    assert bundled.for_verb("animate") == root / "dynamics"
    assert bundled.for_verb("poke") == root / "dynamics"
    assert bundled.for_verb("animate", "cinn") == root / "cinn"
    assert bundled.for_verb("animate", "cinn-control") == root / "cinn-control"
    assert bundled.for_verb("transfer") == root / "cinn-control"
    assert bundled.for_verb("transfer", "cinn") == root / "cinn-control"     # the family's one
    assert bundled.for_verb("sample") == root / "gendef"
    assert bundled.for_verb("sample", "latentgan") == root / "latentgan"
    assert bundled.for_verb("track", "gendef") == root / "gendef"
    with pytest.raises(KinemaError) as info:
        bundled.for_verb("animate", "gendef")
    assert str(info.value) == ("no bundled model of gendef serves `kinema animate` (bundled ones "
                               "that do: dynamics, cinn, cinn-control); pass --model FOLDER")
    with pytest.raises(KinemaError, match="no bundled model serves `kinema predict`"):
        bundled.for_verb("predict")


def test_for_verb_of_an_absent_default_is_the_folder_error(root):
    place(root, "cinn")
    with pytest.raises(KinemaError, match="the bundled model 'dynamics' is missing .*config.json"):
        bundled.for_verb("animate")
    assert bundled.for_verb("animate", "cinn") == root / "cinn"
