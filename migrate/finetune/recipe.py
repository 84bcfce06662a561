"""Training recipes: which base model to tune and how, loaded from `recipes/*.yaml`.

Keys reuse the names of the libraries that consume them (peft's `r`, `lora_alpha`,
`target_modules`; trl/transformers' `learning_rate`, `num_train_epochs`, `max_length`, ...) so a
user can look any of them up in the peft/trl docs. An unknown key or a wrong type is a
`MigrateError` naming the file (or `--set`) and the key.

A bare name (`tiny-local`) resolves to `recipes/<name>.yaml` at the repository root; anything
else is read as a path. `apply_overrides` applies `--set key=value` pairs (values parsed as YAML)
and validates the result again. `recipe_hash` is the key for skip-if-unchanged. `train_steps`
turns epochs and the `max_steps` budget into the steps a run takes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

import migrate
from migrate.errors import MigrateError, validation_message

RECIPES_DIR = Path(migrate.__file__).resolve().parent.parent / "recipes"
TINY_LOCAL = "tiny-local"
DEFAULT_TEMPLATE = "default"  # `chat_template: default` = migrate.chat_template.DEFAULT_CHAT_TEMPLATE

# Examples seen per run (examples x epochs) above which `epochs_for` starts cutting epochs.
EXAMPLE_BUDGET = 10_000

Scheduler = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay",
]


class TinyParams(BaseModel):
    """Shape and pre-training of the offline `tiny-local` base model (a small Llama)."""

    model_config = ConfigDict(extra="forbid")

    hidden_size: int = Field(64, gt=0, description="Width of the model (LlamaConfig.hidden_size).")
    num_layers: int = Field(2, gt=0, description="Transformer blocks (LlamaConfig.num_hidden_layers).")
    num_heads: int = Field(4, gt=0, description="Attention heads; must divide hidden_size.")
    intermediate_size: int = Field(256, gt=0, description="MLP width (LlamaConfig.intermediate_size).")
    vocab_size: int = Field(
        2000, ge=300, description="Byte-level BPE vocabulary (256 bytes + merges + special tokens)."
    )
    context_length: int = Field(
        2048, gt=0, description="Positions the model supports (LlamaConfig.max_position_embeddings)."
    )
    pretrain_steps: int = Field(
        200, ge=0, description="Causal-LM steps on the curated texts before LoRA; 0 keeps random weights."
    )
    pretrain_learning_rate: float = Field(3e-3, gt=0, description="AdamW learning rate of pre-training.")
    pretrain_batch_size: int = Field(8, gt=0, description="Blocks per pre-training step.")
    pretrain_block_size: int = Field(128, gt=1, description="Tokens per pre-training block.")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TinyParams:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide hidden_size ({self.hidden_size})")
        return self


class Recipe(BaseModel):
    """One LoRA fine-tuning recipe. Defaults are the middle of the range the field uses."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        description="A local Hugging Face model folder, a hub id (must be in the local cache when "
        "offline), or `tiny-local` (built offline from the workspace's records)."
    )
    chat_template: str | None = Field(
        None,
        description="null keeps the base model's own template; `default` uses slm-migrate's ChatML "
        "template with tools (needs <|im_start|>/<|im_end|> in the vocabulary); otherwise a .jinja "
        "file (a path, or a name under recipes/) or inline Jinja text.",
    )
    r: int = Field(16, gt=0, description="LoRA rank (peft LoraConfig.r).")
    lora_alpha: int = Field(32, gt=0, description="LoRA scaling numerator; the update is scaled by alpha/r.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Modules that get adapters: names (q_proj, v_proj, ...) or `all-linear`."
    )
    learning_rate: float = Field(2e-4, gt=0, description="Peak AdamW learning rate.")
    num_train_epochs: float = Field(
        2.0, gt=0, description="Passes over the data for small datasets; `epochs_for` scales it down."
    )
    max_steps: int = Field(
        -1, ge=-1, description="Optimizer-step budget: training stops at max_steps or after the epochs, "
        "whichever comes first (transformers lets max_steps replace the epochs); -1 = epochs only.",
    )
    per_device_train_batch_size: int = Field(4, gt=0, description="Examples per device per forward pass.")
    gradient_accumulation_steps: int = Field(4, gt=0, description="Forward passes per optimizer step.")
    max_length: int = Field(
        2048, gt=0, description="Tokens per example (prompt + answer); longer examples are dropped."
    )
    packing: bool = Field(False, description="Pack several short examples into one max_length sequence.")
    lr_scheduler_type: Scheduler = Field("cosine", description="Learning-rate schedule (transformers names).")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of the steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    seed: int = Field(42, description="Seed for adapter init, shuffling and dropout (and the tiny base).")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations to save GPU memory (CUDA only; ~20% slower)."
    )
    load_in_4bit: bool = Field(False, description="QLoRA: load the base in 4-bit NF4 (CUDA + bitsandbytes).")
    group_by_length: bool = Field(
        False, description="Batch examples of similar length (transformers' group_by_length sampler): "
        "less padding, so fewer tokens per step when lengths vary.",
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto: bf16 where the hardware computes it natively (a GPU with bf16, a CPU "
        "with AVX512-BF16/AMX), else fp32; bf16 or fp32 force one (bf16 needs native support).",
    )
    logging_steps: int = Field(10, gt=0, description="Steps between logged losses (the loss curve).")
    save_steps: int = Field(100, gt=0, description="Steps between checkpoints (what --resume restarts from).")
    tiny: TinyParams | None = Field(
        None, description="Only for base_model `tiny-local`: the tiny model's shape and pre-training."
    )

    @field_validator("target_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        """`--set target_modules=q_proj,v_proj` arrives as one string."""
        if isinstance(value, str) and value != "all-linear":
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _tiny_only_for_tiny_local(self) -> Recipe:
        if self.tiny is not None and self.base_model != TINY_LOCAL:
            raise ValueError(f"'tiny' is only for base_model {TINY_LOCAL!r}")
        if self.base_model == TINY_LOCAL and self.tiny is None:
            self.tiny = TinyParams()
        if self.tiny is not None and self.tiny.context_length < self.max_length:
            raise ValueError(
                f"tiny.context_length ({self.tiny.context_length}) is below max_length ({self.max_length})"
            )
        return self


def list_recipes() -> list[str]:
    """Names of the recipes shipped in `recipes/`."""
    return sorted(path.stem for path in RECIPES_DIR.glob("*.yaml"))


def recipe_path(path_or_name: str | Path) -> Path:
    """A bare name (no folder, no suffix) is a shipped recipe; anything else a path."""
    text = str(path_or_name)
    if os.sep not in text and "/" not in text and not text.endswith((".yaml", ".yml")):
        path = RECIPES_DIR / f"{text}.yaml"
        if not path.exists():
            raise MigrateError(
                f"no recipe named {text!r} in {RECIPES_DIR}",
                hint="shipped recipes: " + ", ".join(list_recipes()) + "; or pass a path to a YAML file",
            )
        return path
    path = Path(path_or_name)
    if not path.is_file() and path.parent == Path(".") and (RECIPES_DIR / path.name).is_file():
        return RECIPES_DIR / path.name  # `tiny-local.yaml` as well as `tiny-local`
    if not path.is_file():
        raise MigrateError(f"recipe file not found: {path}", hint="pass a YAML file or a shipped recipe name")
    return path


def _hint() -> str:
    return "recipe keys: " + ", ".join(Recipe.model_fields) + f" (commented examples in {RECIPES_DIR})"


def validate_recipe(data: object, source: str) -> Recipe:
    """`data` (parsed YAML) as a Recipe, or a MigrateError naming `source` and the bad keys."""
    if not isinstance(data, dict):
        raise MigrateError(f"{source}: a recipe must be a YAML mapping of keys to values", hint=_hint())
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise MigrateError(validation_message(exc, source, "recipe"), hint=_hint()) from None


def load_recipe(path_or_name: str | Path) -> Recipe:
    """Read and validate a recipe file or shipped recipe name."""
    path = recipe_path(path_or_name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MigrateError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        raise MigrateError(f"{path}: empty recipe", hint=_hint())
    return validate_recipe(data, str(path))


def apply_overrides(recipe: Recipe, overrides: list[str], source: str = "--set") -> Recipe:
    """`key=value` pairs (dotted keys reach into `tiny`), values parsed as YAML, then revalidated."""
    data = recipe.model_dump()
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MigrateError(f"{source} {item!r}: expected key=value",
                               hint="e.g. --set r=8 --set tiny.hidden_size=32")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise MigrateError(f"{source} {item!r}: {part!r} is not a section", hint=_hint())
            node = child
        node[leaf] = value
    return validate_recipe(data, source)


def recipe_hash(recipe: Recipe) -> str:
    """`sha256:` of the canonical JSON of the resolved recipe (defaults included)."""
    canonical = json.dumps(recipe.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def epochs_for(recipe: Recipe, n_examples: int) -> float:
    """Epochs to train on `n_examples`: the recipe's epochs, cut so that a run sees about
    `EXAMPLE_BUDGET` examples, but never less than one full pass.

    Small specialist datasets (hundreds of examples) need several passes; large ones learn the
    task within one, and extra passes cost time and overfit. So 500 examples keep the recipe's
    epochs (e.g. 3), 5,000 get 2, and 10,000 or more get 1.
    """
    if n_examples <= 0:
        return recipe.num_train_epochs
    scaled = max(1.0, EXAMPLE_BUDGET / n_examples)
    return round(min(recipe.num_train_epochs, scaled), 2)


def train_steps(recipe: Recipe, n_examples: int, world_size: int = 1) -> int:
    """Optimizer steps to train on `n_examples`: the epochs of `epochs_for`, cut to `max_steps`
    when that comes first. A step takes batch x accumulation x processes examples."""
    per_step = recipe.per_device_train_batch_size * recipe.gradient_accumulation_steps * max(world_size, 1)
    by_epochs = max(1, math.ceil(epochs_for(recipe, n_examples) * max(n_examples, 1) / per_step))
    return by_epochs if recipe.max_steps < 0 else min(recipe.max_steps, by_epochs)


def chat_template_text(recipe: Recipe) -> str | None:
    """The template text the recipe asks for, or None to keep the base model's own."""
    value = recipe.chat_template
    if value is None:
        return None
    if value == DEFAULT_TEMPLATE:
        from migrate.chat_template import DEFAULT_CHAT_TEMPLATE

        return DEFAULT_CHAT_TEMPLATE
    if "{%" in value or "{{" in value:
        return value
    for candidate in (Path(value), RECIPES_DIR / value):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise MigrateError(
        f"chat_template {value!r}: no such file (looked in the current folder and {RECIPES_DIR})",
        hint="use null (the model's own template), `default`, a .jinja path, or inline Jinja",
    )
