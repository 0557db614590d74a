"""Hostile requests against the studio's API, in process (Starlette's TestClient, as a browser
on 127.0.0.1 would send them): every malformed body is a 4xx JSON error over HTTP and an
``{"type": "error", "status": 4xx}`` message on the poke websocket, the connection stays
usable, nothing is logged as an ERROR and no traceback reaches the client. A bounded number of
requests per case; ``test_the_studio_corpus`` prints how many (input, entry point) pairs.

Also: uploads are kept compressed (what a store of pictures costs in memory), the poke's
``prepare`` waits in the job queue like every other job, and a client that disconnects
mid-upload is one INFO line.
"""
from __future__ import annotations

import io
import logging
import threading

import numpy as np
import pytest
from PIL import Image

from kinema.serve.requests import ApiError
from tests.serve.conftest import make_client, studio_app, wait_job
from tests.serve.standin import TABS, accepts, load, poke, summarize  # noqa: F401  (adapter)

JSON = {"content-type": "application/json"}
DEEP = 30_000


def _json(text: str) -> bytes:
    return text.encode()


# name -> (body bytes, headers): each answered 4xx by every job route
BODIES = {
    "5000-digit integer": (_json('{"model": "cinn-flow-tiny-clouds", "num": ' + "9" * 5000 + "}"), JSON),
    "30000-deep arrays": (_json("[" * DEEP + "]" * DEEP), JSON),
    "30000-deep objects": (_json('{"a": ' * DEEP + "1" + "}" * DEEP), JSON),
    "deep inside a field": (_json('{"model": "cinn-flow-tiny-clouds", "picture": ' + "[" * DEEP + "]" * DEEP + "}"), JSON),
    "invalid UTF-8": (b'{"model": "\xff\xfe"}', JSON),
    "binary garbage": (bytes(range(256)) * 4, JSON),
    "a JSON list": (_json("[1, 2, 3]"), JSON),
    "a JSON string": (_json('"animate"'), JSON),
    "JSON null": (_json("null"), JSON),
    "not JSON": (_json("{model: cinn}"), JSON),
    "a 20-digit seed": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "seed": '
                              + "9" * 20 + "}"), JSON),
    "NaN frames": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "frames": NaN}'), JSON),
    "Infinity num": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "num": Infinity}'), JSON),
    "boolean num": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "num": true}'), JSON),
    "string seed": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "seed": "1"}'), JSON),
    "negative seed": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "seed": -1}'), JSON),
    "a huge model name": (_json('{"model": "' + "m" * 100_000 + '"}'), JSON),
    "an unknown model": (_json('{"model": "../../etc/passwd"}'), JSON),
    "an unknown picture": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "/etc/passwd"}'), JSON),
    "an unknown field": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "evil": 1}'), JSON),
    "application/jsonx": (_json('{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee"}'),
                          {"content-type": "application/jsonx"}),
    "application/json-seq": (_json('{"model": "cinn-flow-tiny-clouds"}'), {"content-type": "application/json-seq"}),
    "text/plain": (_json('{"model": "cinn-flow-tiny-clouds"}'), {"content-type": "text/plain"}),
    "no content type": (_json('{"model": "cinn-flow-tiny-clouds"}'), {"content-type": ""}),
    "a body over the limit": (b"{" + b" " * (70 * 1024) + b"}", JSON),
    "a lying Content-Length": (_json("{}"), {**JSON, "content-length": "9" * 40}),
}
JOB_ROUTES = ("/api/run/animate", "/api/run/vary", "/api/run/poke", "/api/run/nosuch")

UPLOADS = {   # name -> (body, content type)
    "empty": (b"", "image/png"),
    "text": (b"#!/bin/sh\n", "image/png"),
    "json as a picture": (b'{"a": 1}', "application/json"),
    "image/ with no subtype": (b"\x89PNG", "image/"),
    "imagex/png": (b"\x89PNG", "imagex/png"),
    "binary garbage": (bytes(range(256)), "application/octet-stream"),
    "truncated png": (None, "image/png"),
}

GETS = ["/api/jobs/" + "f" * 10_000, "/api/jobs/%00", "/api/jobs/x/media/" + "9" * 30, "/api/jobs/x/media/-1",
        "/api/pictures/" + "p" * 5000, "/api/pictures/..%2f..%2fetc%2fpasswd", "/api/clips/nosuch",
        "/static/..%2fapp.py", "/api/nosuch"]

