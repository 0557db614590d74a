"""The Poke tab on a user's video (``kinema.serve.videos``, POST /api/videos): a small swaying
clip written with kinema's video writer is uploaded, its modal basis made by a job, and a poke of
its first frame streamed at the clip's size: moving where the clip moves, still where it is
still, frame for frame the frames of ``kinema poke --from-video`` (``modal.poke_frames`` with the
clip's own spectral volume and plain softmax splatting). No model is served: none is needed.
Refusals: not a video, too long, too large a frame, too short, an unknown clip."""
from __future__ import annotations

import numpy as np
import pytest

from tests.serve.conftest import make_client, wait_job
from tests.serve.test_studio_safety import receive_poke

HEIGHT, WIDTH, FRAMES = 32, 64, 32
SWAY = 2.0      # px: the right half's horizontal swing, one period over the clip


def half_swaying_frames(frames: int = FRAMES) -> np.ndarray:
    """(t h w 3) uint8: a smooth random texture whose right half (x >= 32) sways left and right
    by SWAY px, once over the clip, and whose left half stands still."""
    import cv2

    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (HEIGHT, WIDTH, 3)).astype(np.uint8), (0, 0), 1.5)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
    moving = (xx >= WIDTH // 2).astype(np.float32)
    return np.stack([cv2.remap(texture, xx - np.float32(SWAY * np.sin(2 * np.pi * t / frames)) * moving, yy,
                               cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT) for t in range(frames)])


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    from kinema.data.io import write_video

    return write_video(tmp_path_factory.mktemp("clip") / "sway.mp4", half_swaying_frames(), fps=25)


@pytest.fixture(scope="module")
def video_client(tmp_path_factory):
    """A studio with no model at all: poking a clip needs none."""
    with make_client(tmp_path_factory.mktemp("no-models")) as client:
        yield client


def upload(client, data: bytes, kind: str = "video/mp4"):
    return client.post("/api/videos", content=data, headers={"content-type": kind})


@pytest.fixture(scope="module")
def ready(video_client, clip_file):
    response = upload(video_client, clip_file.read_bytes())
    assert response.status_code == 202, response.text
    job = wait_job(video_client, response.json()["job"], timeout=60)
    assert job["state"] == "done", job
    return job


def poke(client, video: str, **change):
    message = {"type": "poke", "video": video, "point": [0.75, 0.5], "drag": [0.05, 0.0],
               "damping": 0.05, "stiffness": 1.0, "frames": 24}
    message.update(change)
    with client.websocket_connect("/api/poke") as ws:
        ws.send_json(message)
        return receive_poke(ws)


def test_the_job_makes_the_clips_modal_basis_and_says_so(video_client, ready, clip_file):
    import io

    from PIL import Image

    from kinema.data.io import read_video

    result = ready["result"]
    assert result["video"].startswith("video-") and ready["kind"] == "poke-video"
    assert (result["width"], result["height"], result["frames"]) == (WIDTH, HEIGHT, FRAMES)
    assert result["bins"] == 16 and result["modes"] == 4
    assert result["caption"].startswith(f"modal basis of your clip ({FRAMES} frames), no learned model")
    assert "plain softmax splatting" in result["caption"]
    # the clip's first frame as decoded, the picture the tab pokes
    media = f"/api/jobs/{ready['id']}/media/{result['first_frame']}"
    first = np.asarray(Image.open(io.BytesIO(video_client.get(media).content)))
    np.testing.assert_array_equal(first, read_video(clip_file)[0])


def test_a_poke_moves_the_first_frame_where_the_clip_moves(video_client, ready, clip_file):
    from kinema.data.io import read_video

    start, frames, end = poke(video_client, ready["result"]["video"])
    assert (start["width"], start["height"], start["frames"]) == (WIDTH, HEIGHT, 24)
    assert start["caption"] == ready["result"]["caption"]
    assert frames.shape == (24, HEIGHT, WIDTH, 4) and end["frames"] == 24
    first = read_video(clip_file)[0].astype(np.int32)
    change = np.abs(frames[..., :3].astype(np.int32) - first).mean(axis=(0, 3))       # (h w) levels
    moving, still = change[:, WIDTH // 2 + 8:].mean(), change[:, :WIDTH // 2 - 12].mean()
    print(f"mean change from the first frame: {moving:.3f} levels where the clip moves, {still:.4f} where it is still")
    assert moving > 4.0, (moving, still)
    assert still < 0.05 * moving, (moving, still)


def test_the_stream_is_kinema_poke_from_video(video_client, ready, clip_file):
    """The frames are those of ``modal.poke_frames`` with the clip's own spectral volume and
    plain splatting, poked at the same pixel with the same force (the drag in px)."""
    import torch

    from kinema.data.io import read_video, to_uint8
    from kinema.methods.dynamics.clip import clip_motion, splatting_renderer
    from kinema.methods.dynamics.modal import poke_frames
    from kinema.nn.precision import bfloat16_is_fast

    _, frames, _ = poke(video_client, ready["result"]["video"], point=[0.7, 0.4], drag=[-0.04, 0.02],
                        damping=0.1, stiffness=1.5, frames=10)
    picture, volume, period = clip_motion(read_video(clip_file), progress=False)
    expected = torch.stack(list(poke_frames(
        splatting_renderer(HEIGHT, WIDTH), picture, volume, period, (0.7 * (WIDTH - 1), 0.4 * (HEIGHT - 1)),
        (-0.04 * WIDTH, 0.02 * HEIGHT), 10, stiffness=1.5, damping=0.1, bfloat16=bfloat16_is_fast())))
    np.testing.assert_array_equal(frames[..., :3], to_uint8(expected))
    assert (frames[..., 3] == 255).all()


def test_a_poke_where_the_clip_is_still_moves_nothing(video_client, ready):
    _, frames, _ = poke(video_client, ready["result"]["video"], point=[0.15, 0.5], drag=[0.05, 0.0], frames=12)
    change = np.abs(frames[..., :3].astype(np.int32) - frames[:1, ..., :3].astype(np.int32))
    assert change.mean() < 0.05, change.mean()


@pytest.mark.parametrize("data, kind, status, words", [
    (b"this is a text file, not a video at all", "video/mp4", 415, "not a video in a supported format (mp4, webm, gif)"),
    (b"", "video/mp4", 400, "empty"),
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "video/mp4", 415, "could not be read"),
    (b"\x00" * 16, "application/json", 415, "Content-Type"),
])
def test_what_is_not_a_video_is_refused_in_one_sentence(video_client, data, kind, status, words):
    response = upload(video_client, data, kind)
    assert response.status_code == status, response.text
    assert words in response.json()["error"] and "Traceback" not in response.text


def test_a_clip_over_the_length_or_size_limit_is_refused(video_client, tmp_path):
    from kinema.data.io import write_video

    frames = half_swaying_frames(40)
    long = write_video(tmp_path / "long.mp4", frames[:, :32, :32], fps=25).read_bytes()
    with make_client(tmp_path, max_clip_frames=30, max_clip_pixels=32 * 32) as small:
        response = upload(small, long)
        assert response.status_code == 413, response.text
        assert response.json()["error"] == ("the video has more than 30 frames; the limit is 30 frames "
                                            "(trim it, e.g. ffmpeg -frames:v 30)")
        short = write_video(tmp_path / "short.mp4", frames[:16, :32, :32], fps=25).read_bytes()
        assert upload(small, short).status_code == 202                          # 32x32, 16 frames: fits
        response = upload(small, write_video(tmp_path / "wide.mp4", frames[:8], fps=25).read_bytes())
        assert response.status_code == 413 and "64x32 = 2048 pixels a frame" in response.json()["error"]
    gif = write_video(tmp_path / "three.gif", frames[:3], fps=25).read_bytes()
    response = upload(video_client, gif, "image/gif")
    assert response.status_code == 422 and "at least 4" in response.json()["error"], response.text


def test_a_gif_is_poked_like_an_mp4(video_client, tmp_path):
    from kinema.data.io import write_video

    gif = write_video(tmp_path / "sway.gif", half_swaying_frames(), fps=25).read_bytes()
    job = wait_job(video_client, upload(video_client, gif, "image/gif").json()["job"], timeout=60)
    assert job["state"] == "done" and job["result"]["frames"] == FRAMES, job
    start, frames, _ = poke(video_client, job["result"]["video"], frames=6)
    assert frames.shape == (6, HEIGHT, WIDTH, 4)


def test_bad_video_pokes_are_error_messages(video_client, ready):
    video = ready["result"]["video"]
    with video_client.websocket_connect("/api/poke") as ws:
        for message, words in (
                ({"video": "video-000000000000"}, "upload the clip again"),
                ({"video": video, "point": [1.5, 0.2]}, "'point'"),
                ({"video": video, "model": "dynamics"}, "unknown field(s) ['model']"),
                ({"video": video, "frames": 10_000}, "'frames'")):
            ws.send_json({"type": "poke", "point": [0.5, 0.5], "drag": [0.1, 0.0], **message})
            answer = ws.receive_json()
            assert answer["type"] == "error" and words in answer["error"], (message, answer)


def test_only_the_last_clips_are_kept(video_client, ready):
    from kinema.serve.videos import PokeVideos

    videos = PokeVideos(capacity=2)
    keys = [videos.add({"n": i}) for i in range(3)]
    assert len(videos) == 2 and videos.get(keys[2]) == {"n": 2}
    with pytest.raises(Exception, match="upload the clip again"):
        videos.get(keys[0])


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF whose header declares a width x height screen, holding one 1x1 frame."""
    import struct

    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00" + b"\x3b")


def test_hostile_videos_are_4xx_and_log_no_error(video_client, clip_file, caplog):
    import logging

    data = clip_file.read_bytes()
    cases = {
        "an mp4 cut after its header": (data[:len(data) // 3], 415, "truncated"),
        "an mp4 cut in its first box": (data[:12], 415, "could not be read"),
        "webm magic then junk": (b"\x1a\x45\xdf\xa3" + b"\xff" * 200, 415, "could not be read"),
        "gif magic then junk": (b"GIF89a" + b"\x00" * 5, 415, "gif could not be"),
        "a gif declaring 4000x4000": (gif_declaring(4000, 4000), 413, "4000x4000 = 16000000 pixels a frame"),
        # Pillow's decompression-bomb check or kinema's own header check answers first, depending
        # on Image.MAX_IMAGE_PIXELS, which other tests in the same worker may have changed
        "a gif declaring 20000x20000": (gif_declaring(20_000, 20_000), 413, "pixels a frame"),
    }
    with caplog.at_level(logging.INFO, logger="kinema.studio"):
        for case, (body, status, words) in cases.items():
            response = upload(video_client, body, "application/octet-stream")
            assert response.status_code == status and words in response.json()["error"], (case, response.text)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[:2000]
    assert video_client.app.state.jobs.active == 0
