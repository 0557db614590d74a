"""The studio in a real browser: Playwright driving Debian's chromium. The default tests (Animate,
Poke by a real mouse drag-and-release, uploads refused in the page) run against a uvicorn server
of the tiny models the session trained under a runs-like folder, as does the slow Poke of an
uploaded video. The other slow ones (``make test-studio``: Vary, Edit, Generate, Animate with
dynamics; test_studio_page's too) run against ``kinema studio`` without ``--models`` as a user
starts it, serving the tiny bundled models (``KINEMA_BUNDLED``, tests/tiny_bundle.py), each result
labelled with its bundled model; the untrained page against an empty ``--models`` folder. A screenshot of every tab goes under
``test-artifacts/studio`` (or $KINEMA_TEST_ARTIFACTS)."""
from __future__ import annotations

import base64
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.serve.conftest import free_port
from tests.serve.test_studio_bundled import ABOUT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    print("\nstudio browser tests skipped: no chromium (apt-get install -y chromium)")
    pytest.skip("no chromium browser (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(pip install playwright; its own browser download is not needed)")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("KINEMA_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")) / "studio"


def serve(models_dir):
    """A uvicorn server of the studio on a free loopback port, in a thread: (url, stop)."""
    import uvicorn

    from tests.serve.conftest import studio_app

    app = studio_app(models_dir)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="auto")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    for _ in range(500):
        if instance.started:
            break
        time.sleep(0.01)

    def stop():
        instance.should_exit = True
        thread.join(10)
    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="module")
def server(models_dir):
    url, stop = serve(models_dir)
    yield url
    stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    page.goto(url + "/")
    page.wait_for_function("window.studio && window.studio.ready", timeout=20_000)
    return page


@pytest.fixture(scope="module")
def page(browser, server):
    """One page for the module's tests (each opens its tab): page loads cost seconds here."""
    page = open_page(browser, server)
    yield page
    page.close()
    assert not page.errors, page.errors


@pytest.fixture(scope="module")
def bundled_page(browser, bundled_studio):
    """The page of ``kinema studio`` without ``--models`` on the tiny bundle (tests/serve/conftest.py)."""
    page = open_page(browser, bundled_studio)
    page.set_default_timeout(120_000)     # a model's first call loads it, on a busy machine too
    yield page
    page.close()
    assert not page.errors, page.errors


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def distinct_frames(page, selector: str, samples: int = 16, every_ms: int = 50) -> int:
    """How many different pictures the canvas shows (sampled every_ms; stops at 3)."""
    seen = set()
    for _ in range(samples):
        seen.add(page.eval_on_selector(selector, "c => c.toDataURL()"))
        if len(seen) >= 3:
            break
        page.wait_for_timeout(every_ms)
    return len(seen)


def about_line(name: str) -> str:
    """The line the page writes under a result of the tiny bundled model ``name``: model,
    resolution, training data and steps (results.js's aboutLine of ``ABOUT[name]``)."""
    about = ABOUT[name]
    return f"{about['model']} · {about['resolution']} · trained on {about['data']} · {about['steps']} steps"


def assert_labelled(page, section: str, name: str) -> None:
    """Every result in ``section`` (at least one) says the bundled model ``name`` made it."""
    # the result shown in full: the tab's buttons come back when its last figure is in place
    page.wait_for_function("s => !document.querySelector(s + ' button:disabled')", arg=section)
    lines = page.locator(f"{section} figure.result .about").all_inner_texts()
    assert len(lines) == page.locator(f"{section} figure.result").count() > 0, lines
    assert all(line.startswith(about_line(name)) for line in lines), (lines, about_line(name))


def open_tab(page, name: str, model: str | None = None) -> str:
    # the module's two pages share one chromium: the one in front runs its timers at full rate
    # (a page behind another may have its setTimeout polling of a job throttled)
    page.bring_to_front()
    page.click(f"nav button[data-tab={name}]")
    section = f"#tab-{name}"
    if model:
        page.select_option(f"{section} .model", model)
    return section


