"""Uploads (size, pixel count read from the header, only decodable pictures), bounded work
(429 when the queue is full, 503 for a second stream), the poke websocket, the bind address."""
from __future__ import annotations

import io
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.serve.conftest import make_client, run_job


PNG = {"content-type": "image/png"}


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height (and one tiny IDAT): what a decompression
    bomb looks like before its pixels are inflated."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def small_client(models_dir):
    with make_client(models_dir, max_upload_bytes=200_000, max_pixels=300 * 300,
                     max_waiting=1, workers=1) as c:
        yield c


def test_an_uploaded_picture_is_decoded_and_used_by_id(small_client):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    response = small_client.post("/api/uploads", content=png_bytes(picture), headers=PNG)
    assert response.status_code == 201, response.text
    key = response.json()["id"]
    assert key.startswith("upload-") and response.json()["width"] == 60
    stored = Image.open(io.BytesIO(small_client.get(f"/api/pictures/{key}").content))
    np.testing.assert_array_equal(np.asarray(stored), picture)
    job = run_job(small_client, "animate", {"model": "cinn-flow-tiny-clouds", "picture": key, "num": 1})
    assert job["state"] == "done"


@pytest.mark.parametrize("kind", ["JPEG", "GIF", "WEBP", "BMP"])
def test_each_listed_format_decodes(small_client, kind):
    picture = np.full((20, 30, 3), 120, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format=kind)
    response = small_client.post("/api/uploads", content=buffer.getvalue(), headers={"content-type": f"image/{kind.lower()}"})
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (30, 20)


def test_limits_and_non_pictures_are_refused_before_decoding(small_client, monkeypatch):
    from PIL import ImageFile

    decoded, load = [], ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or load(self))
    cases = [
        (bomb_png(30_000, 30_000), 413, "pixels"),          # a bomb: refused by its header
        (bomb_png(301, 300), 413, "90300 pixels"),          # just over the limit
        (b"x" * 200_001, 413, "200001 bytes"),              # over the byte limit
        (b"#!/bin/sh\nrm -rf /\n", 415, "not a picture"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415, "not a picture"),
        (png_bytes(np.zeros((50, 50, 3), np.uint8))[:60], 415, "could not be decoded"),   # truncated
        (png_bytes(np.zeros((4, 4, 3), np.uint8)), 422, "at least 8 px"),
        (b"", 400, "empty"),
    ]
    for body, status, words in cases:
        response = small_client.post("/api/uploads", content=body, headers=PNG)
        assert response.status_code == status, (words, response.text)
        assert words in response.json()["error"], response.json()
    assert (30_000, 30_000) not in decoded and (301, 300) not in decoded
    assert (50, 50) in decoded            # the truncated one was decoded (the spy is in place)
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(buffer, format="TIFF")   # decodes, not listed
    assert small_client.post("/api/uploads", content=buffer.getvalue(), headers=PNG).status_code == 415


def test_content_length_over_the_limit_is_refused_without_reading(small_client):
    response = small_client.post("/api/uploads", content=b"x" * 10,
                                 headers={"content-length": "999999999", **PNG})
    assert response.status_code in (400, 413)
    assert "limit" in response.json()["error"] or "Content-Length" in response.json()["error"]


def test_uploads_are_bounded_in_memory():
    from kinema.serve.catalogue import Uploads

    store = Uploads(capacity=3)
    decode = lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    encoded = [png_bytes(np.full((8, 8, 3), i, np.uint8)) for i in range(5)]
    keys = [store.add(data, decode) for data in encoded]
    assert len(store) == 3 and store.get(keys[0]) is None and store.get(keys[4])[0, 0, 0] == 4
    assert store.stored_bytes() == sum(map(len, encoded[2:]))      # compressed, not decoded


def test_excess_jobs_get_429_with_retry_after(small_client):
    from kinema.serve.jobs import Result

    release = threading.Event()
    jobs = small_client.app.state.jobs             # 1 worker + 1 waiting
    held = [jobs.submit("animate", lambda progress: release.wait(10) and Result({})) for _ in range(2)]
    try:
        response = small_client.post("/api/run/animate", json={"model": "cinn-flow-tiny-clouds",
                                                               "picture": "photo-coffee"})
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        assert "busy" in response.json()["error"]
    finally:
        release.set()
    assert all(jobs.wait(j.id).state == "done" for j in held)
    assert run_job(small_client, "animate", {"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee",
                                             "num": 1})["state"] == "done"


