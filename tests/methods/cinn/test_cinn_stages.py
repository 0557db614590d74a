"""Each cINN stage trains with falling loss, saves and loads, and a missing stage is named."""
import dataclasses

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.cinn.autoencoder import VideoAutoencoder
from kinema.methods.cinn.config import (AutoencoderConfig, autoencoder_config, flow_config,
                                        flow_recipe, image_encoder_config, parse_preset)
from kinema.methods.cinn.image_encoder import ImageAutoencoder
from kinema.methods.cinn.model import CINN, PriorSampler
from kinema.stages import built_from, weights_digest


def tiny_batch(seed=0, b=4, name="bouncing-digits"):
    from kinema.bench.harness import collate
    from kinema.data import load_dataset

    extra = {"digit_size": 4} if name == "bouncing-digits" else {}
    data = load_dataset(name, "train", num_videos=b, num_frames=4, size=8, seed=seed, **extra)
    batch = collate([data[i] for i in range(b)])
    return {"video": batch["video"], "eta": batch["eta"]}


def fit(model, batch, steps, lr=3e-3, groups=None):
    groups = groups or model.parameter_groups()
    opts = {g: torch.optim.Adam([p for p in ps if p.requires_grad], lr=lr) for g, ps in groups.items()}
    history = []
    for _ in range(steps):
        for g, opt in opts.items():
            opt.zero_grad()
            out = model.training_step(batch, g)
            out["loss"].backward()
            opt.step()
            history.append((g, {k: float(v.detach()) for k, v in out.items()}))
    return history


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Tiny stage 1 and 2 trained briefly on a fixed batch, saved like `kinema train` does."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("cinn")
    # clouds: clips differ in colour and layout, so "starts near its own x0" is measurable
    # after a few steps (on 8x8 digits the decoder first sits at the blank background)
    batch = tiny_batch(name="clouds")
    ae = VideoAutoencoder(dataclasses.replace(autoencoder_config("tiny-clouds"), gan_start=30))
    ae_history = fit(ae, batch, 40)
    image = ImageAutoencoder(image_encoder_config("tiny-clouds"))
    image_history = fit(image, batch, 30)
    ae.save_pretrained(root / "ae" / "model")
    image.save_pretrained(root / "image" / "model")
    return {"root": root, "batch": batch, "ae": ae, "image": image,
            "ae_history": ae_history, "image_history": image_history}


def make_flow(stages, control_bins=0):
    # run folders, as `kinema train --out` writes them (the model/ inside is found)
    cfg = dataclasses.replace(flow_config("tiny-clouds"), control_bins=control_bins,
                              autoencoder_path=str(stages["root"] / "ae"),
                              image_encoder_path=str(stages["root"] / "image"))
    torch.manual_seed(1)
    return CINN(cfg)


def test_autoencoder_reconstruction_falls_with_adversarial_terms_on(stages):
    gen = [h for g, h in stages["ae_history"] if g == "generator"]
    assert sum(h["l1"] for h in gen[-5:]) < 0.6 * sum(h["l1"] for h in gen[:5])
    assert "adversarial" in gen[-1] and "feature_matching" in gen[-1]   # after gan_start
    # (the values of every term of both steps: test_cinn_losses.py)


def test_image_encoder_loss_falls(stages):
    losses = [h["loss"] for _, h in stages["image_history"]]
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])


def test_flow_nll_falls_and_earlier_stages_stay_frozen(stages):
    flow = make_flow(stages)
    flow.on_train_start(stages["batch"])
    before = {k: v.clone() for k, v in flow.video_decoder.state_dict().items()}
    history = fit(flow, stages["batch"], 25, lr=1e-2)
    losses = [h["loss"] for _, h in history]
    assert sum(losses[-5:]) < sum(losses[:5]) - 0.1
    after = flow.video_decoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_sample_starts_at_x0_exactly_and_chains(stages):
    from kinema.tasks import ImageToVideo

    flow = make_flow(stages).eval()
    assert isinstance(flow, ImageToVideo)
    video = stages["batch"]["video"]
    x0 = video[:, 0]
    samples = flow.sample(x0, 4, num_samples=3, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 3, 4, 3, 8, 8)
    # the paper models X = [x1..xT] given x0: frame 0 of every sample is the input itself
    assert torch.equal(samples[:, :, 0], x0[:, None].expand(-1, 3, -1, -1, -1))
    # frames 1.. are the decoder's, conditioned on x0: nearer their own start than another's
    own = (samples[:, :, 1] - x0[:, None]).abs().mean()
    others = (samples[:, :, 1] - x0.roll(1, 0)[:, None]).abs().mean()
    assert own < 0.8 * others
    assert (samples[:, 0, 1:] - samples[:, 1, 1:]).abs().amax(dim=(1, 2, 3, 4)).min() > 1e-4
    longer = flow.sample(x0[:1], 10, 1, generator=torch.Generator().manual_seed(0))
    assert longer.shape[2] == 10 and torch.equal(longer[0, 0, 0], x0[0])


