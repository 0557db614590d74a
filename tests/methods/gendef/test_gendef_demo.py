"""GenDeF's demo section in quick mode: trained for seconds, with its pictures and videos."""
from kinema.methods.gendef.demo import demo_section
from kinema.viz.report import Report
from kinema.viz.sections import DemoContext, DemoSettings


def test_quick_demo_section_shows_canonical_video_edit_and_tracks(tmp_path):
    report = Report("test")
    demo_section(DemoContext(DemoSettings.make(quick=True), tmp_path, report=report))
    html = report.to_html()
    assert "GenDeF on clouds" in html and "red square painted on the canonical image" in html
    assert html.count("<video") >= 2 and "the canonical image x_c" in html and "tracked through" in html
