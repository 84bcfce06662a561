"""What every reader shares: where a line came from, and how a record is put together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrate.ingest import normalize
from migrate.ingest.normalize import BadRecord
from migrate.records import CallRecord

# Request fields kept as `params` (sampling and output controls a router or trainer may need).
PARAM_KEYS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "tool_choice", "function_call",
    "response_format", "parallel_tool_calls", "stop", "seed", "n", "stream",
)
# Metadata keys that name the agent / node / prompt behind a call: kept as a hint, never trusted.
HINT_KEYS = (
    "agent", "agent_name", "agent_node", "workload_id", "node", "task", "prompt_id", "prompt_name",
    "langgraph_node", "ls_run_name", "component",
)


@dataclass(slots=True)
class LineContext:
    file: str
    line: int
    batch_requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom_id -> body

    @property
    def default_id(self) -> str:
        return f"{self.file}:{self.line}"


def request_params(request: dict[str, Any]) -> dict[str, Any]:
    return {key: request[key] for key in PARAM_KEYS if request.get(key) is not None}


def metadata_hint(metadata: Any) -> str | None:
    if not isinstance(metadata, dict):
        return None
    return normalize.hint(*(metadata.get(key) for key in HINT_KEYS))


def build_record(
    ctx: LineContext,
    *,
    own_id: Any,
    request: dict[str, Any],
    response: Any,
    error: Any = None,
    require_messages: bool = True,
    **fields: Any,
) -> CallRecord:
    """A `CallRecord` from an OpenAI-shaped request dict and any completion shape.

    `request` holds `messages`, `tools` / `functions` and sampling params. A record with neither a
    response nor an error is rejected (`BadRecord`): there is nothing to learn from it.
    """
    raw_messages = request.get("messages")
    messages = normalize.messages(raw_messages) if raw_messages or require_messages else []
    tools = normalize.tools(request.get("tools"), request.get("functions"))
    message = finish_reason = None
    usage: dict[str, Any] = {}
    if response not in (None, {}, []):
        message, finish_reason, usage = normalize.completion(response)
    elif not error:
        raise BadRecord("record has no response and no error")
    usage = usage or {}
    for key in ("prompt_tokens", "completion_tokens"):
        if fields.get(key) is None:
            fields[key] = normalize.int_or_none(usage.get(key))
    fields.setdefault("model", request.get("model"))
    fields.setdefault("params", request_params(request))
    return CallRecord(
        id=str(own_id) if own_id not in (None, "") else ctx.default_id,
        file=ctx.file,
        line=ctx.line,
        messages=messages,
        tools=tools,
        response=message,
        finish_reason=fields.pop("finish_reason", None) or finish_reason,
        error=error_text(error),
        **fields,
    )


def error_text(error: Any) -> str | None:
    if error in (None, "", {}):
        return None
    if isinstance(error, dict):
        parts = [str(error.get(k)) for k in ("type", "code", "message") if error.get(k)]
        return ": ".join(parts) or normalize.dumps(error)
    return str(error)


def latency_ms(start: Any, end: Any) -> float | None:
    begin, finish = normalize.epoch_seconds(start), normalize.epoch_seconds(end)
    if begin is None or finish is None or finish < begin:
        return None
    return round((finish - begin) * 1000.0, 3)
