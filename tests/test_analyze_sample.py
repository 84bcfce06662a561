"""`slm-migrate analyze` on the bundled sample_logs/, run in-process through the CLI.

Checks the workspace contract of DESIGN.md, the quality of the subtask discovery against the
ground truth in sample_logs/labels.jsonl (which the tool never reads), and determinism.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import SAMPLE_LOGS, analyze_sample
from sklearn.metrics import adjusted_rand_score

LOGS = sorted(str(p) for p in SAMPLE_LOGS.glob("*.jsonl.gz"))


@pytest.fixture(scope="module")
def run(analyzed_sample):
    return analyzed_sample


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sample_logs_are_large_and_in_several_formats():
    labels = read_jsonl(SAMPLE_LOGS / "labels.jsonl")
    assert len(labels) >= 5000
    assert len({row["subtask"] for row in labels}) >= 8
    assert len(LOGS) >= 2


def test_assignments_follow_the_contract(run):
    out, summary = run
    rows = read_jsonl(out / "analysis" / "assignments.jsonl")
    assert len(rows) == summary["records"]
    assert all(set(r) == {"id", "line", "cluster"} and isinstance(r["cluster"], str) for r in rows)
    ids = {c["id"] for c in json.loads((out / "analysis" / "clusters.json").read_text())["clusters"]}
    assert {r["cluster"] for r in rows} <= ids
    # input order: files in the order given, lines ascending within a file
    descents = sum(1 for a, b in zip(rows, rows[1:]) if b["line"] < a["line"])
    assert descents == len(LOGS) - 1


def test_subtasks_recovered_against_ground_truth(run):
    out, _ = run
    truth = {(row["file"], row["line"]): row["subtask"] for row in read_jsonl(SAMPLE_LOGS / "labels.jsonl")}
    rows = read_jsonl(out / "analysis" / "assignments.jsonl")
    files = [Path(p).name for p in LOGS]
    file_index, pairs, prev = 0, [], 0
    for r in rows:  # assignments carry no file name: they are in input order, file after file
        if r["line"] < prev:
            file_index += 1
        prev = r["line"]
        key = (files[file_index], r["line"])
        if key in truth:
            pairs.append((truth[key], r["cluster"]))
    assert len(pairs) == len(truth)
    ari = adjusted_rand_score([t for t, _ in pairs], [c for _, c in pairs])
    assert ari >= 0.95, ari


def test_recommendations_follow_the_paper(run):
    out, _ = run
    analysis = json.loads((out / "analysis" / "clusters.json").read_text())
    by_kind = Counter(c["output"]["kind"] for c in analysis["clusters"])
    assert by_kind["tool_call"] >= 1 and by_kind["label"] >= 1 and by_kind["json"] >= 1
    for cluster in analysis["clusters"]:
        assert cluster["suitability"]["reasons"], cluster["id"]
        if cluster["output"]["kind"] in ("tool_call", "label", "json") and cluster["size"] >= 100:
            assert cluster["suitability"]["recommendation"] == "specialize", cluster["name"]
        if cluster["output"]["kind"] == "long_text":
            assert cluster["suitability"]["recommendation"] == "keep_on_llm", cluster["name"]
    move = analysis["migration"]
    assert 0 < move["calls_share"] < 1 and 0 < move["cost_share"] < 1
    assert move["savings_usd"] > 0 and move["monthly_savings_usd"] > 0


def test_clusters_json_describes_each_cluster(run):
    out, _ = run
    analysis = json.loads((out / "analysis" / "clusters.json").read_text())
    for cluster in analysis["clusters"]:
        for key in ("id", "name", "size", "shares", "output", "suitability", "examples", "tokens", "cost"):
            assert key in cluster
        if cluster["id"] != "outlier":
            assert cluster["examples"], cluster["id"]
            assert cluster["name"] and "untitled" not in cluster["name"]
    shares = sum(c["shares"]["calls"] for c in analysis["clusters"])
    assert shares == pytest.approx(1.0, abs=0.01)


def test_quarantine_and_manifest(run):
    out, summary = run
    quarantined = read_jsonl(out / "quarantine.jsonl")
    assert len(quarantined) == summary["quarantined"] > 0  # the sample has a few broken lines
    assert all(set(q) == {"file", "line", "reason"} and q["line"] >= 1 for q in quarantined)
    manifest = json.loads((out / "manifest.json").read_text())
    stage = manifest["stages"]["analyze"]
    assert all(h.startswith("sha256:") for h in stage["inputs"].values())
    assert "analysis/clusters.json" in stage["outputs"]


def test_reports_written(run):
    out, _ = run
    html = (out / "analysis" / "report.html").read_text()
    assert "<svg" in html and "c00" in html
    assert (out / "analysis" / "report.md").read_text().startswith("#")


def test_two_runs_give_identical_assignments(run, tmp_path):
    out, _ = run
    analyze_sample(tmp_path)
    first = (out / "analysis" / "assignments.jsonl").read_bytes()
    assert (tmp_path / "analysis" / "assignments.jsonl").read_bytes() == first
    a = json.loads((out / "analysis" / "clusters.json").read_text())
    b = json.loads((tmp_path / "analysis" / "clusters.json").read_text())
    assert [(c["id"], c["name"], c["size"]) for c in a["clusters"]] == [(c["id"], c["name"], c["size"]) for c in b["clusters"]]
