"""G_ema: with train.ema_decay the trainer averages GenDeF's generators only (StyleGAN keeps G_ema
beside G and D); the periodic samples and the saved model use the average, D stays as trained."""
import dataclasses

import torch

from kinema.config import TrainConfig
from kinema.methods.gendef.config import image_recipe, video_recipe
from kinema.methods.gendef.model import CanonicalGAN, GenDeF
from kinema.train.quick import as_dataset
from kinema.train.trainer import Trainer


def test_samples_and_saved_model_come_from_the_averaged_generator(tmp_path):
    torch.manual_seed(0)
    model = CanonicalGAN(image_recipe("tiny").model)
    start = {k: v.clone() for k, v in model.generator.state_dict().items()}
    seen = {}

    def sample(batch):
        seen["generator"] = {k: v.clone() for k, v in model.generator.state_dict().items()}
        return torch.zeros(1, 1, 3, 8, 8)

    clips = torch.rand(4, 1, 3, 8, 8) * 2 - 1
    config = TrainConfig(steps=2, batch_size=4, log_every=1, checkpoint_every=0, sample_every=2,
                         ema_decay=0.5, grad_clip=None)
    trainer = Trainer(model, as_dataset(clips), config, tmp_path / "run", sample_fn=sample,
                      tensorboard=False, progress=False, quiet=True)
    trainer.fit()
    shadow = trainer.ema.shadow
    assert shadow and all(k.startswith("generator.") for k in shadow)     # D is not averaged
    raw = model.generator.state_dict()                                     # after fit: raw weights
    # the average of two steps at decay 0.5 is (start + w1) / 4 + w2 / 2, neither raw nor start
    moved = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], start[k])]
    assert moved
    for k in moved:
        assert not torch.equal(shadow["generator." + k], raw[k]), k
        assert not torch.equal(shadow["generator." + k], start[k]), k
    for k, v in seen["generator"].items():                                 # sampled from G_ema
        assert torch.equal(v, shadow["generator." + k]), k
    saved = CanonicalGAN.from_pretrained(tmp_path / "run" / "model")
    for k, v in saved.generator.state_dict().items():
        assert torch.equal(v, shadow["generator." + k]), k
    for k, v in saved.discriminator.state_dict().items():                  # D as trained
        assert torch.equal(v, model.discriminator.state_dict()[k]), k


def test_paper_presets_average_the_generators():
    assert GenDeF.ema_prefixes == ("canonical", "deformation")
    assert CanonicalGAN.ema_prefixes == ("generator",)
    decay = video_recipe("paper").train.ema_decay
    assert abs(decay - 0.5 ** (32 / 10_000)) < 1e-12           # StyleGAN2's 10 k-image half-life
    assert image_recipe("paper").train.ema_decay == decay
    assert video_recipe("small").train.ema_decay is None


def test_video_model_averages_g_c_and_g_d_not_d():
    torch.manual_seed(0)
    model = GenDeF(dataclasses.replace(video_recipe("tiny-no-pretrain").model))
    from kinema.train.ema import EMA

    ema = EMA(model, 0.9, model.ema_prefixes)
    assert any(k.startswith("canonical.") for k in ema.shadow)
    assert any(k.startswith("deformation.") for k in ema.shadow)
    assert not any(k.startswith("discriminator.") for k in ema.shadow)
