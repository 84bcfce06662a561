"""What a call looks like to the clustering: request features (what a router sees) and actions.

Agent calls are templates with slots. Before texts are compared the slots are masked (URLs,
emails, ids, numbers, dates, quoted values), and the request is cut into fields, each a bag of
namespaced tokens:

- `s:` the system/developer prompt skeleton (unigrams and bigrams);
- `t:` each tool offered, and `ts:` the exact tool set; `p:` request controls (response format,
  tool choice); `n:` the shape of the conversation (number of turns, roles before the last turn);
- `ub:` the opening of the last user turn (where instructions usually sit), `u:` the rest of it.

The system, tools and shape fields repeat across a call site, so they are computed once per
distinct *context* and shared; only the user fields are stored per call. This keeps memory per
call small (a few dozen hashed features) whatever the length of the system prompt.

Actions (the kind of answer, the tool called, the JSON keys, short label values) describe a call
but are never used to place it: a router cannot see them before the call.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from migrate.masking import words
from migrate.records import CallRecord

OPENING_WORDS = 10  # words of the last user turn that count as its opening (`ub:` bigrams)
USER_HEAD, USER_TAIL = 40, 12  # user-turn words kept as `u:` unigrams
SYSTEM_WORDS = 400  # system-prompt words used (long prompts: the start says what the task is)
_USER_CHARS = 800  # characters of the user turn masked (its head and tail)

FIELD_WEIGHTS = {"s": 1.0, "t": 1.2, "ts": 1.2, "p": 0.6, "n": 0.5, "ub": 0.8, "u": 0.35}


def _ngrams(prefix: str, toks: list[str]) -> set[str]:
    out = {f"{prefix}:{w}" for w in toks}
    out.update(f"{prefix}:{a}_{b}" for a, b in zip(toks, toks[1:]))
    return out


def _turn_bucket(n: int) -> str:
    return str(n) if n <= 3 else ("4-6" if n <= 6 else ("7-12" if n <= 12 else "13+"))


# -- request features ---------------------------------------------------------------------------
def context_key(record: CallRecord) -> tuple[Any, ...]:
    """What identifies a call's context cheaply (raw system text, tool names, shape)."""
    system = "\n".join(
        m["content"] or "" for m in record.messages if m["role"] in ("system", "developer")
    )
    roles = tuple(m["role"] for m in record.messages)
    tool_names = tuple(sorted(t["function"].get("name", "") for t in record.tools))
    rf = record.params.get("response_format")
    rf_type = rf.get("type") if isinstance(rf, dict) else rf
    tc = record.params.get("tool_choice")
    tc_kind = tc if isinstance(tc, str) else ("function" if tc else None)
    return system, roles, tool_names, rf_type, tc_kind


def context_features(key: tuple[Any, ...]) -> dict[str, float]:
    """Weighted features of a context: system skeleton, tools, request controls, shape."""
    system, roles, tool_names, rf_type, tc_kind = key
    feats: dict[str, float] = {}
    for token in _ngrams("s", words(system)[:SYSTEM_WORDS]):
        feats[token] = FIELD_WEIGHTS["s"]
    for name in tool_names:
        feats[f"t:{name}"] = FIELD_WEIGHTS["t"]
    if tool_names:
        feats["ts:" + ",".join(tool_names)] = FIELD_WEIGHTS["ts"]
    else:
        feats["ts:none"] = FIELD_WEIGHTS["ts"] * 0.5
    if rf_type:
        feats[f"p:rf={rf_type}"] = FIELD_WEIGHTS["p"]
    if tc_kind:
        feats[f"p:tc={tc_kind}"] = FIELD_WEIGHTS["p"]
    last_user = max((i for i, r in enumerate(roles) if r == "user"), default=-1)
    history = [r for r in roles[:last_user] if r not in ("system", "developer")]
    feats[f"n:turns={_turn_bucket(len(history))}"] = FIELD_WEIGHTS["n"]
    for role in sorted(set(history)):
        feats[f"n:has_{role}"] = FIELD_WEIGHTS["n"]
    feats[f"n:last={roles[-1] if roles else 'none'}"] = FIELD_WEIGHTS["n"]
    return feats


