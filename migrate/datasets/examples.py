"""One curated call as one training example: the conversation, the tools, and what it is grouped by.

An example is the request exactly as the agent sent it (system prompt, earlier user, assistant and
tool turns, tool schemas) followed by the teacher's answer as the final assistant turn: the target.
Messages keep OpenAI's shape (tool-call arguments as JSON strings), with every key present in every
message (`None` where absent) so that a column of them is one Arrow type.

Besides the conversation, each example carries what the split needs:
- `prompt_key`: a digest of the *masked* request (slot values such as numbers, ids, e-mails and
  quoted values masked, `migrate.curate.dedup.masked_parts`): two calls that differ only in a slot
  value are near-duplicates for leakage purposes and must land in the same split;
- `trace_id`: calls of one conversation or trace share context and must land in the same split;
- `output_class`: what stratification balances (the tool called, the label chosen), by the cluster's
  output kind; empty when the kind has no classes (free text, JSON, code).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from migrate.curate.dedup import masked_parts
from migrate.records import CallRecord

MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")
LABEL_CHARS = 60  # longest answer still treated as a label value for stratification


@dataclass(slots=True)
class Example:
    id: str
    messages: list[dict[str, Any]]  # the request, then the answer (the target)
    tools: list[dict[str, Any]]
    prompt_key: str
    trace_id: str | None
    output_class: str
    represents: int  # calls this example stands for (itself and the duplicates dedup dropped)


def message(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` with every key of `MESSAGE_KEYS` (one Arrow struct type for all messages)."""
    out = {key: raw.get(key) for key in MESSAGE_KEYS}
    if out["tool_calls"]:
        out["tool_calls"] = [
            {
                "id": call.get("id"),
                "type": call.get("type") or "function",
                "function": {"name": call["function"]["name"], "arguments": call["function"].get("arguments") or "{}"},
            }
            for call in out["tool_calls"]
        ]
    else:
        out["tool_calls"] = None
    return out


def output_class(response: dict[str, Any], kind: str) -> str:
    """What stratification balances for an answer of a cluster of output `kind`."""
    calls = response.get("tool_calls") or []
    if kind == "tool_call":
        return "tool:" + "+".join(call["function"]["name"] for call in calls) if calls else "no tool call"
    if kind == "label" and not calls:
        value = " ".join((response.get("content") or "").split()).lower()
        return f"label:{value}" if len(value) <= LABEL_CHARS else "label:(long)"
    return ""


def prompt_key(record: CallRecord) -> str:
    context, turns, _ = masked_parts(record)
    text = " ".join(context) + "\n" + " ".join(turns)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def to_example(row: dict[str, Any], kind: str) -> Example:
    """The example of one curated record (a row of `DIR/curate/records.jsonl`)."""
    record = CallRecord.from_dict({k: v for k, v in row.items() if k != "represents"})
    response = record.response or {"role": "assistant", "content": ""}
    return Example(
        id=record.id,
        messages=[*(message(m) for m in record.messages), message({**response, "role": "assistant"})],
        tools=record.tools,
        prompt_key=prompt_key(record),
        trace_id=record.trace_id,
        output_class=output_class(response, kind),
        represents=int(row.get("represents") or 1),
    )


def openai_row(example: Example) -> bytes:
    """The example as a line of OpenAI's chat fine-tuning JSONL (absent keys left out)."""
    messages = [{k: v for k, v in m.items() if v is not None} for m in example.messages]
    row: dict[str, Any] = {"messages": messages}
    if example.tools:
        row["tools"] = example.tools
    return orjson.dumps(row) + b"\n"
