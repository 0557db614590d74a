"""The cINN in the studio (``kinema.methods.cinn.apps``): *Animate* (several videos from one
picture) and *Vary* (samples nu ~ N(0, I), the control eta swept over its bins, motion transfer
nu~ = T^-1(q_phi(X~); x~0) from a chosen clip of the synthetic suite, Sec. 4.4)."""
from __future__ import annotations

from kinema.serve.jobs import Result
from kinema.serve.requests import ApiError, Payload

TABS = ("animate", "vary")
MAX_SAMPLES = 8
MAX_FRAMES = 64
FPS = 8.0


def accepts(entry) -> bool:
    return entry.name == "cinn-flow"          # stages 1 and 2 are built into the saved flow


def load(folder):
    from kinema.pretrained import load_pretrained

    return load_pretrained(folder).eval()


def summarize(config: dict) -> dict:
    """What the page needs from a saved flow's config (``FlowConfig`` with its embedded
    autoencoder config), read without building the model."""
    video = config["autoencoder"]
    return {"shape": [video["image_size"], video["image_size"]], "frames": video["num_frames"],
            "channels": video["channels"], "control_bins": config["control_bins"],
            "max_samples": MAX_SAMPLES, "max_frames": MAX_FRAMES}


def _videos(videos: list, labels: list[str]) -> Result:
    """(t c h w) tensors -> sprite sheets the page plays."""
    result = Result({})
    for video, label in zip(videos, labels):
        result.add_video(video, label, FPS)
    return result


def _x0(model, picture):
    from kinema.data.pictures import frames_to_model
    from kinema.devices import module_device

    cfg = model.video_config
    return frames_to_model([picture], cfg.channels, cfg.image_size).to(module_device(model))  # (1 c h w)


def _control(model, control: int | None, field: str = "control"):
    bins = model.config.control_bins
    if bins and control is None:
        raise ApiError(400, f"this cINN takes a control eta: set {field!r} to a bin in 0..{bins - 1}")
    if not bins and control is not None:
        raise ApiError(400, f"this cINN was trained without a control eta: leave {field!r} unset")
    if control is not None and control >= bins:
        raise ApiError(400, f"field {field!r} must be a bin in 0..{bins - 1}; got {control}")
    return None if control is None else [control]


def request(tab: str, p: Payload, served, catalogue):
    picture_id = p.text("picture", required=True)
    catalogue.picture(picture_id)                      # 404 now for an unknown id
    if tab == "animate":
        for name in ("loop", "slowmo", "magnify"):
            if p.data.get(name) not in (None, False):
                raise ApiError(400, f"the cINN does not support {name!r} (Generative Image "
                                    f"Dynamics models do); leave it unset")
            p.read.add(name)
        mode = "samples"
    else:
        mode = p.text("mode", "samples", choices=("samples", "control", "transfer"))
    num = p.integer("num", 4, 1, MAX_SAMPLES)
    frames = p.integer("frames", None, 2, MAX_FRAMES)
    seed = p.integer("seed", 0, 0, 2 ** 31)
    control = p.integer("control", None, 0, 10_000)
    controls = p.data.get("controls") if mode == "control" else None
    p.read.add("controls")
    if controls is not None and (not isinstance(controls, list) or not 1 <= len(controls) <= MAX_SAMPLES
                                 or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                                            for c in controls)):
        raise ApiError(400, f"field 'controls' must be a list of 1..{MAX_SAMPLES} bins")
    clip = catalogue.clip(p.text("clip", required=True)) if mode == "transfer" else None
    p.done()

    def work(progress) -> Result:
        import torch

        from kinema.methods.cinn.apps import animate, transfer_motion

        progress(0.05, "loading the cINN")
        model = served.load()
        cfg = model.video_config
        length = frames or cfg.num_frames
        x0 = _x0(model, catalogue.picture(picture_id))
        if mode == "transfer":
            progress(0.3, "encoding the clip's motion nu~")
            item = clip.video(cfg.image_size, cfg.num_frames)
            source = item["video"]                                          # (t c h w)
            if source.shape[1] != cfg.channels:
                source = source.mean(1, keepdim=True) if cfg.channels == 1 else source.expand(-1, 3, -1, -1)
            eta, bins = None, model.config.control_bins
            if bins:
                clip_bins = int(item["eta_onehot"].shape[0]) if "eta_onehot" in item else 0
                if clip_bins != bins:
                    raise ApiError(400, f"clip {clip.id} has {clip_bins or 'no'} control bins; this "
                                        f"cINN reads {bins} (pick a clip of its dataset)")
                eta = [int(item["eta"])]                                    # the source's own eta
            video = transfer_motion(model, source[None], x0, source_control=eta)[0]
            return _videos([source, video], [f"source: {clip.title}", "transfer to the picture"])
        if mode == "control":
            bins = model.config.control_bins
            if not bins:
                raise ApiError(400, "this cINN was trained without a control eta (train a -control preset)")
            chosen = controls or [round(k * bins / 4) % bins for k in range(4)]
            if max(chosen) >= bins:
                raise ApiError(400, f"field 'controls' must hold bins in 0..{bins - 1}; got {chosen}")
            runs = [(f"eta = bin {c} of {bins}", [c]) for c in chosen]
        else:
            eta = _control(model, control)
            runs = [(f"sample {i + 1}" + (f", eta = bin {control}" if eta else ""), eta) for i in range(num)]
        videos = []
        for i, (label, eta) in enumerate(runs):
            progress(0.1 + 0.85 * i / len(runs), f"sampling video {i + 1} of {len(runs)}")
            seed_i = seed if mode == "control" else seed + i
            videos.append(animate(model, x0, length, 1, control=eta, seed=seed_i)[0, 0])
        progress(0.97, "encoding")
        with torch.no_grad():
            return _videos(videos, [label for label, _ in runs])

    return work
