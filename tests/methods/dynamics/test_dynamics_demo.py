"""The dynamics demo section in quick mode: the tiny stages trained for seconds, a still picture
animated, its seamless loop and a poke, in the report."""
from kinema.methods.dynamics.demo import demo_section
from kinema.viz.report import Report
from kinema.viz.sections import DemoContext, DemoSettings


def test_quick_demo_section_shows_animation_loop_and_poke(tmp_path):
    report = Report("test")
    demo_section(DemoContext(DemoSettings.make(quick=True), tmp_path, report=report))
    html = report.to_html()
    assert "Generative Image Dynamics" in html and "trained 2 steps each here" in html
    assert html.count("<video") == 3
    assert ("seamless loop of 6 frames (motion self-guidance, DDIM with 2 steps and 2 self-recurrences): seam error"
            in html) and "a poke at the centre" in html
    assert "its spectral volume" in html
