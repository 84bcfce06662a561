"""The baseline of `bench/finetune.py`: LoRA SFT with TRL alone, no slm-migrate code.

What a user would write by hand to train the same adapter as `slm-migrate finetune`: load the
cluster's saved DatasetDict, turn each row into TRL's conversational prompt/completion form, build
`SFTConfig` and peft `LoraConfig` from the same recipe values, let `SFTTrainer` tokenize (loss on
the completion only is TRL's default for prompt/completion data), train, evaluate once on the
validation split, save the adapter. Prints one JSON line of metrics on stdout.

    python bench/plain_trl.py --dataset DIR --base BASE_DIR --out ADAPTER_DIR \
        [--recipe recipes/tiny-local.yaml] [--max-steps N] [--threads 1]

The recipe YAML is read with plain `yaml` (every key used here is set in tiny-local.yaml), so this
file imports nothing from `migrate`. Mind `activation_checkpointing`: TRL's SFTConfig turns it on
by default, the recipe off. The script does not check lengths or drop long rows (TRL truncates)
and does not checkpoint: on the benchmark's data nothing is near max_length, and checkpoints,
outputs beside the adapter and the skip-if-unchanged bookkeeping are what slm-migrate adds.
Tool-call arguments become dicts as slm-migrate makes them, but `Dataset.from_list` would give
rows with different argument names the union of the keys (None for the missing ones); the
benchmark's cluster (c01, labels) has no tool calls.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


def clean_message(message: dict) -> dict:
    """Drop the None keys Arrow adds; tool-call arguments from JSON strings to dicts."""
    out = {key: message[key] for key in MESSAGE_KEYS if message.get(key) is not None}
    out.setdefault("content", "")
    calls = []
    for call in out.pop("tool_calls", None) or []:
        call = {key: value for key, value in call.items() if value is not None}
        function = dict(call.get("function") or {})
        if isinstance(function.get("arguments"), str):
            try:
                parsed = json.loads(function["arguments"] or "{}")
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                function["arguments"] = parsed
        calls.append({"type": "function", **call, "function": function})
    if calls:
        out["tool_calls"] = calls
    return out


def to_prompt_completion(row: dict) -> dict:
    """TRL's conversational prompt/completion row. `tools` stays the JSON string: TRL's
    tokenization parses it (Arrow could not hold schemas whose keys differ between rows)."""
    messages = [clean_message(m) for m in row["messages"]]
    return {"prompt": messages[:-1], "completion": messages[-1:], "tools": row["tools"]}


def sft_config(recipe: dict, max_steps: int, output_dir: Path):
    """The recipe's values as TRL settings; eval and checkpoints off (one evaluation follows training)."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        use_cpu=True,
        bf16=False,
        learning_rate=recipe["learning_rate"],
        max_steps=max_steps,
        num_train_epochs=recipe["num_train_epochs"],
        per_device_train_batch_size=recipe["per_device_train_batch_size"],
        per_device_eval_batch_size=recipe["per_device_train_batch_size"],
        gradient_accumulation_steps=recipe["gradient_accumulation_steps"],
        max_length=recipe["max_length"],
        packing=recipe["packing"],
        lr_scheduler_type=recipe["lr_scheduler_type"],
        warmup_steps=recipe["warmup_ratio"],  # transformers 5: a float < 1 is a ratio of the steps
        weight_decay=recipe["weight_decay"],
        seed=recipe["seed"],
        data_seed=recipe["seed"],
        activation_checkpointing=recipe["gradient_checkpointing"],  # TRL's default is on
        logging_steps=recipe["logging_steps"],
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def lora_config(recipe: dict):
    from peft import LoraConfig

    return LoraConfig(
        r=recipe["r"], lora_alpha=recipe["lora_alpha"], lora_dropout=recipe["lora_dropout"],
        target_modules=recipe["target_modules"], task_type="CAUSAL_LM", bias="none",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="a cluster's dataset folder")
    parser.add_argument("--base", type=Path, required=True, help="a Hugging Face model folder")
    parser.add_argument("--out", type=Path, required=True, help="where the adapter goes")
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "tiny-local.yaml")
    parser.add_argument("--max-steps", type=int, default=None, help="over the recipe's max_steps")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()

    import torch
    import yaml
    from datasets import Dataset, load_from_disk
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    torch.set_num_threads(args.threads)
    recipe = yaml.safe_load(args.recipe.read_text())
    max_steps = recipe["max_steps"] if args.max_steps is None else args.max_steps

    # Dataset.from_list keeps everything in memory: nothing is written into the dataset folder.
    splits = load_from_disk(str(args.dataset))
    train = Dataset.from_list([to_prompt_completion(row) for row in splits["train"]])
    valid = Dataset.from_list([to_prompt_completion(row) for row in splits["validation"]])

    tokenizer = AutoTokenizer.from_pretrained(str(args.base))
    model = AutoModelForCausalLM.from_pretrained(str(args.base), dtype=torch.float32)
    config = sft_config(recipe, max_steps, args.out.parent / f"{args.out.name}.work")
    lora = lora_config(recipe)
    trainer = SFTTrainer(model=model, args=config, train_dataset=train, eval_dataset=valid,
                         processing_class=tokenizer, peft_config=lora)
    result = trainer.train()
    evaluation = trainer.evaluate()
    trainer.model.save_pretrained(str(args.out))
    tokenizer.save_pretrained(str(args.out))

    runtime = result.metrics["train_runtime"]
    tokens = int(trainer._total_train_tokens)
    print(json.dumps({
        "steps": trainer.state.global_step,
        "train_tokens": tokens,
        "train_seconds": round(runtime, 2),
        "tokens_per_second": round(tokens / runtime, 1),
        "train_loss": result.training_loss,
        "eval_loss": evaluation["eval_loss"],
        "eval_seconds": evaluation["eval_runtime"],
        "in_process_seconds": round(time.perf_counter() - started, 2),
    }), flush=True)


if __name__ == "__main__":
    main()
