import base64
import io
import os
from html.parser import HTMLParser

import av
import numpy as np
import pytest
import torch
from PIL import Image

from kinema.errors import KinemaError
from kinema.viz.report import Report, format_number


class Collector(HTMLParser):
    """Gathers tags, the data URIs of media and the text of table cells."""

    def __init__(self):
        super().__init__()
        self.tags, self.sources, self.cells, self._in_cell = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag in ("img", "video") and "src" in attrs:
            self.sources.append((tag, attrs["src"]))
        self._in_cell = tag in ("td", "th")

    def handle_endtag(self, tag):
        self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)


def decode(uri):
    header, payload = uri.split(",", 1)
    assert header.endswith(";base64")
    return header[len("data:"):-len(";base64")], base64.b64decode(payload, validate=True)


def parse(path):
    collector = Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    collector.close()
    return collector


def test_report_embeds_decodable_media_and_table_values(tmp_path):
    gradient = torch.linspace(-1, 1, 20).reshape(1, 1, 1, 20).expand(6, 3, 12, 20).contiguous()
    gif = tmp_path / "clip.gif"
    Image.new("RGB", (8, 8), (0, 128, 255)).save(gif)

    report = Report("a <test> report")
    report.section("Videos").video(gradient, caption="gradient").video(gif, caption="file gif")
    report.section("Pictures").image(gradient[0], caption="frame", min_size=0)
    report.image(np.full((4, 5, 3), 7, np.uint8), caption="array")
    report.section("Scores")
    report.table([{"method": "repeat", "psnr": 21.34567, "frames": 8},
                  {"method": "ldt", "ssim": 0.5}], caption="per method")
    report.table({"bouncing-digits": {"psnr": 19.0}}, caption="per dataset")
    report.text("kinema demo --out runs/demo")
    path = report.save(tmp_path / "out" / "index.html")

    parsed = parse(path)
    assert parsed.tags.count("section") == 3 and parsed.tags.count("table") == 2
    assert {"21.35", "8", "0.5000", "repeat", "ldt", "bouncing-digits", "19.00"} <= set(parsed.cells)
    kinds = [tag for tag, _ in parsed.sources]
    assert kinds == ["video", "img", "img", "img"]

    mime, payload = decode(parsed.sources[0][1])
    assert mime == "video/mp4"
    with av.open(io.BytesIO(payload)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 6
    # upscaled by an integer factor to a short side of >= 128 px (12 px * 10), sizes even
    assert frames[0].shape == (120, 200, 3)
    assert frames[0][:, 0].mean() < 30 and frames[0][:, -1].mean() > 225  # the gradient survives

    mime, payload = decode(parsed.sources[1][1])
    assert mime == "image/gif" and payload == gif.read_bytes()
    mime, payload = decode(parsed.sources[2][1])
    frame = np.asarray(Image.open(io.BytesIO(payload)))
    assert mime == "image/png" and frame.shape == (12, 20, 3)
    expected = ((gradient[0].permute(1, 2, 0) + 1) * 127.5).round().numpy()
    np.testing.assert_array_equal(frame, expected)
    text = path.read_text()
    assert "a &lt;test&gt; report" in text and "kinema demo --out runs/demo" in text


def test_a_lead_line_sits_under_the_title_above_the_sections_whenever_it_is_added():
    report = Report("page").section("First").text("body")
    report.lead("made in <3> s").section("Second")
    text = report.to_html()
    lead = '<p class="lead">made in &lt;3&gt; s</p>'
    assert text.count(lead) == 1
    assert text.index("<h1>page</h1>") < text.index(lead) < text.index("<nav>") < text.index("<pre>body</pre>")


def test_scale_repeats_every_pixel_into_a_square_of_that_size(tmp_path):
    video = torch.linspace(-1, 1, 2 * 3 * 4 * 6).reshape(2, 3, 4, 6)       # (t c h w)
    report = Report("scaled").video(video, scale=5).image(video[0], scale=3)
    parsed = parse(report.save(tmp_path / "index.html"))
    _, payload = decode(parsed.sources[0][1])
    with av.open(io.BytesIO(payload)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert frames[0].shape == (20, 30, 3)                                  # 5x, not min_size's 128
    _, payload = decode(parsed.sources[1][1])
    picture = np.asarray(Image.open(io.BytesIO(payload)))
    expected = ((video[0].permute(1, 2, 0) + 1) * 127.5).round().numpy()
    np.testing.assert_array_equal(picture, expected.repeat(3, axis=0).repeat(3, axis=1))


def test_a_batch_of_videos_is_tiled_into_one(tmp_path):
    batch = -torch.ones(4, 3, 1, 16, 16)                    # (b t c h w): 2 x 2 grid
    report = Report("grid").video(batch, min_size=0)
    parsed = parse(report.save(tmp_path / "index.html"))
    _, payload = decode(parsed.sources[0][1])
    with av.open(io.BytesIO(payload)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (34, 34, 3)   # 2 cells + 2 px padding
    for frame in frames:                            # black cells, white separators between
        assert frame[:16, :16].mean() < 30 and frame[18:, 18:].mean() < 30
        assert frame[16:18].mean() > 200 and frame[:, 16:18].mean() > 200


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "index.html"
    path.write_text("old")
    Report("new").save(path)
    assert "new" in path.read_text()
    assert os.listdir(tmp_path) == ["index.html"]


def test_bad_inputs_are_named(tmp_path):
    report = Report("x")
    with pytest.raises(KinemaError, match="missing.mp4"):
        report.video(tmp_path / "missing.mp4")
    with pytest.raises(KinemaError, match=".txt"):
        report.image(tmp_path / "notes.txt")
    with pytest.raises(KinemaError, match="uint8"):
        report.image(np.zeros((4, 4), np.float32))
    with pytest.raises(KinemaError, match="empty video"):
        report.video(torch.zeros(0, 3, 8, 8))
    with pytest.raises(KinemaError, match=r"\(t c h w\)"):
        report.video(torch.zeros(2, 4, 8, 8))
    with pytest.raises(KinemaError, match="list of dicts"):
        report.table([1, 2])


@pytest.mark.parametrize("value, text", [
    (0, "0"), (12, "12"), (21.34567, "21.35"), (0.812345, "0.8123"), (1234.5, "1234"),
    (2.5e-5, "2.500e-05"), (float("inf"), "inf"), (torch.tensor(0.5), "0.5000"), ("a", "a")])
def test_format_number(value, text):
    assert format_number(value) == text


def test_line_plots_are_inline_svg(tmp_path):
    report = Report("plots").section("Curves")
    report.line_plot({"repeat": [30.0, 25.0], "texture": [28.0, 27.0]}, x_label="frame",
                     y_label="PSNR (dB)", caption="PSNR per frame")
    parsed = parse(report.save(tmp_path / "index.html"))
    assert parsed.tags.count("svg") == 1 and parsed.tags.count("polyline") == 2
    with pytest.raises(KinemaError, match="svg"):
        report.svg("<div></div>")


@pytest.mark.parametrize("fps", [7.5, 0.4])
def test_videos_keep_a_fractional_frame_rate(fps):
    from kinema.viz.report import encode_mp4

    payload = encode_mp4(torch.zeros(3, 3, 8, 8), fps=fps, min_size=0)
    with av.open(io.BytesIO(payload)) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(fps)
