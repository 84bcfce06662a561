"""`slm-migrate finetune` on the workspace: analyze -> datasets -> finetune with tiny-local, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate.cli import app

from conftest import copy_workspace

pytest.importorskip("trl")

FAST = ["--set", "max_steps=2", "--set", "logging_steps=1", "--set", "tiny.pretrain_steps=2", "--threads", "1"]


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def workspace(analyzed_sample, tmp_path_factory) -> Path:
    out = copy_workspace(analyzed_sample[0], tmp_path_factory.mktemp("finetune") / "ws")
    invoke("datasets", "--out", str(out), "--clusters", "c01", "--max-train", "48")
    return out


@pytest.fixture(scope="module")
def trained(workspace) -> tuple[Path, dict]:
    output = invoke("finetune", "--out", str(workspace), "--json", *FAST)
    return workspace, json.loads(output[output.index("{"):output.rindex("}") + 1])


@pytest.mark.train
def test_finetune_writes_an_adapter_per_cluster(trained):
    out, summary = trained
    [cluster] = summary["clusters"]
    assert cluster["id"] == "c01" and cluster["status"] == "trained" and cluster["steps"] == 2
    folder = out / "specialists" / "c01"
    assert (folder / "adapter" / "adapter_config.json").exists()
    assert {"metrics.json", "loss.json", "loss.png", "README.md"} <= {p.name for p in folder.iterdir()}
    assert not [p for p in (out / "specialists").iterdir() if p.name.startswith(".") or p.name.endswith(".work")]
    manifest = json.loads((out / "manifest.json").read_text())["stages"]["finetune"]
    assert manifest["params"]["recipes"] == {"c01": "tiny-local"}
    assert any(path.endswith("adapter_model.safetensors") for path in manifest["outputs"])


@pytest.mark.train
def test_rerun_skips_unchanged_and_force_retrains(trained):
    out, _ = trained
    assert "unchanged" in invoke("finetune", "--out", str(out), *FAST)
    output = invoke("finetune", "--out", str(out), "--json", "--force", *FAST)
    assert json.loads(output[output.index("{"):output.rindex("}") + 1])["clusters"][0]["status"] == "trained"
    # a changed recipe field is a different recipe: retrained without --force
    output = invoke("finetune", "--out", str(out), "--json", *FAST, "--set", "learning_rate=0.002")
    assert json.loads(output[output.index("{"):output.rindex("}") + 1])["clusters"][0]["status"] == "trained"


@pytest.mark.train
def test_a_cluster_that_cannot_train_fails_alone_and_leaves_no_folder(workspace, tmp_path):
    out = copy_workspace(workspace, tmp_path / "ws")
    shutil.rmtree(out / "specialists", ignore_errors=True)  # (an earlier test may have trained c01)
    output = invoke("finetune", "--out", str(out), *FAST, "--set", "max_length=32", "--set", "tiny.context_length=64",
                    code=2)
    assert "c01" in output and "max_length" in output
    assert not (out / "specialists" / "c01").exists()


def test_bad_inputs_name_what_to_fix(workspace, tmp_path):
    output = invoke("finetune", "--out", str(workspace), "--clusters", "c05", code=2)
    assert "'c05'" in output and "slm-migrate datasets" in output
    output = invoke("finetune", "--out", str(tmp_path), code=2)
    assert "no datasets" in output
    output = invoke("finetune", "--out", str(workspace), "--set", "lora_rank=8", code=2)
    assert "lora_rank" in output
    output = invoke("finetune", "--out", str(workspace), "--recipe", "no-such-recipe", code=2)
    assert "no-such-recipe" in output and "tiny-local" in output
    config = tmp_path / "slm-migrate.yaml"
    config.write_text("finetune:\n  recipe: tiny-local\n  lora: 3\n")
    output = invoke("finetune", "--out", str(workspace), "--config", str(config), code=2)
    assert "lora" in output and str(config) in output
    output = invoke("finetune", "--out", str(workspace), "--set", "load_in_4bit=true", *FAST, code=2)
    assert "CUDA" in output or "cuda" in output
