"""Named recipes (volnet.training.recipes): each is a whole run that passes the settings' checks on the
dataset it names; a name is found or refused with the nearest names; settings beside it replace its own."""

import dataclasses

import pytest

from volnet.errors import SettingError, flag
from volnet.models import PRESETS, build_model
from volnet.training import TrainingConfig
from volnet.training.recipes import RECIPES, Recipe, get_recipe

FULL_TRAINING_SPLITS = {"fashion-mnist": 60_000, "mnist": 60_000, "cifar10": 50_000}


@pytest.mark.parametrize("name", list(RECIPES))
def test_each_recipe_is_a_whole_run_that_passes_the_checks(name):
    recipe = RECIPES[name]
    assert recipe.name == name and recipe.description and "\n" not in recipe.description
    config = recipe.config
    assert isinstance(config, TrainingConfig)
    config.check()
    config.check_for(FULL_TRAINING_SPLITS[config.dataset])
    shape = PRESETS[config.architecture].input_shape if config.architecture in PRESETS else (1, 28, 28)
    build_model(config.architecture, shape, seed=0)  # the architecture builds
    assert recipe.line().startswith(name) and (recipe.measured or "not measured yet") in recipe.line()


def test_the_recipes_the_issue_asks_for_exist():
    assert {"fashion-3min", "fashion-15min"} <= set(RECIPES)
    assert all(RECIPES[name].config.dataset == "fashion-mnist" for name in ("fashion-3min", "fashion-15min"))


def test_a_recipe_is_found_by_name_and_takes_settings_in_place_of_its_own():
    recipe = get_recipe(" Fashion-3min ")
    assert recipe is RECIPES["fashion-3min"]
    changed = recipe.with_settings(epochs=1, seed=4)
    assert changed == dataclasses.replace(recipe.config, epochs=1, seed=4) and recipe.config.seed == 0


@pytest.mark.parametrize("name, hint", [("fashion-3mn", " (did you mean 'fashion-3min'"), ("cifar", "")])
def test_an_unknown_recipe_is_named_with_the_nearest_names(name, hint):
    with pytest.raises(SettingError) as caught:
        get_recipe(name)
    assert caught.value.setting == "recipe"
    message = caught.value.worded(flag)
    assert message.startswith(f"unknown --recipe {name!r}{hint}") and message.endswith(f"; the recipes are "
                                                                                        f"{', '.join(RECIPES)}")


def test_a_recipe_without_a_measurement_says_so():
    recipe = Recipe("x", "a run", TrainingConfig())
    assert recipe.line() == f"{'x':<15} a run (not measured yet)"