def test_animate_plays_a_video(page):
    section = open_tab(page, "animate", "cinn-flow-tiny-clouds")
    page.fill(f"{section} [name=num]", "2")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure canvas.player >> nth=1")
    assert distinct_frames(page, f"{section} figure canvas.player >> nth=0") > 1
    assert page.is_hidden(f"{section} [name=loop]")          # a cINN: no loop / slow motion
    shot(page, "animate")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["samples", "control", "transfer"])
def test_vary_modes_play(bundled_page, mode):
    page = bundled_page
    section = open_tab(page, "vary", "cinn-control")
    page.check(f"{section} [name=mode][value={mode}]")
    if mode == "transfer":
        page.click(f"{section} .clip-strip canvas >> nth=1")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure canvas.player")
    captions = page.locator(f"{section} figure.result figcaption").all_inner_texts()
    expected = {"samples": "sample 1", "control": "eta = bin 0 of 36", "transfer": "source: clouds #1"}[mode]
    assert expected in captions[0], captions
    assert distinct_frames(page, f"{section} figure canvas.player >> nth=-1") > 1
    assert_labelled(page, section, "cinn-control")
    shot(page, f"vary-{mode}")


def page_frames(page) -> np.ndarray:
    data = page.evaluate("""() => studio.poke.frames.map(b => {
        let s = ''; const u = new Uint8Array(b);
        for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
        return btoa(s); })""")
    info = page.evaluate("studio.poke.info")
    return np.stack([np.frombuffer(base64.b64decode(f), np.uint8).reshape(info["height"], info["width"], 4)
                     for f in data])


def drag_poke_canvas(page, at: tuple[float, float], by: tuple[float, float]) -> tuple[float, float]:
    """Press on the poke canvas at ``at`` (fractions of its box), drag by ``by`` px in five
    moves, release; returns the page position pressed."""
    box = page.locator("#poke-canvas").bounding_box()
    x, y = box["x"] + at[0] * box["width"], box["y"] + at[1] * box["height"]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + by[0], y + by[1], steps=5)
    page.mouse.up()
    return x, y


def test_poke_drag_and_release_moves_the_picture_where_dragged(page):
    section = open_tab(page, "poke", "poke-standin")
    page.fill(f"{section} [name=frames]", "60")
    page.fill(f"{section} [name=damping]", "0.2")
    page.wait_for_function("document.querySelector('#poke-canvas').width === 64")
    page.wait_for_timeout(200)
    still = page.evaluate("Array.from(document.querySelector('#poke-canvas').getContext('2d')"
                          ".getImageData(0, 0, 64, 40).data)")
    still = np.array(still, np.int32).reshape(40, 64, 4)[..., :3]
    drag_poke_canvas(page, (0.7, 0.4), (40, 10))
    page.wait_for_function("studio.poke.stats && studio.poke.stats.frames === 60", timeout=20_000)
    stats = page.evaluate("studio.poke.stats")
    frames = page_frames(page)
    assert frames.shape == (60, 40, 64, 4)
    change = np.abs(frames[..., :3].astype(np.int32) - still).sum(-1)          # (t h w)
    cols, rows = change.sum((0, 1)), change.sum((0, 2))
    cx, cy = (cols * np.arange(64)).sum() / cols.sum(), (rows * np.arange(40)).sum() / rows.sum()
    assert abs(cx - 0.7 * 64) < 8 and abs(cy - 0.4 * 40) < 6, (cx, cy)
    energy = change.sum((1, 2))
    assert energy[-10:].mean() < 0.5 * energy[:10].mean()         # damped: the motion decays
    assert page.inner_text("#poke-stats").startswith("60 frames")
    (ARTIFACTS / "poke-stats.txt").parent.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "poke-stats.txt").write_text(f"{stats}\n")
    shot(page, "poke")


