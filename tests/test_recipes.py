"""Recipes: every shipped one loads; bad keys and types name the file and the key; `--set`
overrides are validated; the hash is stable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrate.errors import MigrateError
from migrate.finetune.recipe import (
    RECIPES_DIR,
    Recipe,
    apply_overrides,
    chat_template_text,
    epochs_for,
    list_recipes,
    load_recipe,
    recipe_hash,
    train_steps,
)

SHIPPED = {
    "tiny-local", "smollm2-135m-instruct", "smollm2-360m-instruct", "smollm2-1.7b-instruct",
    "qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-3b-instruct",
    "llama-3.2-1b-instruct", "llama-3.2-3b-instruct", "phi-3.5-mini-instruct",
}


def test_the_expected_recipes_ship():
    assert SHIPPED <= set(list_recipes())


@pytest.mark.parametrize("name", list_recipes())
def test_every_shipped_recipe_loads(name):
    recipe = load_recipe(name)
    assert recipe == load_recipe(RECIPES_DIR / f"{name}.yaml")
    chat_template_text(recipe)  # a named template file must exist
    if name == "tiny-local":
        assert recipe.tiny is not None
        return
    assert "/" in recipe.base_model  # a hub id or a GGUF inside a package
    assert 8 <= recipe.r <= 32 and 16 <= recipe.lora_alpha <= 32
    if name == "smollm2-135m-local":  # sized for a CPU: a short, fast run with a high learning rate
        assert recipe.lora_dropout == 0 and recipe.learning_rate <= 1e-3 and recipe.max_steps > 0
        assert recipe.num_train_epochs == 1 and recipe.group_by_length
        return
    assert 0.05 <= recipe.lora_dropout <= 0.1
    assert 1e-4 <= recipe.learning_rate <= 2e-4 and 1 <= recipe.num_train_epochs <= 3


@pytest.mark.parametrize("name", list_recipes())
def test_every_recipe_field_is_commented(name):
    """Each `key: value` line of a shipped recipe carries a comment, or the line above does."""
    lines = (RECIPES_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^\s*[a-z_0-9]+:", line) and line.rstrip() != "tiny:":
            key = line.split(":")[0].strip()
            commented = "#" in line or any(f"# {key}:" in above for above in lines[:number])
            assert commented, f"{name}.yaml line {number + 1}: {key} has no comment"


def test_every_field_has_a_description():
    from migrate.finetune.recipe import TinyParams

    for model in (Recipe, TinyParams):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_names_file_and_key(tmp_path):
    path = _write(tmp_path, "base_model: tiny-local\nlora_rank: 8\n")
    with pytest.raises(MigrateError) as info:
        load_recipe(path)
    assert str(path) in info.value.message and "'lora_rank': unknown key" in info.value.message
    assert "lora_alpha" in info.value.hint  # the hint lists the valid keys


def test_wrong_type_names_file_and_key(tmp_path):
    path = _write(tmp_path, "base_model: tiny-local\nr: eight\n")
    with pytest.raises(MigrateError, match=r"x\.yaml: bad recipe: 'r'"):
        load_recipe(path)


def test_bad_precision_names_the_key_and_the_choices(tmp_path):
    path = _write(tmp_path, "base_model: tiny-local\nprecision: fp16\n")
    with pytest.raises(MigrateError, match=r"x\.yaml: bad recipe: 'precision'") as info:
        load_recipe(path)
    assert "bf16" in info.value.message and "fp32" in info.value.message


def test_nested_unknown_key_is_dotted(tmp_path):
    path = _write(tmp_path, "base_model: tiny-local\ntiny:\n  hidden: 32\n")
    with pytest.raises(MigrateError, match=r"'tiny\.hidden': unknown key"):
        load_recipe(path)


@pytest.mark.parametrize("text, pattern", [
    ("r: 8\n", r"'base_model': Field required"),
    ("base_model: Qwen/Qwen2.5-0.5B-Instruct\ntiny:\n  hidden_size: 32\n", "only for base_model"),
    ("- a\n- b\n", "must be a YAML mapping"),
    ("", "empty recipe"),
    ("base_model: [unclosed\n", "not valid YAML"),
    ("base_model: tiny-local\ntiny:\n  hidden_size: 30\n  num_heads: 4\n", "must divide"),
    ("base_model: tiny-local\nmax_length: 4096\n", "below max_length"),
])
def test_bad_recipes_are_clear_errors(tmp_path, text, pattern):
    with pytest.raises(MigrateError, match=pattern):
        load_recipe(_write(tmp_path, text))


def test_missing_recipe_names_the_shipped_ones(tmp_path):
    with pytest.raises(MigrateError) as info:
        load_recipe("no-such-recipe")
    assert "tiny-local" in info.value.hint
    with pytest.raises(MigrateError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")


def test_overrides_are_parsed_and_validated():
    recipe = apply_overrides(load_recipe("tiny-local"), [
        "r=4", "learning_rate=5e-4", "tiny.hidden_size=32", "target_modules=q_proj,v_proj", "packing=true",
    ])
    assert recipe.r == 4 and recipe.learning_rate == 5e-4 and recipe.packing is True
    assert recipe.tiny.hidden_size == 32 and recipe.target_modules == ["q_proj", "v_proj"]
    qwen = apply_overrides(load_recipe("qwen2.5-0.5b-instruct"),
                           ["base_model=tiny-local", "tiny.pretrain_steps=3"])
    assert qwen.tiny.pretrain_steps == 3


@pytest.mark.parametrize("override, pattern", [
    ("lora_rank=8", r"--set: bad recipe: 'lora_rank': unknown key"),
    ("r=abc", r"--set: bad recipe: 'r'"),
    ("r=0", r"'r': Input should be greater than 0"),
    ("tiny.width=3", r"'tiny\.width': unknown key"),
    ("r", "expected key=value"),
    ("r.x=1", "'r' is not a section"),
])
def test_bad_overrides_name_the_key(override, pattern):
    with pytest.raises(MigrateError, match=pattern):
        apply_overrides(load_recipe("tiny-local"), [override])


def test_recipe_hash_is_stable(tmp_path):
    recipe = load_recipe("tiny-local")
    digest = recipe_hash(recipe)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert recipe_hash(load_recipe("tiny-local")) == digest
    # Same values, other order, no comments, defaults spelled out or not: same hash.
    path = _write(tmp_path, "seed: 42\nbase_model: tiny-local\n")
    assert recipe_hash(load_recipe(path)) == recipe_hash(Recipe(base_model="tiny-local"))
    assert recipe_hash(apply_overrides(recipe, ["seed=42"])) == digest
    assert recipe_hash(apply_overrides(recipe, ["seed=7"])) != digest


def test_epochs_scale_down_for_large_datasets():
    recipe = Recipe(base_model="x/y", num_train_epochs=3)
    assert epochs_for(recipe, 500) == 3
    assert epochs_for(recipe, 5_000) == 2
    assert epochs_for(recipe, 8_000) == 1.25
    assert epochs_for(recipe, 50_000) == 1


def test_max_steps_is_a_budget_the_epochs_can_end_first():
    recipe = Recipe(base_model="x/y", num_train_epochs=1, max_steps=150,
                    per_device_train_batch_size=4, gradient_accumulation_steps=1)
    assert train_steps(recipe, 791) == 150              # the budget ends a long epoch (198 steps)
    assert train_steps(recipe, 363) == 91               # a short dataset stops after its one epoch
    assert train_steps(recipe, 363, world_size=2) == 46  # two processes share each epoch
    assert train_steps(recipe.model_copy(update={"max_steps": -1}), 791) == 198
    three = recipe.model_copy(update={"num_train_epochs": 3, "gradient_accumulation_steps": 2})
    assert train_steps(three, 100) == 38                # 3 x 100 examples / 8 per step
    assert train_steps(recipe, 0) == 1
