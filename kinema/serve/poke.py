"""The Poke tab's stream: a websocket that sends each frame of the modal simulation as soon as
it is simulated, so the animation starts playing right after the release.

Protocol (one connection may carry several pokes, one after the other):

    client -> {"type": "prepare", "model": id, "picture": id}    (optional, when a picture is shown)
    server -> {"type": "ready", "picture": id, "about": {...}}    (the spectral volume is computed; about: provenance)
    client -> {"type": "poke", "model": id, "picture": id, "point": [x, y], "drag": [dx, dy],
               "damping": d, "stiffness": k, "frames": n}      (x, y, dx, dy: fractions of the
                                                               picture's width and height)
           or {"type": "poke", "video": id, "point": ..., ...}  (a clip uploaded to /api/videos,
                                                               poked with its own modal basis:
                                                               ``kinema.serve.videos``)
    server -> {"type": "start", "width": w, "height": h, "frames": n, ...}
              n binary messages, each one frame as RGBA bytes (h * w * 4, row-major)
              {"type": "end", "frames": n, "simulate_seconds": s}
    on a bad request: {"type": "error", "status": 4xx/503, "error": message}

The simulation runs on a worker thread (the adapter's ``poke`` returns an iterator of frames);
at most ``settings.poke_streams`` run at once, a poke beyond that gets status 503 at once.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time

from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from kinema.errors import KinemaError
from kinema.serve.jobs import Result
from kinema.serve.requests import ApiError, Payload, json_object

log = logging.getLogger("kinema.studio")
_END = object()


MAX_FRAMES = 300


@dataclass(frozen=True)
class PokeRequest:
    """A drag-and-release: where (``point``, fractions of width and height), how far and which
    way (``drag``, fractions), the two sliders — ``damping``, the modes' damping ratio xi, and
    ``stiffness``, a factor on the modal stiffness (frequencies scale by its square root) — and
    how many frames to simulate."""
    picture: str
    point: tuple[float, float]
    drag: tuple[float, float]
    damping: float
    stiffness: float
    frames: int


def poke_fields(p: Payload, catalogue) -> PokeRequest:
    """The fields every poke of a picture carries, checked (400 naming the field); the picture
    must exist."""
    picture = p.text("picture", required=True)
    catalogue.picture(picture)
    return poke_motion(p, picture)


def poke_motion(p: Payload, picture: str) -> PokeRequest:
    """The drag, the sliders and the frame count of a poke of ``picture`` (a picture's or a
    clip's id), checked; no other field is accepted."""
    point = p.pair("point", 0.0, 1.0, required=True)     # fractions of width, height
    drag = p.pair("drag", -1.0, 1.0, required=True)
    request = PokeRequest(picture, point, drag,
                          p.number("damping", 0.05, 0.0, 1.0), p.number("stiffness", 1.0, 0.05, 20.0),
                          p.integer("frames", 90, 2, MAX_FRAMES))
    p.done()
    return request


def _rgba(frame: np.ndarray) -> bytes:
    h, w, _ = frame.shape
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = frame
    out[..., 3] = 255
    return out.tobytes()


def poke_endpoint(store, catalogue, settings, jobs, videos):
    """The websocket endpoint; ``jobs``: the studio's queue (``kinema.serve.jobs.Jobs``), which
    a ``prepare`` (the diffusion sampler: seconds of work) waits in like every other job;
    ``videos``: the uploaded clips made ready to poke (``kinema.serve.videos.PokeVideos``)."""
    slots = threading.BoundedSemaphore(settings.poke_streams)

    async def prepare(websocket: WebSocket, payload: Payload) -> None:
        """Warm what a poke of this picture needs (the method's ``prepare``, if it has one),
        as a job of the queue: beyond its length a prepare is refused with 429."""
        served = store.get(payload.text("model", required=True), "poke")
        module = served.module()
        if hasattr(module, "prepare"):
            job = jobs.submit("poke-prepare", lambda progress: Result(
                module.prepare(served, payload, catalogue)))
            while job.finished is None:
                await asyncio.sleep(0.02)
            if job.state != "done":
                raise ApiError(job.status, job.error or "the prepare job failed")
            info = job.result.info
        else:
            info = {"picture": payload.text("picture", required=True)}
            catalogue.picture(info["picture"])
            payload.done()
        picture = payload.data.get("picture")
        about = await run_in_threadpool(   # the model and the picture's domain beside the poke
            served.about, catalogue.picture(picture) if isinstance(picture, str) else None)
        await websocket.send_json({"type": "ready", **info, "about": about})

    async def stream(websocket: WebSocket, message: dict) -> None:
        payload = Payload(message)
        if payload.text("type", "poke", choices=("poke", "prepare")) == "prepare":
            return await prepare(websocket, payload)
        if payload.data.get("video") is not None:      # an uploaded clip, no model
            start = lambda: videos.poke(payload)
        else:
            served = store.get(payload.text("model", required=True), "poke")
            start = lambda: served.module().poke(served, payload, catalogue)
        if not slots.acquire(blocking=False):
            raise ApiError(503, "another simulation is streaming; release again in a moment")
        started = False
        try:
            # the adapter checks the fields and loads the model (off the loop), then simulates
            info, frames = await run_in_threadpool(start)
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue = asyncio.Queue(maxsize=4)
            stop = threading.Event()

            def produce() -> None:   # a worker thread: simulate, hand each frame to the loop
                last = _END
                try:
                    for frame in frames:
                        if stop.is_set():
                            return
                        asyncio.run_coroutine_threadsafe(queue.put(_rgba(frame)), loop).result()
                except BaseException as err:   # handed to the loop, which answers or logs it
                    last = err
                finally:
                    # the slot is free before the end is sent: a client that has read "end"
                    # can start the next simulation at once
                    slots.release()
                if not stop.is_set():
                    asyncio.run_coroutine_threadsafe(queue.put(last), loop).result()

            begin = time.perf_counter()
            await websocket.send_json({"type": "start", **info})
            worker = threading.Thread(target=produce, name="kinema-studio-poke", daemon=True)
            worker.start()
            started = True
            sent = 0
            try:
                while True:
                    item = await queue.get()
                    if item is _END:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    await websocket.send_bytes(item)
                    sent += 1
            finally:
                stop.set()
                while worker.is_alive():      # unblock a pending put so the thread ends
                    try:
                        queue.get_nowait()
                    except asyncio.QueueEmpty:
                        await asyncio.sleep(0.005)
            await websocket.send_json({"type": "end", "frames": sent,
                                       "simulate_seconds": round(time.perf_counter() - begin, 4)})
        finally:
            if not started:
                slots.release()

    async def endpoint(websocket: WebSocket) -> None:
        # browsers send Origin on every websocket; one from another site is refused (a page
        # elsewhere must not drive the studio through the user's browser)
        origin, host = websocket.headers.get("origin"), websocket.headers.get("host", "")
        if origin is not None and origin.split("://", 1)[-1] != host:
            await websocket.close(code=1008)
            return
        await websocket.accept()
        try:
            while True:
                received = await websocket.receive()
                if received["type"] == "websocket.disconnect":
                    return
                try:
                    if received.get("text") is None:      # a binary frame
                        raise ApiError(400, "a poke message must be a text frame holding a JSON "
                                            "object, not binary data")
                    await stream(websocket, json_object(received["text"], "a poke message"))
                except ApiError as err:
                    await websocket.send_json({"type": "error", "status": err.status, "error": err.message})
                except KinemaError as err:
                    await websocket.send_json({"type": "error", "status": 422, "error": str(err)})
        except WebSocketDisconnect:
            return
        except Exception:
            log.exception("poke stream failed")
            try:
                await websocket.send_json({"type": "error", "status": 500,
                                           "error": "internal error (the server log has the details)"})
                await websocket.close(code=1011)
            except (RuntimeError, WebSocketDisconnect):
                pass

    return endpoint
