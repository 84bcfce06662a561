"""Train one LoRA adapter on one cluster's dataset with TRL's `SFTTrainer`.

Reads: the dataset folder (contract in `examples`), a `Recipe`, a resolved base model.
Writes, atomically and only on success, `out_dir/`: `adapter/` (`PeftModel.from_pretrained`
loads it), `metrics.json`, `loss.json`, `loss.png` and a `README.md` model card (see `card`).
Checkpoints go to a work folder beside it (`<out_dir>.work/`) so that `resume=True` continues an
interrupted run; it is removed after success and kept after a failure. `out_dir` itself is never
half-written: a failed run leaves it as it was.

Precision follows the recipe and the hardware (`hardware`: bf16 where it is native, GPU or CPU);
QLoRA and gradient checkpointing need CUDA. On CPU the LM head scores only the answer tokens
(`completion_head`): nearly half the step time on short-answer data. The same code
runs under `accelerate launch`: TRL/accelerate split the batches, and only the main process writes
the final files.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from migrate.errors import MigrateError
from migrate.finetune import card
from migrate.finetune.completion_head import compact_lm_head_on_cpu
from migrate.finetune.distributed import process_state
from migrate.finetune.examples import (
    Tokenized,
    check_template_renders_tools,
    dataset_fingerprint,
    load_splits,
    tokenize_split,
)
from migrate.finetune.hardware import Hardware, check_hardware
from migrate.finetune.quiet import quiet_libraries
from migrate.finetune.recipe import Recipe, chat_template_text, recipe_hash, train_steps
from migrate.progress import ProgressFn, no_progress
from migrate.workspace import atomic_dir


def load_tokenizer(base: Path | str, recipe: Recipe) -> Any:
    """The base model's tokenizer, with the recipe's chat template if it sets one."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    template = chat_template_text(recipe)
    if template is not None:
        tokenizer.chat_template = template
    if not tokenizer.chat_template:
        raise MigrateError(f"base model {recipe.base_model!r} has no chat template",
                           hint="set chat_template in the recipe (`default`, a .jinja file or inline Jinja)")
    return tokenizer


def load_model(base: Path | str, recipe: Recipe, hardware: Hardware) -> Any:
    """The base model in the run's precision; 4-bit NF4 for QLoRA, one copy per process."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if hardware.bf16 else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if recipe.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
        kwargs["device_map"] = {"": process_state().local_process_index}  # one whole copy per GPU
    model = AutoModelForCausalLM.from_pretrained(str(base), **kwargs)
    if recipe.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe.gradient_checkpointing)
    return model


def lora_config(recipe: Recipe) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=recipe.r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=recipe.target_modules, task_type="CAUSAL_LM", bias="none",
    )


def sft_config(recipe: Recipe, output_dir: Path, hardware: Hardware, steps: int, has_eval: bool) -> Any:
    """SFTConfig with every default that matters set deliberately (see ML_NOTES)."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        use_cpu=not hardware.cuda,
        bf16=hardware.bf16,
        fp16=False,
        learning_rate=recipe.learning_rate,
        max_steps=steps,  # epochs and the step budget, resolved by `train_steps`
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        per_device_eval_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        max_length=recipe.max_length,
        packing=recipe.packing,
        train_sampling_strategy="group_by_length" if recipe.group_by_length else "random",
        completion_only_loss=True,  # the dataset comes tokenized with a completion mask
        lr_scheduler_type=recipe.lr_scheduler_type,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the steps
        weight_decay=recipe.weight_decay,
        seed=recipe.seed,
        data_seed=recipe.seed,
        activation_checkpointing=recipe.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if recipe.gradient_checkpointing else None,
        logging_steps=recipe.logging_steps,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=2,
        eval_strategy="epoch" if has_eval else "no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def _progress_callback(progress: ProgressFn) -> Any:
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Feeds optimizer steps to the stage's progress function (main process only)."""

        def on_step_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                progress("train", state.global_step, state.max_steps)

    return ProgressCallback()


def _final_eval(trainer: Any) -> dict[str, Any]:
    """The validation metrics at the last step: logged already at an epoch end, else computed."""
    last = next((row for row in reversed(trainer.state.log_history) if "eval_loss" in row), None)
    if last is not None and last.get("step") == trainer.state.global_step:
        return last
    return trainer.evaluate()


def work_dir_for(out_dir: Path) -> Path:
    """Checkpoints of an unfinished run of `out_dir`: a sibling, so `out_dir` stays clean."""
    return out_dir.parent / f"{out_dir.name}.work"


def _resume_point(work: Path, resume: bool, run_key: dict[str, str]) -> str | None:
    """The checkpoint to resume from, if asked and if the work folder belongs to this run."""
    from transformers.trainer_utils import get_last_checkpoint

    run_file = work / "run.json"
    if not resume or not run_file.exists():
        return None
    if json.loads(run_file.read_text(encoding="utf-8")) != run_key:
        raise MigrateError(
            f"{work}: the checkpoints were made with another recipe, dataset or base model",
            hint="rerun without --resume to start over",
        )
    checkpoints = work / "checkpoints"
    return get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None