WEBSOCKET = {   # name -> a text or binary frame on /api/poke
    "a binary frame": b"\x00\x01\x02 not text",
    "a 5000-digit integer": '{"type": "poke", "model": "poke-standin", "frames": ' + "9" * 5000 + "}",
    "30000-deep nesting": "[" * DEEP + "]" * DEEP,
    "30000-deep objects": '{"a": ' * DEEP + "1" + "}" * DEEP,
    "not JSON": "poke!",
    "a JSON list": "[1, 2]",
    "an unknown type": '{"type": "explode"}',
    "NaN damping": '{"type": "poke", "model": "poke-standin", "picture": "photo-coffee", "point": [0.5, 0.5], '
                   '"drag": [0.1, 0], "damping": NaN}',
    "Infinity stiffness": '{"type": "poke", "model": "poke-standin", "picture": "photo-coffee", "point": [0.5, 0.5], '
                          '"drag": [0.1, 0], "stiffness": Infinity}',
    "a 40-digit frame count": '{"type": "poke", "model": "poke-standin", "picture": "photo-coffee", '
                              '"point": [0.5, 0.5], "drag": [0.1, 0], "frames": ' + "9" * 40 + "}",
    "a huge drag": '{"type": "poke", "model": "poke-standin", "picture": "photo-coffee", "point": [0.5, 0.5], '
                   '"drag": [1e308, 0]}',
    "a point of strings": '{"type": "poke", "model": "poke-standin", "picture": "photo-coffee", '
                          '"point": ["a", "b"], "drag": [0.1, 0]}',
    "prepare of no picture": '{"type": "prepare", "model": "poke-standin"}',
    "invalid UTF-8 in text": '{"type": "poke", "model": "\udcff"}',
}


@pytest.fixture(scope="module")
def hostile_client(models_dir):
    with make_client(models_dir, max_upload_bytes=200_000, max_pixels=300 * 300) as client:
        yield client


def assert_client_error(response, case):
    case = str(case)[:120]
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), case
    assert "Traceback" not in response.text and len(response.json()["error"]) < 400, case


@pytest.mark.parametrize("route", JOB_ROUTES)
def test_malformed_job_bodies_are_4xx(hostile_client, route, caplog):
    with caplog.at_level(logging.INFO, logger="kinema.studio"):
        for case, (body, headers) in BODIES.items():
            assert_client_error(hostile_client.post(route, content=body, headers=headers), (route, case))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[:2000]
    assert hostile_client.app.state.jobs.active == 0          # nothing was queued


def test_malformed_uploads_and_paths_are_4xx(hostile_client, caplog):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(buffer, format="PNG")
    with caplog.at_level(logging.INFO, logger="kinema.studio"):
        for case, (body, kind) in UPLOADS.items():
            body = buffer.getvalue()[:60] if body is None else body
            assert_client_error(hostile_client.post("/api/uploads", content=body, headers={"content-type": kind}), case)
        for path in GETS:
            assert_client_error(hostile_client.get(path), path)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[:2000]


def test_malformed_websocket_messages_answer_and_keep_the_connection(hostile_client, caplog):
    with caplog.at_level(logging.INFO, logger="kinema.studio"), \
            hostile_client.websocket_connect("/api/poke") as ws:
        for case, message in WEBSOCKET.items():
            if isinstance(message, bytes):
                ws.send_bytes(message)
            else:
                ws.send_text(message)
            reply = ws.receive_json()
            assert reply["type"] == "error" and 400 <= reply["status"] < 500, (case, reply)
            assert len(reply["error"]) < 400, case
        ws.send_json({"type": "poke", "model": "poke-standin", "picture": "photo-coffee",     # still open
                      "point": [0.5, 0.5], "drag": [0.1, 0.0], "frames": 2})
        assert ws.receive_json()["type"] == "start"
        while ws.receive().get("bytes") is not None:
            pass
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[:2000]


def test_the_work_limit_holds_for_run_requests(hostile_client, monkeypatch):
    """The model's frame size x frames x videos of a request within KINEMA_MAX_WORK, checked
    before the job is queued (a 422 naming the limit)."""
    import kinema.validate

    body = {"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee", "num": 2, "frames": 4}
    monkeypatch.setattr(kinema.validate, "MAX_WORK", 8 * 8 * 4 * 2 - 1)     # the tiny cINN: 8x8 px
    response = hostile_client.post("/api/run/animate", json=body)
    assert response.status_code == 422 and "KINEMA_MAX_WORK" in response.json()["error"], response.text
    assert hostile_client.app.state.jobs.active == 0
    monkeypatch.setattr(kinema.validate, "MAX_WORK", 8 * 8 * 4 * 2)
    accepted = hostile_client.post("/api/run/animate", json=body)
    assert accepted.status_code == 202
    assert wait_job(hostile_client, accepted.json()["job"])["state"] == "done"


