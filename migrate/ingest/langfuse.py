"""Langfuse observations export: GENERATION rows are calls; SPAN and EVENT rows are skipped.

`input` / `output` are free JSON whose shape depends on the integration: a messages list (OpenAI
drop-in), `{"messages": [...], "tools": [...]}`, a prompt string, an assistant message, a chat
completion, or LangChain messages. `name`, `promptName` and metadata are agent hints.
"""

from __future__ import annotations

from typing import Any

from migrate.ingest import normalize
from migrate.ingest.base import LineContext, build_record, latency_ms, metadata_hint, request_params
from migrate.ingest.normalize import BadRecord
from migrate.records import CallRecord

TYPES = ("GENERATION", "SPAN", "EVENT")


def detect(obj: dict[str, Any]) -> bool:
    return obj.get("type") in TYPES and ("traceId" in obj or "startTime" in obj)


def request_from_input(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict) and "messages" in raw:
        return raw
    if isinstance(raw, (list, str)):
        return {"messages": raw}
    if isinstance(raw, dict) and ("role" in raw or "content" in raw):
        return {"messages": [raw]}
    raise BadRecord("generation input is not a prompt or a messages list")


def response_from_output(raw: Any) -> Any:
    if isinstance(raw, str):
        return {"role": "assistant", "content": raw}
    if isinstance(raw, dict) and "completion" in raw and "choices" not in raw and "role" not in raw:
        return {"role": "assistant", "content": normalize.content_text(raw["completion"])}
    return raw


def parse(obj: dict[str, Any], ctx: LineContext) -> CallRecord | None:
    if obj.get("type") != "GENERATION":
        return None
    request = request_from_input(obj.get("input"))
    params = {**request_params(request), **(obj.get("modelParameters") or {})}
    usage = obj.get("usageDetails") or obj.get("usage") or {}
    error = (obj.get("statusMessage") or "error") if obj.get("level") == "ERROR" else None
    completion = normalize.int_or_none(usage.get("output", obj.get("completionTokens")))
    max_tokens = normalize.int_or_none(params.get("max_tokens") or params.get("max_completion_tokens"))
    # Langfuse logs no finish_reason: an answer that used its whole token budget was cut off
    finish = "length" if completion is not None and completion == max_tokens else None
    cost = obj.get("calculatedTotalCost") or usage.get("totalCost") or (obj.get("costDetails") or {}).get("total")
    return build_record(
        ctx,
        own_id=obj.get("id"),
        request=request,
        response=response_from_output(obj.get("output")),
        error=error,
        model=obj.get("model") or request.get("model"),
        params=params,
        timestamp=normalize.epoch_seconds(obj.get("startTime")),
        latency_ms=latency_ms(obj.get("startTime"), obj.get("endTime")),
        agent=normalize.hint(obj.get("name"), obj.get("promptName"), metadata_hint(obj.get("metadata"))),
        trace_id=normalize.hint(obj.get("traceId")),
        prompt_tokens=normalize.int_or_none(usage.get("input", obj.get("promptTokens"))),
        completion_tokens=completion,
        finish_reason=finish,
        cost_usd=normalize.float_or_none(cost),
        metadata=obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {},
    )