def test_finished_jobs_are_forgotten_beyond_keep():
    from kinema.serve.jobs import Jobs, Result

    jobs = Jobs(workers=1, max_waiting=10, keep=2)
    made = [jobs.submit("animate", lambda progress: Result({}, [b"x" * 10])) for _ in range(4)]
    # one worker runs them in order: once the last is done (bookkeeping included) all are; waiting
    # on each in turn raced with it (the first could be forgotten before its wait was called)
    jobs.wait(made[-1].id)
    kept = [j.id for j in made if j.id in jobs._jobs]
    assert kept == [made[2].id, made[3].id]
    jobs.shutdown()


def test_wait_returns_after_the_finished_jobs_bookkeeping():
    """``wait`` must not return while older jobs are still being forgotten (this test was flaky
    when a job was marked finished before its bookkeeping ran): slow the bookkeeping down."""
    import time

    from kinema.serve.jobs import Jobs, Result

    class SlowBookkeeping(Jobs):
        def _forget_old(self):
            time.sleep(0.05)
            super()._forget_old()

    jobs = SlowBookkeeping(workers=1, max_waiting=10, keep=1)
    made = [jobs.submit("animate", lambda progress: Result({}, [b"x"])) for _ in range(3)]
    jobs.wait(made[-1].id)
    assert [j.id for j in made if j.id in jobs._jobs] == [made[2].id]
    jobs.shutdown()


def test_a_bug_in_a_job_is_a_500_message_without_traceback(small_client):
    jobs = small_client.app.state.jobs
    job = jobs.submit("animate", lambda progress: 1 / 0)
    state = small_client.get(f"/api/jobs/{jobs.wait(job.id).id}").json()
    assert state["status"] == 500 and "internal error" in state["error"]
    assert "ZeroDivision" not in str(state) and "Traceback" not in str(state)


def poke_message(**change):
    message = {"type": "poke", "model": "poke-standin", "picture": "photo-coffee",
               "point": [0.25, 0.5], "drag": [0.1, 0.0], "damping": 0.1, "stiffness": 1.0, "frames": 12}
    message.update(change)
    return message


def receive_poke(ws):
    start = ws.receive_json()
    assert start["type"] == "start", start
    frames = []
    while True:
        message = ws.receive()
        if message.get("bytes") is not None:
            frames.append(np.frombuffer(message["bytes"], np.uint8).reshape(start["height"], start["width"], 4))
            continue
        import json
        end = json.loads(message["text"])
        assert end["type"] == "end", end
        return start, np.stack(frames), end


def test_poke_streams_frames_of_the_simulation(client):
    from tests.serve.standin import displacement

    with client.websocket_connect("/api/poke") as ws:
        ws.send_json(poke_message())
        start, frames, end = receive_poke(ws)
        assert (start["width"], start["height"], start["frames"]) == (64, 40, 12)
        assert frames.shape == (12, 40, 64, 4) and end["frames"] == 12
        assert (frames[..., 3] == 255).all()
        # frame t moves where the poke was: the change from the still picture is centred at
        # the drag point (x = 0.25 * 64 = 16) and follows the oscillator u(t)
        still = client.app.state.catalogue.picture("photo-coffee")
        from kinema.serve.media import fit
        still = fit(still, 40, 64).astype(np.int32)
        change = np.abs(frames[..., :3].astype(np.int32) - still).sum(-1)        # (t h w)
        columns = change.sum((0, 1))
        centre = (columns * np.arange(64)).sum() / columns.sum()
        assert abs(centre - 16) < 6, centre
        u = np.abs(displacement(np.arange(12, dtype=np.float32), 1.0, 0.1))
        energy = change.sum((1, 2))
        assert np.corrcoef(energy, u)[0, 1] > 0.8
        # a second poke on the same connection
        ws.send_json(poke_message(frames=3))
        assert receive_poke(ws)[1].shape[0] == 3


