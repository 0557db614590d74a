"""A self-contained HTML report: one file, every picture and video embedded as a base64 data
URI, no external assets, so it can be mailed, archived or opened from a CI artefact.

    report = Report("kinema demo")
    report.section("Datasets")
    report.video(grid, caption="bouncing-digits")          # (t c h w) tensor in [-1, 1] or a file
    report.image(frame, caption="first frame")             # (c h w) tensor, (h w 3) uint8 or a file
    report.table([{"method": "repeat", "psnr": 21.3}], caption="scores")
    report.text("kinema demo --out runs/demo")
    report.save("runs/demo/index.html")                    # atomic: temp file, then rename
"""
from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
import platform
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from kinema.data.io import to_uint8
from kinema.errors import KinemaError

VIDEO_MIME = {".mp4": "video/mp4", ".webm": "video/webm"}
IMAGE_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".gif": "image/gif", ".svg": "image/svg+xml"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
nav ul { columns: 2; } figure { display: inline-block; vertical-align: top; margin: 0 1em 1em 0; }
figcaption { font-size: 0.9em; color: #444; max-width: 420px; }
video, img { image-rendering: pixelated; border: 1px solid #ccc; display: block; }
video { cursor: pointer; }
/* a row holds one subject's figures (one dataset): the next row starts below the tallest of
   them, so a tall Y-t slice never reaches into the next dataset's figures */
.row { display: flex; flex-wrap: wrap; align-items: flex-start; clear: both; }
.row > figure { flex: none; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; } td.num { text-align: right; }
th { background: #eee; } caption { caption-side: top; text-align: left; font-weight: bold; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; }
p.lead { background: #eef3fa; padding: 0.6em 0.8em; border-left: 4px solid #5b7db1; }
"""


def format_number(value) -> str:
    """Numbers as a person reads them in a table: 4 significant digits, no exponent between
    1e-3 and 1e6, ints unchanged; non-numbers via ``str``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        digits = max(0, 3 - math.floor(math.log10(abs(value)))) if value else 0
        return f"{value:.{digits}f}"
    return f"{value:.3e}"


def _upscale_factor(height: int, width: int, target: int) -> int:
    return max(1, target // max(1, min(height, width)))


def _to_uint8_frames(video: torch.Tensor, min_size: int, scale: int | None = None) -> np.ndarray:
    """(t c h w) float in [-1, 1] -> (t h w 3) uint8, upscaled by an integer factor (nearest,
    so pixels stay sharp) until the short side reaches ``min_size`` (by ``scale`` when given),
    padded to even sizes (h264 with yuv420p needs them)."""
    if video.ndim != 4 or video.shape[1] not in (1, 3):
        raise KinemaError(f"video must be (t c h w) with 1 or 3 channels, got {tuple(video.shape)}")
    if min(video.shape) == 0:
        raise KinemaError(f"cannot encode an empty video of shape {tuple(video.shape)}")
    frames = to_uint8(video)                                         # (t h w 3)
    factor = scale or _upscale_factor(frames.shape[1], frames.shape[2], min_size)
    if factor > 1:
        frames = frames.repeat(factor, axis=1).repeat(factor, axis=2)
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def encode_mp4(video: torch.Tensor, fps: float = 10, min_size: int = 128,
               scale: int | None = None) -> bytes:
    """Encode (t c h w) float in [-1, 1] as browser-playable mp4 bytes (h264, yuv420p) in
    memory with PyAV, enlarged as ``_to_uint8_frames`` says. The report's own encoder because
    it writes to memory, not a file."""
    import av

    frames = _to_uint8_frames(video, min_size, scale)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        # a Fraction, not round(fps): 7.5 fps stays 7.5 and fps < 0.5 does not become 0
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


def encode_png(image, min_size: int = 0, scale: int | None = None) -> bytes:
    """PNG bytes of an image: (c h w) float tensor/array in [-1, 1], or (h w) / (h w 3)
    uint8. Upscaled by an integer factor (nearest) until the short side reaches min_size, or
    by ``scale`` when given."""
    from PIL import Image

    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.is_floating_point():
            if image.ndim != 3 or image.shape[0] not in (1, 3):
                raise KinemaError(f"image tensor must be (c h w), got {tuple(image.shape)}")
            image = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)
        image = image.numpy()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise KinemaError(f"image arrays must be uint8 (h w [3]); got {image.dtype} — "
                          "pass float images as (c h w) tensors in [-1, 1]")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    factor = scale or _upscale_factor(image.shape[0], image.shape[1], min_size)
    image = image.repeat(factor, axis=0).repeat(factor, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _read_media(path: Path, kinds: Mapping[str, str]) -> tuple[str, bytes]:
    mime = kinds.get(path.suffix.lower())
    if mime is None:
        raise KinemaError(f"{path}: cannot embed a {path.suffix or 'suffix-less'} file; "
                          f"supported: {', '.join(sorted(kinds))}")
    if not path.is_file():
        raise KinemaError(f"{path}: no such file to embed in the report")
    return mime, path.read_bytes()


def machine_info() -> str:
    """A few lines saying where and when a report was made (for reproducing its timings)."""
    return "\n".join([
        f"date (UTC): {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}",
        f"python {platform.python_version()} on {platform.platform()}",
        f"processor: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads",
    ])


ROW, END_ROW = "\0row", "\0end-row"     # markers in a section's block list


def _rows(blocks: list[str]) -> str:
    """A section's blocks as HTML, the figures after each ``Report.row()`` in one div.row."""
    out, open_row = [], False
    for block in blocks:
        if block in (ROW, END_ROW):
            if open_row:
                out.append("</div>")
            open_row = block == ROW
            if open_row:
                out.append('<div class="row">')
        else:
            out.append(block)
    if open_row:
        out.append("</div>")
    return "".join(out)


class Report:
    """An HTML page made of sections, each a list of figures, tables and text blocks;
    ``row()`` groups the figures that follow into one row."""

    def __init__(self, title: str):
        self.title = title
        self._sections: list[tuple[str, list[str]]] = []
        self._in_row = False
        self._lead: list[str] = []

    def lead(self, text: str) -> "Report":
        """A paragraph right under the title, above every section (what a reader must see
        first, e.g. how the page was made), whenever it is added."""
        self._lead.append(f'<p class="lead">{html.escape(text)}</p>')
        return self

    def section(self, name: str) -> "Report":
        """Start a new section; what is added next goes into it."""
        self._sections.append((name, []))
        self._in_row = False
        return self

    def row(self) -> "Report":
        """Start a row: the figures added next sit side by side (wrapping when the page is
        narrow), and the next row or block starts below the tallest of them."""
        if not self._sections:
            self._sections.append(("", []))
        self._sections[-1][1].append(ROW)
        self._in_row = True
        return self

    def _add(self, block: str) -> "Report":
        if not self._sections:
            self._sections.append(("", []))
        if getattr(self, "_in_row", False) and not block.startswith("<figure>"):
            self._sections[-1][1].append(END_ROW)     # a table or text ends the row
            self._in_row = False
        self._sections[-1][1].append(block)
        return self

    @staticmethod
    def _figure(media: str, caption: str | None) -> str:
        text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        return f"<figure>{media}{text}</figure>"

    def video(self, video, caption: str | None = None, fps: float = 10,
              min_size: int = 128, scale: int | None = None) -> "Report":
        """Embed a video: a (t c h w) tensor in [-1, 1] (encoded to mp4 here, enlarged by a
        whole factor until the short side reaches ``min_size``, or by ``scale``; a batch
        (b t c h w) is tiled with ``video_grid``), or an .mp4 / .webm / .gif file. Videos
        autoplay, loop and are muted."""
        if isinstance(video, torch.Tensor) and video.ndim == 5:
            from kinema.viz.grid import video_grid

            video = video_grid(video)
        if isinstance(video, torch.Tensor):
            mime, payload = "video/mp4", encode_mp4(video, fps=fps, min_size=min_size, scale=scale)
        else:
            path = Path(video)
            if path.suffix.lower() == ".gif":
                return self.image(path, caption)
            mime, payload = _read_media(path, VIDEO_MIME)
        # no browser controls: on a clip of 64 px they would cover it; a click pauses/plays
        media = (f'<video autoplay loop muted playsinline title="click to pause or play" '
                 f'onclick="this.paused ? this.play() : this.pause()" '
                 f'src="{_data_uri(mime, payload)}"></video>')
        return self._add(self._figure(media, caption))

    def image(self, image, caption: str | None = None, min_size: int = 128,
              scale: int | None = None) -> "Report":
        """Embed an image: a (c h w) tensor in [-1, 1], a uint8 (h w [3]) array (enlarged as
        ``video`` enlarges), or an image file (.png, .jpg, .gif, .svg)."""
        if isinstance(image, (str, os.PathLike)):
            mime, payload = _read_media(Path(image), IMAGE_MIME)
        else:
            mime, payload = "image/png", encode_png(image, min_size=min_size, scale=scale)
        alt = html.escape(caption or "image", quote=True)
        return self._add(self._figure(f'<img alt="{alt}" src="{_data_uri(mime, payload)}">',
                                      caption))

    def svg(self, svg: str, caption: str | None = None) -> "Report":
        """Embed SVG markup inline (e.g. from ``kinema.viz.plots.line_plot_svg``)."""
        if not svg.lstrip().startswith("<svg"):
            raise KinemaError("Report.svg expects the text of an <svg> element")
        return self._add(self._figure(svg, caption))

    def line_plot(self, series, x=None, x_label: str = "", y_label: str = "",
                  caption: str | None = None) -> "Report":
        """A line plot of named series (see ``kinema.viz.plots.line_plot_svg``)."""
        from kinema.viz.plots import line_plot_svg

        return self.svg(line_plot_svg(series, x, x_label, y_label), caption)

    def table(self, rows, caption: str | None = None) -> "Report":
        """A table from a list of dicts (one row each; columns in first-seen order) or a dict
        of dicts (the outer keys label the rows). Numbers are formatted by ``format_number``."""
        if isinstance(rows, Mapping):
            rows = [{"": name, **dict(values)} for name, values in rows.items()]
        if not isinstance(rows, Sequence) or not all(isinstance(r, Mapping) for r in rows):
            raise KinemaError("table rows must be a list of dicts or a dict of dicts")
        columns: list[str] = []
        for row in rows:
            columns += [key for key in row if key not in columns]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = []
        for row in rows:
            cells = []
            for column in columns:
                value = row.get(column, "")
                numeric = isinstance(value, numbers.Number) and not isinstance(value, bool)
                css = ' class="num"' if numeric else ""
                cells.append(f"<td{css}>{html.escape(format_number(value))}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        return self._add(f"<table>{title}<thead><tr>{head}</tr></thead>"
                         f"<tbody>{''.join(body)}</tbody></table>")

    def text(self, text: str, preformatted: bool = True) -> "Report":
        """A block of text: preformatted (commands, logs, machine info) or a paragraph."""
        tag = "pre" if preformatted else "p"
        return self._add(f"<{tag}>{html.escape(text)}</{tag}>")

    @staticmethod
    def _anchor(index: int, name: str) -> str:
        return f"s{index}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")

    def to_html(self) -> str:
        """The whole page as a string."""
        title = html.escape(self.title)
        toc, parts = [], []
        for index, (name, blocks) in enumerate(self._sections):
            anchor = self._anchor(index, name)
            if name:
                toc.append(f'<li><a href="#{anchor}">{html.escape(name)}</a></li>')
            heading = f'<h2 id="{anchor}">{html.escape(name)}</h2>' if name else ""
            parts.append(f'<section>{heading}{_rows(blocks)}</section>')
        nav = f"<nav><ul>{''.join(toc)}</ul></nav>" if toc else ""
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{title}</title><style>{STYLE}</style></head>"
                f"<body><h1>{title}</h1>{''.join(self._lead)}{nav}{''.join(parts)}</body></html>\n")

    def save(self, path) -> Path:
        """Write the page atomically (a temporary file in the same folder, then a rename), so
        a reader never sees half a report. Returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(self.to_html())
            os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is for reading
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path
