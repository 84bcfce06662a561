"""Dedup: masked exact duplicates, near-duplicates, the counts they leave, and determinism."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from migrate.curate.dedup import (
    Deduplicator,
    DedupParams,
    dedup_text,
    masked_parts,
    shingles,
)
from migrate.records import CallRecord

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fu", "gi", "ho", "je", "pa"]
SYSTEM = "You are the support assistant of Acme Outfitters. Answer briefly and politely."
LOOKUP = {"type": "function", "function": {"name": "lookup_order"}}


def prose(n: int, seed: int) -> list[str]:
    """`n` made-up alphabetic words (plain words survive masking as they are)."""
    rng = random.Random(seed)
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(n)]


def call(user: str, answer: str | None = "Done.", *, system: str = SYSTEM, **fields: Any) -> CallRecord:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return CallRecord(
        id=fields.pop("id", "c"),
        file="log.jsonl",
        line=1,
        messages=messages,
        response=fields.pop("response", {"role": "assistant", "content": answer}),
        **fields,
    )


def tool_answer(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {"role": "assistant", "content": None, "tool_calls": [{"id": "x", "type": "function", "function": function}]}


def run(params: DedupParams, records: list[CallRecord]) -> tuple[list[str | None], Deduplicator]:
    dedup = Deduplicator(params)
    return [dedup.check(i, r) for i, r in enumerate(records)], dedup


EXACT_ONLY = DedupParams(near=False)
NEAR_ONLY = DedupParams(exact=False)
LONG = " ".join(prose(120, seed=1))


def one_word_changed(text: str, position: int = 60) -> str:
    tokens = text.split()
    tokens[position] = "zanzibarish"
    return " ".join(tokens)


# -- what counts as the same call --------------------------------------------------------------
def test_calls_differing_only_in_slot_values_are_duplicates_by_design():
    first = call(
        "Where is order ORD-48213? Mail me at ann@example.com by 2025-06-01.",
        response=tool_answer("lookup_order", {"order_id": "ORD-48213"}),
        tools=[LOOKUP],
    )
    second = call(
        "Where is order ORD-99120? Mail me at bob@example.org by 2025-07-15.",
        response=tool_answer("lookup_order", {"order_id": "ORD-99120"}),
        tools=[LOOKUP],
    )
    assert dedup_text(first) == dedup_text(second)
    decisions, dedup = run(EXACT_ONLY, [first, second])
    assert decisions == [None, "duplicate"]
    assert dedup.represents == {0: 2}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("refund", "exchange"),
        ('{"label": "refund"}', '{"label": "exchange"}'),  # quoted values are not masked away
        ('{"order_id": "ORD-1", "action": "cancel"}', '{"order_id": "ORD-2", "action": "refund"}'),
    ],
)
def test_different_answers_are_not_duplicates(first, second):
    records = [call(LONG, first), call(LONG, second)]
    assert dedup_text(records[0]) != dedup_text(records[1])
    assert run(DedupParams(), records)[0] == [None, None]  # near mode too: answers compare alone


def test_roles_and_tools_offered_are_part_of_the_text():
    plain = call("hello there")
    other_role = CallRecord(id="c", file="f", line=1, messages=[{"role": "assistant", "content": "hello there"}])
    with_tools = call("hello there", tools=[LOOKUP])
    assert len({dedup_text(plain), dedup_text(other_role), dedup_text(with_tools)}) == 3


def test_dedup_text_covers_request_and_answer():
    text = dedup_text(call("Track ORD-77 please", response=tool_answer("lookup_order", {"order_id": "ORD-77"})))
    assert "support assistant" in text and "track <id> please" in text
    assert "call:lookup_order" in text and "order_id <id>" in text


# -- near-duplicates ---------------------------------------------------------------------------
def test_one_word_changed_in_a_long_prompt_is_a_near_duplicate():
    records = [call(LONG), call(one_word_changed(LONG)), call(" ".join(prose(120, seed=2)))]
    decisions, dedup = run(DedupParams(), records)
    assert decisions == [None, "near_duplicate", None]  # the unrelated call is kept
    assert dedup.represents == {0: 2, 2: 1}
    assert run(EXACT_ONLY, records)[0] == [None, None, None]


def test_a_long_answer_one_word_apart_is_still_near():
    answer = " ".join(prose(80, seed=3))
    records = [call(LONG, answer), call(one_word_changed(LONG), one_word_changed(answer, 40))]
    assert run(DedupParams(), records)[0] == [None, "near_duplicate"]


def test_a_shared_long_system_prompt_does_not_make_calls_near_duplicates():
    system = " ".join(prose(400, seed=4))
    records = [call(f"Question: {' '.join(prose(8, seed=s))}", "yes", system=system) for s in range(10, 20)]
    assert run(DedupParams(), records)[0] == [None] * 10


def test_near_duplicates_need_the_same_context():
    records = [call(LONG, system="Classify the ticket."), call(one_word_changed(LONG), system="Summarise it.")]
    assert run(DedupParams(), records)[0] == [None, None]


def test_the_earliest_kept_match_represents_not_the_most_similar():
    x, y, z = prose(30, seed=5), prose(30, seed=6), prose(30, seed=7)
    a, c, d = x + y, x + z, x + z[:15] + y[15:]  # d is closer to c, but near both
    turns = [shingles(masked_parts(call(" ".join(t)))[1]) for t in (a, c, d)]

    def jaccard(i: int, j: int) -> float:
        return len(turns[i] & turns[j]) / len(turns[i] | turns[j])

    assert jaccard(0, 1) < 0.35 and 0.5 < jaccard(2, 0) < jaccard(2, 1)  # the construction holds
    params = DedupParams(threshold=0.45, num_perm=256)
    decisions, dedup = run(params, [call(" ".join(t)) for t in (a, c, d)])
    assert decisions == [None, None, "near_duplicate"]
    assert dedup.represents == {0: 2, 1: 1}


# -- modes, counts, determinism ----------------------------------------------------------------
def stream() -> list[CallRecord]:
    """A mixed stream: exact (masked) copies, near copies, and distinct calls."""
    rng = random.Random(0)
    bases = [" ".join(prose(60, seed=100 + i)) for i in range(8)]
    records = []
    for n in range(60):
        text = rng.choice(bases)
        kind = rng.random()
        if kind < 0.3:
            text = one_word_changed(text, rng.randrange(60))
        elif kind < 0.5:
            text = f"{text} order ORD-{rng.randrange(10**5)}"
        elif kind < 0.7:
            text = " ".join(prose(60, seed=1000 + n))
        records.append(call(text, rng.choice(["Done.", "Refund issued.", "Escalated to a human agent."]), id=str(n)))
    return records


@pytest.mark.parametrize("params", [DedupParams(), EXACT_ONLY, NEAR_ONLY], ids=["both", "exact", "near"])
def test_represents_and_counts_add_up(params):
    records = stream()
    decisions, dedup = run(params, records)
    assert sum(dedup.represents.values()) == len(records)
    assert len(dedup.represents) + sum(dedup.counts.values()) == len(records)
    assert sorted(dedup.represents) == [i for i, d in enumerate(decisions) if d is None]
    assert dedup.counts == {r: decisions.count(r) for r in ("duplicate", "near_duplicate") if r in decisions}
    assert 0 < len(dedup.represents) < len(records)


def test_modes():
    records = [call(LONG), call(LONG), call(one_word_changed(LONG))]
    assert run(DedupParams(), records)[0] == [None, "duplicate", "near_duplicate"]
    assert run(EXACT_ONLY, records)[0] == [None, "duplicate", None]
    assert run(NEAR_ONLY, records)[0] == [None, "near_duplicate", "near_duplicate"]
    assert run(DedupParams(exact=False, near=False), records)[0] == [None, None, None]


def test_an_exact_copy_of_a_near_duplicate_is_a_duplicate_of_its_representative():
    near = one_word_changed(LONG)
    decisions, dedup = run(DedupParams(), [call(LONG), call(near), call(near)])
    assert decisions == [None, "near_duplicate", "duplicate"]
    assert dedup.represents == {0: 3}


def test_same_input_same_decisions():
    records = stream()
    first, one = run(DedupParams(), records)
    second, two = run(DedupParams(), records)
    assert first == second and one.represents == two.represents


def test_same_decisions_in_another_process():
    """No salted hash decides anything: a process with another hash seed decides the same."""
    script = (
        "import json, sys; sys.path.insert(0, 'tests');"
        "from test_curate_dedup import run, stream; from migrate.curate.dedup import DedupParams;"
        "print(json.dumps(run(DedupParams(), stream())[0]))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == run(DedupParams(), stream())[0]


def test_params_forbid_unknown_keys():
    with pytest.raises(ValidationError):
        DedupParams(thresold=0.8)
    assert all(field.description for field in DedupParams.model_fields.values())
