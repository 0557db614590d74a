"""Generative Image Dynamics in the studio (``kinema.methods.dynamics``), on a trained
``dynamics-render`` model (the renderer with its embedded motion model):

- *Animate*: ``apps.animate`` — spectral volumes sampled for the picture (DPM-Solver++), their
  motion textures rendered; ``loop`` (motion self-guidance, Eq. (5)), ``slowmo``, ``magnify``;
  the spectral volume shown as pictures (``apps.spectral_volume_picture``).
- *Poke*: ``modal.poke_frames`` — the picture's spectral volume as a modal basis (Eq. (6)), an
  impulse at the drag point, frames yielded as they are simulated and rendered. The drag of
  (dx, dy) px is the poke's force, the most the poked pixel swings (where the picture moves
  most; ``modal.modal_basis`` keeps the predicted relative amplitudes under one scale). The spectral volume of a (model, picture, seed) is computed once and kept: only the
  first poke of a picture waits for the diffusion sampler (the page asks for it as soon as the
  picture is shown, ``prepare``).
- *Poke a video* (no model): ``clip.clip_motion`` — the paper's data path on a user's clip (DIS
  flow from its first frame to every frame, the temporal FFT, its K lowest bins) gives the clip's
  own modal basis; its first frame is poked at full resolution and rendered by plain softmax
  splatting (``clip.splatting_renderer``), whatever model the tab has selected: a trained
  renderer is trained at one size, the clip comes at its own. ``clip_request`` makes the state
  once (a job); ``clip_poke`` streams a poke of it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from kinema.errors import KinemaError
from kinema.serve.jobs import Result
from kinema.serve.requests import ApiError, Payload

TABS = ("animate", "poke")
MAX_SAMPLES = 4
MAX_FRAMES = 256
FPS = 25.0
_volumes: OrderedDict = OrderedDict()      # (model id, picture id, seed) -> ``prepared``
_volumes_lock = threading.Lock()
KEEP_VOLUMES = 8


def accepts(entry) -> bool:
    return entry.name == "dynamics-render"


def summarize(config: dict) -> dict:
    if config["motion"] is None:
        raise ValueError("a motion model (this renderer was trained alone)")
    h, w = config["image_size"]
    return {"shape": [h, w], "channels": 3, "max_samples": MAX_SAMPLES, "max_frames": MAX_FRAMES,
            "options": ["num", "frames", "seed", "loop", "slowmo", "magnify"]}


def load(folder):
    from kinema.methods.dynamics.apps import load_sampler

    return load_sampler(folder)


def _picture(renderer, catalogue, picture_id: str):
    from kinema.data.pictures import frames_to_model

    from kinema.devices import module_device

    return frames_to_model([catalogue.picture(picture_id)], 3,
                           tuple(renderer.motion.image_size)).to(module_device(renderer))


def request(tab: str, p: Payload, served, catalogue):
    picture_id = p.text("picture", required=True)
    catalogue.picture(picture_id)
    num = p.integer("num", 1, 1, MAX_SAMPLES)
    frames = p.integer("frames", None, 2, MAX_FRAMES)
    seed = p.integer("seed", 0, 0, 2 ** 31)
    loop = p.flag("loop", False)
    slowmo = p.number("slowmo", 1.0, 1.0, 8.0)
    magnify = p.number("magnify", 1.0, 0.0, 10.0)
    if p.data.get("control") is not None:
        raise ApiError(400, "Generative Image Dynamics takes no control eta; leave 'control' unset")
    p.read.add("control")
    p.done()

    def work(progress) -> Result:
        from kinema.methods.dynamics.apps import animate, spectral_volume_picture
        from kinema.viz.report import encode_png

        progress(0.05, "loading the dynamics model")
        renderer = served.load()
        image = _picture(renderer, catalogue, picture_id)
        progress(0.15, f"sampling {num} spectral volume(s) ("
                       f"{'DDIM with self-guidance' if loop else 'DPM-Solver++'}) and rendering")
        videos, volumes = animate(renderer, image, num_frames=frames, num_samples=num, seed=seed, loop=loop,
                                  slowmo=slowmo, magnify=magnify, progress=False)
        progress(0.9, "encoding")
        result = Result({"period": renderer.motion.period})
        how = ", ".join(x for x in ("loop" if loop else "", f"slow motion x{slowmo:g}" if slowmo != 1 else "",
                                    f"magnified x{magnify:g}" if magnify != 1 else "") if x)
        for i, video in enumerate(videos):
            result.add_video(video, f"sample {i + 1}" + (f" ({how})" if how else ""), FPS)
        for i, volume in enumerate(volumes):
            result.add_image(encode_png(spectral_volume_picture(volume), min_size=128),
                             f"spectral volume of sample {i + 1}: amplitude (top) and flow colours "
                             f"(bottom) of each frequency, lowest first")
        return result

    return work


def poke_state(renderer, image, volume, period: int) -> dict:
    """What every poke of a picture shares: the picture (1 3 h w), its spectral volume (k 4 h w),
    the modal basis, the renderer's features and splatting metric of the picture and its folded
    decoder (the steps of ``modal.poke_frames`` before its loop, from its public pieces)."""
    import torch

    from kinema.methods.dynamics.modal import modal_basis
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.render_data import motion_weight

    with torch.no_grad():
        weight = motion_weight(spectral_volume_to_motion(volume[None], period, period=period))
        return {"image": image, "volume": volume, "period": period, "basis": modal_basis(volume, period),
                "features": renderer.pyramid(image), "metric": renderer.metric(image, weight.to(image)),
                "decoder": renderer.folded_decoder()}


def prepared(served, catalogue, picture_id: str, seed: int = 0) -> dict:
    """``poke_state`` of a picture, made once per (model, picture, seed) and kept: sampling the
    spectral volume takes the diffusion sampler seconds, so the release only simulates and
    renders."""
    import torch

    from kinema.methods.dynamics.sampling import predict_spectral_volume

    key = (served.id, picture_id, seed)
    with _volumes_lock:
        if key in _volumes:
            _volumes.move_to_end(key)
            return _volumes[key]
    renderer = served.load()
    image = _picture(renderer, catalogue, picture_id)
    with torch.no_grad():
        volume = predict_spectral_volume(renderer.motion, image, seed=seed, sampler="dpm", progress=False)[0, 0]
    entry = poke_state(renderer, image, volume, renderer.motion.period)
    with _volumes_lock:
        _volumes[key] = entry
        while len(_volumes) > KEEP_VOLUMES:
            _volumes.popitem(last=False)
    return entry


def prepare(served, p: Payload, catalogue) -> dict:
    """Compute (and keep) what a poke of the chosen picture needs, before the first release."""
    picture_id = p.text("picture", required=True)
    catalogue.picture(picture_id)
    p.done()
    prepared(served, catalogue, picture_id)
    return {"picture": picture_id}


def poke(served, p: Payload, catalogue):
    from kinema.serve.poke import poke_fields

    request = poke_fields(p, catalogue)
    return stream_poke(served.load(), prepared(served, catalogue, request.picture), request)


def stream_poke(renderer, ready: dict, request):
    """(stream info, frames (h w 3) uint8 as simulated) of one drag-and-release on ``ready``."""
    import torch

    from kinema.data.io import to_uint8
    from kinema.methods.dynamics.modal import ModalSimulator, render_simulation
    from kinema.nn.precision import bfloat16_is_fast

    image, period = ready["image"], ready["period"]
    h, w = image.shape[-2:]
    try:   # an unstable step or a point off the picture: a 400 before streaming
        simulator = ModalSimulator(ready["basis"], request.stiffness, request.damping)
        simulator.poke(request.point[0] * (w - 1), request.point[1] * (h - 1),
                       (request.drag[0] * w, request.drag[1] * h))
    except KinemaError as err:
        raise ApiError(400, str(err)) from None

    # interactive playback: the decoder in bfloat16 where the CPU runs it faster (frames within a
    # fraction of an 8-bit level of float32; kinema animate and the Animate tab stay float32)
    fast = bfloat16_is_fast(image.device)

    def frames():
        with torch.no_grad():   # Eq. (6); the first frame alone, then a few per renderer call
            for frame in render_simulation(renderer, ready["features"], ready["metric"], simulator,
                                           request.frames, decoder=ready["decoder"], bfloat16=fast):
                yield to_uint8(frame[None])[0]

    info = {"width": w, "height": h, "frames": request.frames, "period": period,
            "precision": "bfloat16 decoder" if fast else "float32"}
    return info, frames()


def clip_caption(frames: int, width: int, height: int, modes: int, bins: int) -> str:
    """What a poke of an uploaded clip is made of, said under the Poke tab's canvas."""
    return (f"modal basis of your clip ({frames} frames), no learned model: its first frame at "
            f"{width}x{height} px moved by the {modes} strongest of its {bins} lowest frequencies "
            f"(DIS flow), rendered by plain softmax splatting")


