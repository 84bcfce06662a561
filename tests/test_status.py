"""`migrate.status` on the analysed sample at several stages: analysis only; after `route build`;
with datasets (built by the stage), specialists and evaluations (written by hand, as the evaluate
stage's contract says, so that nothing trains) and a routing config; then made stale by hand:
a dataset changed, a specialist retrained, an evaluation redone, the analysis rewritten, a
manifest without the route entry (decided by modification time), artifacts of an unknown cluster.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import copy_workspace

from migrate.datasets import DatasetsParams
from migrate.datasets import run as build_datasets
from migrate.errors import MigrateError
from migrate.finetune.examples import dataset_fingerprint
from migrate.route import RouteParams, build
from migrate.status import StatusParams, run
from migrate.workspace import sha256_file

BASE = "HuggingFaceTB/SmolLM2-360M-Instruct"


def status(root: Path) -> dict:
    return run(StatusParams(out=root))


def by_id(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["clusters"]}


def write_specialist(root: Path, cluster: str, passed: bool | None) -> None:
    """A specialist trained on the cluster's dataset and, unless `passed` is None, its evaluation."""
    folder = root / "specialists" / cluster
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_config.json").write_text(json.dumps({"r": 16}))
    fingerprint = dataset_fingerprint(root / "datasets" / cluster)
    (folder / "metrics.json").write_text(json.dumps({
        "base_model": BASE, "base_path": BASE, "recipe_hash": "sha256:r", "dataset_fingerprint": fingerprint}))
    if passed is None:
        return
    (root / "eval").mkdir(exist_ok=True)
    (root / "eval" / f"{cluster}.json").write_text(json.dumps({
        "cluster": cluster, "name": cluster, "kind": "label", "passed": passed, "metric": "accuracy",
        "value": 0.99 if passed else 0.5, "threshold": 0.95, "models": {},
        "specialist": {"adapter": str((folder / "adapter").resolve()), "base_model": BASE, "base_path": BASE},
        "key": {"specialist": sha256_file(folder / "metrics.json"), "dataset": fingerprint},
    }))


@pytest.fixture(scope="module")
def pipeline(analyzed_sample, tmp_path_factory) -> Path:
    """c01 and c05 with datasets, specialists and evaluations (c01 passed, c05 failed), then routed."""
    root = copy_workspace(analyzed_sample[0], tmp_path_factory.mktemp("status") / "ws")
    build_datasets(DatasetsParams(out=root, clusters=["c01", "c05"]))
    write_specialist(root, "c01", passed=True)
    write_specialist(root, "c05", passed=False)
    build(RouteParams(out=root))
    return root


def test_analysis_only(analyzed_sample):
    report = status(analyzed_sample[0])
    clusters = by_id(report)
    assert report["counts"]["clusters"] == len(clusters) == 9 and report["routing"] is None
    assert all(c["stage"] == "analysed" and c["fresh"] and not c["dataset"]["built"] for c in clusters.values())
    recommended = report["analysis"]["recommended"]
    assert [c for c, row in clusters.items() if row["recommendation"] == "specialize"] == recommended
    assert report["next"] == [f"slm-migrate datasets --out {analyzed_sample[0]} --clusters {','.join(recommended)}"]


def test_after_route_build(analyzed_sample, tmp_path):
    root = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    build(RouteParams(out=root))
    report = status(root)
    assert report["routing"]["built_at"] and report["routing"]["analysis_changed"] is False
    for row in report["clusters"]:
        assert row["routing"]["in_config"] and not row["routing"]["routed"] and row["fresh"]
        assert row["routing"]["status"] == "llm" and "no specialist" in row["routing"]["reason"]


