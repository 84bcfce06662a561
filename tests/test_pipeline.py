"""`slm-migrate init`, `run`, `ci-matrix`: the whole pipeline from one config, incremental, gated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from migrate.cli import app
from migrate.config import STARTER, ProjectConfig

from conftest import SAMPLE_LOGS, copy_workspace

pytest.importorskip("trl")

FAST = """
datasets:
  clusters: [c01]
  min_examples: 20
  split: {max_train: 48}
finetune:
  recipe: tiny-local
  set: [max_steps=2, logging_steps=1, tiny.pretrain_steps=2]
evaluate:
  limit: 6
  few_shot: 1
  max_new_tokens: 6
"""
LENIENT = "  thresholds:\n    label: {metric: accuracy, min: 0.0}\n"


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def config(tmp_path: Path, out: Path, extra: str = "", name: str = "slm-migrate.yaml") -> Path:
    path = tmp_path / name
    inputs = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
    path.write_text(yaml.safe_dump({"inputs": inputs, "out": str(out)}) + FAST + extra)
    return path


def test_init_writes_a_starter_that_loads(tmp_path):
    target = tmp_path / "slm-migrate.yaml"
    invoke("init", str(target))
    assert target.read_text() == STARTER
    ProjectConfig.model_validate(yaml.safe_load(STARTER))
    assert "exists" in invoke("init", str(target), code=2)


@pytest.fixture(scope="module")
def ran(analyzed_sample, tmp_path_factory) -> tuple[Path, Path]:
    """A workspace taken through the whole pipeline once with a lenient label threshold, so
    that c01's toy specialist passes and is routed."""
    root = tmp_path_factory.mktemp("pipeline")
    out = copy_workspace(analyzed_sample[0], root / "ws")
    config(root, out)  # the strict config (default thresholds), for the --check test
    lenient = config(root, out, name="lenient.yaml")
    lenient.write_text(lenient.read_text().replace("  max_new_tokens: 6\n", "  max_new_tokens: 6\n" + LENIENT))
    output = invoke("run", "--config", str(lenient), "--threads", "1")
    assert "c01" in output and "pass" in output
    return root, out


@pytest.mark.train
def test_run_goes_through_every_stage_and_a_rerun_does_no_work(ran):
    root, out = ran
    routing = yaml.safe_load((out / "routing" / "routing.yaml").read_text())
    assert {c["id"]: c["status"] for c in routing["clusters"]}["c01"] == "slm"
    output = invoke("run", "--config", str(root / "lenient.yaml"), "--threads", "1", "--json")
    summary = json.loads(output[output.index("{"):output.rindex("}") + 1])
    stages = summary["stages"]
    assert stages["analyze"]["status"] == "unchanged"
    assert stages["datasets"]["clusters"] == {"c01": "unchanged"}
    assert stages["finetune"]["clusters"] == {"c01": "unchanged"}
    assert stages["route"]["status"] == "unchanged"
    assert "unchanged" in stages["evaluate"]["line"]


@pytest.mark.train
def test_check_keeps_the_routing_config_when_a_routed_cluster_fails(ran):
    root, out = ran
    before = (out / "routing" / "routing.yaml").read_bytes()
    output = invoke("run", "--config", str(root / "slm-migrate.yaml"), "--threads", "1", "--check", code=4)
    assert "check failed" in output and "c01" in output
    assert (out / "routing" / "routing.yaml").read_bytes() == before  # never overwritten by a worse one


@pytest.mark.train
def test_ci_matrix_lists_clusters_whose_adapter_is_stale(ran):
    root, out = ran
    lenient = root / "lenient.yaml"
    assert json.loads(invoke("ci-matrix", "--out", str(out), "--config", str(lenient))) == {"include": []}
    changed = root / "changed.yaml"
    changed.write_text(lenient.read_text().replace("max_steps=2", "max_steps=3"))
    matrix = json.loads(invoke("ci-matrix", "--out", str(out), "--config", str(changed)))
    assert matrix == {"include": [{"cluster": "c01", "recipe": "tiny-local", "why": "recipe changed"}]}


def test_bad_configs_name_the_key_and_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("inputs: [a.jsonl]\nroute:\n  target_precison: 0.9\n")
    output = invoke("run", "--config", str(path), code=2)
    assert "target_precison" in output and "bad.yaml" in output
    path.write_text("out: ws\n")
    assert "no log files" in invoke("run", "--config", str(path), code=2)
    assert "config file not found" in invoke("run", "--config", str(tmp_path / "missing.yaml"), code=2)
    path.write_text(f"inputs: [{SAMPLE_LOGS}/*.jsonl.gz]\n")
    assert "unknown stage" in invoke("run", "--config", str(path), "--stages", "analyse", code=2)


@pytest.mark.train
def test_check_keeps_the_routing_config_when_the_logs_drift(ran):
    root, out = ran
    before = (out / "routing" / "routing.yaml").read_bytes()
    strict = root / "drift.yaml"
    strict.write_text((root / "lenient.yaml").read_text() + "drift:\n  max_abstain_share: 0.0\n")
    output = invoke("run", "--config", str(strict), "--threads", "1", "--check", code=5)
    assert "drift beyond the limits" in output
    assert (out / "routing" / "routing.yaml").read_bytes() == before
    assert (out / "drift" / "report.json").exists()


@pytest.mark.train
def test_new_calls_of_one_subtask_retrain_only_that_cluster(analyzed_sample, tmp_path):
    out = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    two = config(tmp_path, out).read_text().replace("clusters: [c01]", "clusters: [c01, c05]")
    path = tmp_path / "two.yaml"
    path.write_text(two)
    invoke("run", "--config", str(path), "--threads", "1")
    # a new day's log: more calls of the c05 subtask (its curated calls, each with a new request)
    assigned = {json.loads(line)["id"]: json.loads(line)["cluster"]
                for line in (out / "analysis" / "assignments.jsonl").read_text().splitlines()}
    rows = [json.loads(line) for line in (out / "curate" / "records.jsonl").read_text().splitlines()]
    extra = tmp_path / "more.jsonl"
    with extra.open("w") as handle:
        for row in [r for r in rows if assigned.get(r["id"]) == "c05"][:80]:
            messages = [dict(m) for m in row["messages"]]
            messages[-1]["content"] = (messages[-1]["content"] or "") + " Sent again today, please check."
            handle.write(json.dumps({"messages": [*messages, row["response"]], "tools": row["tools"]}) + "\n")
    data = yaml.safe_load(two.split("\ndatasets:")[0])
    path.write_text(yaml.safe_dump({**data, "inputs": [*data["inputs"], str(extra)]}) + "datasets:" + two.split("\ndatasets:")[1])
    output = invoke("run", "--config", str(path), "--threads", "1", "--json")
    stages = json.loads(output[output.index("{"):output.rindex("}") + 1])["stages"]
    assert stages["analyze"]["status"] == "ran"
    assert stages["datasets"]["clusters"] == {"c01": "unchanged", "c05": "built"}
    assert stages["finetune"]["clusters"] == {"c01": "unchanged", "c05": "trained"}
    clusters = json.loads((out / "analysis" / "clusters.json").read_text())
    assert set(clusters["identity"]["kept"]) >= {"c01", "c05"} and not clusters["vanished"]
