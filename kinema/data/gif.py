"""GIF encoding for ``kinema.data.io.write_video``: one GIF frame per video frame, with delays
that keep each frame at its time (split from io.py, which reads and writes every format)."""
from __future__ import annotations

import numpy as np

MIN_GIF_DELAY = 2        # centiseconds a GIF frame lasts at least (50 frames/s; browsers clamp shorter ones)


def write_gif(tmp: str, frames: np.ndarray, fps: float) -> None:
    """One GIF frame per video frame, each with its own 256-colour palette, looping forever.

    Pillow's ``save(save_all=True)`` drops a frame identical to the one before it and adds its
    duration to that one (``GifImagePlugin._write_multiple_frames``, with no option to keep it),
    so a video holding a still run read back shorter. Each frame is therefore encoded on its own
    by Pillow's frame writer (``GifImagePlugin.getdata``) after the header (``getheader``)."""
    from PIL import GifImagePlugin, Image

    paletted = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE) for f in frames]
    delays = gif_delays(len(frames), fps)
    header, _ = GifImagePlugin.getheader(paletted[0], info={"loop": 0, "duration": delays[0] * 10})
    with open(tmp, "wb") as handle:
        handle.writelines(header)
        for image, delay in zip(paletted, delays):
            # disposal 1: the frame stays until the next one covers it (every frame is whole)
            handle.writelines(GifImagePlugin.getdata(image, duration=delay * 10, disposal=1,
                                                     include_color_table=True))
        handle.write(b";")                                   # the GIF trailer


def gif_delays(count: int, fps: float) -> list[int]:
    """Each of ``count`` frames' delay in GIF units (1/100 s) so that frame i starts at
    round(100 i / fps): a rate that is no whole number of centiseconds a frame (8 fps: 12.5)
    alternates (13, 12, ...) and keeps the right mean. At least 2: browsers play a shorter
    delay at 10 frames/s."""
    starts = [round(100 * i / fps) for i in range(count + 1)]
    return [max(MIN_GIF_DELAY, b - a) for a, b in zip(starts, starts[1:])]