def clip_request(frames, keep):
    """The job that makes an uploaded clip (T h w 3) uint8 ready to poke, checked at once: at
    least ``clip.MIN_CLIP_FRAMES`` frames, and its optical flow (one field per frame at full
    resolution) within KINEMA_MAX_WORK. ``keep(state) -> id`` stores the state (the Poke tab's
    clips); the job's result says the id, the sizes, the caption, and carries the first frame
    (PNG, media ``first_frame``: the picture the tab pokes)."""
    from kinema.methods.dynamics.clip import MIN_CLIP_FRAMES
    from kinema.validate import check_work

    num_frames, height, width = frames.shape[:3]
    if num_frames < MIN_CLIP_FRAMES:
        raise ApiError(422, f"the video has {num_frames} frame(s); a clip needs at least {MIN_CLIP_FRAMES} "
                            f"to have a motion spectrum")
    check_work("the optical flow of the video", height, width, num_frames)

    def work(progress) -> Result:
        from kinema.methods.dynamics.clip import clip_motion, splatting_renderer
        from kinema.serve.media import png

        progress(0.05, f"optical flow (DIS) from the first frame to the {num_frames - 1} others at "
                       f"{width}x{height}")
        picture, volume, period = clip_motion(frames, progress=False)      # period: the clip's T frames
        progress(0.85, "the clip's modal basis and splatting weights")
        renderer = splatting_renderer(height, width)
        state = poke_state(renderer, picture, volume, period)
        state.pop("volume")       # a poke needs the basis; the (k 4 h w) float volume is twice its size
        modes, bins = len(state["basis"].bins), volume.shape[0]
        state["renderer"] = renderer
        state["caption"] = clip_caption(period, width, height, modes, bins)
        result = Result({"video": keep(state), "width": width, "height": height, "frames": period,
                         "bins": bins, "modes": modes, "caption": state["caption"]})
        result.info["first_frame"] = result.add(png(frames[0]))
        return result

    return work


def clip_poke(ready: dict, request):
    """``stream_poke`` of a clip made ready by ``clip_request``, with its caption in the stream info."""
    info, frames = stream_poke(ready["renderer"], ready, request)
    return {**info, "caption": ready["caption"]}, frames