def test_every_stage_fresh(pipeline):
    report = status(pipeline)
    clusters = by_id(report)
    c01, c05 = clusters["c01"], clusters["c05"]
    assert c01["stage"] == "routed" and c01["routing"]["routed"] and c01["fresh"]
    assert c01["dataset"]["built"] and c01["dataset"]["key"].startswith("sha256:")
    assert c01["dataset"]["fingerprint"] == c01["adapter"]["dataset_fingerprint"]
    assert c01["adapter"]["present"] and c01["adapter"]["base_model"] == BASE and c01["adapter"]["trained_at"]
    assert c01["evaluation"] | {"evaluated_at": None} == {
        "present": True, "passed": True, "metric": "accuracy", "value": 0.99, "threshold": 0.95, "evaluated_at": None}
    assert c05["stage"] == "evaluated" and not c05["routing"]["routed"] and c05["fresh"]
    assert "failed evaluation" in c05["routing"]["reason"]
    assert report["stale"] == [] and report["counts"] | {"clusters": 0} == {
        "clusters": 0, "datasets": 2, "adapters": 2, "evaluated": 2, "passed": 1, "routed": 1, "stale": 0}
    assert not any("c01" in command or "c05" in command for command in report["next"])


def _change_dataset(root: Path) -> None:
    train = root / "datasets" / "c05" / "openai" / "train.jsonl"
    train.write_text(train.read_text() + "\n")


def _retrain(root: Path) -> None:
    metrics = root / "specialists" / "c01" / "metrics.json"
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "train_seconds": 1.0}))


def _reevaluate(root: Path) -> None:
    record = root / "eval" / "c05.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "passed": True, "value": 0.97}))


def _rewrite_analysis(root: Path) -> None:
    records = root / "curate" / "records.jsonl"
    records.write_bytes(b"".join(records.read_bytes().splitlines(keepends=True)[:-3]))


def _evaluated_after_routing_no_manifest(root: Path) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["stages"]["route"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    routing = (root / "routing" / "routing.yaml").stat().st_mtime
    os.utime(root / "eval" / "c05.json", (routing + 60, routing + 60))


@pytest.mark.parametrize("alter, expected", [
    (_change_dataset, {"c05": (["its dataset changed since the specialist was trained",
                                "its dataset changed since it was evaluated"], ["finetune", "evaluate"])}),
    (_retrain, {"c01": (["its specialist was retrained since it was evaluated",
                         "its specialist changed after the routing config was built"], ["evaluate", "route"])}),
    (_reevaluate, {"c05": (["its evaluation changed after the routing config was built"], ["route"])}),
    (_evaluated_after_routing_no_manifest, {"c05": (["it was evaluated after the routing config was built"],
                                                    ["route"])}),
], ids=["dataset changed", "specialist retrained", "evaluation redone", "by time without manifest"])
def test_stale(pipeline, tmp_path, alter, expected):
    root = copy_workspace(pipeline, tmp_path / "ws")
    alter(root)
    report = status(root)
    assert report["stale"] == sorted(expected)
    for cid, (reasons, stages) in expected.items():
        row = by_id(report)[cid]
        assert row["stale"] and not row["fresh"] and row["stale_reasons"] == reasons
        assert [command.split()[1] for command in row["next"]] == stages
    assert report["counts"]["stale"] == len(expected)


def test_stale_after_new_analysis(pipeline, tmp_path):
    root = copy_workspace(pipeline, tmp_path / "ws")
    _rewrite_analysis(root)
    report = status(root)
    assert len(report["stale"]) == 9 and report["routing"]["analysis_changed"]
    c01 = by_id(report)["c01"]
    assert c01["stale_reasons"][0] == "the analysis changed since its dataset was built (curate/records.jsonl)"
    assert report["next"] == [f"slm-migrate datasets --out {root} --clusters c00,c01,c02,c03,c04,c05,c07",
                              f"slm-migrate route build --out {root}"]  # the stale two and those to build


def test_leftover_cluster(pipeline, tmp_path):
    root = copy_workspace(pipeline, tmp_path / "ws")
    shutil.copytree(root / "specialists" / "c05", root / "specialists" / "c99")
    row = by_id(status(root))["c99"]
    assert not row["in_analysis"] and row["stale"] and "no such cluster" in row["stale_reasons"][0]
    assert "its specialist's dataset is gone" in row["stale_reasons"]


def test_no_workspace(tmp_path):
    with pytest.raises(MigrateError, match="no workspace") as info:
        status(tmp_path / "missing")
    assert "slm-migrate analyze" in info.value.hint
