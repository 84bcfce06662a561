"""Filters: each reason on a minimal call, their precedence, and every switch turning one off."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from migrate.curate.filters import REASONS, FilterParams, drop_reason
from migrate.records import CallRecord

LOOKUP = {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}


def tool_call(name: str = "lookup_order", arguments: str = '{"order_id": "ORD-1"}') -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}


def record(**fields: Any) -> CallRecord:
    """A clean call (a plain answer) with `fields` overriding it."""
    base: dict[str, Any] = {
        "id": "c1",
        "file": "log.jsonl",
        "line": 1,
        "messages": [{"role": "user", "content": "Where is my order?"}],
        "response": {"role": "assistant", "content": "It ships tomorrow."},
        "finish_reason": "stop",
        "prompt_tokens": 20,
        "completion_tokens": 5,
    }
    base.update(fields)
    return CallRecord(**base)


def answer(content: str | None = None, calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls is not None:
        message["tool_calls"] = calls
    return message


DEFAULT = FilterParams(max_tokens=1000)

# One minimal call per reason, in REASONS order.
CASES = {
    "error": record(error="rate limited", response=None, finish_reason=None),
    "truncated": record(finish_reason="length"),
    "empty_answer": record(response=answer("")),
    "invalid_tool_arguments": record(tools=[LOOKUP], response=answer(calls=[tool_call(arguments='{"order_id": ')])),
    "unknown_tool": record(tools=[LOOKUP], response=answer(calls=[tool_call(name="delete_account")])),
    "too_long": record(prompt_tokens=900, completion_tokens=200),
}
SWITCHES = {
    "error": {"drop_errors": False},
    "truncated": {"drop_truncated": False},
    "empty_answer": {"drop_empty": False},
    "invalid_tool_arguments": {"drop_invalid_tool_calls": False},
    "unknown_tool": {"drop_invalid_tool_calls": False},
    "too_long": {"max_tokens": None},
}


def test_cases_cover_every_reason():
    assert tuple(CASES) == REASONS


def test_clean_calls_are_kept():
    assert drop_reason(record(), DEFAULT) is None
    offered = record(tools=[LOOKUP], response=answer(calls=[tool_call()]), finish_reason="tool_calls")
    assert drop_reason(offered, DEFAULT) is None


@pytest.mark.parametrize("reason", REASONS)
def test_each_reason_triggers(reason):
    assert drop_reason(CASES[reason], DEFAULT) == reason


@pytest.mark.parametrize("reason", REASONS)
def test_each_switch_turns_its_filter_off(reason):
    params = DEFAULT.model_copy(update=SWITCHES[reason])
    assert drop_reason(CASES[reason], params) != reason


def test_error_variants():
    assert drop_reason(record(error="timeout"), DEFAULT) == "error"  # an error with a partial answer
    assert drop_reason(record(response=None), DEFAULT) == "error"  # no answer at all
    # kept by the switch, a call without an answer still has an empty one
    assert drop_reason(record(response=None), FilterParams(drop_errors=False)) == "empty_answer"


def test_empty_variants():
    for response in (answer(None), answer("   \n"), answer("", calls=[])):
        assert drop_reason(record(response=response), DEFAULT) == "empty_answer"
    assert drop_reason(record(response=answer(None, calls=[tool_call()])), DEFAULT) is None


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]", '"a string"', "null", '{"a": 1'])
def test_arguments_must_be_a_json_object(arguments):
    call = record(response=answer(calls=[tool_call(arguments=arguments)]))
    assert drop_reason(call, DEFAULT) == "invalid_tool_arguments"


def test_empty_arguments_mean_no_parameters():
    call = record(response=answer(calls=[tool_call(arguments="")]))
    assert drop_reason(call, DEFAULT) is None


def test_invalid_arguments_are_checked_even_when_no_tools_were_offered():
    call = record(tools=[], response=answer(calls=[tool_call(arguments="oops")]))
    assert drop_reason(call, DEFAULT) == "invalid_tool_arguments"


def test_no_unknown_tool_check_when_no_tools_were_offered():
    call = record(tools=[], response=answer(calls=[tool_call(name="anything_at_all")]))
    assert drop_reason(call, DEFAULT) is None


def test_every_call_of_the_answer_is_checked():
    calls = [tool_call(), tool_call(name="delete_account")]
    assert drop_reason(record(tools=[LOOKUP], response=answer(calls=calls)), DEFAULT) == "unknown_tool"


BAD = {"error": "boom", "finish_reason": "length", "prompt_tokens": 5000, "completion_tokens": 5000}


@pytest.mark.parametrize(
    ("response", "reasons"),
    [  # an answer is not both empty and a bad tool call, and one switch covers both tool reasons
        (answer(""), ("error", "truncated", "empty_answer", "too_long")),
        (answer(calls=[tool_call(arguments="[]")]), ("error", "truncated", "invalid_tool_arguments", "too_long")),
        (answer(calls=[tool_call(name="delete_account")]), ("error", "truncated", "unknown_tool", "too_long")),
    ],
)
def test_precedence_follows_reasons_order(response, reasons):
    everything_wrong = record(tools=[LOOKUP], response=response, **BAD)
    params = DEFAULT
    for reason in reasons:  # each reason shows once those before it are switched off
        assert drop_reason(everything_wrong, params) == reason
        params = params.model_copy(update=SWITCHES[reason])
    assert drop_reason(everything_wrong, params) is None


def test_arguments_come_before_names_whatever_the_call_order():
    calls = [tool_call(name="delete_account"), tool_call(arguments="[]")]
    assert drop_reason(record(tools=[LOOKUP], response=answer(calls=calls)), DEFAULT) == "invalid_tool_arguments"


def test_too_long_uses_what_is_known():
    assert drop_reason(record(prompt_tokens=1000, completion_tokens=0), DEFAULT) is None  # not above
    assert drop_reason(record(prompt_tokens=1001, completion_tokens=None), DEFAULT) == "too_long"
    assert drop_reason(record(prompt_tokens=None, completion_tokens=None), DEFAULT) is None
    assert drop_reason(record(prompt_tokens=900, completion_tokens=200), FilterParams()) is None  # no limit


def test_params_forbid_unknown_keys():
    with pytest.raises(ValidationError):
        FilterParams(drop_duplicates=True)
    assert all(field.description for field in FilterParams.model_fields.values())
