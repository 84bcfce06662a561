"""Evaluation metrics and answer parsing on hand-made cases: a wrong argument, invalid JSON, a
reordered JSON object that is still equal, a missing required argument, a label in another case."""

from __future__ import annotations

import json

import pytest

from migrate.evaluate.metrics import aggregate, flatten, macro_f1, score_example
from migrate.evaluate.parse import message_from_openai, parse_generation, reference_message

TOOLS = [
    {"type": "function", "function": {"name": "lookup_order", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}, "verbose": {"type": "boolean"}},
        "required": ["order_id"]}}},
    {"type": "function", "function": {"name": "refund", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["order_id", "amount"]}}},
]


def call(name: str, arguments: dict | str) -> dict:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}


def ref(content=None, calls=None) -> dict:
    """A dataset target message, Arrow-style (every key present)."""
    return reference_message({"role": "assistant", "content": content, "tool_calls": calls,
                              "tool_call_id": None, "name": None})


def said(text: str, tools: bool = True) -> dict:
    return parse_generation(text, tools_offered=tools)


REFUND = ref(calls=[call("refund", {"order_id": "A1", "amount": 12.5})])


# -- parsing ------------------------------------------------------------------------------------
def test_tool_call_blocks_and_bare_json_parse_to_the_same_call():
    block = said('<tool_call>\n{"name": "refund", "arguments": {"amount": 12.5, "order_id": "A1"}}\n</tool_call>')
    bare = said('{"name": "refund", "arguments": {"order_id": "A1", "amount": 12.5}}')
    assert block["tool_calls"] == bare["tool_calls"] == [{"name": "refund", "arguments": '{"amount":12.5,"order_id":"A1"}'}]
    assert block["content"] is None and block["parse_error"] is None
    # several blocks, text around them, an unterminated last block (generation cut off)
    many = said('Sure.\n<tool_call>{"name": "lookup_order", "arguments": {"order_id": "A1"}}</tool_call>\n'
                '<tool_call>{"name": "refund", "arguments": {"order_id": "A1", "amount": 1}}')
    assert [c["name"] for c in many["tool_calls"]] == ["lookup_order", "refund"] and many["content"] == "Sure."
    # arguments given as a JSON string (OpenAI wire style) are the same call
    assert said('{"name": "refund", "arguments": "{\\"order_id\\": \\"A1\\", \\"amount\\": 12.5}"}')["tool_calls"] \
        == bare["tool_calls"]


def test_broken_calls_are_flagged_not_dropped():
    broken = said('<tool_call>{"name": "refund", "arguments": {"order_id": "A1", </tool_call>')
    assert broken["tool_calls"][0]["name"] == "refund" and "not valid JSON" in broken["parse_error"]
    assert said('{"name": "refund", "arguments": {')["parse_error"] == "bare tool call is not valid JSON"
    # what a barely trained model writes: raw control characters inside the name, broken JSON
    garbled = said('<tool_call>{"name": "ref\tund\x01", "arguments": {"order</tool_call>')
    assert garbled["tool_calls"][0]["name"] == "ref\tund\x01" and "not valid JSON" in garbled["parse_error"]
    # a JSON answer with a `name` key is content when no tools were offered
    answer = said('{"name": "Ada", "arguments": []}', tools=False)
    assert answer["tool_calls"] == [] and answer["content"].startswith("{")


def test_openai_messages_are_read_in_the_same_shape():
    message = {"role": "assistant", "content": None, "tool_calls": [call("refund", {"amount": 12.5, "order_id": "A1"})]}
    assert message_from_openai(message)["tool_calls"] == REFUND["tool_calls"]
    # a server without a tool parser returns the block as text
    text = {"role": "assistant", "content": '<tool_call>{"name": "refund", "arguments": {"order_id": "A1", "amount": 12.5}}</tool_call>'}
    assert message_from_openai(text)["tool_calls"] == REFUND["tool_calls"]


