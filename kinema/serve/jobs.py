"""Work off the event loop, bounded: ``Jobs`` runs each request's model call on a small thread
pool and refuses (429) what would queue beyond ``max_waiting``; the page polls a job's progress.

A job's function receives a ``progress(fraction, stage)`` callback. Finished jobs keep their
result (PNG bytes) in memory until ``keep`` newer jobs have finished, then they are dropped,
so memory stays bounded however long the studio runs.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from kinema.errors import KinemaError
from kinema.serve.requests import ApiError
from kinema.validate import short_repr

log = logging.getLogger("kinema.studio")


@dataclass
class Result:
    """What a job hands back: JSON-able ``info`` and binary ``media`` (with their types) the page
    fetches by index."""
    info: dict
    media: list[bytes] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def add(self, data: bytes, mime: str = "image/png") -> int:
        self.media.append(data)
        self.types.append(mime)
        return len(self.media) - 1

    def add_video(self, frames, label: str, fps: float) -> None:
        """A video ((t c h w) float in [-1, 1], or (t h w 3) uint8) as a sprite sheet."""
        from kinema.serve.media import sprite_sheet, video_to_uint8

        sheet, layout = sprite_sheet(video_to_uint8(frames))
        self.info.setdefault("videos", []).append(
            {"media": self.add(sheet), "label": label, "fps": fps, **layout})

    def add_image(self, data: bytes, label: str, mime: str = "image/png") -> None:
        self.info.setdefault("images", []).append({"media": self.add(data, mime), "label": label})


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"            # queued, running, done, error
    progress: float = 0.0
    stage: str = "waiting for a free worker"
    error: str | None = None
    status: int = 200                # the HTTP status of an error
    result: Result | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None

    def public(self) -> dict:
        now = time.monotonic()
        out = {"id": self.id, "kind": self.kind, "state": self.state,
               "progress": round(self.progress, 3), "stage": self.stage,
               "elapsed": round((self.finished or now) - self.created, 3)}
        if self.error is not None:
            out["error"], out["status"] = self.error, self.status
        if self.result is not None:
            out["result"] = self.result.info
        return out


class Jobs:
    def __init__(self, workers: int = 1, max_waiting: int = 4, keep: int = 32):
        self.workers = workers
        self.max_waiting = max_waiting
        self.keep = keep
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="kinema-studio")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._active = 0
        self._lock = threading.Lock()

    def submit(self, kind: str, work: Callable[[Callable[[float, str], None]], Result]) -> Job:
        with self._lock:
            if self._active >= self.workers + self.max_waiting:
                raise ApiError(429, f"the studio is busy ({self._active} jobs running or queued, "
                                    f"at most {self.workers + self.max_waiting}); retry in a moment",
                               headers={"Retry-After": "1"})
            self._active += 1
            job = Job(id=secrets.token_hex(8), kind=kind)
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work) -> None:
        job.state, job.started, job.stage = "running", time.monotonic(), "starting"

        def progress(fraction: float, stage: str) -> None:
            job.progress, job.stage = max(0.0, min(1.0, fraction)), stage

        try:
            job.result = work(progress)
            job.state, job.progress, job.stage = "done", 1.0, "done"
        except ApiError as err:
            job.state, job.error, job.status = "error", err.message, err.status
        except KinemaError as err:
            job.state, job.error, job.status = "error", str(err), 422
        except Exception:   # a bug: logged with its traceback on the server, not sent
            log.exception("job %s (%s) failed", job.id, job.kind)
            job.state, job.status = "error", 500
            job.error = "internal error while running the job (the server log has the details)"
        finally:
            with self._lock:   # finished and forgotten in one step: see ``wait``
                job.finished = time.monotonic()
                self._active -= 1
                self._forget_old()

    def _forget_old(self) -> None:
        done = [k for k, j in self._jobs.items() if j.finished is not None]
        for key in done[:max(0, len(done) - self.keep)]:
            del self._jobs[key]

    def get(self, key: str) -> Job:
        job = self._jobs.get(key)
        if job is None:
            raise ApiError(404, f"no job {short_repr(key)} (finished jobs are kept for the last {self.keep})")
        return job

    def media(self, key: str, index: int) -> tuple[bytes, str]:
        """(bytes, media type) of a finished job's media ``index``."""
        job = self.get(key)
        if job.result is None or not 0 <= index < len(job.result.media):
            raise ApiError(404, f"job {short_repr(key)} has no media #{index}")
        types = job.result.types
        return job.result.media[index], types[index] if index < len(types) else "image/png"

    @property
    def active(self) -> int:
        return self._active

    def wait(self, key: str, timeout: float = 60.0) -> Job:
        """Block until the job finishes (tests and the command line; the page polls)."""
        end = time.monotonic() + timeout
        job = self.get(key)
        while job.finished is None and time.monotonic() < end:
            time.sleep(0.01)
        with self._lock:   # a finished job's bookkeeping (older jobs forgotten) is complete
            return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
