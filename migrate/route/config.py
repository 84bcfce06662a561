"""`routing.yaml`: which cluster goes where, and the command that serves the promoted specialists.

Per cluster: its status (`slm` only when its specialist passed evaluation, its adapter is there
and the router can recognise the cluster at the target precision; else `llm` and why), the
specialist (adapter path, adapter name, base model), the evaluation that decided, the router's
threshold with its held-out precision and coverage, and what moving it is expected to move: the
cluster's share of calls and of cost (from `analysis/clusters.json`) times the router's coverage.
Top level: the fallback LLM, the totals moved, and one `vllm serve ... --enable-lora
--lora-modules name=path ...` command per base model of the promoted adapters.

Deterministic: sorted keys, rounded floats, paths relative to the workspace folder, no dates.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from migrate.route.router import OUTLIER_ID
from migrate.workspace import Workspace, write_text

VERSION = 1
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM's --max-lora-rank accepts
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
HEADER = """\
# slm-migrate routing config, written by `slm-migrate route build` (do not edit: rebuild).
# A request goes to a cluster's specialist only when the router recognises the cluster with at
# least its threshold and the cluster's status is `slm`; everything else stays on the LLM (see
# `fallback`).
# Paths are relative to the workspace folder: run the serve command from there.
"""


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def relative(path: str | Path | None, root: Path) -> str | None:
    """`path` relative to the workspace `root` when it lies inside it, else as given."""
    if not path:
        return None
    candidate = Path(path)
    try:
        return candidate.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return candidate.as_posix()


def specialist_status(workspace: Workspace, cluster: dict[str, Any]) -> dict[str, Any]:
    """What evaluation said of a cluster's specialist: status `slm`/`llm`, the reason, the
    specialist (adapter, base) and the deciding metric."""
    cid = cluster["id"]
    root = workspace.root
    folder = workspace.stage_dir("specialists") / cid
    report = read_json(workspace.stage_dir("eval") / f"{cid}.json")
    metrics = read_json(folder / "metrics.json")
    if report is None:
        if metrics is not None:
            return {"status": "llm", "reason": "its specialist is not evaluated yet (run `slm-migrate evaluate`)",
                    "specialist": _specialist(root, cid, str(folder / "adapter"), metrics), "evaluation": None}
        recommended = (cluster.get("suitability") or {}).get("recommendation") == "specialize"
        advice = ("run `slm-migrate datasets` and `slm-migrate finetune` to train one" if recommended
                  else "the analysis keeps it on the LLM")
        return {"status": "llm", "reason": f"no specialist ({advice})", "specialist": None, "evaluation": None}
    trained = report.get("specialist") or {}
    specialist = _specialist(root, cid, trained.get("adapter") or str(folder / "adapter"),
                             {**(metrics or {}), **trained})
    evaluation = {key: report.get(key) for key in ("metric", "value", "threshold", "passed")}
    metric, value, threshold = report.get("metric"), report.get("value"), report.get("threshold")
    shown = f"{metric} {_num(value)} {'>=' if report.get('passed') else '<'} {_num(threshold)}"
    if report.get("passed") is True:
        adapter = root / specialist["adapter"]  # relative to the workspace, or absolute (then `/` keeps it)
        if not adapter.is_dir():
            return {"status": "llm", "reason": f"its specialist passed evaluation ({shown}) but its adapter is missing "
                    f"({specialist['adapter']})", "specialist": specialist, "evaluation": evaluation}
        return {"status": "slm", "reason": f"its specialist passed evaluation: {shown}",
                "specialist": specialist, "evaluation": evaluation}
    if report.get("passed") is False:
        return {"status": "llm", "reason": f"its specialist failed evaluation: {shown}",
                "specialist": specialist, "evaluation": evaluation}
    return {"status": "llm", "reason": "its evaluation did not finish (rerun `slm-migrate evaluate`)",
            "specialist": specialist, "evaluation": evaluation}


def _specialist(root: Path, cid: str, adapter: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"adapter": relative(adapter, root), "adapter_name": cid,
            "base_model": info.get("base_model"), "base_path": relative(info.get("base_path"), root)}


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def fallback_model(configured: str | None, models: Counter[str]) -> tuple[str | None, str]:
    if configured:
        return configured, "configured: every request left on the LLM goes to it"
    if not models:
        return None, "no model is named in the logs: requests keep the model they name (set fallback_model)"
    name = min(models, key=lambda m: (-models[m], m))
    return name, "the most used model in the logs, for requests that name none (the others keep theirs)"


def lora_rank(root: Path, adapter: str) -> int | None:
    config = read_json((root / adapter) / "adapter_config.json")
    rank = config.get("r") if config else None
    return rank if isinstance(rank, int) and rank > 0 else None


def serve_commands(root: Path, promoted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One `vllm serve` command per base model, with every promoted adapter as a LoRA module."""
    by_base: dict[str, list[dict[str, Any]]] = {}
    for entry in promoted:
        spec = entry["specialist"]
        base = spec["base_model"] if _HUB_ID.match(str(spec.get("base_model") or "")) else (
            spec.get("base_path") or spec.get("base_model"))
        by_base.setdefault(str(base), []).append(entry)
    commands = []
    for base, entries in sorted(by_base.items()):
        modules = " ".join(f"{e['specialist']['adapter_name']}={e['specialist']['adapter']}" for e in entries)
        ranks = [r for r in (lora_rank(root, e["specialist"]["adapter"]) for e in entries) if r]
        flags = f" --max-loras {len(entries)}"
        if ranks:
            flags += f" --max-lora-rank {next((r for r in LORA_RANKS if r >= max(ranks)), max(ranks))}"
        commands.append({
            "base_model": base,
            "adapters": [e["id"] for e in entries],
            "command": f"vllm serve {base} --enable-lora{flags} --lora-modules {modules}",
        })
    return commands


