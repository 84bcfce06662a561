"""The dataset card (`README.md`, Hugging Face style) of one cluster's dataset."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from migrate.datasets.examples import Example, openai_row
from migrate.datasets.split import SPLITS

CLASSES_SHOWN = 12


def length_stats(lengths: list[tuple[int, int]]) -> dict[str, dict[str, int]]:
    """p50 / p95 / max tokens of the prompts, the answers and the whole, from `(prompt, total)`."""
    if not lengths:
        return {}
    prompt = np.array([p for p, _ in lengths])
    total = np.array([t for _, t in lengths])
    out = {}
    for name, values in (("prompt", prompt), ("answer", total - prompt), ("total", total)):
        out[name] = {"p50": int(np.percentile(values, 50)), "p95": int(np.percentile(values, 95)), "max": int(values.max())}
    return out


def dataset_card(cluster: dict[str, Any], stats: dict[str, Any], sample: Example | None) -> str:
    sizes, tokens = stats["sizes"], stats["tokens"]
    split = stats["split_params"]
    lines = [
        "---",
        f"pretty_name: {json.dumps(cluster['id'] + ': ' + cluster['name'])}",
        "task_categories: [text-generation]",
        "tags: [slm-migrate, agent-logs, distillation, tool-calling]",
        "configs:",
        "  - config_name: default",
        "---",
        "",
        f"# {cluster['id']}: {cluster['name']}",
        "",
        cluster.get("description") or "",
        "",
        f"Fine-tuning data for one subtask of an agent, built by `slm-migrate datasets` from the agent's "
        f"logged LLM calls after curation (PII and secrets replaced by placeholders such as "
        f"`<EMAIL_ADDRESS_1a2b3c4d>`). Each example is the request exactly as the agent sent it (system "
        f"prompt, earlier turns, tool schemas) and, as the final assistant turn, the teacher LLM's own "
        f"answer. Output kind: **{stats['kind']}**.",
        "",
        "## Splits",
        "",
        "| split | examples | calls represented | prompt tokens p50 / p95 | answer tokens p50 / p95 | total max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in SPLITS:
        t = tokens.get(name) or {}
        p, a, m = t.get("prompt", {}), t.get("answer", {}), t.get("total", {})
        lines.append(
            f"| {name} | {sizes[name]:,} | {stats['represents'][name]:,} | {p.get('p50', '-')} / {p.get('p95', '-')} | "
            f"{a.get('p50', '-')} / {a.get('p95', '-')} | {m.get('max', '-')} |"
        )
    lines += [
        "",
        "*Calls represented* counts the logged calls each example stands for (itself and the duplicates "
        "dropped by curation): dedup thins the data, it does not hide volume.",
        "",
        "## How it was split",
        "",
        f"- **Leakage-safe grouping**: examples whose masked request is the same (the same prompt up to slot "
        f"values such as numbers, ids, e-mails and quoted values) or that belong to the same trace or "
        f"conversation form one group, and a group is never split across train, validation and test. "
        f"{stats['examples']:,} examples form {stats['groups']:,} groups (largest: {stats['largest_group']:,} examples).",
        f"- **Stratified** by output class (the tool called, the label chosen) over {stats['strata']} strata; "
        f"classes with fewer than 3 groups are pooled.",
        f"- **Sizes**: test {split['test_fraction']:.0%} (at least {split['min_test']}, at most {split['max_test']}), "
        f"validation {split['validation_fraction']:.0%} (at least {split['min_validation']}, at most "
        f"{split['max_validation']}), the rest trains"
        + (f" (at most {split['max_train']})" if split.get("max_train") else "")
        + f"; seed {split['seed']}. The same records and settings always give the same split.",
    ]
    classes = stats["classes"]
    if any(classes.values()):
        lines += ["", "## Output classes", "", "| class | train | validation | test |", "|---|---:|---:|---:|"]
        names = sorted(classes["train"] | classes["validation"] | classes["test"],
                       key=lambda c: (-sum(classes[s].get(c, 0) for s in SPLITS), c))
        for name in names[:CLASSES_SHOWN]:
            lines.append(f"| `{name}` | " + " | ".join(str(classes[s].get(name, 0)) for s in SPLITS) + " |")
        if len(names) > CLASSES_SHOWN:
            lines.append(f"| … {len(names) - CLASSES_SHOWN} more | | | |")
    lines += ["", "## What was filtered and why", ""]
    curation = stats.get("curation") or {}
    if curation:
        dropped = curation.get("dropped") or {}
        lines.append(
            f"- Curation (`analyze`): {curation.get('kept_for_training', 0):,} calls kept for training; dropped: "
            + (", ".join(f"{n:,} {r.replace('_', ' ')}" for r, n in dropped.items()) if dropped else "none") + "."
        )
        pii = curation.get("calls_with_pii") or {}
        if pii:
            lines.append("- Calls in which values were replaced by placeholders: "
                         + ", ".join(f"{k} {v:,}" for k, v in pii.items()) + ".")
    dropped_here = stats["dropped"]
    lines.append(
        f"- This stage: each example was rendered through the chat template ({stats['renderer']}) and "
        f"checked against max_length {stats['max_length']} tokens; dropped, never truncated: "
        + (", ".join(f"{n:,} {r.replace('_', ' ')}" for r, n in dropped_here.items()) if dropped_here else "none")
        + "."
    )
    lines += [
        "",
        "## Files",
        "",
        "- this folder: a Hugging Face `DatasetDict` (`datasets.load_from_disk(path)`), columns `messages`, "
        "`tools` (JSON string of the OpenAI function schemas; TRL parses it), `id`, `group`, `output_class`, "
        "`represents`, `prompt_tokens`, `total_tokens`;",
        "- `openai/{train,validation,test}.jsonl`: the same splits in OpenAI's chat fine-tuning format;",
        "- `dataset.json`: the numbers of this card, and the key that decides whether a rerun rebuilds.",
    ]
    if sample is not None:
        lines += ["", "## One training example (OpenAI format)", "", "```json",
                  json.dumps(json.loads(openai_row(sample)), indent=2, ensure_ascii=False)[:4000], "```"]
    return "\n".join(lines) + "\n"
