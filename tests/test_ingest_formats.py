"""Every reader against a small golden sample of its format (tests/data/formats/).

The expected canonical records are checked in as `<format>.expected.json`; regenerate them with
`UPDATE_GOLDEN=1 pytest tests/test_ingest_formats.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from migrate.ingest import IngestParams, Ingestor
from migrate.ingest.formats import detect_format
from migrate.ingest.lines import LineReader

from conftest import FORMATS

CASES = {
    "openai": ["openai.jsonl"],
    "openai_batch": ["openai_batch.jsonl", "openai_batch_input.jsonl"],
    "openpipe": ["openpipe.jsonl"],
    "langfuse": ["langfuse.jsonl"],
    "langsmith": ["langsmith.jsonl"],
    "messages": ["messages.jsonl"],
}


def read(files: list[str], **params):
    quarantined: list[dict] = []
    ingestor = Ingestor(IngestParams(paths=[FORMATS / f for f in files], **params), quarantined.append)
    records = [r.to_dict() for r in ingestor.records()]
    for record in records:  # paths differ between machines; the golden files keep the name only
        record["file"] = Path(record["file"]).name
        if record["id"].endswith(f":{record['line']}"):
            record["id"] = f"{record['file']}:{record['line']}"
    for row in quarantined:
        row["file"] = Path(row["file"]).name
    return records, quarantined, ingestor


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_reader_matches_golden(fmt):
    records, quarantined, _ = read(CASES[fmt])
    golden = FORMATS / f"{fmt}.expected.json"
    actual = {"records": records, "quarantined": quarantined}
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    assert actual == json.loads(golden.read_text())


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_format_is_detected(fmt):
    objs = [obj for _, obj in LineReader(FORMATS / CASES[fmt][0]) if isinstance(obj, dict)]
    assert detect_format(objs) == fmt


def test_normalisation_quirks():
    records, _, _ = read(["openai.jsonl"])
    by_id = {r["id"]: r for r in records}
    # data-flywheel: arguments as an object become a JSON string; "" content with tool calls -> None
    flywheel = by_id["openai.jsonl:2"]
    call = flywheel["response"]["tool_calls"][0]["function"]
    assert json.loads(call["arguments"]) == {"query": "account bill processed", "user_id": "4165"}
    assert flywheel["response"]["content"] is None
    assert flywheel["agent"] == "primary_assistant" and flywheel["timestamp"] == 1746138417
    # legacy functions / function_call
    legacy = by_id["chatcmpl-legacy"]
    assert legacy["tools"][0]["function"]["name"] == "get_weather"
    assert legacy["response"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert legacy["messages"][0]["content"] == "What is the weather\nin Paris?"  # part list joined
    # streamed chunks re-assembled
    assert by_id["openai.jsonl:4"]["response"]["content"] == "Hello!"
    assert by_id["openai.jsonl:4"]["completion_tokens"] == 2
    # failed call kept as a record with its error
    assert by_id["openai.jsonl:5"]["error"].startswith("rate_limit_error")


def test_batch_output_joins_input_on_custom_id():
    records, quarantined, _ = read(CASES["openai_batch"])
    by_id = {r["id"]: r for r in records}
    assert by_id["req-0001"]["messages"][0]["content"].startswith("Summarize: the report")
    assert by_id["req-0001"]["response"]["content"] == "The report says growth."
    assert by_id["req-0002"]["error"].startswith("server_error")
    assert [q["reason"] for q in quarantined] == ["batch request 'req-0003' has no output line (no response)"]


def test_batch_output_alone_warns_and_keeps_records():
    records, _, ingestor = read(["openai_batch.jsonl"])
    assert len(records) == 2 and records[1]["messages"] == []
    assert any("batch input file" in w for w in ingestor.warnings)


def test_langchain_messages_and_skipped_rows():
    records, _, ingestor = read(["langsmith.jsonl"])
    lc = next(r for r in records if r["id"].endswith("0003"))
    assert [m["role"] for m in lc["messages"]] == ["system", "user"]
    assert lc["response"]["content"] == "refund" and lc["prompt_tokens"] == 20
    assert ingestor.stats[0].skipped == 1  # the chain run


def test_format_override_applies_to_every_file():
    records, _, ingestor = read(["messages.jsonl"], format="messages")
    assert ingestor.stats[0].format == "messages" and len(records) == 2
