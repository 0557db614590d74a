"""`kinema train module:function` calls only recipe functions; a failed run leaves no folder."""
from __future__ import annotations

import pytest

from kinema.config import Recipe
from kinema.errors import KinemaError
from kinema.train.recipes import build_recipe, check_recipe_function, train_recipe


def recipe_with_annotation(name: str = "tiny") -> Recipe:
    from tests.train.toy import recipe
    return recipe(name)


def two_required(preset, other):
    return None


def unannotated(x):
    return None


@pytest.mark.parametrize("target", ["os:getcwd", "shutil:rmtree", "os.path:basename",
                                    f"{__name__}:two_required", f"{__name__}:unannotated",
                                    "kinema.config:Recipe"])
def test_arbitrary_callables_are_never_called(target):
    with pytest.raises(KinemaError, match="recipe function"):
        build_recipe(target, "tiny")


def test_recipe_functions_pass():
    from tests.train.toy import recipe
    check_recipe_function("tests.train.toy:recipe", recipe)
    check_recipe_function("x:y", recipe_with_annotation)
    assert build_recipe(f"{__name__}:recipe_with_annotation", "tiny").method


def test_a_recipe_whose_method_is_not_a_model_is_refused(tmp_path):
    r = build_recipe("tests.train.toy:recipe", "tiny")
    r.method = "os:system"
    with pytest.raises(KinemaError, match="'os:system' is not a model class"):
        train_recipe(r, tmp_path / "run", tensorboard=False, progress=False)


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tmp_path):
    r = build_recipe("tests.train.toy:recipe", "tiny", overrides=["model.nan_from=0", "train.max_nonfinite=1",
                                                                    "train.checkpoint_every=100"])
    with pytest.raises(KinemaError, match="not finite"):
        train_recipe(r, tmp_path / "run", tensorboard=False, progress=False)
    assert not (tmp_path / "run").exists()


def test_bad_model_values_from_set_are_named():
    with pytest.raises(KinemaError, match="model.hidden must be an integer >= 0, got -3"):
        build_recipe("tests.train.toy:recipe", "tiny", overrides=["model.hidden=-3"])
