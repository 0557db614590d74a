"""The cINN's recipes: one frame count and size per preset, checked against the data with a
named error; the learning rates live in the train config."""
import pytest

from kinema.config import apply_overrides
from kinema.data import load_dataset
from kinema.errors import KinemaError
from kinema.methods.cinn.autoencoder import VideoAutoencoder
from kinema.methods.cinn.config import (AutoencoderConfig, FlowConfig, ImageEncoderConfig,
                                        autoencoder_recipe, flow_recipe, image_encoder_recipe)
from kinema.methods.cinn.image_encoder import ImageAutoencoder
from kinema.train.trainer import Trainer


def trainer_of(recipe, model_class, out):
    data = load_dataset(recipe.data.name, recipe.data.split, **recipe.data.options)
    return Trainer(model_class(recipe.model), data, recipe.train, out, recipe=recipe,
                   tensorboard=False, progress=False)


def test_data_with_another_frame_count_is_a_named_error_not_a_tensor_error(tmp_path):
    # `kinema train cinn-autoencoder --preset tiny --set data.options.num_frames=8`
    recipe = apply_overrides(autoencoder_recipe("tiny"), ["data.options.num_frames=8"])
    with pytest.raises(KinemaError) as err:
        trainer_of(recipe, VideoAutoencoder, tmp_path / "run").fit()
    message = str(err.value)
    assert "num_frames: the VideoAutoencoder model reads 4 frames per clip, the data gives 8" in message
    assert "--set data.options.num_frames=4 or --set model.num_frames=8" in message
    recipe = apply_overrides(image_encoder_recipe("tiny"), ["data.options.size=16"])
    with pytest.raises(KinemaError, match=r"image_size: the ImageAutoencoder model reads 8 pixels "
                                          r"per side, the data gives 16"):
        trainer_of(recipe, ImageAutoencoder, tmp_path / "image").fit()


@pytest.mark.parametrize("preset", ["tiny", "small", "bench", "paper", "small-clouds-no-x0"])
def test_each_preset_sets_frames_size_and_channels_once(preset):
    ae = autoencoder_recipe(preset)
    for recipe in (ae, image_encoder_recipe(preset.replace("-no-x0", "")), flow_recipe(preset)):
        assert recipe.data.options["num_frames"] == ae.model.num_frames
        assert recipe.data.options["size"] == ae.model.image_size
    assert image_encoder_recipe(preset.replace("-no-x0", "")).model.channels == ae.model.channels


def test_learning_rates_live_in_the_train_config(tmp_path):
    for config_class in (AutoencoderConfig, ImageEncoderConfig, FlowConfig):
        assert "lr" not in config_class.__dataclass_fields__
        assert config_class.retired_fields == ("lr",)
    assert [r.train.lr for r in (autoencoder_recipe("paper"), flow_recipe("paper"))] == [2e-4, 1e-5]
    assert autoencoder_recipe("small").train.betas == (0.5, 0.9)    # appendix B.2
    # the optimiser takes train.lr and train.betas as they are (no model override)
    recipe = apply_overrides(autoencoder_recipe("tiny"), ["train.lr=3e-3"])
    trainer = trainer_of(recipe, VideoAutoencoder, tmp_path / "run")
    for optimizer in trainer.optimizers.values():
        assert optimizer.param_groups[0]["lr"] == 3e-3
        assert optimizer.param_groups[0]["betas"] == (0.5, 0.9)
        assert optimizer.param_groups[0]["weight_decay"] == 1e-5
