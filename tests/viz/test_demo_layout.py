"""The demo page's layout, checked in a headless browser (Debian's chromium through
Playwright): each dataset's figures sit in one row and no figure's box overlaps another's —
a tall Y-t slice no longer reaches into the next dataset's row — and the small clips carry
no browser controls over them (a click pauses them instead). Element boxes from the page,
not pixels."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("no chromium browser at /usr/bin/chromium (apt-get install -y chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(.venv/bin/pip install playwright)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    """The demo's dataset section at its quick sizes, as `kinema demo` writes it."""
    from kinema.demo import stage_datasets
    from kinema.viz.report import Report
    from kinema.viz.sections import DemoContext, DemoSettings

    out = tmp_path_factory.mktemp("demo")
    ctx = DemoContext(DemoSettings.make(True), out, Report("kinema demo (layout test)"))
    stage_datasets(ctx)
    return ctx.report.save(out / "index.html")


def boxes(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(selector, "els => els.map(e => { const r = "
                                     "e.getBoundingClientRect(); return {x: r.x, y: r.y + "
                                     "window.scrollY, w: r.width, h: r.height}; })")


def overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] - 0.5 and b["x"] < a["x"] + a["w"] - 0.5
            and a["y"] < b["y"] + b["h"] - 0.5 and b["y"] < a["y"] + a["h"] - 0.5)


@pytest.mark.parametrize("width", [1280, 700])
def test_no_figure_overlaps_and_each_dataset_row_starts_below_the_last(page_file, width):
    from kinema.demo import DATASETS

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(Path(page_file).as_uri())
            page.wait_for_load_state("load")
            figures = boxes(page, "figure")
            rows = [boxes(page, f".row:nth-of-type({i + 1}) > figure") for i in range(len(DATASETS))]
            row_boxes = boxes(page, ".row")
            videos = page.eval_on_selector_all("video", "els => els.map(e => e.controls)")
            page.screenshot(path=str(Path(page_file).with_suffix(f".{width}.png")), full_page=True)
        finally:
            browser.close()
    assert len(row_boxes) == len(DATASETS)
    assert len(figures) == 4 * len(DATASETS)
    for i, a in enumerate(figures):
        for b in figures[i + 1:]:
            assert not overlap(a, b), (a, b)
    # every figure of a dataset lies inside its row, and each row begins below the one before
    for row, inside in zip(row_boxes, rows):
        for f in inside:
            assert row["y"] - 0.5 <= f["y"] and f["y"] + f["h"] <= row["y"] + row["h"] + 0.5
    for above, below in zip(row_boxes, row_boxes[1:]):
        assert below["y"] >= above["y"] + above["h"] - 0.5
    assert videos and not any(videos)            # no browser controls over the clips


@pytest.mark.slow
def test_the_whole_quick_demo_page_has_no_overlapping_blocks(tmp_path, tiny_bundled_models, monkeypatch):
    from kinema.demo import run_demo

    monkeypatch.setenv("KINEMA_BUNDLED", str(tiny_bundled_models))   # tiny models; ile's section says it is missing
    page_path = run_demo(tmp_path / "demo", quick=True)       # out/index.html
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(Path(page_path).as_uri())
            page.wait_for_load_state("load")
            blocks = boxes(page, "figure, table, pre, p")
            controls = page.eval_on_selector_all("video", "els => els.map(e => e.controls)")
        finally:
            browser.close()
    assert len(blocks) > 40
    for i, a in enumerate(blocks):
        for b in blocks[i + 1:]:
            assert not overlap(a, b), (a, b)
    assert controls and not any(controls)