def test_decoded_videos_replace_only_frame_0_by_x0(stages):
    flow = make_flow(stages).eval()
    x0 = stages["batch"]["video"][:2, 0]
    nu = torch.randn(2, flow.video_config.z_dim, generator=torch.Generator().manual_seed(2))
    out = flow.decode_residual(x0, nu)
    decoded = flow.video_decoder(x0, flow.flow.to_code(nu, flow.condition(x0))[0])
    assert torch.equal(out[:, 0], x0) and torch.equal(out[:, 1:], decoded[:, 1:])
    assert (decoded[:, 0] - x0).abs().max() > 1e-3      # the decoder's own frame 0 is not x0
    prior = PriorSampler.from_autoencoder(str(stages["root"] / "ae"))
    videos = prior.sample(x0, 6, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(videos[:, :, 0], x0[:, None].expand(-1, 2, -1, -1, -1))


def test_save_load_round_trips_every_stage(stages, tmp_path):
    root = stages["root"]
    ae = VideoAutoencoder.from_pretrained(root / "ae" / "model")
    image = ImageAutoencoder.from_pretrained(root / "image" / "model")
    v = stages["batch"]["video"]
    z = torch.randn(4, ae.config.z_dim)
    assert torch.equal(ae.decode(v[:, 0], z), stages["ae"].decode(v[:, 0], z))
    assert torch.equal(image.encode(v[:, 0]), stages["image"].encode(v[:, 0]))
    flow = make_flow(stages, control_bins=36)
    # the embedded stage configs are typed, and equal the stages' own (VGG dropped)
    assert flow.config.autoencoder == dataclasses.replace(ae.config, vgg_weights=None)
    assert flow.config.image_encoder == image.config
    flow.on_train_start(stages["batch"])
    flow.save_pretrained(tmp_path / "flow")
    # the saved flow records which folders (and weights) it was built from
    assert built_from(tmp_path / "flow") == {
        "autoencoder_path": {"stage": "cinn-autoencoder", "path": str(root / "ae" / "model"),
                             "sha256": weights_digest(root / "ae" / "model")},
        "image_encoder_path": {"stage": "cinn-image-encoder", "path": str(root / "image" / "model"),
                               "sha256": weights_digest(root / "image" / "model")}}
    # the saved flow carries its frozen stages: it loads without the earlier folders
    (root / "ae" / "model").rename(root / "ae" / "moved")
    try:
        loaded = CINN.from_pretrained(tmp_path / "flow")
    finally:
        (root / "ae" / "moved").rename(root / "ae" / "model")
    assert isinstance(loaded.config.autoencoder, AutoencoderConfig)
    assert loaded.config == flow.config and loaded.built_from == built_from(tmp_path / "flow")
    g = lambda: torch.Generator().manual_seed(3)   # noqa: E731
    eta = torch.tensor([1, 2, 30, 35])
    assert torch.equal(loaded.sample(v[:, 0], 4, 2, eta, g()), flow.eval().sample(v[:, 0], 4, 2, eta, g()))


def test_a_flow_saved_with_dict_configs_and_lr_fields_still_loads(stages, tmp_path):
    """config.json files written before the embedded configs were typed hold them as dicts,
    with the model configs' retired ``lr`` fields: they load to the same model."""
    import json

    flow = make_flow(stages)
    flow.on_train_start(stages["batch"])
    flow.save_pretrained(tmp_path / "flow")
    meta = json.loads((tmp_path / "flow" / "config.json").read_text())
    meta.pop("built_from")
    for key, lr in (("autoencoder", 1e-3), ("image_encoder", 1e-3)):
        meta["config"][key]["lr"] = lr
    meta["config"]["lr"] = 1e-3
    (tmp_path / "flow" / "config.json").write_text(json.dumps(meta))
    loaded = CINN.from_pretrained(tmp_path / "flow")
    assert loaded.config == flow.config
    x0 = stages["batch"]["video"][:2, 0]
    g = lambda: torch.Generator().manual_seed(5)   # noqa: E731
    assert torch.equal(loaded.eval().sample(x0, 4, 1, None, g()), flow.eval().sample(x0, 4, 1, None, g()))


def test_missing_earlier_stage_is_a_clear_error(tmp_path, stages):
    missing = tmp_path / "cinn-autoencoder-tiny"
    cfg = dataclasses.replace(flow_config("tiny"), autoencoder_path=str(missing))
    with pytest.raises(KinemaError) as err:
        CINN(cfg)
    message = str(err.value)
    assert "model.autoencoder_path" in message and str(missing) in message
    assert f"kinema train cinn-autoencoder --preset tiny --out {missing}" in message
    assert "--set model.autoencoder_path=" in message
    cfg = dataclasses.replace(flow_config("tiny"), autoencoder_path=str(stages["root"] / "ae"),
                              image_encoder_path=str(tmp_path / "img"))
    with pytest.raises(KinemaError, match=r"model\.image_encoder_path\).*img.*kinema train cinn-image-encoder"
                                          r".*--set model\.image_encoder_path="):
        CINN(cfg)
    # a folder of the wrong stage is named as such, not loaded as the wrong class
    cfg = dataclasses.replace(flow_config("tiny"), autoencoder_path=str(stages["root"] / "image"))
    with pytest.raises(KinemaError, match="ImageAutoencoder model, not the cinn-autoencoder stage"):
        CINN(cfg)
    with pytest.raises(KinemaError, match="kinema train cinn-autoencoder --preset PRESET"):
        PriorSampler.from_autoencoder(str(tmp_path / "nope"))


def test_stages_of_different_frame_sizes_are_refused(stages, tmp_path):
    other = ImageAutoencoder(dataclasses.replace(image_encoder_config("tiny-clouds"), image_size=16))
    other.save_pretrained(tmp_path / "image16" / "model")
    cfg = dataclasses.replace(flow_config("tiny-clouds"), autoencoder_path=str(stages["root"] / "ae"),
                              image_encoder_path=str(tmp_path / "image16"))
    with pytest.raises(KinemaError, match=r"image_size 8 \(autoencoder\) vs 16 \(image encoder\)"):
        CINN(cfg)


def test_presets_parse_and_point_at_their_stages():
    assert parse_preset("small-clouds-no-adain-control") == {
        "base": "small", "data": "clouds", "ablation": "no-adain", "control": True}
    r = flow_recipe("bench-no-x0-control")
    assert r.model.autoencoder_path == "runs/cinn-autoencoder-bench-no-x0"
    assert r.model.image_encoder_path == "runs/cinn-image-encoder-bench"
    assert r.model.control_bins == 16 and r.data.name == "bouncing-digits"
    assert flow_recipe("small-clouds-control").model.control_bins == 36
    assert not autoencoder_config("tiny-no-x0").use_x0
    with pytest.raises(ValueError):
        parse_preset("huge")


# ------------------------------------------------------------------ applications, CLI, trainer

def test_control_transfer_and_video_to_video_end_to_end(stages):
    from kinema.methods.cinn.apps import animate, transfer_motion, video_to_video

    flow = make_flow(stages, control_bins=36)
    flow.on_train_start(stages["batch"])
    fit(flow, stages["batch"], 3, lr=1e-2)
    flow.eval()
    v = stages["batch"]["video"]
    a = animate(flow, v[:2, 0], 4, 2, control=torch.tensor([0, 18]))
    b = animate(flow, v[:2, 0], 4, 2, control=torch.tensor([9, 27]))
    assert a.shape == (2, 2, 4, 3, 8, 8) and (a - b).abs().max() > 1e-4   # eta changes the video
    moved = transfer_motion(flow, v[:1], v[1:4, 0], source_control=torch.tensor([5]))
    assert moved.shape == (3, 4, 3, 8, 8) and torch.isfinite(moved).all()
    # the new start frames set the content: each transferred video starts at its own image
    # and its next frame is nearest that image
    assert torch.equal(moved[:, 0], v[1:4, 0])
    seconds = moved[:, 1].flatten(1)
    assert (torch.cdist(seconds, v[1:4, 0].flatten(1)).argmin(1) == torch.arange(3)).all()
    # the source sets the motion: another source on the same images gives other videos, and
    # one residual nu~ serves every image (a batch of sources equals one source repeated)
    moved_other = transfer_motion(flow, v[3:4], v[1:4, 0], source_control=torch.tensor([5]))
    assert (moved - moved_other).abs().amax(dim=(1, 2, 3, 4)).min() > 1e-4
    repeated = transfer_motion(flow, v[:1].expand(3, -1, -1, -1, -1), v[1:4, 0],
                               source_control=torch.tensor([5, 5, 5]))
    assert torch.allclose(moved, repeated, atol=1e-5)
    # which frame conditions nu~ (the source's own x~0) and each decoding (the new image):
    # test_cinn_conditioning.py, with sources and images that differ
    other = video_to_video(flow, v[:2], torch.tensor([5, 5]), torch.tensor([20, 20]))
    assert other.shape == v[:2].shape and (other - video_to_video(flow, v[:2], torch.tensor([5, 5]),
                                                                   torch.tensor([5, 5]))).abs().max() > 1e-5
    with pytest.raises(KinemaError, match="control"):
        flow.sample(v[:1, 0], 4, 1)
    prior = PriorSampler.from_autoencoder(str(stages["root"] / "ae"))
    assert prior.sample(v[:2, 0], 6, 3).shape == (2, 3, 6, 3, 8, 8)


def test_cli_animate_and_transfer(stages, tmp_path, monkeypatch):
    import cv2
    import numpy as np
    from typer.testing import CliRunner

    from kinema.cli import app
    from kinema.data.io import write_video

    flow = make_flow(stages)
    flow.on_train_start(stages["batch"])
    flow.save_pretrained(tmp_path / "run" / "model")
    frame = ((stages["batch"]["video"][0, 0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "x0.png"), cv2.resize(frame[..., ::-1], (24, 16)))
    runner = CliRunner()
    result = runner.invoke(app, ["animate", str(tmp_path / "x0.png"), "--model", str(tmp_path / "run"),
                                 "--num", "2", "--frames", "6", "--out", str(tmp_path / "anim")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "anim").iterdir()) == [
        "animation-00.mp4", "animation-01.mp4", "samples.png"]
    from PIL import Image
    strip = np.asarray(Image.open(tmp_path / "anim" / "samples.png"))
    # 2 rows x (the input picture + 6 frames) of 8 px with 2-px gaps, upscaled by an integer
    # factor for viewing
    k = strip.shape[0] // (2 * 8 + 2)
    assert k >= 8 and strip.shape == (k * (2 * 8 + 2), k * (7 * 8 + 6 * 2), 3)
    from kinema.methods.cinn.apps import prepare_image
    x0 = ((prepare_image(tmp_path / "x0.png", 3, 8)[0].permute(1, 2, 0).numpy() + 1) * 127.5)
    first = strip[:k * 8:k, :k * 8:k].astype(float)          # row 0, column 0, one pixel per cell
    assert np.abs(first - x0).max() <= 1.0                     # each row starts with the input
    assert (strip[k * 8:k * 10] == 255).all()                      # the white gap between rows
    assert (strip[:k * 8] != 255).any() and (strip[k * 10:] != 255).any()
    write_video(tmp_path / "source.mp4", stages["batch"]["video"][1])
    # what the command hands to the mp4 writer is recorded: x264's rate control looks ahead
    # (mb-tree), so one level of rounding in a late frame can move frame 0's quantiser, and
    # two codings of videos equal to float precision can differ by more than their inputs
    from pathlib import Path

    import kinema.data.io as io

    handed = {}

    def recording_write_video(path, video, *args, **kwargs):
        handed[Path(path).name] = torch.as_tensor(video).clone()
        return write_video(path, video, *args, **kwargs)

    monkeypatch.setattr(io, "write_video", recording_write_video)
    result = runner.invoke(app, ["transfer", str(tmp_path / "source.mp4"), str(tmp_path / "x0.png"),
                                 "--model", str(tmp_path / "run"), "--out", str(tmp_path / "tr")])
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    # the written video is the in-process transfer of what the command read
    from kinema.data.io import read_video
    from kinema.methods.cinn.apps import prepare_image, prepare_video, transfer_motion

    cfg = flow.video_config
    expected = transfer_motion(flow.eval(), prepare_video(tmp_path / "source.mp4", 3, 8, cfg.num_frames),
                               prepare_image(tmp_path / "x0.png", 3, 8))[0]
    assert handed["transfer.mp4"].shape == expected.shape == (cfg.num_frames, 3, 8, 8)
    assert torch.allclose(handed["transfer.mp4"], expected, atol=1e-5)
    other = transfer_motion(flow, stages["batch"]["video"][2:3], prepare_image(tmp_path / "x0.png", 3, 8))[0]
    assert (handed["transfer.mp4"] - other).abs().mean() > 0.02    # the check can tell videos apart
    # ... and the file holds that video, coded as write_video codes it
    written = read_video(tmp_path / "tr" / "transfer.mp4")
    reference = read_video(write_video(tmp_path / "expected.mp4", handed["transfer.mp4"]))
    assert written.shape == (cfg.num_frames, 8, 8, 3) and np.array_equal(written, reference)
    side = read_video(tmp_path / "tr" / "side_by_side.mp4")
    assert side.shape[1:3] == (8, 16 + 2)   # source | 2 px white gap | transfer
    assert (tmp_path / "tr" / "transfer.png").is_file()
    result = runner.invoke(app, ["animate", str(tmp_path / "x0.png"), "--model", str(tmp_path / "run"),
                                 "--control", "3"])
    assert result.exit_code != 0 and "without a control" in str(result.exception or result.output)
    result = runner.invoke(app, ["animate", str(tmp_path / "x0.png"), "--model", str(tmp_path / "anim")])
    assert result.exit_code != 0 and "not a model folder" in str(result.exception or result.output)


def test_kinema_train_runs_the_three_stages(tmp_path):
    from kinema.train.recipes import build_recipe, train_recipe

    runs = tmp_path / "runs"
    ae = train_recipe(build_recipe("cinn-autoencoder", "tiny", steps=2), runs / "ae",
                      tensorboard=False, progress=False)
    image = train_recipe(build_recipe("cinn-image-encoder", "tiny", steps=2), runs / "image",
                         tensorboard=False, progress=False)
    recipe = build_recipe("cinn-flow", "tiny-control", steps=3, overrides=[
        f"model.autoencoder_path={ae}", f"model.image_encoder_path={image}"])
    flow_dir = train_recipe(recipe, runs / "flow", tensorboard=False, progress=False)
    model = CINN.from_pretrained(flow_dir)
    assert model.config.control_bins == 16 and model.config.autoencoder.use_x0
    assert set(model.built_from) == {"autoencoder_path", "image_encoder_path"}
    assert model.sample(torch.zeros(1, 1, 8, 8), 4, 2, control=[3]).shape == (1, 2, 4, 1, 8, 8)


def test_perceptual_term_with_user_vgg_weights(tmp_path):
    from safetensors.torch import save_file

    from kinema.metrics.features.vgg import VGG16Features, load_vgg

    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in VGG16Features().state_dict().items()}   # random weights
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    cfg = dataclasses.replace(autoencoder_config("tiny"), vgg_weights=str(tmp_path / "vgg16.safetensors"))
    ae = VideoAutoencoder(cfg)
    video = torch.rand(1, 4, 1, 8, 8) * 2 - 1
    torch.manual_seed(1)
    out = ae.training_step({"video": video}, "generator")
    assert out["perceptual_on"] == 1
    # Eq. (10)'s perceptual term: L1 between VGG features of reconstructed and real frames
    torch.manual_seed(1)
    with torch.no_grad():
        rec = ae.reconstruct(video)[0]
        vgg = load_vgg(str(tmp_path / "vgg16.safetensors"), size=64).network
        frames = lambda v: v.flatten(0, 1)  # noqa: E731  (b t) c h w
        want = (vgg(frames(rec)) - vgg(frames(video))).abs().mean()
    assert out["perceptual"].item() == pytest.approx(want.item(), rel=1e-3)   # features ~1e-6: float32 round-off
    c = ae.config
    total = c.reconstruction_weight * (out["l1"] + out["perceptual"]) + c.kl_weight * out["kl"] \
        + c.adversarial_weight * out["adversarial"] + c.feature_matching_weight * out["feature_matching"]
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-6)
    assert not any("vgg" in k or "perceptual" in k for k in ae.state_dict())   # not saved with the model
    with pytest.raises(KinemaError):
        VideoAutoencoder(dataclasses.replace(cfg, vgg_weights=str(tmp_path / "missing.safetensors")))