def last_user_text(record: CallRecord) -> str:
    for message in reversed(record.messages):
        if message["role"] == "user":
            return message["content"] or ""
    return ""


def user_features(record: CallRecord) -> dict[str, float]:
    """Weighted features of the last user turn: its opening (bigrams) and a bag of its words."""
    text = last_user_text(record)
    if len(text) > _USER_CHARS:  # only the head and tail words are used: mask no more than that
        text = f"{text[:_USER_CHARS - 200]} … {text[-200:]}"
    toks = words(text)
    opening = toks[:OPENING_WORDS]
    weight_ub, weight_u = FIELD_WEIGHTS["ub"], FIELD_WEIGHTS["u"]
    feats = {f"ub:{a}_{b}": weight_ub for a, b in zip(opening, opening[1:])}
    feats.update((f"ub:{w}", weight_ub) for w in opening)
    for token in toks[:USER_HEAD] + toks[max(USER_HEAD, len(toks) - USER_TAIL):]:
        feats[f"u:{token}"] = weight_u
    return feats


# -- actions (describe a cluster, never place a call) --------------------------------------------
KINDS = ("tool_call", "json", "code", "short", "text", "error")  # "short": at most 4 words
_CODE = re.compile(r"^\s*(```|select\b|with\b|insert\b|update\b|delete\b|create\b|def\b|import\b)", re.I)
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$")


def parse_json_output(text: str) -> Any:
    """The JSON object/array an answer holds (fences allowed), else None."""
    stripped = _FENCE.sub("", text).strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None


def output_kind(record: CallRecord) -> str:
    if record.response is None:
        return "error"
    if record.tool_calls:
        return "tool_call"
    text = record.output_text
    if parse_json_output(text) is not None:
        return "json"
    if _CODE.match(text):
        return "code"
    return "short" if short_value(text) is not None else "text"


def output_hash(record: CallRecord) -> int:
    """A stable 63-bit hash of the answer (text and tool calls), to count distinct outputs."""
    calls = [(c["function"]["name"], c["function"]["arguments"]) for c in record.tool_calls]
    digest = hashlib.blake2b(orjson.dumps([record.output_text, calls]), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def short_value(text: str) -> str | None:
    """A normalised label when the answer is a short phrase (at most 4 words), else None."""
    value = text.strip().strip(".\"'`").strip().lower()
    if not value or len(value) > 40 or len(value.split()) > 4 or "\n" in value:
        return None
    return value


def action_tokens(record: CallRecord, kind: str) -> list[str]:
    """Tokens describing the answer (not its kind, which `output_kind` gives): tools called and
    their argument names, JSON keys, the value of a short answer, the words of a free-text one,
    and its length."""
    tokens: list[str] = []
    if kind == "tool_call":
        for call in record.tool_calls:
            tokens.append(f"tool:{call['function']['name']}")
            arguments = _arguments(call["function"]["arguments"])
            if arguments is None:
                tokens.append("args:invalid")
            else:
                tokens.extend(f"arg:{key}" for key in arguments)
    elif kind == "json":
        parsed = parse_json_output(record.output_text)
        keys = sorted(parsed) if isinstance(parsed, dict) else ["<array>"]
        tokens.append("keys:" + ",".join(keys))
    elif kind in ("short", "text", "code"):
        text = record.output_text
        value = short_value(text)
        if value is not None:
            tokens.append(f"val:{value}")
        else:
            tokens.append(f"len:{_length_bucket(len(text.split()))}")
        answer = words(text[:_ANSWER_CHARS])
        tokens.extend(f"ow:{w}" for w in answer if len(w) > 2)
    return sorted(set(tokens))


_ANSWER_CHARS = 200  # characters of a free-text answer whose words describe its vocabulary


def _arguments(arguments: str) -> dict[str, Any] | None:
    """Tool-call arguments as a dict, or None when they are not a JSON object."""
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _length_bucket(n_words: int) -> str:
    for limit in (8, 20, 50, 120, 300):
        if n_words <= limit:
            return f"<={limit}"
    return ">300"
