"""From a model's generated text to an assistant message (content and/or tool calls).

Models trained with our default template (`migrate.chat_template`) call tools by writing
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks; untuned models often answer a
bare JSON object `{"name": ..., "arguments": ...}` instead (or a list of them). Both are read back
as OpenAI-shaped tool calls, so metrics compare like with like whatever wrote the answer. A bare
object counts as a tool call only when the request offered tools: in a JSON cluster an object
with a `name` key is an answer, not a call. When tools were offered, text that starts like a bare
call but is not valid JSON is kept as content and flagged in `parse_error`.

A block that is not valid JSON (a truncated generation, a malformed object) still becomes a call
when its name can be read, with its raw arguments, and `parse_error` says what went wrong: the
metrics then score it as invalid rather than as missing.
"""

from __future__ import annotations

import json
import re
from typing import Any

BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
NAME = re.compile(r'"name"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
FENCE = re.compile(r"^```[\w-]*\s*\n(.*?)\n?```$", re.DOTALL)


def parse_generation(text: str, tools_offered: bool = True) -> dict[str, Any]:
    """The assistant message in `text`: `{"role", "content", "tool_calls", "parse_error"}`.

    `content` is the text outside tool-call blocks (None when empty); each call's `arguments` is
    a canonical JSON string when it parsed, else the raw text.
    """
    text = text or ""
    calls: list[dict[str, Any]] = []
    errors: list[str] = []
    if "<tool_call>" in text:
        for match in BLOCK.finditer(text):
            call, error = _call_from_text(match.group(1))
            if call is not None:
                calls.append(call)
            if error:
                errors.append(error)
        content = BLOCK.sub("", text).strip()
    else:
        content = text.strip()
        if tools_offered:
            bare = _bare_calls(content)
            if bare:
                calls, content = bare, ""
            elif content.startswith(("{", "[")) and '"name"' in content:
                errors.append("bare tool call is not valid JSON")
    return {"role": "assistant", "content": content or None, "tool_calls": calls,
            "parse_error": "; ".join(errors) or None}


def message_from_openai(message: dict[str, Any], tools_offered: bool = True) -> dict[str, Any]:
    """An OpenAI response message in the same shape; tool calls written as text are parsed too
    (a server started without a tool-call parser returns them in `content`)."""
    calls = [_normalise_call(c.get("function") or {}) for c in message.get("tool_calls") or []]
    if calls:
        return {"role": "assistant", "content": message.get("content") or None, "tool_calls": calls,
                "parse_error": None}
    return parse_generation(message.get("content") or "", tools_offered)


def reference_message(message: dict[str, Any]) -> dict[str, Any]:
    """A dataset's target message (arguments as JSON strings, Arrow's None keys) in the same shape."""
    calls = [_normalise_call(c.get("function") or {}) for c in message.get("tool_calls") or []]
    return {"role": "assistant", "content": message.get("content") or None, "tool_calls": calls,
            "parse_error": None}


def loads_arguments(arguments: Any) -> tuple[Any, bool]:
    """(value, ok): tool-call arguments as a parsed object; an empty string is `{}`."""
    if isinstance(arguments, dict):
        return arguments, True
    if not isinstance(arguments, str):
        return arguments, False
    if not arguments.strip():
        return {}, True
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return arguments, False
    return value, isinstance(value, dict)


def loads_json(text: str | None) -> tuple[Any, bool]:
    """(value, ok): a JSON answer parsed; one fenced code block around it is accepted (agents
    commonly strip it), anything else around it is not."""
    if text is None:
        return None, False
    stripped = text.strip()
    fenced = FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped), True
    except json.JSONDecodeError:
        return None, False


def canonical(value: Any) -> str:
    """One string per JSON value whatever its key order: what equality and F1 compare."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _normalise_call(function: dict[str, Any]) -> dict[str, Any]:
    arguments = function.get("arguments")
    if arguments is None:
        arguments = function.get("parameters", "{}")
    value, ok = loads_arguments(arguments)
    return {"name": function.get("name"), "arguments": canonical(value) if ok else str(arguments)}


def _call_from_text(body: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        name = NAME.search(body)
        if not name:
            return None, f"unreadable tool call ({exc.msg})"
        raw = body.split('"arguments"', 1)[1].lstrip(" :") if '"arguments"' in body else ""
        return {"name": _json_string(name.group(1)), "arguments": raw}, f"tool call is not valid JSON ({exc.msg})"
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None, "tool call without a name"
    return _normalise_call(obj), None


def _json_string(body: str) -> str:
    """The text of a JSON string literal's body; as written when it is not valid JSON (a model's
    output may hold raw control characters or broken escapes)."""
    try:
        return json.loads(f'"{body}"')
    except json.JSONDecodeError:
        return body


def _bare_calls(text: str) -> list[dict[str, Any]]:
    """Tool calls written as a bare JSON object (or a list of them), else []."""
    value, ok = loads_json(text)
    if not ok:
        return []
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, dict) and isinstance(i.get("name"), str)
                            and ("arguments" in i or "parameters" in i) for i in items):
        return []
    return [_normalise_call(i) for i in items]
