"""The studio as a person uses it, in chromium (the browser, server and pages of
test_studio_browser): results downloaded as files that decode, the input picture beside the
results, each result's provenance line, an upload chosen and in view, a stale error gone after
a good run, the poke's frames downloaded and its reset, Edit's own button names and the
tracks' legend, a readable PCA plot. All slow (``make test-studio``); together ~20 s here
once the models are trained."""
from __future__ import annotations

import io
import json
import urllib.request

import numpy as np
import pytest

from tests.serve.test_studio_browser import (  # noqa: F401  (fixtures)
    browser, drag_poke_canvas, full_page, full_server, open_tab, page, server)

pytestmark = pytest.mark.slow


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url) as response:
        return response.read()


def sprite_frames(base: str, job: str, video: dict) -> np.ndarray:
    """The frames the page plays, cut from the sprite sheet it draws them from (frame k at row
    k // columns, column k % columns): (t h w 3) uint8."""
    from PIL import Image

    sheet = np.asarray(Image.open(io.BytesIO(fetch(f"{base}/api/jobs/{job}/media/{video['media']}"))).convert("RGB"))
    h, w, columns = video["height"], video["width"], video["columns"]
    return np.stack([sheet[k // columns * h:(k // columns + 1) * h, k % columns * w:(k % columns + 1) * w]
                     for k in range(video["frames"])])


def last_job(page, section: str) -> str:
    href = page.get_attribute(f"{section} .downloads a >> nth=0", "href")
    return href.split("/api/jobs/")[1].split("/")[0]


def job_result(base: str, job: str) -> dict:
    return json.loads(fetch(f"{base}/api/jobs/{job}"))["result"]


def save_download(page, selector: str, folder) -> "Path":
    with page.expect_download() as info:
        page.click(selector)
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_animate_downloads_decode_to_the_frames_played_beside_the_input(page, server, tmp_path):
    from PIL import Image

    from kinema.data.io import read_video
    from kinema.serve.downloads import upscale_factor

    section = open_tab(page, "animate", "cinn-flow-tiny-clouds")
    page.click("#picture-strip img >> nth=2")
    title = page.get_attribute("#picture-strip img >> nth=2", "title")
    page.fill(f"{section} [name=num]", "2")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure.result >> nth=1")
    # the input first, beside the results
    assert page.inner_text(f"{section} .results figure >> nth=0") == f"input: {title}"
    assert page.get_attribute(f"{section} figure.input img", "src").endswith(
        page.evaluate("studio.picture"))
    job = last_job(page, section)
    video = job_result(server, job)["videos"][1]
    played = sprite_frames(server, job, video)                  # (t h w 3), 8 px
    s = upscale_factor(video["height"], video["width"])
    assert s == 16
    expected = played.repeat(s, 1).repeat(s, 2)
    links = f"{section} figure.result >> nth=1 >> .downloads a"
    assert page.locator(links).all_inner_texts() == ["mp4", "gif", "png"]
    gif = read_video(save_download(page, f"{links} >> text=gif", tmp_path))
    assert np.array_equal(gif, expected)                              # <= 256 colours: exact
    mp4 = read_video(save_download(page, f"{links} >> text=mp4", tmp_path))
    assert mp4.shape == expected.shape
    assert np.abs(mp4.astype(int) - expected).mean() < 6              # h264 at crf 18
    strip_path = save_download(page, f"{links} >> text=png", tmp_path)
    strip = np.asarray(Image.open(strip_path).convert("RGB"))
    t, h, w = expected.shape[:3]
    assert strip.shape == (h, t * w, 3)                               # 4 frames, one row
    assert np.array_equal(strip[:, w:2 * w], expected[1])


def test_each_result_says_what_made_it(page):
    about = {"model": "cinn-flow-tiny-clouds", "resolution": "8x8", "data": "clouds (synthetic)",
             "steps": 5, "domain": "The picture is a photograph; the model saw only synthetic clouds."}

    def with_about(route):
        response = route.fetch()
        body = response.json()
        if body.get("result"):
            body["result"]["about"] = about
        route.fulfill(response=response, json=body)

    section = open_tab(page, "animate", "cinn-flow-tiny-clouds")
    page.route("**/api/jobs/*", with_about)
    try:
        page.fill(f"{section} [name=num]", "1")
        page.click(f"{section} .run")
        page.wait_for_selector(f"{section} figure.result .about")
    finally:
        page.unroute("**/api/jobs/*")
    line = page.inner_text(f"{section} figure.result .about")
    assert line.startswith("cinn-flow-tiny-clouds · 8x8 · trained on clouds (synthetic) · 5 steps")
    assert page.inner_text(f"{section} .about .domain") == about["domain"]
    # highlighted: a background of its own, unlike the caption around it
    colours = page.eval_on_selector(f"{section} .about .domain", "d => [getComputedStyle(d).backgroundColor, "
                                    "getComputedStyle(d.parentElement).backgroundColor]")
    assert colours[0] != colours[1], colours


def test_an_upload_is_first_chosen_and_in_view(page, tmp_path):
    from PIL import Image

    picture = tmp_path / "mine.png"
    Image.fromarray(np.tile(np.arange(0, 240, 4, dtype=np.uint8)[None, :, None], (40, 1, 3))).save(picture)
    strip = page.locator("#picture-strip").bounding_box()
    page.evaluate("document.querySelector('#picture-strip').scrollLeft = 10000")   # at its end
    page.set_input_files("#upload", str(picture))
    page.wait_for_function("studio.picture && studio.picture.startsWith('upload-') && "
                           "document.querySelector('#picture-strip img').complete")
    first = page.locator("#picture-strip img >> nth=0")
    assert first.get_attribute("data-id") == page.evaluate("studio.picture")
    assert page.locator("#picture-strip img.chosen").count() == 1
    assert "chosen" in first.get_attribute("class")
    box = first.bounding_box()
    assert strip["x"] <= box["x"] and box["x"] + box["width"] <= strip["x"] + strip["width"], (box, strip)
    assert page.inner_text("#picture-name") == "mine.png"


def test_a_stale_error_goes_with_the_next_good_run(page):
    section = open_tab(page, "animate", "cinn-flow-tiny-clouds")
    page.fill(f"{section} [name=num]", "1")
    page.fill(f"{section} [name=frames]", "1")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} .error:not([hidden])")
    assert "frames" in page.inner_text(f"{section} .error")
    page.fill(f"{section} [name=frames]", "4")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure.result canvas.player")
    assert page.is_hidden(f"{section} .error")
    page.fill(f"{section} [name=frames]", "")