@pytest.mark.slow      # 5-10 s here: the clip's h264 encoding, its flow job and a poke
def test_poke_a_video_moves_its_first_frame_where_the_clip_moves(page, tmp_path):
    """The Poke tab's upload: a clip (mp4, kinema's writer) -> its modal basis made by a job ->
    its first frame at its own size on the canvas, labelled, poked with no model; a file that is
    not a video is refused in the tab; choosing a picture pokes pictures again."""
    from kinema.data.io import read_video, write_video
    from tests.serve.test_studio_video_poke import FRAMES, HEIGHT, WIDTH, half_swaying_frames

    section = open_tab(page, "poke", "poke-standin")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    page.set_input_files("#poke-video", str(text))
    page.wait_for_function("document.querySelector('#tab-poke .error').textContent.includes('not a video')")
    clip = write_video(tmp_path / "sway.mp4", half_swaying_frames(), fps=25)
    page.set_input_files("#poke-video", str(clip))
    page.wait_for_function("document.querySelector('#poke-about').textContent.includes('modal basis')")
    assert page.inner_text("#poke-about").startswith(f"modal basis of your clip ({FRAMES} frames), no learned model")
    assert page.is_hidden(f"{section} .model-choice") and page.is_hidden(f"{section} .error")
    assert page.evaluate("[document.querySelector('#poke-canvas').width, document.querySelector('#poke-canvas').height]") \
        == [WIDTH, HEIGHT]
    still = np.array(page.evaluate(f"Array.from(document.querySelector('#poke-canvas').getContext('2d')"
                                   f".getImageData(0, 0, {WIDTH}, {HEIGHT}).data)"), np.int32)
    still = still.reshape(HEIGHT, WIDTH, 4)[..., :3]
    np.testing.assert_array_equal(still, read_video(clip)[0])           # the clip's first frame, as decoded
    page.fill(f"{section} [name=frames]", "8")
    drag_poke_canvas(page, (0.75, 0.5), (24, 0))
    page.wait_for_function("studio.poke.stats && studio.poke.stats.frames === 8", timeout=30_000)
    frames = page_frames(page)
    assert frames.shape == (8, HEIGHT, WIDTH, 4)
    change = np.abs(frames[..., :3].astype(np.int32) - still).mean(axis=(0, 3))       # (h w)
    moving, still_part = change[:, WIDTH // 2 + 8:].mean(), change[:, :WIDTH // 2 - 12].mean()
    assert moving > 2.0 and still_part < 0.05 * moving, (moving, still_part)
    shot(page, "poke-video")
    page.click("#picture-strip img >> nth=0")              # back to pictures and the model
    page.wait_for_function("document.querySelector('#poke-canvas').width === 64")
    assert page.is_visible(f"{section} .model-choice") and "modal basis" not in page.inner_text("#poke-about")


@pytest.mark.slow
def test_edit_scribble_propagates_and_points_track(bundled_page):
    page = bundled_page
    section = open_tab(page, "edit", "gendef")
    page.fill(f"{section} [name=frames]", "12")
    page.click(f"{section} .canonical")
    page.wait_for_function("document.querySelector('#edit-canvas').width === 256 && "
                           "document.querySelectorAll('#tab-edit figure canvas.player').length === 1")
    box = page.locator("#edit-canvas").bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.6 * box["height"], steps=6)
    page.mouse.up()
    assert page.evaluate("document.querySelector('#tab-edit .run') && 1") == 1
    page.click(f"{section} .run")
    # three players, or the tab's error (failing at once and saying it, not after the timeout); the
    # job takes seconds here, but once waited past 120 s in a whole CI run: 240 s as for the poke
    page.wait_for_function("document.querySelectorAll('#tab-edit figure canvas.player').length === 3 || "
                           "!document.querySelector('#tab-edit .error').hidden", timeout=240_000)
    assert page.is_hidden("#tab-edit .error"), page.inner_text("#tab-edit .error")
    captions = page.locator(f"{section} figcaption").all_inner_texts()
    assert any("scribble, propagated" in c for c in captions), captions
    assert distinct_frames(page, f"{section} figure canvas.player >> nth=1") > 1
    assert_labelled(page, section, "gendef")
    shot(page, "edit-scribble")
    page.check(f"{section} [name=tool][value=track]")
    page.click(f"{section} .clear")
    for fx, fy in ((0.3, 0.3), (0.7, 0.6)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.click(f"{section} .run")
    page.wait_for_function("Array.from(document.querySelectorAll('#tab-edit figcaption'))"
                           ".some(c => c.textContent.includes('2 point(s) tracked'))")
    assert distinct_frames(page, f"{section} figure canvas.player >> nth=1") > 1
    shot(page, "edit-track")


@pytest.mark.slow
def test_generate_plays_long_videos(bundled_page):
    page = bundled_page
    section = open_tab(page, "generate", "latentgan")
    page.fill(f"{section} [name=frames]", "48")
    page.select_option(f"{section} [name=identity]", "random")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure canvas.player >> nth=1")
    # the tiny bundle's latent GAN moves in its first few frames only: sample a whole loop
    # (48 frames at 12 frames/s)
    assert distinct_frames(page, f"{section} figure canvas.player >> nth=0", samples=100) > 1
    assert page.locator(f"{section} figure img.still").count() == 2      # the PCA plots
    assert_labelled(page, section, "latentgan")
    shot(page, "generate")


@pytest.mark.slow
def test_tabs_without_models_say_how_to_train_them(browser, tmp_path):
    import uvicorn

    from kinema.serve.app import create_app

    (tmp_path / "runs").mkdir()
    port = free_port()
    instance = uvicorn.Server(uvicorn.Config(create_app(tmp_path / "runs"), host="127.0.0.1", port=port,
                                             log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.01)
    page = browser.new_page(viewport={"width": 1100, "height": 620})
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("window.studio && window.studio.ready")
        for name in ("animate", "poke", "vary", "edit", "generate"):
            section = open_tab(page, name)
            text = page.inner_text(f"{section} .missing")
            assert "kinema train" in text and "kinema studio --models runs" in text, text
            # each command's measured time, and the folder this studio was started with
            assert f"in {tmp_path / 'runs'} (this studio's --models)" in text and " s in all (" in text, text
            assert page.is_hidden(f"{section} .controls")
        shot(page, "not-trained")
        # a video needs no model: its upload opens the Poke tab's controls and canvas
        from kinema.data.io import write_video
        from tests.serve.test_studio_video_poke import half_swaying_frames

        section = open_tab(page, "poke")
        page.set_input_files("#poke-video", str(write_video(tmp_path / "sway.gif", half_swaying_frames(), fps=25)))
        page.wait_for_function("document.querySelector('#poke-about').textContent.includes('no learned model')")
        assert page.is_visible(f"{section} .controls") and page.is_visible("#poke-canvas")
        assert page.is_hidden(f"{section} .model-choice") and page.is_visible(f"{section} .missing")
    finally:
        page.close()
        instance.should_exit = True
        thread.join(10)


def test_uploads_in_the_page(page, tmp_path):
    from PIL import Image

    from tests.serve.test_studio_safety import bomb_png

    picture = tmp_path / "..%2F..%2Fetc%2Fpasswd.png"          # the name never reaches the disk
    Image.fromarray(np.full((30, 50, 3), 200, np.uint8)).save(picture)
    page.set_input_files("#upload", str(picture))
    page.wait_for_function("studio.picture && studio.picture.startsWith('upload-')")
    assert page.inner_text("#upload-status") == "50×30"
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png(20_000, 20_000))
    page.set_input_files("#upload", str(bomb))
    page.wait_for_function("document.querySelector('#upload-status').textContent.includes('pixels')")
    text = tmp_path / "notes.png"
    text.write_text("not a picture at all")
    page.set_input_files("#upload", str(text))
    page.wait_for_function("document.querySelector('#upload-status').textContent.includes('not a picture')")


@pytest.mark.slow
def test_animate_with_dynamics_loops_and_shows_the_spectral_volume(bundled_page):
    page = bundled_page
    section = open_tab(page, "animate", "dynamics")
    assert page.is_visible(f"{section} [name=loop]") and page.is_hidden(f"{section} [name=control]")
    page.check(f"{section} [name=loop]")
    page.fill(f"{section} [name=slowmo]", "2")
    page.fill(f"{section} [name=num]", "1")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure img.still", timeout=240_000)
    assert "loop" in page.inner_text(f"{section} figure.result figcaption >> nth=0")
    assert distinct_frames(page, f"{section} figure canvas.player >> nth=0") > 1
    assert_labelled(page, section, "dynamics")
    shot(page, "animate-dynamics")
