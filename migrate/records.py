"""The canonical call record: one call to an LLM, whatever format it was logged in.

Readers (`migrate.ingest`) turn every log format into `CallRecord`; every later stage speaks only
this type. Messages, tools and the response stay in the OpenAI chat shape as plain dicts, already
normalised: `content` is a string or None, tool-call `arguments` are JSON strings, legacy
`functions`/`function_call` are rewritten as `tools`/`tool_calls`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

Message = dict[str, Any]  # {"role", "content", "tool_calls"?, "tool_call_id"?, "name"?}
Tool = dict[str, Any]  # {"type": "function", "function": {"name", "description"?, "parameters"?}}


@dataclass(slots=True)
class CallRecord:
    """One LLM call: the request the agent sent and the answer it got."""

    id: str  # the record's own id, else "<file>:<line>"
    file: str  # the log file it came from (as given)
    line: int  # 1-based line in the (decompressed) file
    messages: list[Message]  # the request, OpenAI shape
    response: Message | None = None  # the assistant message; None only for failed calls
    tools: list[Tool] = field(default_factory=list)
    model: str | None = None
    timestamp: float | None = None  # seconds since the epoch, UTC
    agent: str | None = None  # hint from metadata/tags/trace names; never trusted as the cluster
    trace_id: str | None = None  # conversation / trace / session the call belongs to
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None  # when the log states it
    params: dict[str, Any] = field(default_factory=dict)  # temperature, tool_choice, response_format…
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # set for failed calls

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return (self.response or {}).get("tool_calls") or []

    @property
    def output_text(self) -> str:
        return (self.response or {}).get("content") or ""

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict (shallow: nested messages are shared, not copied)."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(CallRecord))
