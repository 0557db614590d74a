"""The baselines' presets are functions like every method's, and the trainer names data that
does not fit the Mathieu predictor."""
import pytest

from kinema.config import apply_overrides
from kinema.data import load_dataset
from kinema.errors import KinemaError
from kinema.methods.baselines.adversarial import MathieuPredictor
from kinema.methods.baselines.config import (dynamic_texture_config, dynamic_texture_recipe,
                                             mathieu_config, mathieu_recipe, repeat_last_config,
                                             repeat_last_recipe)
from kinema.train.trainer import Trainer


@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_each_recipe_builds_its_presets_config(preset):
    assert repeat_last_recipe(preset).model == repeat_last_config(preset)
    assert dynamic_texture_recipe(preset).model == dynamic_texture_config(preset)
    assert mathieu_recipe(preset).model == mathieu_config(preset)
    assert dynamic_texture_config(preset).num_components == {"tiny": 4, "small": 32, "paper": 50}[preset]
    with pytest.raises(KinemaError, match="unknown preset 'huge'"):
        dynamic_texture_config("huge")


def test_clips_shorter_than_a_training_window_are_a_named_error(tmp_path):
    r = apply_overrides(mathieu_recipe("tiny"), ["data.options.num_frames=2",   # context 2 + 1
                                                 "data.options.num_videos=4"])
    data = load_dataset(r.data.name, r.data.split, **r.data.options)
    trainer = Trainer(MathieuPredictor(r.model), data, r.train, tmp_path, tensorboard=False,
                      progress=False)
    with pytest.raises(KinemaError, match=r"needs at least 3 frames per clip, the data gives 2 "
                                          r"\(fix: --set data.options.num_frames=3\)"):
        trainer.fit()