def test_poke_downloads_its_frames_and_resets_to_the_still_picture(page, tmp_path):
    from PIL import Image

    from tests.serve.test_studio_browser import page_frames
    section = open_tab(page, "poke", "poke-standin")
    page.fill(f"{section} [name=frames]", "30")
    page.wait_for_function("document.querySelector('#poke-canvas').width === 64")
    page.wait_for_timeout(200)
    grab = "Array.from(document.querySelector('#poke-canvas').getContext('2d').getImageData(0, 0, 64, 40).data)"
    still = page.evaluate(grab)
    drag_poke_canvas(page, (0.5, 0.5), (40, 10))
    page.wait_for_function("studio.poke.stats && studio.poke.stats.frames === 30", timeout=20_000)
    assert page.evaluate(grab) != still                   # the last simulated frame is shown
    page.wait_for_selector("#poke-download:not([hidden])")
    frames = page_frames(page)[..., :3]                    # (30 40 64 3) as streamed
    strip = np.asarray(Image.open(save_download(page, "#poke-download a", tmp_path)).convert("RGB"))
    s = 2                                                  # 64 px -> 128 px, whole pixels
    assert strip.shape == (4 * 40 * s, 8 * 64 * s, 3)      # 30 frames, 8 to a row
    for k in (0, 9, 29):
        row, col = divmod(k, 8)
        assert np.array_equal(strip[row * 40 * s:(row + 1) * 40 * s:s, col * 64 * s:(col + 1) * 64 * s:s], frames[k])
    page.click(f"{section} .reset")
    assert page.evaluate(grab) == still
    assert page.evaluate("studio.poke.frames.length") == 0 and page.evaluate("studio.poke.stats") is None
    assert not page.inner_text("#poke-stats").startswith("30 frames")
    assert page.is_hidden("#poke-download")