def test_prepare_video_and_image_crop_resize_and_count_frames(tmp_path):
    import cv2
    import numpy as np

    from kinema.methods.cinn.apps import prepare_image, prepare_video

    # 16x24 frames: a 4-column border on each side (cropped away) around a flat centre
    for i in range(5):
        frame = np.full((16, 24, 3), 255, np.uint8)
        frame[:, 4:20] = 20 * i
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), frame)
    video = prepare_video(tmp_path, channels=1, size=8, num_frames=3)
    assert video.shape == (1, 3, 1, 8, 8)
    want = torch.tensor([20.0 * i / 127.5 - 1 for i in range(3)]).view(1, 3, 1, 1, 1)
    assert torch.allclose(video, want.expand_as(video), atol=1e-6)
    with pytest.raises(KinemaError, match="5 frames"):
        prepare_video(tmp_path, channels=1, size=8, num_frames=6)
    image = prepare_image(tmp_path / "002.png", channels=3, size=4)
    assert image.shape == (1, 3, 4, 4) and torch.allclose(image, torch.full_like(image, 40 / 127.5 - 1))
    with pytest.raises(KinemaError, match="missing.png: no such file"):
        prepare_image(tmp_path / "missing.png", channels=3, size=4)


def test_chain_segments_restarts_each_segment_at_the_last_frame():
    from kinema.methods.cinn.model import chain_segments

    starts = []

    def segment(x0):                        # x0 (m c h w) -> (m 4 c h w): x0, x0+1, x0+2, x0+3
        starts.append(x0.clone())
        return x0[:, None] + torch.arange(4.0).view(1, 4, 1, 1, 1)

    x0 = torch.tensor([0.0, 100.0]).view(2, 1, 1, 1)
    video = chain_segments(segment, x0, num_frames=9, num_samples=3)
    assert video.shape == (2, 3, 9, 1, 1, 1)
    assert video[0, 2].flatten().tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert video[1, 0].flatten().tolist() == [100, 101, 102, 103, 104, 105, 106, 107, 108]
    assert [s.flatten().tolist() for s in starts] == [[0, 0, 0, 100, 100, 100], [3, 3, 3, 103, 103, 103],
                                                      [6, 6, 6, 106, 106, 106]]
    with pytest.raises(ValueError, match="1 frame"):
        chain_segments(lambda x: x[:, None], x0, num_frames=3)


