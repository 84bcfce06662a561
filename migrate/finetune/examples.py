"""From a cluster's dataset folder to token ids with a completion mask, the way TRL would.

Reads `datasets.load_from_disk(dataset_dir)`: a DatasetDict with `train` (required),
`validation` and `test`; columns `messages` (OpenAI-style; the last one is the assistant answer
to learn) and `tools` (a JSON string of function schemas, possibly "[]"); other columns are
ignored.

Each row becomes a conversational prompt/completion pair (`prompt` = messages[:-1],
`completion` = [last]) and is tokenized with the base model's chat template exactly as TRL's
`SFTTrainer` does for such data (prompt with the generation prompt, then prompt + completion; the
loss mask starts where the two diverge). We tokenize here rather than inside TRL for three
reasons: templates of real models (Llama 3.2, Qwen2.5) want tool-call arguments as objects, which
an Arrow column cannot hold when argument names differ between rows; the length check must use the
very ids that are trained on; and doing it once avoids tokenizing twice. TRL then sees a
processed dataset (`input_ids`, `completion_mask`) and only builds the labels.

Arguments are parsed to objects for every template, ours included (it renders both), as the
datasets stage does when it measures lengths (`migrate.datasets.render.template_messages`), so
both stages count the same tokens and the specialist always writes normalised JSON.

Examples longer than `max_length` are dropped and counted rather than truncated (truncation keeps
the start, so a long prompt would silently lose the answer), as are rows the template cannot
render.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.errors import MigrateError

SPLITS = ("train", "validation", "test")
MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


@dataclass
class Tokenized:
    """Token ids and loss masks of one split, and what was left out and why."""

    input_ids: list[list[int]] = field(default_factory=list)
    completion_mask: list[list[int]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    first_error: str | None = None
    # Kept rows whose prompt, rendered alone, is not a prefix of prompt + answer (the template
    # renders the end of the prompt differently): trained on a context unlike inference's.
    prompt_not_prefix: int = 0

    @property
    def tokens(self) -> int:
        return sum(len(ids) for ids in self.input_ids)


def load_splits(dataset_dir: Path) -> Any:
    """The DatasetDict at `dataset_dir`, checked against the contract above."""
    from datasets import DatasetDict, load_from_disk

    dataset_dir = Path(dataset_dir)
    if not dataset_dir.exists():
        raise MigrateError(f"no dataset at {dataset_dir}", hint="run `slm-migrate datasets` for this cluster first")
    try:
        splits = load_from_disk(str(dataset_dir))
    except (FileNotFoundError, ValueError) as exc:
        raise MigrateError(f"{dataset_dir}: not a saved dataset ({exc})",
                           hint="rebuild it with `slm-migrate datasets`") from None
    if not isinstance(splits, DatasetDict) or "train" not in splits:
        raise MigrateError(f"{dataset_dir}: expected a DatasetDict with a 'train' split")
    for name, split in splits.items():
        missing = {"messages", "tools"} - set(split.column_names)
        if missing:
            raise MigrateError(f"{dataset_dir}: split {name!r} lacks column(s) {sorted(missing)}")
    if len(splits["train"]) == 0:
        raise MigrateError(f"{dataset_dir}: the train split is empty", hint="the cluster has no usable examples")
    return splits


def clean_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages without the None-valued keys that Arrow adds (templates test `'tool_calls' in
    message`), with tool-call arguments parsed from JSON strings to objects."""
    cleaned = []
    for message in messages:
        out = {key: message[key] for key in MESSAGE_KEYS if message.get(key) is not None}
        out.setdefault("content", "")
        if out.get("tool_calls"):
            out["tool_calls"] = [_clean_call(call) for call in out["tool_calls"]]
        elif "tool_calls" in out:
            del out["tool_calls"]
        cleaned.append(out)
    return cleaned


def _clean_call(call: dict[str, Any]) -> dict[str, Any]:
    call = {key: value for key, value in call.items() if value is not None}
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            parsed = arguments  # kept verbatim: the model should learn what the teacher wrote
        function["arguments"] = parsed if isinstance(parsed, dict) else arguments
    call["function"] = function
    call.setdefault("type", "function")
    return call


def parse_tools(tools: Any) -> list[dict[str, Any]] | None:
    """The `tools` column (a JSON string, or already a list) as a list, None when empty."""
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else []
    return list(tools) or None


def to_prompt_completion(row: dict[str, Any]) -> dict[str, Any]:
    """TRL's conversational prompt/completion form of one dataset row."""
    messages = clean_messages(row["messages"])
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("the last message is not the assistant's answer")
    return {"prompt": messages[:-1], "completion": messages[-1:], "tools": parse_tools(row["tools"])}


def tokenize_split(split: Any, tokenizer: Any, max_length: int, progress=None) -> Tokenized:
    """Tokenize every row as TRL does for prompt/completion data; drop what does not fit."""
    from trl.data_utils import common_prefix_length

    out = Tokenized()
    total = len(split)
    for index, row in enumerate(split.select_columns(["messages", "tools"])):
        try:
            example = to_prompt_completion(row)
            prompt_ids = _ids(tokenizer, example["prompt"], example["tools"], add_generation_prompt=True)
            full_ids = _ids(tokenizer, example["prompt"] + example["completion"], example["tools"])
        except Exception as exc:  # a template raising on one row must not sink the cluster
            out.dropped["unrenderable"] += 1
            out.first_error = out.first_error or f"row {index}: {type(exc).__name__}: {exc}"
            continue
        start = common_prefix_length(prompt_ids, full_ids)
        out.prompt_not_prefix += start < len(prompt_ids)
        if len(full_ids) > max_length:
            out.dropped["too_long"] += 1
        elif start >= len(full_ids):
            out.dropped["empty_answer"] += 1
        else:
            out.input_ids.append(full_ids)
            out.completion_mask.append([0] * start + [1] * (len(full_ids) - start))
        if progress is not None and ((index + 1) % 100 == 0 or index + 1 == total):
            progress("tokenize", index + 1, total)
    return out


def _ids(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, **kwargs: Any) -> list[int]:
    encoded = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True, **kwargs)
    return list(encoded["input_ids"])


def check_template_renders_tools(split: Any, tokenizer: Any) -> None:
    """Refuse a template that silently drops the tools (SmolLM2's, Phi-3.5's): the specialist
    would learn to call functions it was never shown."""
    for row in split.select_columns(["messages", "tools"]):
        tools = parse_tools(row["tools"])
        if not tools:
            continue
        try:
            messages = to_prompt_completion(row)["prompt"]
        except ValueError:
            continue  # counted as unrenderable by tokenize_split
        with_tools = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
        without = tokenizer.apply_chat_template(messages, tools=None, tokenize=False)
        if with_tools == without:
            raise MigrateError(
                "the base model's chat template ignores the `tools` of the requests",
                hint="set `chat_template: default` (ChatML with tools) or a .jinja file in the recipe",
            )
        return


def dataset_fingerprint(dataset_dir: Path) -> str:
    """`sha256:` over the relative paths and bytes of the saved dataset's files; `state.json`
    is left out (bookkeeping whose `_fingerprint` may depend on how the rows were produced)."""
    digest = hashlib.sha256()
    root = Path(dataset_dir)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "state.json"):
        digest.update(str(path.relative_to(root)).encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()
