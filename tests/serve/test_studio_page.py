"""The studio as a person uses it, in chromium, on the models a user gets: ``kinema studio``
without ``--models``, serving the tiny bundled models (tests/serve/conftest.py's
``bundled_studio``; the browser and pages of test_studio_browser). In every tab: a picture
uploaded is chosen, in view and (where the tab takes one) the input shown beside the results;
a bad number gives the server's error, gone after the next good run; each result says which
bundled model made it (name, resolution, training data, steps), and its downloads, clicked in the
page, decode to the frames played. Besides: a photo outside the training data said so,
highlighted; the poke's reset; Edit's button names and the tracks' legend; a readable PCA plot.
All slow (``make test-studio``)."""
from __future__ import annotations

import io
import json
import urllib.request

import numpy as np
import pytest

from tests.serve.test_studio_browser import (  # noqa: F401  (fixtures)
    about_line, assert_labelled, browser, bundled_page, drag_poke_canvas, open_tab, page_frames)

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


def halves(left: tuple, right: tuple, height: int = 48, width: int = 64) -> np.ndarray:
    """(h w 3) uint8: ``left`` colour on the left half, ``right`` on the right, each with a
    4-px checker of brightness (texture for the models to move)."""
    yy, xx = np.mgrid[:height, :width]
    shade = np.where((yy // 4 + xx // 4) % 2, 1.0, 0.7)[..., None]
    colour = np.where((xx < width // 2)[..., None], np.array(left), np.array(right))
    return (colour * shade).round().astype(np.uint8)


def upload(page, path, picture: np.ndarray) -> str:
    """Upload ``picture`` as the file ``path``, with the strip scrolled to its end: it comes first
    in the strip, chosen, in view and named; returns its id."""
    from PIL import Image

    Image.fromarray(picture).save(path)
    before = page.evaluate("studio.picture")
    strip = page.locator("#picture-strip").bounding_box()
    page.evaluate("document.querySelector('#picture-strip').scrollLeft = 10000")   # at its end
    page.set_input_files("#upload", str(path))
    page.wait_for_function("before => studio.picture !== before && studio.picture.startsWith('upload-') && "
                           "document.querySelector('#picture-strip img').complete", arg=before)
    chosen = page.evaluate("studio.picture")
    first = page.locator("#picture-strip img >> nth=0")
    assert first.get_attribute("data-id") == chosen
    assert page.locator("#picture-strip img.chosen").count() == 1
    assert "chosen" in first.get_attribute("class")
    box = first.bounding_box()
    assert strip["x"] <= box["x"] and box["x"] + box["width"] <= strip["x"] + strip["width"], (box, strip)
    assert page.inner_text("#picture-name") == path.name
    assert page.inner_text("#upload-status") == f"{picture.shape[1]}×{picture.shape[0]}"
    return chosen


def assert_input(page, section: str, picture: str, title: str) -> None:
    """The picture the run took, shown first among its results."""
    first = f"{section} .results figure >> nth=0"
    assert page.get_attribute(first, "class") == "input"
    assert page.inner_text(first) == f"input: {title}"
    assert page.get_attribute(f"{first} >> img", "src") == f"/api/pictures/{picture}"
    assert page.is_visible(f"{first} >> img")


def show_error(page, section: str, field: str, bad: str, start) -> None:
    """Set ``field`` to ``bad`` and ``start()`` the tab: its error says what the field must be."""
    page.fill(f"{section} [name={field}]", bad)
    start()
    page.wait_for_selector(f"{section} .error:not([hidden])")
    assert f"field '{field}' must be" in page.inner_text(f"{section} .error")


def gif_frames(path, fps: float) -> np.ndarray:
    """A gif's frames as a player shows them at ``fps``: (t h w 3), each frame repeated for as
    many frame times as it lasts (kinema writes one gif frame per video frame, with delays
    rounded to whole 10 ms; a gif written elsewhere may hold a run of identical frames as one
    longer frame, which read_video returns once)."""
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        held = [(np.asarray(f.convert("RGB")), round(f.info["duration"] * fps / 1000))
                for f in ImageSequence.Iterator(gif)]
    return np.stack([frame for frame, times in held for _ in range(times)])


def check_video_downloads(page, base: str, section: str, k: int, tmp_path) -> np.ndarray:
    """Click result video ``k``'s mp4, gif and png links: each file decodes (the mp4 by PyAV, the
    gif and png by Pillow) to the frames the page plays, enlarged by the download's whole factor;
    returns the gif's frames, (t h w 3)."""
    from kinema.data.io import read_video
    from kinema.serve.downloads import frames_of, upscale_factor

    job = last_job(page, section)
    video = job_result(base, job)["videos"][k]
    s = upscale_factor(video["height"], video["width"])
    expected = sprite_frames(base, job, video).repeat(s, 1).repeat(s, 2)       # (t h w 3)
    links = f"{section} figure.result:has(canvas.player) >> nth={k} >> .downloads a"
    assert page.locator(links).all_inner_texts() == ["mp4", "gif", "png"]
    gif = gif_frames(save_download(page, f"{links} >> text=gif", tmp_path), video["fps"])
    assert gif.shape == expected.shape and max(gif.shape[1:3]) >= 128
    if len(np.unique(expected.reshape(-1, 3), axis=0)) <= 256:                # a gif's palette
        assert np.array_equal(gif, expected)
    else:
        assert np.abs(gif.astype(int) - expected).mean() < 4
    mp4 = read_video(save_download(page, f"{links} >> text=mp4", tmp_path))
    assert mp4.shape == expected.shape
    assert np.abs(mp4.astype(int) - expected).mean() < 6                      # h264 at crf 18
    t, h, w = expected.shape[:3]
    strip = save_download(page, f"{links} >> text=png", tmp_path).read_bytes()
    layout = {"frames": t, "height": h, "width": w, "columns": min(t, 8)}     # 8 to a row
    assert np.array_equal(frames_of(strip, layout), expected)
    return gif


def test_animate_an_upload_with_an_error_fixed_labelled_and_downloaded(bundled_page, bundled_studio, tmp_path):
    page = bundled_page
    section = open_tab(page, "animate", "cinn")
    picture = upload(page, tmp_path / "sky.png", halves((90, 140, 230), (40, 120, 40)))
    page.fill(f"{section} [name=num]", "2")
    show_error(page, section, "frames", "1", lambda: page.click(f"{section} .run"))
    page.fill(f"{section} [name=frames]", "4")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure.result >> nth=1")
    assert page.is_hidden(f"{section} .error")
    assert_input(page, section, picture, "sky.png")
    assert_labelled(page, section, "cinn")
    gif = check_video_downloads(page, bundled_studio, section, 1, tmp_path)
    assert gif.shape == (4, 128, 128, 3)                  # 4 frames of 8 px, 16x
    page.fill(f"{section} [name=frames]", "")


def test_a_photo_outside_the_training_data_is_said_so_highlighted(bundled_page):
    page = bundled_page
    section = open_tab(page, "animate", "cinn")
    page.click("#picture-strip img[data-id=photo-astronaut]")
    page.fill(f"{section} [name=num]", "1")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure.result .about")
    assert page.inner_text(f"{section} figure.result .about").startswith(about_line("cinn"))
    assert page.inner_text(f"{section} .about .domain").startswith(
        "This picture is outside the model's training domain")
    # highlighted: a background of its own, unlike the caption around it
    colours = page.eval_on_selector(f"{section} .about .domain", "d => [getComputedStyle(d).backgroundColor, "
                                    "getComputedStyle(d.parentElement).backgroundColor]")
    assert colours[0] != colours[1], colours


def test_vary_an_upload_with_an_error_fixed_labelled_and_downloaded(bundled_page, bundled_studio, tmp_path):
    page = bundled_page
    section = open_tab(page, "vary", "cinn-control")
    page.check(f"{section} [name=mode][value=control]")
    picture = upload(page, tmp_path / "vary.png", halves((200, 200, 230), (60, 60, 160)))
    page.fill(f"{section} [name=controls]", "0, 9")
    show_error(page, section, "seed", "-1", lambda: page.click(f"{section} .run"))
    page.fill(f"{section} [name=seed]", "0")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure.result >> nth=1")
    assert page.is_hidden(f"{section} .error")
    assert_input(page, section, picture, "vary.png")
    assert_labelled(page, section, "cinn-control")
    gif = check_video_downloads(page, bundled_studio, section, 1, tmp_path)
    assert gif.shape == (4, 128, 128, 3)                  # the model's 4 frames
    page.fill(f"{section} [name=controls]", "")


def test_poke_an_upload_with_an_error_fixed_labelled_downloaded_and_reset(bundled_page, tmp_path):
    from PIL import Image

    page = bundled_page
    section = open_tab(page, "poke", "dynamics")
    picture = upload(page, tmp_path / "halves.png", halves((230, 30, 30), (30, 30, 230)))
    page.wait_for_function("id => studio.pokeReady === id && document.querySelector('#poke-canvas').width === 16",
                           arg=picture, timeout=240_000)
    # what the frames come from, under the canvas
    assert page.inner_text("#poke-about .about").startswith(about_line("dynamics"))
    grab = "Array.from(document.querySelector('#poke-canvas').getContext('2d').getImageData(0, 0, 16, 16).data)"
    still_rgba = page.evaluate(grab)
    still = np.array(still_rgba, np.int32).reshape(16, 16, 4)[..., :3]
    # the uploaded picture, at the model's 16 px: red on the left, blue on the right
    assert still[:, :6, 0].mean() > still[:, :6, 2].mean() + 100, still[:, :6].mean((0, 1))
    assert still[:, -6:, 2].mean() > still[:, -6:, 0].mean() + 100, still[:, -6:].mean((0, 1))
    show_error(page, section, "frames", "1", lambda: drag_poke_canvas(page, (0.5, 0.5), (30, 10)))
    page.fill(f"{section} [name=frames]", "24")
    drag_poke_canvas(page, (0.5, 0.5), (30, 10))
    page.wait_for_function("studio.poke.stats && studio.poke.stats.frames === 24")
    assert page.is_hidden(f"{section} .error")
    frames = page_frames(page)[..., :3]                    # (24 16 16 3) as streamed
    assert frames.shape == (24, 16, 16, 3) and len({f.tobytes() for f in frames}) > 1
    assert page.evaluate(grab) != still_rgba              # the last simulated frame is shown
    page.wait_for_selector("#poke-download:not([hidden])")
    strip = np.asarray(Image.open(save_download(page, "#poke-download a", tmp_path)).convert("RGB"))
    s = 8                                                  # 16 px -> 128 px, whole pixels
    assert strip.shape == (3 * 16 * s, 8 * 16 * s, 3)      # 24 frames, 8 to a row
    for k in (0, 9, 23):
        row, col = divmod(k, 8)
        assert np.array_equal(strip[row * 16 * s:(row + 1) * 16 * s:s, col * 16 * s:(col + 1) * 16 * s:s], frames[k])
    page.click(f"{section} .reset")
    assert page.evaluate(grab) == still_rgba
    assert page.evaluate("studio.poke.frames.length") == 0 and page.evaluate("studio.poke.stats") is None
    assert not page.inner_text("#poke-stats").startswith("24 frames")
    assert page.is_hidden("#poke-download")


def test_edit_labelled_downloaded_its_buttons_named_and_track_colours_explained(bundled_page, bundled_studio,
                                                                                tmp_path):
    import torch

    from kinema.methods.gendef.apps import draw_tracks

    page = bundled_page
    section = open_tab(page, "edit", "gendef")
    assert page.inner_text(f"{section} .canonical") == "Make a video"
    assert page.inner_text(f"{section} .run") == "Propagate edit"
    assert page.locator("main button", has_text="Generate").count() == 1     # the Generate tab's
    page.check(f"{section} [name=tool][value=track]")
    assert page.inner_text(f"{section} .run") == "Track points"
    show_error(page, section, "frames", "1", lambda: page.click(f"{section} .canonical"))
    page.fill(f"{section} [name=frames]", "6")
    page.click(f"{section} .canonical")
    page.wait_for_function("document.querySelectorAll('#tab-edit figure canvas.player').length === 1")
    assert page.is_hidden(f"{section} .error")
    assert_labelled(page, section, "gendef")
    assert page.locator(f"{section} figure.input").count() == 0      # GenDeF takes no picture
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
    result = job_result(bundled_studio, job)
    first, last = result["tracks"][0][1], result["tracks"][-1][1]
    assert items[1] == (f"point 2: ({first[0]:.1f}, {first[1]:.1f}) px in frame 1, "
                        f"({last[0]:.1f}, {last[1]:.1f}) in frame 6")
    assert_labelled(page, section, "gendef")
    gif = check_video_downloads(page, bundled_studio, section, 0, tmp_path)
    assert gif.shape == (6, 128, 128, 3)                  # 6 frames of 8 px, 16x


def test_generate_an_upload_with_an_error_fixed_labelled_downloaded_and_pca_readable(
        bundled_page, bundled_studio, tmp_path):
    from xml.etree import ElementTree

    page = bundled_page
    section = open_tab(page, "generate", "latentgan")
    picture = upload(page, tmp_path / "me.png", halves((240, 200, 160), (60, 40, 120)))
    page.fill(f"{section} [name=num]", "1")
    page.select_option(f"{section} [name=identity]", "picture")
    show_error(page, section, "frames", "1", lambda: page.click(f"{section} .run"))
    page.fill(f"{section} [name=frames]", "16")
    page.click(f"{section} .run")
    page.wait_for_selector(f"{section} figure img.plot")
    assert page.is_hidden(f"{section} .error")
    assert_input(page, section, picture, "me.png")
    assert_labelled(page, section, "latentgan")
    gif = check_video_downloads(page, bundled_studio, section, 0, tmp_path)
    assert gif.shape == (16, 128, 128, 3)                 # 16 frames of 16 px, 8x
    size = page.eval_on_selector(f"{section} img.plot", "i => [i.clientWidth, i.naturalWidth]")
    assert size[0] == size[1] >= 500, size                           # at its own size: 11 px text
    with page.expect_download() as info:
        page.click(f"{section} figure:has(img.plot) .downloads a")
    assert info.value.suggested_filename.endswith(".svg")
    svg = ElementTree.fromstring(open(info.value.path(), "rb").read())
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "frame" in texts and "PCA coordinate of w" in texts