def test_control_vector_forms_and_errors():
    from kinema.methods.cinn.model import control_vector

    assert control_vector(None, 0, 2, "cpu") is None
    assert control_vector(2, 4, 3, "cpu").tolist() == [[0, 0, 1, 0]] * 3
    assert control_vector([1, 3], 4, 2, "cpu").argmax(1).tolist() == [1, 3]
    onehot = torch.eye(4)[:2]
    assert torch.equal(control_vector(onehot, 4, 2, "cpu"), onehot)
    with pytest.raises(KinemaError, match="0..3"):
        control_vector([4], 4, 1, "cpu")
    with pytest.raises(KinemaError, match="pass one"):
        control_vector(None, 4, 1, "cpu")


def test_benchmark_pictures_show_samples_control_and_transfer(stages, tmp_path):
    import numpy as np
    from PIL import Image

    from kinema.data import load_dataset
    from kinema.methods.cinn.bench import write_pictures

    flow, controlled = make_flow(stages).eval(), make_flow(stages, control_bins=36).eval()
    prior = PriorSampler.from_autoencoder(str(stages["root"] / "ae"))
    test = load_dataset("clouds", "test", num_videos=3, num_frames=4, size=8)
    models = {"Ours (cINN)": flow, "Ours w/o cINN (z from the prior)": prior,
              "Ours, controlled by eta": controlled}
    pictures = write_pictures(models, "clouds", test, tmp_path / "new", "cinn-clouds")
    assert [p.name for _, p in pictures] == ["cinn-clouds-samples.png", "cinn-clouds-control.png",
                                             "cinn-clouds-transfer.png"]
    rows = {"samples": 9, "control": 5, "transfer": 3}       # videos per picture
    for _, path in pictures:
        image = np.asarray(Image.open(path))
        n = rows[path.stem.rsplit("-", 1)[1]]
        k = image.shape[1] // (4 * 8 + 3 * 2)                  # the integer upscale factor
        assert image.shape[:2] == (k * (n * 8 + (n - 1) * 2), k * (4 * 8 + 3 * 2))
    # the first row of the samples picture is the real clip itself
    real = ((test[0]["video"][0].permute(1, 2, 0) + 1) * 127.5).round().numpy()
    samples = np.asarray(Image.open(pictures[0][1]))
    k = samples.shape[1] // (4 * 8 + 3 * 2)
    first = samples[::k, ::k][:8, :8].astype(float)
    assert np.abs(first - real).max() <= 1
    assert write_pictures({}, "clouds", test, tmp_path, "none") == []
