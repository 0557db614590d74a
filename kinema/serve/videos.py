"""The Poke tab on a user's video: clips uploaded in this session, each made ready to poke once
(the clip's own modal basis: the Generative Image Dynamics adapter's ``clip_request``, a job of
the studio's queue) and kept, looked up by id only.

    POST /api/videos        body = an mp4, webm or gif (``media.decode_video_upload``: size and
                            length limits) -> 202 {"job": id}; the job's result holds the clip's
                            id ("video-..."), sizes and caption, and its first frame (a PNG,
                            media ``first_frame``)
    WS   /api/poke          {"type": "poke", "video": id, "point", "drag", "damping",
                            "stiffness", "frames"}: the poke's frames at the clip's size

A ready clip holds the modal basis (complex, 2 x 4 modes per pixel) and the splatting inputs of
its first frame: tens of MB at the frame-size limit, so at most ``capacity`` are kept, the
oldest dropped first (its id then answers 404, saying to upload the clip again).
"""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

from kinema.serve.requests import ApiError, Payload
from kinema.validate import short_repr

ADAPTER = "kinema.serve.adapters.dynamics"      # the method whose data path makes a clip's basis


def adapter():
    import importlib

    return importlib.import_module(ADAPTER)


class PokeVideos:
    """Clips made ready to poke in this session: at most ``capacity``, the oldest dropped first."""

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._items: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, ready: dict) -> str:
        key = f"video-{secrets.token_hex(6)}"
        with self._lock:
            self._items[key] = ready
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> dict:
        with self._lock:
            ready = self._items.get(key)
        if ready is None:
            raise ApiError(404, f"no video {short_repr(key)}: upload the clip again (the studio keeps "
                                f"the last {self.capacity} clips)")
        return ready

    def __len__(self) -> int:
        return len(self._items)

    def request(self, frames):
        """The job function that makes decoded frames (T h w 3) uint8 ready to poke (checked at
        once: a clip too short, or whose flow is over the work limit, is refused before the queue)."""
        return adapter().clip_request(frames, self.add)

    def poke(self, payload: Payload):
        """(stream info, frames) of a poke of a ready clip: the fields of every poke (``video`` in
        place of ``model`` and ``picture``), the frames within the work limit."""
        from kinema.serve.poke import poke_motion
        from kinema.validate import check_work

        key = payload.text("video", required=True)
        ready = self.get(key)
        request = poke_motion(payload, key)
        height, width = ready["image"].shape[-2:]
        check_work("the poke of the video", height, width, request.frames)
        return adapter().clip_poke(ready, request)
