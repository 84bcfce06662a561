"""Plain conversations: `{"messages": [...], "tools": [...]}`; the last assistant turn is the answer."""

from __future__ import annotations

from typing import Any

from migrate.ingest import normalize
from migrate.ingest.base import LineContext, build_record, metadata_hint
from migrate.ingest.normalize import BadRecord
from migrate.records import CallRecord


def detect(obj: dict[str, Any]) -> bool:
    return isinstance(obj.get("messages"), list) and "request" not in obj and "input" not in obj


def parse(obj: dict[str, Any], ctx: LineContext) -> CallRecord:
    turns = obj["messages"]
    if not turns or not isinstance(turns[-1], dict):
        raise BadRecord("conversation has no messages")
    last = normalize.message(turns[-1])
    if last["role"] != "assistant":
        raise BadRecord("conversation does not end with an assistant message (no response)")
    if len(turns) < 2:
        raise BadRecord("conversation has an answer but no request")
    request = {**obj, "messages": turns[:-1]}
    return build_record(
        ctx,
        own_id=obj.get("id"),
        request=request,
        response=turns[-1],
        timestamp=normalize.epoch_seconds(obj.get("timestamp") or obj.get("created")),
        agent=normalize.hint(obj.get("agent"), metadata_hint(obj.get("metadata"))),
        trace_id=normalize.hint(obj.get("trace_id"), obj.get("session_id"), obj.get("conversation_id")),
        latency_ms=normalize.float_or_none(obj.get("latency_ms")),
        cost_usd=normalize.float_or_none(obj.get("cost_usd")),
        metadata=obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {},
    )
