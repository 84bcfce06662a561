"""`slm-migrate env`: versions of the tool and its libraries, and the compute devices."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

from migrate import __version__

CORE = ("numpy", "scipy", "scikit-learn", "pydantic", "typer", "rich", "orjson", "matplotlib", "pyyaml")
TRAIN = ("torch", "transformers", "peft", "trl", "accelerate", "datasets")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _devices() -> dict[str, Any]:
    devices: dict[str, Any] = {"cpu_count": os.cpu_count(), "cuda": None, "mps": None}
    if _version("torch") is None:
        devices["note"] = "torch is not installed (pip install 'slm-migrate[train]'): training stages unavailable"
        return devices
    import torch  # only when installed; slow import

    devices["torch_threads"] = torch.get_num_threads()
    devices["cuda"] = [
        {"index": i, "name": torch.cuda.get_device_name(i),
         "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
        for i in range(torch.cuda.device_count())
    ] if torch.cuda.is_available() else []
    devices["mps"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return devices


def collect_env() -> dict[str, Any]:
    return {
        "slm_migrate": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "core": {name: _version(name) for name in CORE},
        "train": {name: _version(name) for name in TRAIN},
        "devices": _devices(),
        "offline": {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")},
    }
