"""OpenPipe exports: `{"input": {...}, "output": <ChatCompletion>, "tags": {...}}` per line.

Also the `/report` body shape: `reqPayload`, `respPayload`, `statusCode`, `errorMessage`,
`requestedAt`, `receivedAt` (ms) and `tags`. Tags starting with `$` are SDK bookkeeping.
"""

from __future__ import annotations

from typing import Any

from migrate.ingest import normalize
from migrate.ingest.base import LineContext, build_record, latency_ms
from migrate.records import CallRecord


def detect(obj: dict[str, Any]) -> bool:
    if isinstance(obj.get("reqPayload"), dict):
        return True
    return isinstance(obj.get("input"), dict) and "messages" in obj["input"] and "output" in obj


def parse(obj: dict[str, Any], ctx: LineContext) -> CallRecord:
    request = obj.get("input") if "input" in obj else obj.get("reqPayload")
    response = obj.get("output") if "input" in obj else obj.get("respPayload")
    tags = {k: v for k, v in (obj.get("tags") or {}).items() if not str(k).startswith("$")}
    created = response.get("created") if isinstance(response, dict) else None
    status = obj.get("statusCode")
    error = obj.get("errorMessage") or (f"HTTP {status}" if isinstance(status, int) and status >= 400 else None)
    return build_record(
        ctx,
        own_id=obj.get("id") or (response.get("id") if isinstance(response, dict) else None),
        request=request,
        response=response if not error else None,
        error=error,
        timestamp=normalize.epoch_seconds(obj.get("requestedAt") or created),
        latency_ms=latency_ms(obj.get("requestedAt"), obj.get("receivedAt")),
        agent=normalize.hint(tags.get("prompt_id"), *tags.values()),
        metadata={"tags": tags} if tags else {},
    )
