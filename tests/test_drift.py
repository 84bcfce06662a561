"""`migrate.drift` on the analysed sample: new logs of the same distribution (quiet), logs with a new
kind of request (abstentions and a candidate cluster), logs where one subtask's system prompt and
another's tool schema changed (inputs moved); limits, scrubbing and the report files.

New logs come from the sample generator (`sample_logs/generate.py`, another seed), edited by hand.
Only the new-kind test scrubs (Presidio starts in a worker: seconds); the others turn scrubbing off.
"""

from __future__ import annotations

import copy
import gzip
import importlib.util
import itertools
import json
import random
from pathlib import Path

import pytest
from conftest import SAMPLE_LOGS, copy_workspace

from migrate.curate.scrub import ScrubParams
from migrate.drift import DriftParams, run
from migrate.errors import MigrateError
from migrate.ingest import IngestParams
from migrate.route import RouteParams, build

CALLS = 1500
NO_SCRUB = ScrubParams(enabled=False)
OLD_END = "Answer with the category name only, in lowercase, no punctuation."
NEW_END = ("- account: sign-in problems, loyalty points, newsletter subscriptions\n"
           "When a message raises several issues, pick the one the customer wants resolved first; a mention of a "
           "lawyer or a chargeback is always a complaint.\nReturn the category as a single lowercase word.")
LANGUAGES = ["French", "German", "Spanish", "Italian", "Japanese", "Portuguese"]


