"""`kinema train` on a method fitted in closed form (no gradient steps): fit, save, reload."""
import torch

from kinema.data import load_dataset
from kinema.pretrained import load_pretrained
from kinema.train.recipes import build_recipe, model_class_of, train_recipe


def test_closed_form_method_is_fitted_and_saved(tmp_path, capsys):
    recipe = build_recipe("baselines.dynamic-texture", "tiny",
                          overrides=["model.max_clips=4", "data.options.num_videos=4"])
    model_dir = train_recipe(recipe, tmp_path / "run", progress=False)
    # one line says what was fitted on what; progress=False reaches the fit (no bar)
    assert capsys.readouterr().err == (f"fitted {type(load_pretrained(model_dir)).__name__} in "
                                       f"closed form on {recipe.data.name} [train, 4 items]\n")
    assert (tmp_path / "run" / "recipe.json").is_file()
    saved = load_pretrained(model_dir).state_dict()

    direct = model_class_of(recipe)(recipe.model)
    direct.fit(load_dataset(recipe.data.name, recipe.data.split, **recipe.data.options),
               progress=False)
    fresh = model_class_of(recipe)(recipe.model).state_dict()
    assert saved.keys() == direct.state_dict().keys()
    for key, value in direct.state_dict().items():
        torch.testing.assert_close(saved[key], value, msg=key)
    # and the fit did something: the saved system differs from an unfitted one
    assert any(not torch.equal(saved[k], fresh[k]) for k in fresh)
