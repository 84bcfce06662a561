"""Shared test set-up: offline, quiet, single-threaded BLAS, and paths to the bundled data."""

from __future__ import annotations

import os

for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(key, "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FORMATS = Path(__file__).resolve().parent / "data" / "formats"
SAMPLE_LOGS = ROOT / "sample_logs"


@pytest.fixture
def formats_dir() -> Path:
    return FORMATS