def test_edit_names_its_buttons_and_explains_the_track_colours(full_page, full_server):
    import torch

    from kinema.methods.gendef.apps import draw_tracks

    page = full_page
    section = open_tab(page, "edit", "gendef-video-tiny")
    assert page.inner_text(f"{section} .canonical") == "Make a video"
    assert page.inner_text(f"{section} .run") == "Propagate edit"
    assert page.locator("main button", has_text="Generate").count() == 1     # the Generate tab's
    page.check(f"{section} [name=tool][value=track]")
    assert page.inner_text(f"{section} .run") == "Track points"
    page.fill(f"{section} [name=frames]", "6")
    page.click(f"{section} .canonical")
    page.wait_for_function("document.querySelectorAll('#tab-edit figure canvas.player').length === 1")
    page.click(f"{section} .clear")
    box = page.locator("#edit-canvas").bounding_box()
    clicks = ((0.3, 0.3), (0.7, 0.6))
    for fx, fy in clicks:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} .legend li >> nth=1")
    # the dot clicked on the canonical image has its track's colour
    dot = page.evaluate("Array.from(document.querySelector('#edit-canvas').getContext('2d')"
                        f".getImageData({round(0.7 * 256)}, {round(0.6 * 256)}, 1, 1).data)")
    swatches = page.eval_on_selector_all(f"{section} .legend .swatch", "s => s.map(e => getComputedStyle(e).backgroundColor)")
    assert swatches[1] == f"rgb({dot[0]}, {dot[1]}, {dot[2]})"
    # ... which is the colour draw_tracks gives that point (a dot on black, read back)
    tracks = torch.tensor([[[4.0, 4.0], [10.0, 10.0]]])                 # (n p 2) on a 16 px frame
    drawn = draw_tracks(torch.full((1, 3, 16, 16), -1.0), tracks, scale=1)[0]
    for i, swatch in enumerate(swatches):
        assert swatch == "rgb({}, {}, {})".format(*drawn[int(tracks[0, i, 1]), int(tracks[0, i, 0])])
    items = page.locator(f"{section} .legend li").all_inner_texts()
    job = last_job(page, section)
    result = job_result(full_server, job)
    first, last = result["tracks"][0][1], result["tracks"][-1][1]
    assert items[1] == (f"point 2: ({first[0]:.1f}, {first[1]:.1f}) px in frame 1, "
                        f"({last[0]:.1f}, {last[1]:.1f}) in frame 6")


def test_generate_plots_pca_readably_beside_the_input(full_page, full_server, tmp_path):
    from xml.etree import ElementTree

    page = full_page
    section = open_tab(page, "generate", "latentgan-temporal-tiny")
    page.fill(f"{section} [name=num]", "1")
    page.fill(f"{section} [name=frames]", "16")
    page.select_option(f"{section} [name=identity]", "picture")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure img.plot")
    assert page.locator(f"{section} figure.input").count() == 1
    size = page.eval_on_selector(f"{section} img.plot", "i => [i.clientWidth, i.naturalWidth]")
    assert size[0] == size[1] >= 500, size                           # at its own size: 11 px text
    with page.expect_download() as info:
        page.click(f"{section} figure:has(img.plot) .downloads a")
    assert info.value.suggested_filename.endswith(".svg")
    svg = ElementTree.fromstring(open(info.value.path(), "rb").read())
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "frame" in texts and "PCA coordinate of w" in texts
