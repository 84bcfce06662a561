"""LangSmith runs (`langsmith.schemas.Run`): `run_type: "llm"` rows are calls, others are skipped.

`inputs` / `outputs` differ by integration: `wrap_openai` logs OpenAI kwargs and the chat
completion; LangChain chat models log `messages` (often a list of lists) and `generations`.
Token counts are top-level (`prompt_tokens`, `completion_tokens`) or in the outputs' usage.
"""

from __future__ import annotations

from typing import Any

from migrate.ingest import normalize
from migrate.ingest.base import LineContext, build_record, latency_ms, metadata_hint
from migrate.ingest.normalize import BadRecord
from migrate.records import CallRecord

RUN_TYPES = ("llm", "chain", "tool", "retriever", "embedding", "prompt", "parser")


def detect(obj: dict[str, Any]) -> bool:
    return obj.get("run_type") in RUN_TYPES and "inputs" in obj


def request_from_inputs(inputs: Any) -> dict[str, Any]:
    if not isinstance(inputs, dict):
        raise BadRecord("run inputs are not an object")
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], list):
        messages = messages[0]  # LangChain batches: one list of messages per prompt
    if messages is None and isinstance(inputs.get("prompts"), list) and inputs["prompts"]:
        messages = inputs["prompts"][0]
    if messages is None and isinstance(inputs.get("input"), str):
        messages = inputs["input"]
    tools = inputs.get("tools") or ((inputs.get("invocation_params") or {}).get("tools"))
    return {**inputs, "messages": messages, "tools": tools}


def response_from_outputs(outputs: Any) -> tuple[Any, dict[str, Any]]:
    """(response in any shape `normalize.completion` reads, usage)."""
    if not isinstance(outputs, dict):
        return None, {}
    if "choices" in outputs:
        return outputs, outputs.get("usage") or {}
    usage = ((outputs.get("llm_output") or {}).get("token_usage")) or {}
    generations = outputs.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0][0] if isinstance(generations[0], list) else generations[0]
        if isinstance(first, dict):
            message = first.get("message")
            if isinstance(message, dict):
                return message, usage
            return {"role": "assistant", "content": first.get("text")}, usage
    if "output" in outputs:
        output = outputs["output"]
        return (output if isinstance(output, dict) else {"role": "assistant", "content": output}), usage
    return None, usage


def parse(obj: dict[str, Any], ctx: LineContext) -> CallRecord | None:
    if obj.get("run_type") != "llm":
        return None
    extra = obj.get("extra") or {}
    invocation = extra.get("invocation_params") or {}
    metadata = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    request = request_from_inputs(obj.get("inputs"))
    response, usage = response_from_outputs(obj.get("outputs"))
    tags = [t for t in obj.get("tags") or [] if isinstance(t, str)]
    return build_record(
        ctx,
        own_id=obj.get("id"),
        request={**invocation, **request},
        response=response if not obj.get("error") else None,
        error=obj.get("error"),
        model=normalize.hint(invocation.get("model"), invocation.get("model_name"), metadata.get("ls_model_name")),
        timestamp=normalize.epoch_seconds(obj.get("start_time")),
        latency_ms=latency_ms(obj.get("start_time"), obj.get("end_time")),
        agent=normalize.hint(metadata_hint(metadata), *tags, obj.get("name")),
        trace_id=normalize.hint(obj.get("trace_id"), obj.get("session_id")),
        prompt_tokens=normalize.int_or_none(obj.get("prompt_tokens") or usage.get("prompt_tokens")),
        completion_tokens=normalize.int_or_none(obj.get("completion_tokens") or usage.get("completion_tokens")),
        cost_usd=normalize.float_or_none(obj.get("total_cost")),
        metadata={**metadata, **({"tags": tags} if tags else {})},
    )
