"""LoRA fine-tuning of one specialist per cluster (paper step S5), the library under
`slm-migrate finetune`.

- `recipe`: the `Recipe` model, `load_recipe`, `apply_overrides` (`--set`), `recipe_hash`,
  `epochs_for`; the YAML files live in `recipes/` at the repository root.
- `base_model`: `resolve_base` (tiny-local / local folder / hub id, checked offline).
- `tiny`: `build_tiny_base`, the offline tiny Llama and its BPE tokenizer.
- `examples`: the dataset contract and tokenization with the answer-only loss mask.
- `train`: `train_adapter` (TRL `SFTTrainer` + peft LoRA, checkpoints, resume, atomic outputs).
- `card`: metrics, loss curve and model card; `generate`: greedy answers from a specialist.

Heavy libraries (torch, transformers, trl, peft) are imported inside the functions that use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrate.errors import MigrateError
from migrate.progress import ProgressFn, no_progress
from migrate.workspace import Workspace, read_json_object, select_clusters

__all__ = ["FinetuneConfig", "FinetuneParams", "run"]

DEFAULT_RECIPE = "tiny-local"


class FinetuneConfig(BaseModel):
    """The `finetune:` section of the project config."""

    model_config = ConfigDict(extra="forbid")

    recipe: str = Field(DEFAULT_RECIPE, description="recipe (shipped name or YAML path) for every cluster")
    recipes: dict[str, str] = Field(default_factory=dict, description="cluster id -> recipe, over `recipe`")
    set: list[str] = Field(default_factory=list, description="key=value overrides applied to every recipe")


class FinetuneParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Path("slm-migrate-out")
    clusters: list[str] | None = Field(None, description="cluster ids (None: every cluster with a dataset)")
    recipe: str | None = Field(None, description="recipe for every cluster, over the config")
    config: FinetuneConfig = Field(default_factory=FinetuneConfig)
    overrides: list[str] = Field(default_factory=list, description="--set key=value, after the config's")
    resume: bool = Field(False, description="continue interrupted runs from their last checkpoint")
    force: bool = Field(False, description="retrain clusters whose dataset, recipe and base did not change")


def run(params: FinetuneParams, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """`slm-migrate finetune`: one LoRA adapter per selected cluster; returns what was done.

    Reads `DIR/datasets/<cluster>/` (from `slm-migrate datasets`). Writes
    `DIR/specialists/<cluster>/` (adapter/, metrics.json, loss.json, loss.png, README.md) and,
    for `tiny-local`, the tiny base under `DIR/cache/base/`. A cluster whose dataset fingerprint,
    recipe hash and base did not change since its adapter was built is skipped (`force` retrains).
    One cluster failing (no example fits, say) does not stop the others; it is reported.
    """
    from migrate.finetune.base_model import rendered_texts, resolve_base
    from migrate.finetune.distributed import process_state
    from migrate.finetune.examples import dataset_fingerprint
    from migrate.finetune.recipe import apply_overrides, load_recipe, recipe_hash
    from migrate.finetune.train import train_adapter

    workspace = Workspace(params.out)
    available = available_datasets(workspace)
    selected = _select(workspace, available, params.clusters)
    root = workspace.stage_dir("specialists")
    overrides = [*params.config.set, *params.overrides]
    recipes: dict[str, Any] = {}
    bases: dict[str, Any] = {}
    results = []
    for index, cluster in enumerate(selected):
        progress("clusters", index, len(selected))
        name = params.recipe or params.config.recipes.get(cluster) or params.config.recipe
        if name not in recipes:
            recipes[name] = apply_overrides(load_recipe(name), overrides) if overrides else load_recipe(name)
        recipe = recipes[name]
        if recipe.base_model not in bases:  # one base per run: the tiny one reads every train split
            bases[recipe.base_model] = resolve_base(
                recipe, lambda: rendered_texts(available[c] for c in sorted(available)),
                workspace.stage_dir("cache") / "base", progress=progress,
            )
        base = bases[recipe.base_model]
        dataset_dir, target = available[cluster], root / cluster
        row = {"id": cluster, "recipe": name, "base_model": recipe.base_model, "adapter": str(target / "adapter")}
        key = {"recipe_hash": recipe_hash(recipe), "dataset_fingerprint": dataset_fingerprint(dataset_dir),
               "base_path": str(base)}
        previous = read_json_object(target / "metrics.json")
        if previous and all(previous.get(k) == v for k, v in key.items()) and not params.force:
            results.append({**row, **_brief(previous), "status": "unchanged",
                            "message": "dataset, recipe and base unchanged since the adapter was built (--force retrains)"})
            continue
        try:
            metrics = train_adapter(dataset_dir, recipe, base, target, resume=params.resume, progress=progress)
        except MigrateError as exc:
            results.append({**row, "status": "failed", "message": f"{exc.message} ({exc.hint})" if exc.hint else exc.message})
            continue
        results.append({**row, **_brief(metrics), "status": "trained", "message": None})
    progress("clusters", len(selected), len(selected))

    if process_state().is_main_process:
        built = [root / r["id"] for r in results if r["status"] in ("trained", "unchanged")]
        workspace.record_stage(
            "finetune",
            inputs={c: dataset_fingerprint(available[c]) for c in selected},
            params={"recipes": {r["id"]: r["recipe"] for r in results}, "overrides": overrides,
                    "hashes": {n: recipe_hash(r) for n, r in recipes.items()}},
            outputs=sorted(p for folder in built for p in folder.rglob("*") if p.is_file()),
        )
    return {"clusters": results, "out": str(root)}


def available_datasets(workspace: Workspace) -> dict[str, Path]:
    """Cluster id -> dataset folder, for every dataset `slm-migrate datasets` finished."""
    root = workspace.stage_dir("datasets")
    found = {p.name: p for p in sorted(root.glob("*")) if not p.name.startswith(".") and (p / "dataset.json").exists()}
    if not found:
        raise MigrateError(
            f"no datasets in {root}",
            hint=f"run `slm-migrate datasets --out {workspace.root}` after `slm-migrate analyze`",
        )
    return found


def _select(workspace: Workspace, available: dict[str, Path], wanted: list[str] | None) -> list[str]:
    return select_clusters(
        available, wanted,
        lambda ids: f"no dataset for cluster {', '.join(map(repr, ids))} in {workspace.stage_dir('datasets')}",
        lambda ids: f"build it with `slm-migrate datasets --out {workspace.root} --clusters {','.join(ids)}` "
        f"(datasets present: {', '.join(available)})",
    )



def _brief(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("examples", "steps", "first_loss", "last_loss", "eval_loss", "train_seconds", "tokens_per_second", "dropped")
    return {k: metrics.get(k) for k in keys}
