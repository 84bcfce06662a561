"""OpenAI Chat Completions request/response pairs, one per line (NVIDIA data-flywheel records too).

`{"request": <ChatCompletion.create payload>, "response": <ChatCompletion>}`, optionally with
top-level `timestamp`, `workload_id`, `client_id` (data-flywheel), `latency_ms`, `error`, `id`.
The response may also be a list of streamed `chat.completion.chunk` objects.
"""

from __future__ import annotations

from typing import Any

from migrate.ingest import normalize
from migrate.ingest.base import LineContext, build_record, metadata_hint
from migrate.records import CallRecord


def detect(obj: dict[str, Any]) -> bool:
    request = obj.get("request")
    return isinstance(request, dict) and ("messages" in request) and ("response" in obj or "error" in obj)


def parse(obj: dict[str, Any], ctx: LineContext) -> CallRecord:
    request = obj["request"]
    response = obj.get("response")
    metadata = {k: v for k, v in (request.get("metadata") or {}).items()}
    for key in ("workload_id", "client_id"):
        if obj.get(key) is not None:
            metadata[key] = obj[key]
    response_id = response.get("id") if isinstance(response, dict) else None
    created = response.get("created") if isinstance(response, dict) else None
    return build_record(
        ctx,
        own_id=obj.get("id") or response_id,
        request=request,
        response=response,
        error=obj.get("error"),
        timestamp=normalize.epoch_seconds(obj.get("timestamp") or created),
        agent=normalize.hint(obj.get("workload_id"), metadata_hint(request.get("metadata"))),
        trace_id=normalize.hint(obj.get("trace_id"), obj.get("session_id"), obj.get("conversation_id")),
        latency_ms=normalize.float_or_none(obj.get("latency_ms")),
        cost_usd=normalize.float_or_none(obj.get("cost_usd")),
        metadata=metadata,
    )
