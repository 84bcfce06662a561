"""Normalise the many spellings of an OpenAI-style chat into one shape.

Known quirks handled here, shared by every reader: content as a list of parts, tool-call
`arguments` as JSON objects, legacy `functions` / `function_call`, `null` vs `""` content next to
tool calls, LangChain message dicts (`{"type": "human", ...}` and serialized constructors), and
streamed `chat.completion.chunk` lists.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson

from migrate.records import Message, Tool


class BadRecord(ValueError):
    """The line is JSON but not a usable call record; the message is the quarantine reason."""


_LANGCHAIN_ROLES = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "AIMessageChunk": "assistant",
    "system": "system",
    "developer": "developer",
    "tool": "tool",
    "function": "tool",
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "tool",
}


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def content_text(content: Any) -> str | None:
    """Content as one string: part lists are joined, non-text parts become a short marker."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict):
                kind = part.get("type", "text")
                if "text" in part and isinstance(part["text"], str):
                    pieces.append(part["text"])
                elif kind in ("image_url", "image", "input_image"):
                    pieces.append("[image]")
                elif kind in ("input_audio", "audio"):
                    pieces.append("[audio]")
                elif kind == "refusal" and isinstance(part.get("refusal"), str):
                    pieces.append(part["refusal"])
        return "\n".join(pieces)
    return str(content)


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as a JSON string (objects are serialised, strings kept verbatim)."""
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return arguments
    return dumps(arguments)


def tool_call(raw: dict[str, Any]) -> dict[str, Any]:
    function = raw.get("function")
    if not isinstance(function, dict):  # LangChain: {"name", "args", "id"}
        function = {"name": raw.get("name"), "arguments": raw.get("args", raw.get("arguments"))}
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise BadRecord("tool call without a function name")
    return {
        "id": raw.get("id"),
        "type": "function",
        "function": {"name": name, "arguments": arguments_text(function.get("arguments"))},
    }


def message(raw: Any) -> Message:
    """One message in OpenAI shape: role, content (str or None) and the optional tool fields."""
    if not isinstance(raw, dict):
        raise BadRecord(f"message is a {type(raw).__name__}, not an object")
    if raw.get("lc") == 1 and isinstance(raw.get("kwargs"), dict):  # serialized LangChain message
        kind = (raw.get("id") or ["", "HumanMessage"])[-1]
        raw = {**raw["kwargs"], "type": kind}
    role = raw.get("role") or _LANGCHAIN_ROLES.get(raw.get("type", ""))
    role = _LANGCHAIN_ROLES.get(role, role)
    if not isinstance(role, str):
        raise BadRecord("message without a role")
    out: Message = {"role": role, "content": content_text(raw.get("content"))}
    calls = raw.get("tool_calls")
    if not calls and isinstance(raw.get("additional_kwargs"), dict):
        calls = raw["additional_kwargs"].get("tool_calls")
    if not calls and isinstance(raw.get("function_call"), dict):  # legacy single function call
        calls = [{"function": raw["function_call"]}]
    if calls:
        out["tool_calls"] = [tool_call(c) for c in calls]
        if not out["content"]:
            out["content"] = None
    if raw.get("tool_call_id"):
        out["tool_call_id"] = raw["tool_call_id"]
    if raw.get("name") and role in ("tool", "user", "function"):
        out["name"] = raw["name"]
    return out


def messages(raw: Any) -> list[Message]:
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise BadRecord("request has no messages")
    return [message(m) for m in raw]


def tools(raw_tools: Any, legacy_functions: Any = None) -> list[Tool]:
    """Tool schemas as `{"type": "function", "function": {...}}`, legacy `functions` included."""
    out: list[Tool] = []
    for item in raw_tools or []:
        if isinstance(item, dict):
            function = item.get("function") if isinstance(item.get("function"), dict) else item
            if function.get("name"):
                out.append({"type": "function", "function": function})
    for function in legacy_functions or []:
        if isinstance(function, dict) and function.get("name"):
            out.append({"type": "function", "function": function})
    return out


def assemble_chunks(chunks: list[Any]) -> dict[str, Any]:
    """Re-assemble streamed `chat.completion.chunk` deltas into one chat completion."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish_reason = None
    usage = None
    first: dict[str, Any] = {}
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        first = first or chunk
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                content.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            finish_reason = choice.get("finish_reason") or finish_reason
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        msg["tool_calls"] = [
            {"id": c["id"], "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(calls.items())
        ]
    return {
        "id": first.get("id"),
        "model": first.get("model"),
        "created": first.get("created"),
        "choices": [{"message": msg, "finish_reason": finish_reason}],
        "usage": usage,
    }


def completion(raw: Any) -> tuple[Message, str | None, dict[str, Any]]:
    """(assistant message, finish_reason, usage) from a ChatCompletion, chunk list or bare message."""
    if isinstance(raw, list):
        raw = assemble_chunks(raw)
    if not isinstance(raw, dict):
        raise BadRecord("response is not an object")
    choices = raw.get("choices")
    if isinstance(choices, list) and choices:
        choice = choices[0]
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise BadRecord("response choice has no message")
        msg = dict(choice["message"])
        msg.setdefault("role", "assistant")
        return message(msg), choice.get("finish_reason"), raw.get("usage") or {}
    if "role" in raw or "content" in raw or "tool_calls" in raw or "type" in raw:
        msg = dict(raw)
        msg.setdefault("role", "assistant")
        return message(msg), raw.get("finish_reason"), {}
    raise BadRecord("response has no choices")


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def epoch_seconds(value: Any) -> float | None:
    """A timestamp as epoch seconds: ISO strings, epoch seconds or epoch milliseconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None


def hint(*candidates: Any) -> str | None:
    """The first non-empty string among the candidates (an agent hint)."""
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