def test_an_edit_stroke_needs_a_point():
    """An Edit stroke with no points failed its job with a 500 (cv2 on an empty polyline)."""
    from kinema.serve.adapters.gendef import strokes_field
    from kinema.serve.requests import Payload

    for strokes in ([{"colour": "#ff0000", "points": []}], [{"colour": "#ff0000"}], [{"points": [[0.5]]}]):
        with pytest.raises(ApiError) as caught:
            strokes_field(Payload({"strokes": strokes}))
        assert caught.value.status == 400 and "points" in caught.value.message
    assert strokes_field(Payload({"strokes": [{"points": [[0.5, 0.5]]}]}))[0]["points"] == [(0.5, 0.5)]


def test_uploads_are_kept_compressed(models_dir):
    """Four all-black 2000x2000 PNGs (under 20 KB each, 12 MB each decoded): the store holds
    their bytes, and the memory kept after the uploads does not grow with their number (it
    held every decoded picture: ~1000x the upload)."""
    import tracemalloc

    buffer = io.BytesIO()
    Image.new("RGB", (2000, 2000)).save(buffer, format="PNG")
    data = buffer.getvalue()
    with make_client(models_dir, max_upload_bytes=1 << 20) as client:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        keys = [client.post("/api/uploads", content=data, headers={"content-type": "image/png"}).json()["id"]
                for _ in range(4)]
        kept = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        uploads = client.app.state.catalogue.uploads
        assert uploads.stored_bytes() == 4 * len(data) < 100_000
        # at most the last decoded picture (a worker thread may hold its last result), not
        # one per upload: the old store held 4 x 12 MB here
        assert kept < 1.5 * 2000 * 2000 * 3, kept
        assert client.app.state.catalogue.picture(keys[0]).shape == (2000, 2000, 3)   # decoded on use


def test_a_disconnect_mid_upload_is_one_info_line(caplog):
    """Starlette raises ClientDisconnect from the body stream: one INFO line, a 4xx for nobody,
    no ERROR traceback."""
    import asyncio

    from starlette.requests import ClientDisconnect

    from kinema.serve.requests import read_body

    class Request:
        method, headers = "POST", {}
        url = type("URL", (), {"path": "/api/uploads"})()

        async def stream(self):
            yield b"\x89PNG half"
            raise ClientDisconnect()

    with caplog.at_level(logging.INFO, logger="kinema.studio"), pytest.raises(ApiError) as caught:
        asyncio.run(read_body(Request(), 1 << 20))
    assert 400 <= caught.value.status < 500
    records = [r for r in caplog.records if r.name == "kinema.studio"]
    assert [r.levelno for r in records] == [logging.INFO] and "disconnected" in records[0].getMessage()
    assert records[0].exc_info is None


# this module is also the studio adapter of the stand-in family below: the stand-in's poke,
# and a ``prepare`` that blocks until the test lets it go
PREPARE_GATE = threading.Event()
PREPARED: list[str] = []


def prepare(served, payload, catalogue) -> dict:
    picture = payload.text("picture", required=True)
    payload.done()
    PREPARED.append(picture)
    PREPARE_GATE.wait(10)
    return {"picture": picture}


def test_prepare_waits_in_the_job_queue(models_dir):
    """With one worker and no waiting room, a prepare behind a running job is refused (429),
    as an HTTP job would be; once the worker is free it runs as a job."""
    from starlette.testclient import TestClient

    from kinema.serve.jobs import Result

    app = studio_app(models_dir, workers=1, max_waiting=0)
    app.state.store.models["poke-standin"].adapter = __name__
    PREPARE_GATE.clear()
    PREPARED.clear()
    release = threading.Event()
    with TestClient(app, raise_server_exceptions=False) as client, client.websocket_connect("/api/poke") as ws:
        held = app.state.jobs.submit("animate", lambda progress: release.wait(10) and Result({}))
        ws.send_json({"type": "prepare", "model": "poke-standin", "picture": "photo-coffee"})
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["status"] == 429 and PREPARED == [], reply
        release.set()
        app.state.jobs.wait(held.id)
        PREPARE_GATE.set()
        ws.send_json({"type": "prepare", "model": "poke-standin", "picture": "photo-coffee"})
        ready = ws.receive_json()
        assert ready == {"type": "ready", "picture": "photo-coffee", "about": ready["about"]}
        assert ready["about"]["caption"] == ("ModalStandIn, 40x64, trained an unknown number of "
                                             "steps on unknown data (no recipe.json beside the model)")
        assert PREPARED == ["photo-coffee"]


def test_the_studio_corpus():
    cases = (len(BODIES) * len(JOB_ROUTES) + len(UPLOADS) + len(GETS) + len(WEBSOCKET) + 3 + 1 + 1 + 1 + 1)
    print(f"hostile corpus, studio: {cases} (input, entry point) pairs")
    assert cases >= 120
