"""`migrate.route` on the analysed sample logs: the router's precision on held-out calls, its
abstentions, its storage (a tampered router is refused), and the golden `routing.yaml`.

The golden file is `tests/data/routing/routing.yaml`; regenerate it with
`UPDATE_GOLDEN=1 pytest tests/test_route.py` and review the diff. Evaluation verdicts are written
by hand here (`DIR/eval/<cluster>.json`, the evaluate stage's contract), so that some clusters are
promoted (`slm`) and others stay on the LLM for each of the reasons the config gives.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
from conftest import SAMPLE_LOGS, copy_workspace

from migrate.errors import MigrateError
from migrate.records import CallRecord
from migrate.route import RouteParams, Router, build, calibrate, test
from migrate.route.router import npz_bytes

GOLDEN = Path(__file__).resolve().parent / "data" / "routing" / "routing.yaml"
BASE = "HuggingFaceTB/SmolLM2-360M-Instruct"

UNLIKE = {
    "random prose": {"messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog while "
                                                              "purple elephants dance on the moon"}]},
    "one word": {"messages": [{"role": "user", "content": "hello"}]},
    "gibberish": {"messages": [{"role": "user", "content": "asdkj qweoiu zxcmnb 12345 lkjasd"}]},
    "a poet": {"messages": [{"role": "system", "content": "You are a poet."},
                            {"role": "user", "content": "Write a haiku about autumn leaves"}]},
    "a translator": {"messages": [{"role": "system", "content": "Translate the user's message to French."},
                                  {"role": "user", "content": "Where is the train station?"}]},
    "unknown tools": {"messages": [{"role": "user", "content": "What's the weather in Paris tomorrow?"}],
                      "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}},
                                {"type": "function", "function": {"name": "book_flight", "parameters": {}}}]},
}


def write_verdicts(root: Path) -> None:
    """c00 and c01 passed evaluation, c02 failed, c03 has a specialist that is not evaluated."""
    def verdict(cluster: str, passed: bool, metric: str, value: float, threshold: float) -> None:
        adapter = root / "specialists" / cluster / "adapter"
        adapter.mkdir(parents=True, exist_ok=True)
        (adapter / "adapter_config.json").write_text(json.dumps({"r": 16}))
        (root / "eval").mkdir(exist_ok=True)
        (root / "eval" / f"{cluster}.json").write_text(json.dumps({
            "cluster": cluster, "name": cluster, "kind": "x", "passed": passed, "metric": metric, "value": value,
            "threshold": threshold, "models": {},
            "specialist": {"adapter": str(adapter.resolve()), "base_model": BASE, "base_path": BASE},
        }))

    verdict("c00", True, "exact_match", 0.97, 0.95)
    verdict("c01", True, "accuracy", 0.99, 0.95)
    verdict("c02", False, "field_f1", 0.81, 0.9)
    (root / "specialists" / "c03").mkdir(parents=True)
    (root / "specialists" / "c03" / "metrics.json").write_text(json.dumps({"base_model": BASE, "base_path": BASE}))


@pytest.fixture(scope="module")
def built(analyzed_sample, tmp_path_factory):
    source, _ = analyzed_sample
    root = copy_workspace(source, tmp_path_factory.mktemp("route") / "ws")
    write_verdicts(root)
    return root, build(RouteParams(out=root))


@pytest.fixture(scope="module")
def router(built):
    return Router.load(built[0] / "routing")


@pytest.fixture(scope="module")
def calls(built) -> tuple[list[CallRecord], list[str]]:
    return curated(built[0])


def curated(root: Path) -> tuple[list[CallRecord], list[str]]:
    cluster = {json.loads(line)["id"]: json.loads(line)["cluster"]
               for line in (root / "analysis" / "assignments.jsonl").read_text().splitlines()}
    records = []
    for line in (root / "curate" / "records.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        row.pop("represents", None)
        records.append(CallRecord.from_dict(row))
    return records, [cluster[r.id] for r in records]


def test_routes_held_out_calls_at_the_target_precision(built, router, calls):
    _, summary = built
    records, labels = calls
    params = RouteParams()  # the build's split: its defaults
    parts = calibrate.parts_of(router.embedder, records, params.seed, params.calibration_fraction, params.test_fraction)
    truth = {(row["file"], row["line"]): row["subtask"]
             for row in map(json.loads, (SAMPLE_LOGS / "labels.jsonl").read_text().splitlines())}
    subtask_of = {}  # each cluster's ground-truth subtask: the most common among its calls
    for label, record in zip(labels, records):
        subtask_of.setdefault(label, Counter())[truth[(Path(record.file).name, record.line)]] += 1
    held_out = [i for i, part in enumerate(parts) if part == "test"]
    assert len(held_out) > 500
    sent, right, right_truth, in_clusters = Counter(), Counter(), Counter(), Counter()
    for i in held_out:
        decision = router.route_record(records[i])
        in_clusters[labels[i]] += 1
        if decision.cluster is None:
            continue
        sent[decision.cluster] += 1
        right[decision.cluster] += decision.cluster == labels[i]
        subtask = truth[(Path(records[i].file).name, records[i].line)]
        right_truth[decision.cluster] += subtask == subtask_of[decision.cluster].most_common(1)[0][0]
    assert set(sent) == {c["id"] for c in summary["clusters"]}  # every cluster is recognised
    for cluster, n in sent.items():
        assert right[cluster] / n >= 0.99, (cluster, right[cluster], n)
        assert right_truth[cluster] / n >= 0.99, (cluster, right_truth[cluster], n)
        assert n / in_clusters[cluster] >= 0.9, (cluster, n, in_clusters[cluster])  # and most calls move
    # the build measured the same thing on the same calls
    for row in summary["clusters"]:
        assert row["test_precision"] >= 0.99 and row["test_coverage"] >= 0.9, row


def test_abstains_on_requests_unlike_any_cluster(router):
    for name, request in UNLIKE.items():
        decision = router.route(request)
        assert decision.target == "llm" and decision.cluster is None, (name, decision)
        assert decision.reason in ("outlier", "unlike_logs", "far_from_cluster", "unknown_tools"), (name, decision)
        assert decision.why.startswith("LLM: ")


def example(calls, cluster: str) -> CallRecord:
    return next(r for r, label in zip(*calls) if label == cluster)


def test_decisions_say_where_and_why(built, router, calls):
    root, _ = built
    tool_caller = example(calls, "c00")
    request = {"model": "gpt-4o", "messages": tool_caller.messages, "tools": tool_caller.tools}
    decision = router.route(request)
    assert (decision.target, decision.cluster, decision.reason, decision.model) == ("slm", "c00", "routed", "c00")
    assert decision.confidence >= router.clusters["c00"]["threshold"] and "passed evaluation" in decision.why

    # a tool its calls never offered: its specialist never learned it
    extra = {**request, "tools": [*tool_caller.tools, {"type": "function", "function": {"name": "delete_account"}}]}
    decision = router.route(extra)
    assert (decision.target, decision.cluster, decision.reason) == ("llm", None, "unknown_tools")
    assert "delete_account" in decision.why

    # recognised, but its specialist failed evaluation: the LLM, keeping the model the request names
    extractor = example(calls, "c02")
    decision = router.route({"model": "gpt-4.1", "messages": extractor.messages, "tools": extractor.tools})
    assert (decision.target, decision.cluster, decision.reason) == ("llm", "c02", "not_promoted")
    assert decision.model == "gpt-4.1"
    assert "failed evaluation: field_f1 0.810 < 0.900" in decision.why

    result = test(root, {"messages": tool_caller.messages, "tools": tool_caller.tools})
    assert set(result) == {"decision", "cluster", "confidence", "reason", "why", "model", "candidate"}
    assert result["decision"] == "slm" and result["cluster"] == "c00"
    with pytest.raises(MigrateError, match="not an OpenAI chat request"):
        router.route({"prompt": "completions-style"})


def test_routing_yaml_matches_golden(built):
    root, summary = built
    text = (root / "routing" / "routing.yaml").read_text()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    config = yaml.safe_load(text)
    status = {c["id"]: (c["status"], c["reason"]) for c in config["clusters"]}
    assert status["c00"][0] == status["c01"][0] == "slm"
    assert status["c02"] == ("llm", "its specialist failed evaluation: field_f1 0.810 < 0.900")
    assert "not evaluated" in status["c03"][1] and "no specialist" in status["c04"][1]
    assert config["moved"]["clusters"] == ["c00", "c01"]
    c00 = next(c for c in config["clusters"] if c["id"] == "c00")
    assert c00["moved"]["calls_share"] == round(c00["traffic"]["calls_share"] * c00["router"]["test_coverage"], 4)
    assert c00["specialist"]["adapter"] == "specialists/c00/adapter"  # relative to the workspace
    (command,) = config["serve"]["vllm"]
    assert command["command"] == (f"vllm serve {BASE} --enable-lora --max-loras 2 --max-lora-rank 16 "
                                  "--lora-modules c00=specialists/c00/adapter c01=specialists/c01/adapter")
    assert summary["serve"] == [command["command"]]


def test_tradeoff_and_reports(built):
    root, _ = built
    tradeoff = json.loads((root / "routing" / "tradeoff.json").read_text())
    targets = [point["target"] for point in tradeoff["by_target"]]
    assert 0.99 in targets and targets == sorted(targets)
    for point in tradeoff["by_target"]:
        assert point["all_clusters"]["precision"] >= point["target"]
        assert set(point["clusters"]) >= {"c00", "c01"}
    shares = [point["share_routed"] for point in tradeoff["by_cutoff"]]
    assert shares == sorted(shares, reverse=True)  # a higher cut-off never routes more
    html = (root / "routing" / "report.html").read_text()
    assert "<svg" in html and "<script" not in html and "vllm serve" in html
    assert "## Trade-off" in (root / "routing" / "report.md").read_text()
    manifest = json.loads((root / "manifest.json").read_text())
    assert "routing/routing.yaml" in manifest["stages"]["route"]["outputs"]


def test_a_rerun_with_the_same_inputs_is_skipped(built):
    root, _ = built
    assert build(RouteParams(out=root))["status"] == "unchanged"


def tampered_copy(built, tmp_path: Path) -> Path:
    folder = tmp_path / "routing"
    shutil.copytree(built[0] / "routing", folder)
    return folder


def test_a_tampered_router_is_refused(built, tmp_path):
    folder = tampered_copy(built, tmp_path)
    data = bytearray((folder / "router.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "router.npz").write_bytes(bytes(data))
    with pytest.raises(MigrateError, match="sha256 does not match"):
        Router.load(folder)

    folder = tampered_copy(built, tmp_path / "version")
    header = json.loads((folder / "router.json").read_text())
    (folder / "router.json").write_text(json.dumps({**header, "version": 99}))
    with pytest.raises(MigrateError, match="version 99"):
        Router.load(folder)


def test_pickled_weights_are_never_loaded(built, tmp_path):
    """Even with a matching hash (an attacker who can write both files), an object array is
    refused: the weights are read with allow_pickle=False."""
    folder = tampered_copy(built, tmp_path)
    with np.load(folder / "router.npz", allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["coef"] = np.array([{"payload": "object"}], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # pickles the object array
    (folder / "router.npz").write_bytes(buffer.getvalue())
    header = json.loads((folder / "router.json").read_text())
    import hashlib

    header["sha256"] = "sha256:" + hashlib.sha256(buffer.getvalue()).hexdigest()
    (folder / "router.json").write_text(json.dumps(header))
    with pytest.raises(MigrateError, match="not a valid router"):
        Router.load(folder)


def test_weights_are_byte_reproducible():
    arrays = {"a": np.arange(5, dtype=np.float32), "b": np.eye(2)}
    assert npz_bytes(arrays) == npz_bytes(arrays)


def test_threshold_is_the_lowest_that_keeps_the_target_precision():
    confidence = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.90, 0.85])
    correct = np.array([True, True, True, True, False, True, False])
    weights = np.ones(7)
    assert calibrate.choose_threshold(confidence, correct, weights, 0.8) == (0.90, 5 / 6)
    assert calibrate.choose_threshold(confidence, correct, weights, 0.99) == (0.96, 1.0)
    # a heavy wrong call (it stands for many deduplicated ones) weighs in
    assert calibrate.choose_threshold(confidence, correct, np.array([1, 1, 1, 1, 10, 1, 1.0]), 0.8) == (0.96, 1.0)
    # ties are never split: the threshold takes all calls of one confidence or none
    assert calibrate.choose_threshold(np.array([0.9, 0.9]), np.array([True, False]), np.ones(2), 0.9) == (None, None)
    assert calibrate.choose_threshold(np.array([]), np.array([], dtype=bool), np.array([]), 0.9) == (None, None)


def test_build_needs_an_analysis(tmp_path):
    with pytest.raises(MigrateError, match="no analysis") as raised:
        build(RouteParams(out=tmp_path))
    assert "slm-migrate analyze" in raised.value.hint
    with pytest.raises(MigrateError, match="no router"):
        test(tmp_path, {"messages": [{"role": "user", "content": "hi"}]})


def test_a_cluster_the_router_cannot_calibrate_stays_on_the_llm(analyzed_sample, built, tmp_path, calls):
    held_out = {c["id"]: c["router"]["calibration_calls"]
                for c in yaml.safe_load((built[0] / "routing" / "routing.yaml").read_text())["clusters"]}
    assert held_out["c00"] > held_out["c01"]
    root = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    write_verdicts(root)
    # more held-out calls needed than c01 has, but not more than c00 has
    summary = build(RouteParams(out=root, min_calibration=held_out["c01"] + 1))
    status = {c["id"]: c for c in summary["clusters"]}
    assert status["c00"]["status"] == "slm" and status["c01"]["status"] == "llm"
    assert status["c01"]["reason"].startswith("its specialist passed evaluation: accuracy 0.990 >= 0.950, but only ")
    assert status["c01"]["threshold"] is None and summary["moved"]["clusters"] == ["c00"]
    decision = Router.load(root / "routing").route({"messages": example(calls, "c01").messages})
    assert (decision.target, decision.cluster, decision.reason) == ("llm", None, "not_calibrated")


def test_cli_builds_and_tests_a_request(built):
    root, _ = built
    from typer.testing import CliRunner

    from migrate.cli import app

    result = CliRunner().invoke(app, ["route", "build", "--out", str(root), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "unchanged"  # the fixture built it already
    poem = json.dumps({"messages": [{"role": "user", "content": "write me a poem about the sea"}]})
    result = CliRunner().invoke(app, ["route", "test", "--out", str(root)], input=poem)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"] == "llm"
    result = CliRunner().invoke(app, ["route", "test", "--out", str(root)], input="not json")
    assert result.exit_code == 2 and "not a JSON request" in result.output
