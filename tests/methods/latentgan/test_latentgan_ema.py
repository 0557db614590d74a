"""The image stage's G_ema: with train.ema_decay the trainer averages the generator (mapping and
synthesis) and the encoder trained with it, never the discriminator; the saved model holds
the averages (as StyleGAN saves G_ema) and the discriminator as trained."""
import torch

from kinema.methods.latentgan.config import image_recipe
from kinema.methods.latentgan.image import ImagePair
from kinema.train.checkpoint import read_checkpoint
from kinema.train.recipes import train_recipe


def test_the_paper_and_small_presets_average_the_generator_at_stylegans_half_life():
    assert ImagePair.ema_prefixes == ("mapping", "synthesis", "inverter")
    decay = image_recipe("paper").train.ema_decay
    assert abs(decay - 0.5 ** (16 / 10_000)) < 1e-12          # 10 k images at batch 16
    small = image_recipe("small").train
    assert small.batch_size == 4
    assert abs(small.ema_decay - 0.5 ** (4 / 10_000)) < 1e-12   # the same half-life at batch 4
    assert small.ema_rampup == 0.05 and image_recipe("paper").train.ema_rampup is None
    assert image_recipe("tiny").train.ema_decay is None


def test_the_saved_image_pair_holds_the_averaged_generator_and_the_trained_discriminator(tmp_path):
    recipe = image_recipe("tiny")
    recipe.train.ema_decay = 0.5
    recipe.train.steps = recipe.train.checkpoint_every = 2
    train_recipe(recipe, tmp_path / "run", tensorboard=False, progress=False)
    checkpoint = read_checkpoint(tmp_path / "run" / "checkpoints" / "step-000002")
    raw, shadow = checkpoint.model, checkpoint.ema
    assert {k.split(".")[0] for k in shadow} == {"mapping", "synthesis", "inverter"}
    saved = ImagePair.from_pretrained(tmp_path / "run" / "model").state_dict()
    averaged = [k for k in shadow if not torch.equal(shadow[k], raw[k])]
    assert any(k.startswith("synthesis.") for k in averaged)
    assert any(k.startswith("inverter.") for k in averaged)
    for k in shadow:
        assert torch.equal(saved[k], shadow[k]), k
    discriminator = [k for k in raw if k.startswith("discriminator.")]
    assert discriminator
    for k in discriminator:
        assert torch.equal(saved[k], raw[k]), k
