"""The test cases of one cluster and the few-shot prompt of the base-model baseline.

A case is a row of the dataset's held-out `test` split (`migrate.finetune.examples` has the
contract): the request is every message but the last, the reference is the last (the teacher's
answer). At most `limit` cases are drawn, by a seeded sample so that a capped evaluation still
spans the whole split rather than its first groups.

Few-shot examples are `k` rows of the `train` split, never of `test`, the same for every case so
the prompt prefix is stable: drawn with a seed from the shorter half of the rows (a few-shot
prompt must leave room for the question), one per output class first (a tool, a label) so the
base model sees the range of answers. Each shot's turns after its system prompt (its question
and answer, tool round trips included) are inserted right after the case's system prompt, as
earlier turns of the conversation.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from migrate.evaluate.backends import Chat
from migrate.evaluate.parse import reference_message


@dataclass
class Case:
    id: str
    chat: Chat
    reference: dict[str, Any]  # parse.reference_message of the last message
    schema: dict[str, Any] | None = None  # the request's response_format JSON schema, when it had one


def load_cases(splits: Any, limit: int | None, seed: int = 0) -> tuple[list[Case], int]:
    """(cases, rows in the test split): up to `limit` test rows as cases, in split order."""
    if "test" not in splits:
        return [], 0
    test = splits["test"]
    total = len(test)
    indices = list(range(total))
    if limit is not None and total > limit:
        indices = sorted(random.Random(seed).sample(indices, limit))
    cases = []
    for index in indices:
        row = test[index]
        messages = list(row["messages"])
        if not messages or messages[-1].get("role") != "assistant":
            continue
        tools = _tools(row.get("tools"))
        cases.append(Case(id=str(row.get("id") or index), chat=Chat(messages[:-1], tools),
                          reference=reference_message(messages[-1]), schema=_schema(row.get("response_format"))))
    return cases, total


def pick_shots(splits: Any, k: int, seed: int = 0) -> list[list[dict[str, Any]]]:
    """`k` training conversations (turns after the system prompt, answer included)."""
    if k <= 0 or "train" not in splits or len(splits["train"]) == 0:
        return []
    train = splits["train"]
    lengths = train["total_tokens"] if "total_tokens" in train.column_names else [0] * len(train)
    classes = train["output_class"] if "output_class" in train.column_names else [""] * len(train)
    cutoff = sorted(lengths)[(len(lengths) - 1) // 2]
    candidates = [i for i, n in enumerate(lengths) if n <= cutoff]
    random.Random(seed).shuffle(candidates)
    chosen: list[int] = []
    seen: set[str] = set()
    for index in candidates:  # one per class first, then whatever comes next
        if len(chosen) < k and classes[index] not in seen:
            chosen.append(index)
            seen.add(classes[index])
    chosen += [i for i in candidates if i not in chosen][: k - len(chosen)]
    shots = []
    for index in chosen:
        turns = [m for m in train[index]["messages"] if m.get("role") != "system"]
        if turns and turns[-1].get("role") == "assistant":
            shots.append(turns)
    return shots


def with_shots(chat: Chat, shots: list[list[dict[str, Any]]]) -> Chat:
    """`chat` with the shots' turns inserted after its system prompt."""
    if not shots:
        return chat
    head = 1 if chat.messages and chat.messages[0].get("role") == "system" else 0
    turns = [m for shot in shots for m in shot]
    return Chat(chat.messages[:head] + turns + chat.messages[head:], chat.tools)


def _tools(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    return list(value or []) or None


def _schema(value: Any) -> dict[str, Any] | None:
    """The JSON schema of an OpenAI `response_format` (a dict or a JSON string), if it has one."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except json.JSONDecodeError:
            return None
    if not isinstance(value, dict) or value.get("type") != "json_schema":
        return None
    schema = (value.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else None
