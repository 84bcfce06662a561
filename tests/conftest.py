"""Shared test set-up: offline, quiet, single-threaded BLAS, and paths to the bundled data."""

from __future__ import annotations

import os

for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(key, "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# converted GGUF models are cached per user; tests use a throw-away cache, removed at exit
if "SLM_MIGRATE_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["SLM_MIGRATE_CACHE"] = tempfile.mkdtemp(prefix="slm-migrate-cache-")
    atexit.register(shutil.rmtree, os.environ["SLM_MIGRATE_CACHE"], ignore_errors=True)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FORMATS = Path(__file__).resolve().parent / "data" / "formats"
SAMPLE_LOGS = ROOT / "sample_logs"


@pytest.fixture
def formats_dir() -> Path:
    return FORMATS


def analyze_sample(out: Path, *extra: str) -> dict:
    """`slm-migrate analyze` on the bundled sample logs into `out`, in-process; its JSON summary."""
    import json

    from typer.testing import CliRunner

    from migrate.cli import app

    logs = sorted(str(p) for p in SAMPLE_LOGS.glob("*.jsonl.gz"))
    result = CliRunner().invoke(app, ["analyze", *logs, "--out", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def analyzed_sample(tmp_path_factory) -> tuple[Path, dict]:
    """The sample logs analysed once per test session: (workspace, summary). Read-only: copy it
    (`copy_workspace`) before running a stage that writes into it."""
    out = tmp_path_factory.mktemp("sample-analysis")
    return out, analyze_sample(out)


def copy_workspace(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target
