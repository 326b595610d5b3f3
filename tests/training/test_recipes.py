"""Recipes: the paper's values, overrides from flags, and a saved copy that reloads identically."""

import argparse

import pytest

from training.recipes import RECIPES, Recipe, add_recipe_arguments, get_recipe, recipe_from_args


def test_paper_recipe_is_the_original_configuration():
    r = get_recipe("paper")
    assert (r.optimizer, r.lr, r.weight_decay, r.batch_size, r.warmup_epochs, r.epochs) == \
        ("adamw", 1.25e-4, 0.05, 96, 5, 300)
    assert (r.randaugment_ops, r.randaugment_magnitude, r.mixup_alpha, r.cutmix_alpha) == (2, 9, 1.0, 0.8)
    assert (r.label_smoothing, r.grad_clip, r.drop_path, r.decay_norm_and_bias) == (0.1, 5.0, 0.1, True)
    sgd = get_recipe("paper-sgd")
    assert (sgd.optimizer, sgd.lr, sgd.milestones, sgd.gamma, sgd.grad_clip) == ("sgd", 0.1, (60, 120, 160), 0.2, None)
    with pytest.raises(ValueError, match="paper, paper-sgd, cpu-quick"):
        get_recipe("fast")


def parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="paper")
    add_recipe_arguments(parser)
    args = parser.parse_args(argv)
    return recipe_from_args(args, args.recipe)


def test_flags_override_any_field_with_its_type():
    r = parse(["--recipe", "paper-sgd", "--lr", "0.05", "--milestones", "10", "20", "--hflip", "false",
               "--grad-clip", "1.5", "--optimizer", "adamw"])
    assert (r.name, r.lr, r.milestones, r.hflip, r.grad_clip, r.optimizer) == \
        ("paper-sgd", 0.05, (10, 20), False, 1.5, "adamw")
    assert parse(["--grad-clip", "none"]).grad_clip is None
    assert parse([]) == RECIPES["paper"]
    with pytest.raises(SystemExit):
        parse(["--schedule", "linear"])
    with pytest.raises(ValueError, match="unknown recipe field"):
        RECIPES["paper"].with_overrides(learning_rate=1.0)


def test_saved_recipe_reloads_identically(tmp_path):
    recipe = parse(["--recipe", "paper-sgd", "--epochs", "3"])
    recipe.save(tmp_path / "recipe.json")
    assert Recipe.load(tmp_path / "recipe.json") == recipe