def _generator():
    spec = importlib.util.spec_from_file_location("sample_generator", SAMPLE_LOGS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NEW_TOOL = {"type": "function", "function": {"name": "schedule_callback", "description": "Book a phone callback.",
                                             "parameters": {"type": "object", "properties": {"phone": {"type": "string"}},
                                                            "required": ["phone"]}}}


def _changed(calls):
    """intent_classification/v1 gets a new system prompt ending; the tool router a new tool and a
    new parameter of lookup_order."""
    for subtask, template, call in calls:
        if template == "intent_classification/v1":
            call = copy.deepcopy(call)
            assert OLD_END in call["messages"][0]["content"]
            call["messages"][0]["content"] = call["messages"][0]["content"].replace(OLD_END, NEW_END)
        elif subtask == "tool_router":
            call = copy.deepcopy(call)
            for tool in call["tools"]:
                if tool["function"]["name"] == "lookup_order":
                    tool["function"]["parameters"]["properties"]["include_history"] = {
                        "type": "boolean", "description": "Also return the order's status history."}
            call["tools"].append(NEW_TOOL)
        yield subtask, template, call


def _translations(gen, n: int, seed: int):
    """A kind of request the analysis never saw: translate a customer message (some with PII)."""
    rng = random.Random(seed)
    messages = [c for _, t, c in gen.generate_calls(n * 20, seed=seed) if t == "intent_classification/v1" and c["usage"]]
    for i in range(n):
        call = copy.deepcopy(messages[i % len(messages)])
        text = call["messages"][-1]["content"]
        if i % 3 == 0:
            text += f" You can reach me at jane.doe{i}@example.com."
        language = rng.choice(LANGUAGES)
        call.update(
            messages=[{"role": "system", "content": f"You are the localisation service of a retailer. Translate the "
                       f"message into {language}. Keep order numbers, product names and amounts unchanged. Output "
                       "the translation only."}, {"role": "user", "content": text}],
            tools=[], tool_choice=None, params={"temperature": 0.3, "max_tokens": 200}, finish_reason="stop",
            error=None, response={"role": "assistant", "content": f"[{language}] " + " ".join(reversed(text.split()))})
        yield "translation", "translation/v1", call


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    gen = _generator()
    folder = tmp_path_factory.mktemp("new-logs")
    paths = {name: folder / f"{name}.jsonl.gz" for name in ("same", "new_kind", "changed")}
    gen.write_openai(str(paths["same"]), gen.generate_calls(CALLS, seed=7), labels=False, compresslevel=1)
    gen.write_openai(str(paths["new_kind"]), itertools.chain(gen.generate_calls(CALLS, seed=7),
                                                             _translations(gen, 300, seed=3)),
                     labels=False, compresslevel=1)
    with gzip.open(paths["new_kind"], "ab") as handle:  # an unreadable line that quotes PII
        handle.write(b'{"request": {"messages": "call jane.doe@example.com"\n')
    gen.write_openai(str(paths["changed"]), _changed(gen.generate_calls(CALLS, seed=7)), labels=False, compresslevel=1)
    return paths


@pytest.fixture(scope="module")
def routed(analyzed_sample, tmp_path_factory) -> Path:
    source, _ = analyzed_sample
    root = copy_workspace(source, tmp_path_factory.mktemp("drift") / "ws")
    build(RouteParams(out=root))
    return root


def drift(root: Path, path: Path, **settings) -> dict:
    return run(DriftParams(out=root, logs=IngestParams(paths=[path]), **{"scrub": NO_SCRUB, **settings}))


def test_same_distribution_is_quiet(routed, logs):
    report = drift(routed, logs["same"])
    assert report["calls"] == CALLS
    assert report["abstain"]["share"] < 0.03 and not report["abstain"]["exceeded"]
    assert report["abstain"]["unknown_share"] < 0.02
    assert max(abs(c["change"]) for c in report["clusters"]) < 0.03
    assert report["moved"] == [] and report["compared"]  # compared, and nothing moved
    assert report["candidates"]["candidates"] == []
    assert report["exceeded"] is False and report["reasons"] == []
    assert json.loads((routed / "drift" / "report.json").read_text()) == json.loads(json.dumps(report))
    assert "Within the limits." in (routed / "drift" / "report.md").read_text()
    assert "drift" in json.loads((routed / "manifest.json").read_text())["stages"]


def test_new_kind_of_request_is_a_candidate(routed, logs):
    report = drift(routed, logs["new_kind"], scrub=ScrubParams(), max_abstain_share=0.1, max_share_change=0.03)
    total = CALLS + 300
    assert report["calls"] == total and report["quarantined"] == 1
    assert report["abstain"]["share"] > 0.12 and report["abstain"]["exceeded"]
    assert report["abstain"]["unknown_share"] > 0.12
    [candidate] = report["candidates"]["candidates"]
    assert 250 <= candidate["size"] <= 320
    assert {"translate", "translation"} & set(candidate["terms"])
    assert candidate["resembles"]["context"] is None  # no known cluster's prompt or tools
    assert "translate" in candidate["example"]["system"] and candidate["tools"] == []
    assert report["moved"] == []
    # the new work dilutes the largest cluster's share beyond the (tight) limit
    c00 = next(c for c in report["clusters"] if c["id"] == "c00")
    assert c00["exceeded"] and c00["change"] < -0.03
    assert report["exceeded"] and any("abstains" in r for r in report["reasons"])
    assert any(r.startswith("c00 ") for r in report["reasons"])
    # scrubbed before anything was kept: the report and the quarantine hold no address
    assert report["pii"]["scrubbed"] and report["pii"]["values_replaced"].get("EMAIL_ADDRESS", 0) >= 100
    for name in ("report.json", "report.md", "quarantine.jsonl", "baseline.json"):
        assert "jane.doe" not in (routed / "drift" / name).read_text(), name
    assert "new00" in (routed / "drift" / "report.md").read_text()


def test_changed_prompt_and_tool_schema_move_inputs(routed, logs):
    report = drift(routed, logs["changed"], fail_on_moved="any")
    moved = {m["id"]: m for m in report["moved"]}
    assert set(moved) == {"c00", "c01"}  # tool_router and intent_classification; nothing else
    system = moved["c01"]["system_prompt"]
    added = {w["token"] for w in system["words_added"]}
    assert {"chargeback", "lawyer", "loyalty"} & added
    assert {"punctuation"} <= {w["token"] for w in system["words_removed"]}
    assert 0.4 < system["known_prompt_share"] < 0.9 and system["overlap"] > 0.6
    tools = moved["c00"]["tools"]
    [schema] = tools["schema_changed"]
    assert schema["tool"] == "lookup_order" and schema["params_added"] == ["include_history"]
    assert [t["token"] for t in tools["added"]] == ["schedule_callback"] and tools["added"][0]["after"] == 1.0
    assert moved["c00"]["system_prompt"]["words_added"] == []
    # the router abstains on calls offering an unknown tool, but they still count for c00; the
    # edited prompt's calls still count for c01 (by their context): the shares hold
    assert report["abstain"]["by_reason"]["unknown_tools"]["share"] > 0.2 and report["abstain"]["exceeded"]
    clusters = {c["id"]: c for c in report["clusters"]}
    assert all(abs(c["change"]) < 0.03 for c in clusters.values())
    assert clusters["c00"]["near_calls"] > 300 and clusters["c01"]["near_calls"] > 50
    assert report["exceeded"] and {r.split()[0] for r in report["reasons"]} == {"the", "c00", "c01"}
    # by default only clusters routed to a specialist count (none is, here)
    assert all(not m["counts"] for m in run(DriftParams(
        out=routed, logs=IngestParams(paths=[logs["changed"]]), scrub=NO_SCRUB))["moved"])


def test_refuses_a_workspace_without_router(analyzed_sample, logs):
    with pytest.raises(MigrateError, match="no router") as info:
        drift(analyzed_sample[0], logs["same"])
    assert "route build" in info.value.hint
