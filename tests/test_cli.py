"""The command line from the outside: help, version, env, exit codes and error messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from migrate import __version__
from migrate.cli import app

from conftest import FORMATS

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


@pytest.mark.parametrize("command", [[], ["analyze"], ["env"]])
def test_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_env_json_lists_versions_and_devices():
    result = runner.invoke(app, ["env", "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["slm_migrate"] == __version__
    assert info["core"]["scikit-learn"] and "cpu_count" in info["devices"]


def test_missing_file_exits_2_with_a_hint(tmp_path):
    result = runner.invoke(app, ["analyze", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "not found" in result.stderr and "hint" in result.stderr


def test_strict_exits_3_and_keeps_the_quarantine(tmp_path):
    logs = tmp_path / "logs.jsonl"
    good = (FORMATS / "openai.jsonl").read_text().splitlines()
    logs.write_text("\n".join(good * 8 + ["{broken"]) + "\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(logs), "--out", str(out), "--strict"])
    assert result.exit_code == 3, result.output
    assert "--strict" in result.stderr
    rows = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert rows == [{"file": str(logs), "line": 41, "reason": rows[0]["reason"]}]
    assert not (out / "analysis" / "clusters.json").exists()  # nothing half-written


def test_small_mixed_logs_analyze_and_json_goes_to_stdout(tmp_path):
    files = [str(FORMATS / f) for f in ("openai.jsonl", "langfuse.jsonl", "langsmith.jsonl", "messages.jsonl")]
    result = runner.invoke(app, ["analyze", *files, "--out", str(tmp_path), "--json", "--min-cluster-size", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == 13
    assert sum(c["size"] for c in summary["clusters"]) == 13


def test_console_script_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "migrate", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and __version__ in done.stdout
