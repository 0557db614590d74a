"""GenDeF's demo section in quick mode on the tiny bundled model (``KINEMA_BUNDLED``): generated
videos beside real ones and a real frame repeated, the canonical image, an edit and tracks."""
from kinema.methods.gendef.demo import demo_section
from kinema.viz.report import Report
from kinema.viz.sections import DemoContext, DemoSettings


def test_quick_demo_section_shows_canonical_video_edit_and_tracks(tiny_bundled_models, tmp_path, monkeypatch):
    monkeypatch.setenv("KINEMA_BUNDLED", str(tiny_bundled_models))
    report = Report("test")
    demo_section(DemoContext(DemoSettings.make(quick=True), tmp_path, report=report))
    html = report.to_html()
    assert "GenDeF on clouds" in html and "red square painted on the canonical image" in html
    assert html.count("<video") == 3 and "canonical image x_c" in html and "tracked through" in html
    assert "the still baseline of generation). bundled gendef: gendef-video (tiny), 8x8, trained" in html
