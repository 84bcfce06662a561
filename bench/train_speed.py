"""Training speed on a CPU: what each of slm-migrate's CPU settings buys, one at a time.

LoRA steps of SmolLM2-135M-Instruct (the offline GGUF base of `smollm2-135m-local`) on the
sample's label-routing cluster (c01: ~190-token prompts, ~3-token answers), each configuration in
a fresh process through `migrate.finetune.train.train_adapter`, cumulatively:

1. TRL's behaviour on CPU: fp32, the LM head over every position, `lora_dropout` 0.05, random batches;
2. + the LM head over the answer positions only (`migrate.finetune.completion_head`);
3. + `lora_dropout: 0`;
4. + bf16 (`precision: auto` on a CPU with AVX512-BF16/AMX);
5. + `group_by_length: true`.

Reported per configuration: seconds per step and training tokens/s (real tokens, padding not
counted; TRL's own count), over the same number of steps from the same data. Grouped batches
start with the longest examples, so their steps hold more tokens: compare tokens/s, not s/step. Also, for the whole
train split, the share of computed tokens that is padding with random and with length-grouped
batches (computed, not timed). Set-up (reused when present): `analyze` and `datasets --recipe
smollm2-135m-local` into bench/out/train-speed.

    python bench/train_speed.py --results bench/RESULTS.md    # ~10 minutes on 2 idle cores
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

from common import (  # bench/common.py (scripts run as `python bench/NAME.py`)
    machine,
    write_block,
)

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "smollm2-135m-local"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1"}
# (label, recipe overrides, answer-only LM head)
CONFIGS = [
    ("TRL on CPU: fp32, LM head on every position, dropout 0.05", ["precision=fp32", "lora_dropout=0.05",
                                                                   "group_by_length=false"], False),
    ("+ LM head on answer positions only", ["precision=fp32", "lora_dropout=0.05", "group_by_length=false"], True),
    ("+ lora_dropout 0", ["precision=fp32", "lora_dropout=0.0", "group_by_length=false"], True),
    ("+ bf16 (precision: auto here)", ["precision=bf16", "lora_dropout=0.0", "group_by_length=false"], True),
    ("+ group_by_length (the recipe as shipped)", ["precision=bf16", "lora_dropout=0.0", "group_by_length=true"], True),
]


def slm_migrate(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "migrate", *args], check=True, env={**os.environ, **OFFLINE})


def setup(ws: Path, cluster: str) -> Path:
    if not (ws / "analysis" / "clusters.json").exists():
        slm_migrate("analyze", *map(str, sorted((ROOT / "sample_logs").glob("*.jsonl.gz"))), "--out", str(ws))
    if not (ws / "datasets" / cluster / "dataset.json").exists():
        slm_migrate("datasets", "--out", str(ws), "--clusters", cluster, "--recipe", RECIPE)
    return ws / "datasets" / cluster


def child(dataset: Path, out: Path, steps: int, overrides: list[str], compact: bool) -> dict:
    """One configuration, in this (fresh) process."""
    import migrate.finetune.train as train
    from migrate.finetune.base_model import resolve_base
    from migrate.finetune.recipe import apply_overrides, load_recipe

    recipe = apply_overrides(load_recipe(RECIPE), [f"max_steps={steps}", "logging_steps=1",
                                                   f"save_steps={steps + 1}", *overrides])
    if not compact:
        train.compact_lm_head_on_cpu = nullcontext
    base = resolve_base(recipe, lambda: [], out / "cache")
    metrics = train.train_adapter(dataset, recipe, base, out / "adapter")
    return {"steps": metrics["steps"], "train_seconds": metrics["train_seconds"],
            "tokens": metrics["train_tokens"], "tokens_per_second": metrics["tokens_per_second"],
            "precision": metrics["precision"], "eval_loss": metrics["eval_loss"]}


def padding_shares(dataset: Path, batch: int, seed: int = 0) -> dict[str, float]:
    """Padding / computed tokens over the train split: random batches vs transformers' grouping."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from migrate.finetune.base_model import resolve_base
    from migrate.finetune.examples import load_splits, tokenize_split
    from migrate.finetune.recipe import load_recipe
    from migrate.finetune.train import load_tokenizer

    recipe = load_recipe(RECIPE)
    base = resolve_base(recipe, lambda: [], dataset.parent.parent / "cache")
    ids = tokenize_split(load_splits(dataset)["train"], load_tokenizer(base, recipe), recipe.max_length).input_ids
    lengths = [len(row) for row in ids]

    def share(order: list[int]) -> float:
        batches = [order[i:i + batch] for i in range(0, len(order), batch)]
        computed = sum(max(lengths[j] for j in b) * len(b) for b in batches)
        return 1 - sum(lengths) / computed

    shuffled = list(range(len(lengths)))
    random.Random(seed).shuffle(shuffled)
    grouped = list(LengthGroupedSampler(batch, lengths=lengths, generator=torch.Generator().manual_seed(seed)))
    return {"random": round(share(shuffled), 3), "grouped": round(share(grouped), 3)}


def table(rows: list[dict], padding: dict[str, float], steps: int, cluster: str) -> str:
    first = rows[0]["tokens_per_second"]
    lines = [f"Measured {dt.date.today().isoformat()} on {machine()}; {steps} LoRA steps of 4 examples "
             f"on {cluster}, each configuration a fresh process, cumulative top to bottom.", "",
             "| configuration | s / step | training tokens/s | speed-up (tokens/s) | validation loss |",
             "|---|---:|---:|---:|---:|"]
    for row in rows:
        per_step = row["train_seconds"] / row["steps"]
        lines.append(f"| {row['label']} | {per_step:.2f} | {row['tokens_per_second']:,.0f} | "
                     f"{row['tokens_per_second'] / first:.2f}x | {row['eval_loss']:.3f} |")
    lines += ["", f"Padding in the computed tokens of one epoch of {cluster}'s train split at batch 4: "
                  f"{padding['random']:.0%} with random batches, {padding['grouped']:.0%} grouped by length."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--cluster", default="c01")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--results", type=Path, default=None, help="rewrite the block in this RESULTS.md")
    parser.add_argument("--child", nargs=3, metavar=("DATASET", "OUT", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.update(OFFLINE)
    if args.child:
        dataset, out, index = args.child
        label, overrides, compact = CONFIGS[int(index)]
        print(json.dumps({"label": label, **child(Path(dataset), Path(out), args.steps, overrides, compact)}))
        return
    ws = args.workdir.resolve() / "train-speed"
    dataset = setup(ws, args.cluster)
    rows = []
    for index in range(len(CONFIGS)):
        out = ws / "runs" / str(index)
        result = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", str(dataset),
                                 str(out), str(index)], check=True, capture_output=True, text=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    padding = padding_shares(dataset, batch=4)
    print(json.dumps({"padding": padding}))
    if args.results:
        write_block(args.results, "train-speed", table(rows, padding, args.steps, args.cluster),
                    "Training speed on a CPU — `bench/train_speed.py`")


if __name__ == "__main__":
    main()
