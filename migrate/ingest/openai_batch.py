"""OpenAI Batch API files: input lines (`custom_id`, `body`) and output lines (`custom_id`, `response`).

Output lines hold only the answer; the request lives in the input file, so the two are joined on
`custom_id`. One batch holds at most 50,000 requests (an API limit), which bounds the join index
kept in memory. A failed output line (`"response": null, "error": {...}`, or an HTTP status >= 400)
becomes a record with `error`.
"""

from __future__ import annotations

from typing import Any

from migrate.ingest import normalize
from migrate.ingest.base import LineContext, build_record, metadata_hint
from migrate.ingest.normalize import BadRecord
from migrate.records import CallRecord


def detect_input(obj: dict[str, Any]) -> bool:
    return "custom_id" in obj and isinstance(obj.get("body"), dict)


def detect(obj: dict[str, Any]) -> bool:
    return "custom_id" in obj and ("response" in obj or "error" in obj) and "body" not in obj


def index_input(obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(custom_id, request body) of one batch input line."""
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise BadRecord("batch input line without a custom_id")
    body = obj["body"]
    if not isinstance(body.get("messages"), list):
        raise BadRecord("batch input body has no messages (only /v1/chat/completions is supported)")
    return custom_id, body


def parse(obj: dict[str, Any], ctx: LineContext) -> CallRecord:
    custom_id = obj.get("custom_id")
    response = obj.get("response") or {}
    body = response.get("body") if isinstance(response, dict) else None
    error = obj.get("error")
    status = response.get("status_code") if isinstance(response, dict) else None
    if isinstance(status, int) and status >= 400:
        error = error or (body or {}).get("error") or f"HTTP {status}"
        body = None
    request = ctx.batch_requests.get(custom_id) if isinstance(custom_id, str) else None
    metadata: dict[str, Any] = {"batch_request_id": obj.get("id")}
    if request is None:
        request = {}
        metadata["batch_input_missing"] = True
    return build_record(
        ctx,
        own_id=custom_id,
        request=request,
        response=body,
        error=error,
        require_messages=False,
        timestamp=normalize.epoch_seconds((body or {}).get("created")),
        agent=metadata_hint(request.get("metadata")),
        model=(body or {}).get("model") or request.get("model"),
        metadata=metadata,
    )