def routing_config(
    workspace: Workspace,
    analysis: dict[str, Any],
    statuses: dict[str, dict[str, Any]],
    router_info: dict[str, dict[str, Any]],
    held_out: dict[str, Any],
    target_precision: float,
    fallback: tuple[str | None, str],
) -> dict[str, Any]:
    """The routing config as plain data (see the module docstring)."""
    clusters, promoted = [], []
    moved_calls = moved_cost = savings = 0.0
    for cluster in analysis["clusters"]:
        cid = cluster["id"]
        if cid == OUTLIER_ID:
            continue
        status, info = statuses[cid], router_info.get(cid, {})
        coverage = info.get("coverage")
        shares, cost = cluster.get("shares") or {}, cluster.get("cost") or {}
        slm = status["status"] == "slm"
        factor = (coverage or 0.0) if slm else 0.0
        entry = {
            "id": cid,
            "name": cluster.get("name"),
            "output_kind": (cluster.get("output") or {}).get("kind"),
            "recommendation": (cluster.get("suitability") or {}).get("recommendation"),
            "status": status["status"],
            "reason": status["reason"],
            "specialist": status["specialist"],
            "evaluation": _rounded(status["evaluation"]),
            "router": _rounded({
                "threshold": _floor(info.get("threshold"), 4),
                "calibration_calls": info.get("calibration_calls"),
                "test_calls": info.get("test_calls"),
                "test_precision": info.get("precision"),
                "test_coverage": coverage,
            }),
            "traffic": _rounded({"calls_share": shares.get("calls"), "cost_share": shares.get("cost"),
                                 "monthly_llm_usd": cost.get("monthly_llm_usd")}),
            "moved": _rounded({
                "calls_share": (shares.get("calls") or 0.0) * factor,
                "cost_share": (shares.get("cost") or 0.0) * factor,
                "monthly_savings_usd": (cost.get("monthly_savings_usd") or 0.0) * factor
                if cost.get("monthly_savings_usd") is not None else None,
            }),
        }
        clusters.append(entry)
        if slm:
            promoted.append(entry)
            moved_calls += entry["moved"]["calls_share"] or 0.0
            moved_cost += entry["moved"]["cost_share"] or 0.0
            savings += entry["moved"]["monthly_savings_usd"] or 0.0
    return {
        "version": VERSION,
        "target_precision": target_precision,
        "fallback": {"model": fallback[0], "source": fallback[1]},
        "router": {"header": "routing/router.json", "weights": "routing/router.npz"},
        "moved": _rounded({"clusters": [e["id"] for e in promoted], "calls_share": moved_calls,
                           "cost_share": moved_cost, "monthly_savings_usd": savings}),
        "held_out": _rounded(held_out),
        "clusters": clusters,
        "serve": {"vllm": serve_commands(workspace.root, promoted)},
    }


def write_routing_yaml(path: Path, config: dict[str, Any]) -> Path:
    body = yaml.safe_dump(config, sort_keys=True, default_flow_style=False, allow_unicode=True, width=10_000)
    return write_text(path, HEADER + body)


def _floor(value: float | None, digits: int) -> float | None:
    """Rounded down, so a threshold shown never excludes a call the router takes."""
    if value is None:
        return None
    scale = 10**digits
    return int(value * scale) / scale


def _rounded(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value
