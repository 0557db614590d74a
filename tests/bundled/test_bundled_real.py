"""The REAL bundled models (kinema/bundled/models/NAME, written by `make -f benchmarks/runs.mk
bundled-models`): each present one loads by its name, stores 16-bit weights only where its card's
fidelity check allowed, and its card quotes exactly the numbers of benchmarks/bundled-models.json.
A model that is not there is skipped, saying so."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

import kinema.bundled as bundled
from kinema.bundled import BUNDLED

MODELS = Path(bundled.__file__).resolve().parent / "models"
PAGE = Path(__file__).resolve().parents[2] / "benchmarks" / "bundled-models.json"
MAX_TOTAL_MB = 40.0


def present(name: str) -> Path:
    folder = MODELS / name
    if not (folder / "config.json").is_file():
        pytest.skip(f"the bundled model {name} is absent ({folder} missing: "
                    f"`{bundled.MAKE_TARGET}` makes it)")
    return folder


@pytest.fixture
def real_root(monkeypatch, tmp_path):
    monkeypatch.delenv(bundled.ENV, raising=False)
    monkeypatch.chdir(tmp_path)          # no folder named like a bundled model here
    return MODELS


@pytest.mark.parametrize("name", [b.name for b in BUNDLED])
def test_real_bundled_model_loads_by_name(name, real_root):
    import kinema.pipelines as pipelines

    folder = present(name)
    pipe = pipelines.load(name)
    assert pipe.folder.resolve() == folder.resolve()
    card = json.loads((folder / "card.json").read_text())
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        dtypes = {str(handle.get_tensor(k).dtype) for k in handle.keys()}
    floats = {d for d in dtypes if "float" in d}
    if card["storage"] == "float16":
        assert floats == {"torch.float16"}
        assert card["fidelity"]["identical"] or card["fidelity"]["psnr_db"] >= 40
    else:
        assert "torch.float16" not in floats


@pytest.mark.parametrize("name", [b.name for b in BUNDLED])
def test_real_card_numbers_are_the_benchmark_pages(name, real_root):
    from kinema.bundled.bench import card_numbers

    folder = present(name)
    assert PAGE.is_file(), f"{folder} is bundled but {PAGE} is missing: run `kinema bench bundled-models`"
    page = json.loads(PAGE.read_text())
    assert name in page["models"], f"{PAGE} has no numbers for {name}: re-run the bench"
    card = json.loads((folder / "card.json").read_text())
    assert card["benchmark"] == card_numbers(page["models"][name])


def test_real_bundle_is_small_enough():
    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
             for p in MODELS.iterdir() if p.is_dir()} if MODELS.is_dir() else {}
    if not sizes:
        pytest.skip(f"no bundled model in {MODELS}")
    assert sum(sizes.values()) / 1e6 < MAX_TOTAL_MB, sizes