def _prepare_work_dir(work: Path, resume: bool, run_key: dict[str, str]) -> str | None:
    """Every process reads the resume point; then the main one alone starts a fresh work folder
    when there is none (under `accelerate launch`, ranks must not race on the file system)."""
    state = process_state()
    checkpoint = _resume_point(work, resume, run_key)
    state.wait_for_everyone()
    if checkpoint is None and state.is_main_process:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        (work / "run.json").write_text(json.dumps(run_key, indent=2), encoding="utf-8")
    state.wait_for_everyone()
    return checkpoint


def _to_dataset(tokenized: Tokenized) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": tokenized.input_ids, "completion_mask": tokenized.completion_mask})


def train_adapter(dataset_dir: Path, recipe: Recipe, base: Path | str, out_dir: Path, *,
                  resume: bool = False, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Train, then write `out_dir` (see the module docstring); returns the metrics."""
    from transformers import PrinterCallback
    from trl import SFTTrainer

    started = time.perf_counter()
    progress = progress or no_progress
    out_dir = Path(out_dir)
    hardware = check_hardware(recipe)
    splits = load_splits(Path(dataset_dir))
    tokenizer = load_tokenizer(base, recipe)
    check_template_renders_tools(splits["train"], tokenizer)
    train = tokenize_split(splits["train"], tokenizer, recipe.max_length, progress)
    if not train.input_ids:
        raise MigrateError(
            f"{dataset_dir}: no training example fits (dropped: {dict(train.dropped)})",
            hint=train.first_error or f"raise max_length (now {recipe.max_length}) with --set max_length=N",
        )
    has_eval = "validation" in splits and len(splits["validation"]) > 0
    valid = tokenize_split(splits["validation"], tokenizer, recipe.max_length) if has_eval else Tokenized()
    has_eval = bool(valid.input_ids)
    fingerprint = dataset_fingerprint(Path(dataset_dir))
    run_key = {"recipe": recipe_hash(recipe), "dataset": fingerprint, "base": str(base)}
    work = work_dir_for(out_dir)
    checkpoint = _prepare_work_dir(work, resume, run_key)
    steps = train_steps(recipe, len(train.input_ids), process_state().num_processes)

    with quiet_libraries(), compact_lm_head_on_cpu():
        trainer = SFTTrainer(
            model=load_model(base, recipe, hardware),
            args=sft_config(recipe, work / "checkpoints", hardware, steps, has_eval),
            train_dataset=_to_dataset(train),
            eval_dataset=_to_dataset(valid) if has_eval else None,
            processing_class=tokenizer,
            peft_config=lora_config(recipe),
            callbacks=[_progress_callback(progress)],
        )
        trainer.remove_callback(PrinterCallback)  # stages print nothing; `progress` reports
        result = trainer.train(resume_from_checkpoint=checkpoint)
        # the trainer's runtime includes the evaluations it ran during training: not training time
        evaluating = sum(row.get("eval_runtime", 0.0) for row in trainer.state.log_history)
        eval_metrics = _final_eval(trainer) if has_eval else {}

    state = trainer.state
    runtime = max((result.metrics.get("train_runtime") or 0.0) - evaluating, 0.0)
    tokens = int(getattr(trainer, "_total_train_tokens", 0))
    metrics = {
        "base_model": recipe.base_model,
        "base_path": str(base),
        "recipe_hash": run_key["recipe"],
        "dataset": str(dataset_dir),
        "dataset_fingerprint": fingerprint,
        "examples": {"train": len(train.input_ids), "validation": len(valid.input_ids)},
        "dropped": {"train": dict(train.dropped), "validation": dict(valid.dropped)},
        "first_error": train.first_error,
        "prompt_not_prefix": train.prompt_not_prefix,
        "train_loss": result.training_loss,
        "first_loss": next((row["loss"] for row in state.log_history if "loss" in row), None),
        "last_loss": next((row["loss"] for row in reversed(state.log_history) if "loss" in row), None),
        "eval_loss": eval_metrics.get("eval_loss"),
        "steps": state.global_step,
        "epochs": round(state.epoch or 0.0, 4),
        "resumed_from": Path(checkpoint).name if checkpoint else None,
        "train_tokens": tokens,
        "tokens_per_second": round(tokens / runtime, 1) if runtime else None,
        "train_seconds": round(runtime, 2),
        "wall_seconds": round(time.perf_counter() - started, 2),
        "precision": hardware.precision,
        "device": hardware.device,
        "world_size": trainer.accelerator.num_processes,
    }
    if trainer.accelerator.is_main_process:
        _publish(trainer, recipe, metrics, out_dir)
        shutil.rmtree(work, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return metrics


def _publish(trainer: Any, recipe: Recipe, metrics: dict[str, Any], out_dir: Path) -> None:
    """Write every output into a temporary sibling that replaces `out_dir` only when complete."""
    with atomic_dir(out_dir) as tmp:
        trainer.model.save_pretrained(str(tmp / "adapter"))
        trainer.processing_class.save_pretrained(str(tmp / "adapter"))  # the template it was trained with
        card.write_outputs(tmp, recipe, metrics, trainer.state.log_history)
