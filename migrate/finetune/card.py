"""What a finished training run leaves beside its adapter: `metrics.json`, `loss.json` (the
trainer's log history), `loss.png` (the loss curve) and a `README.md` model card naming the base
model, the recipe, the dataset hash and the metrics, so an adapter folder explains itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from migrate.finetune.recipe import Recipe
from migrate.workspace import write_json, write_text


def write_outputs(folder: Path, recipe: Recipe, metrics: dict[str, Any],
                  log_history: list[dict[str, Any]]) -> None:
    """Everything but the adapter, into `folder`."""
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "loss.json", log_history)
    plot_loss(log_history, folder / "loss.png")
    write_text(folder / "README.md", model_card(recipe, metrics))


def plot_loss(log_history: list[dict[str, Any]], path: Path) -> Path:
    """Training (and evaluation) loss against the optimizer step."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5), dpi=100)
    axes = figure.add_subplot()
    for key, label in (("loss", "train"), ("eval_loss", "validation")):
        points = [(row["step"], row[key]) for row in log_history if key in row and "step" in row]
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    if axes.lines:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    return path


def model_card(recipe: Recipe, metrics: dict[str, Any]) -> str:
    """A short Markdown model card (Hugging Face style front matter)."""
    rows = "\n".join(f"| `{key}` | {_fmt(metrics.get(key))} |" for key in (
        "train_loss", "eval_loss", "steps", "epochs", "examples", "dropped", "train_tokens",
        "tokens_per_second", "wall_seconds", "precision", "device", "resumed_from",
    ))
    settings = yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False).strip()
    base = recipe.base_model
    return f"""---
base_model: {base}
library_name: peft
tags: [lora, sft, trl, slm-migrate]
---

# LoRA specialist on `{base}`

Trained by slm-migrate (TRL `SFTTrainer`, peft LoRA) to reproduce the LLM's answers for one
subtask; the loss covers the answer only. Load it with
`PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), "adapter")`.
{_tiny_note(base)}
- base model: `{base}` (`{metrics.get("base_path")}`)
- recipe: `{metrics.get("recipe_hash")}`
- dataset: `{metrics.get("dataset_fingerprint")}`

## Metrics

| metric | value |
|---|---|
{rows}

## Recipe

```yaml
{settings}
```
"""


def _tiny_note(base: str) -> str:
    if base != "tiny-local":
        return ""
    return ("\nThe base is `tiny-local`: a tiny Llama built and briefly pre-trained offline on the\n"
            "workspace's own texts. It exercises the code paths; it is not a useful model.\n")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) or "none"
    return "null" if value is None else str(value)