# -- tool calls ---------------------------------------------------------------------------------
def tool_scores(prediction: dict, reference: dict = REFUND) -> dict:
    return score_example("tool_call", reference, prediction, tools=TOOLS)


def test_an_exact_call_scores_one_whatever_the_key_order():
    scores = tool_scores(said('<tool_call>{"name": "refund", "arguments": {"amount": 12.5, "order_id": "A1"}}</tool_call>'))
    assert scores == {"name_accuracy": 1.0, "exact_match": 1.0, "arg_f1": 1.0, "schema_validity": 1.0, "parse_rate": 1.0}


def test_a_wrong_argument_keeps_the_name_and_half_the_arguments():
    scores = tool_scores(said('<tool_call>{"name": "refund", "arguments": {"order_id": "A2", "amount": 12.5}}</tool_call>'))
    assert scores["name_accuracy"] == 1.0 and scores["exact_match"] == 0.0
    assert scores["arg_f1"] == 0.5 and scores["schema_validity"] == 1.0


def test_a_missing_required_argument_is_invalid_against_the_schema():
    scores = tool_scores(said('<tool_call>{"name": "refund", "arguments": {"order_id": "A1"}}</tool_call>'))
    assert scores["schema_validity"] == 0.0 and scores["exact_match"] == 0.0
    assert scores["arg_f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5, abs=1e-4)  # precision 1, recall 1/2
    wrong_type = tool_scores(said('<tool_call>{"name": "refund", "arguments": {"order_id": "A1", "amount": "12.5"}}</tool_call>'))
    assert wrong_type["schema_validity"] == 0.0
    unknown = tool_scores(said('<tool_call>{"name": "delete_account", "arguments": {}}</tool_call>'))
    assert unknown["schema_validity"] == 0.0 and unknown["name_accuracy"] == 0.0


def test_invalid_json_arguments_and_missing_calls_score_zero():
    broken = tool_scores(said('<tool_call>{"name": "refund", "arguments": {"order_id": "A1", "amount": }</tool_call>'))
    assert broken["parse_rate"] == 0.0 and broken["exact_match"] == 0.0 and broken["schema_validity"] == 0.0
    assert broken["name_accuracy"] == 1.0  # the name could still be read
    missing = tool_scores(said("I will refund you."))
    assert missing == {"name_accuracy": 0.0, "exact_match": 0.0, "arg_f1": 0.0, "schema_validity": 0.0, "parse_rate": 1.0}
    # no call expected, none made: right, and schema validity does not apply
    no_call = tool_scores(said("Which order?"), ref(content="Which order do you mean?"))
    assert no_call["exact_match"] == 1.0 and no_call["schema_validity"] is None


def test_parallel_calls_match_in_any_order_and_aggregate_to_means():
    reference = ref(calls=[call("lookup_order", {"order_id": "A1"}), call("refund", {"order_id": "A1", "amount": 1})])
    prediction = said('<tool_call>{"name": "refund", "arguments": {"amount": 1, "order_id": "A1"}}</tool_call>'
                      '<tool_call>{"name": "lookup_order", "arguments": {"order_id": "A1"}}</tool_call>')
    assert tool_scores(prediction, reference)["exact_match"] == 1.0
    wrong = said('<tool_call>{"name": "refund", "arguments": {"order_id": "A9", "amount": 12.5}}</tool_call>')
    rows = [tool_scores(prediction, reference), tool_scores(wrong)]
    agg = aggregate("tool_call", [reference, REFUND], [prediction, wrong], rows)
    assert agg["exact_match"] == 0.5 and agg["name_accuracy"] == 1.0 and agg["schema_validity"] == 1.0


# -- JSON ---------------------------------------------------------------------------------------
JSON_REF = ref(content='{"sentiment": "neutral", "priority": "P4", "tags": ["a", "b"], "customer": {"id": 7, "vip": false}}')


def test_a_reordered_json_object_is_still_an_exact_match():
    reordered = said('{"customer": {"vip": false, "id": 7}, "tags": ["a", "b"], "priority": "P4", "sentiment": "neutral"}', tools=False)
    assert score_example("json", JSON_REF, reordered) == {"parse_rate": 1.0, "schema_validity": 1.0, "field_f1": 1.0, "exact_match": 1.0}
    fenced = said('```json\n{"sentiment": "neutral", "priority": "P4", "tags": ["a", "b"], "customer": {"id": 7, "vip": false}}\n```', tools=False)
    assert score_example("json", JSON_REF, fenced)["exact_match"] == 1.0


def test_invalid_json_and_wrong_fields():
    assert score_example("json", JSON_REF, said('{"sentiment": "neutral",', tools=False)) == {
        "parse_rate": 0.0, "schema_validity": 0.0, "field_f1": 0.0, "exact_match": 0.0}
    one_wrong = said('{"sentiment": "negative", "priority": "P4", "tags": ["a", "b"], "customer": {"id": 7, "vip": false}}', tools=False)
    scores = score_example("json", JSON_REF, one_wrong)
    assert scores["exact_match"] == 0.0 and scores["field_f1"] == 0.8 and scores["schema_validity"] == 1.0
    extra_key = said('{"sentiment": "neutral", "priority": "P4", "tags": ["a", "b"], "customer": {"id": 7, "vip": false}, "x": 1}', tools=False)
    assert score_example("json", JSON_REF, extra_key)["schema_validity"] == 0.0  # keys differ from the reference
    schema = {"type": "object", "required": ["sentiment"], "properties": {"sentiment": {"enum": ["neutral", "negative"]}}}
    assert score_example("json", JSON_REF, extra_key, schema=schema)["schema_validity"] == 1.0
    assert flatten({"a": {"b": 1}, "l": [{"c": 2}], "t": [1, 2]}) == [("a.b", "1"), ("l[0].c", "2"), ("t", "[1,2]")]


# -- labels and text ----------------------------------------------------------------------------
def test_labels_ignore_case_quotes_and_a_final_period():
    for answer in ("Billing", " billing.", "`BILLING`", '"billing"'):
        assert score_example("label", ref(content="billing"), said(answer, tools=False))["accuracy"] == 1.0
    assert score_example("label", ref(content="billing"), said("shipping", tools=False))["accuracy"] == 0.0
    truth, predicted = ["a", "a", "b", "c"], ["a", "b", "b", "junk"]
    assert macro_f1(truth, predicted) == round((2 / 3 + 2 / 3 + 0.0) / 3, 4)
    refs = [ref(content=t) for t in truth]
    preds = [said(p, tools=False) for p in predicted]
    rows = [score_example("label", r, p) for r, p in zip(refs, preds)]
    assert aggregate("label", refs, preds, rows) == {"accuracy": 0.5, "macro_f1": macro_f1(truth, predicted)}


def test_text_scores_chrf_and_length_ratio():
    reference = ref(content="The order ships on Monday.")
    same = score_example("short_text", reference, said("The order ships on Monday.", tools=False))
    assert same["chrf"] == 100.0 and same["length_ratio"] == 1.0 and same["exact_match"] == 1.0
    close = score_example("long_text", reference, said("Your order ships Monday.", tools=False))
    assert 30 < close["chrf"] < 100 and close["exact_match"] == 0.0
    assert score_example("code", reference, said("", tools=False))["chrf"] == 0.0
    preds = [said("The order ships on Monday.", tools=False), said("x", tools=False)]
    refs = [reference, ref(content="hello")]
    agg = aggregate("code", refs, preds, [score_example("code", r, p) for r, p in zip(refs, preds)])
    assert 0 < agg["chrf"] < 100 and agg["length_ratio"] == round(27 / 31, 4)