def test_bad_pokes_are_error_messages(client):
    with client.websocket_connect("/api/poke") as ws:
        for message, words in [
            (poke_message(point=[1.5, 0.2]), "'point'"),
            (poke_message(drag="left"), "'drag'"),
            (poke_message(frames=10_000), "'frames'"),
            (poke_message(model="cinn-flow-tiny-clouds"), "does not serve the poke tab"),
            (poke_message(picture="../../etc/passwd"), "no picture"),
            (poke_message(extra=1), "'extra'"),
        ]:
            ws.send_json(message)
            reply = ws.receive_json()
            assert reply["type"] == "error" and words in reply["error"], (words, reply)
            assert 400 <= reply["status"] < 500
        ws.send_text("{oops")
        assert ws.receive_json()["status"] == 400


def test_a_second_simultaneous_stream_gets_503(client, monkeypatch):
    import threading
    import time

    from tests.serve import standin

    # the first stream holds its slot until the test lets it go: without the gate a fast
    # stand-in could finish all its frames before the second request arrives (a race)
    gate, original = threading.Event(), standin.poke

    def gated_poke(served, payload, catalogue):
        info, frames = original(served, payload, catalogue)

        def held():
            for i, frame in enumerate(frames):
                if i == 1:
                    gate.wait(10)
                yield frame
        return info, held()

    monkeypatch.setattr(standin, "poke", gated_poke)
    with client.websocket_connect("/api/poke") as first, client.websocket_connect("/api/poke") as second:
        first.send_json(poke_message(frames=300))
        assert first.receive_json()["type"] == "start"
        second.send_json(poke_message(frames=3))
        reply = second.receive_json()
        assert reply["type"] == "error" and reply["status"] == 503, reply
        gate.set()
    deadline = time.monotonic() + 10
    while True:                                                # the slot comes back
        with client.websocket_connect("/api/poke") as again:
            again.send_json(poke_message(frames=2))
            start = again.receive_json()
            if start["type"] == "start":   # read it to its end: the stream holds the slot till then
                while again.receive().get("bytes") is not None:
                    pass
                break
            assert start.get("status") == 503 and time.monotonic() < deadline, start
        time.sleep(0.05)
    with client.websocket_connect("/api/poke") as again:      # and a whole stream runs in it
        again.send_json(poke_message(frames=2))
        assert receive_poke(again)[1].shape[0] == 2


def test_studio_binds_to_loopback_unless_told(monkeypatch, models_dir):
    import uvicorn
    from typer.testing import CliRunner

    from kinema.cli import app

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: calls.append(kw))
    runner = CliRunner()
    assert runner.invoke(app, ["studio", "--models", str(models_dir)]).exit_code == 0
    assert runner.invoke(app, ["studio", "--models", str(models_dir), "--host", "0.0.0.0",
                               "--port", "9000"]).exit_code == 0
    assert (calls[0]["host"], calls[0]["port"]) == ("127.0.0.1", 7860)
    assert (calls[1]["host"], calls[1]["port"]) == ("0.0.0.0", 9000)
    result = runner.invoke(app, ["studio", "--models", str(models_dir / "missing")])
    assert result.exit_code != 0 and "not a folder" in str(result.exception or result.output)


def test_cross_site_requests_are_refused(small_client, models_dir):
    """A page on another site can send only "simple" requests (text/plain, forms) without a
    CORS preflight, and opens websockets with its own Origin: all refused."""
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from kinema.serve.app import create_app

    body = b'{"model": "cinn-flow-tiny-clouds", "picture": "photo-coffee"}'
    response = small_client.post("/api/run/animate", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "application/json" in response.json()["error"]
    response = small_client.post("/api/uploads", content=png_bytes(np.zeros((9, 9, 3), np.uint8)),
                                 headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 415 and "image/*" in response.json()["error"]
    with pytest.raises(WebSocketDisconnect) as closed:
        with small_client.websocket_connect("/api/poke", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()
    assert closed.value.code == 1008
    with small_client.websocket_connect("/api/poke", headers={"origin": "http://testserver"}) as ws:
        ws.send_json(poke_message(frames=2))
        assert receive_poke(ws)[1].shape[0] == 2
    # DNS rebinding: a name other than the loopback ones is not answered
    app = create_app(models_dir, allowed_hosts=("127.0.0.1", "localhost"))
    assert TestClient(app, base_url="http://evil.example").get("/api/state").status_code == 400
    assert TestClient(app, base_url="http://127.0.0.1:7860").get("/api/state").status_code == 200
