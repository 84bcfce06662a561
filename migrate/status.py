"""Status: where each cluster of a workspace stands, and what is stale — the library under
`slm-migrate status [--out DIR]`.

Reads (never writes) the workspace `DIR`: `analysis/clusters.json` (the clusters),
`datasets/<cluster>/dataset.json` (the dataset and the key that decides its reuse),
`specialists/<cluster>/metrics.json` + `adapter/` (the specialist, the dataset fingerprint it was
trained on), `eval/<cluster>.json` (the last verdict and the `key` it was computed for),
`routing/routing.yaml` (routed or not, and why), `drift/report.json` (the last drift check) and
`manifest.json` (what each stage read, by content hash). Takes: `StatusParams`. Returns a dict.

A cluster is **stale** when an artifact changed after something downstream was built from it:
- the analysis (`clusters.json`, `assignments.jsonl`, curated records) differs from what the
  last `datasets` run that built the cluster's dataset read;
- the dataset's fingerprint differs from the one in the specialist's `metrics.json`;
- the specialist's `metrics.json` or the dataset differ from the evaluation record's `key`;
- the evaluation record, the specialist or the analysis differ from what `route build` read
  (from the manifest; by modification time when the manifest has no `route` entry).
Each reason names the command that brings the cluster up to date (`next`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from migrate.errors import MigrateError
from migrate.progress import ProgressFn, no_progress
from migrate.workspace import Workspace, read_json_object, sha256_file

__all__ = ["StatusParams", "run"]

OUTLIER_ID = "outlier"
STAGES = ("analysed", "dataset", "trained", "evaluated", "routed")
NEXT = ("datasets", "finetune", "evaluate", "route")  # the commands that bring a cluster further, in order
ANALYSIS_FILES = {"clusters": "analysis/clusters.json", "assignments": "analysis/assignments.jsonl",
                  "records": "curate/records.jsonl"}


class StatusParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Field(Path("slm-migrate-out"), description="workspace folder")


def _when(path: Path) -> str | None:
    """A file's modification time, ISO 8601 UTC (None when it does not exist)."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))
    except OSError:
        return None




class _Hashes:
    """sha256 of workspace files, each read once."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, str | None] = {}

    def __call__(self, relative: str) -> str | None:
        if relative not in self._cache:
            path = self.root / relative
            self._cache[relative] = sha256_file(path) if path.is_file() else None
        return self._cache[relative]


def run(params: StatusParams, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """`slm-migrate status`: each cluster's data, adapter, evaluation, routing and freshness."""
    from migrate.finetune.examples import dataset_fingerprint

    workspace = Workspace(params.out)
    root = workspace.root
    analysis = read_json_object(root / ANALYSIS_FILES["clusters"])
    if analysis is None:
        what = "no workspace" if not root.exists() else "no analysis"
        raise MigrateError(f"{what} at {root} (analysis/clusters.json is missing)",
                           hint=f"run `slm-migrate analyze LOGS... --out {root}` first")
    manifest = workspace.read_manifest().get("stages", {})
    hashes = _Hashes(root)
    routing_path = workspace.stage_dir("routing") / "routing.yaml"
    routing = _read_routing(routing_path)
    route_entry = manifest.get("route")
    analysis_changed = _changed_inputs(hashes, (manifest.get("datasets") or {}).get("inputs", {}))
    route_analysis_changed = _changed_inputs(hashes, {k: v for k, v in ((route_entry or {}).get("inputs") or {}).items()
                                                      if k in ("clusters", "assignments", "records", "embedding")},
                                             extra={"embedding": "analysis/embedding.npz"})
    finetune_recipes = ((manifest.get("finetune") or {}).get("params") or {}).get("recipes") or {}
    dataset_keys = ((manifest.get("datasets") or {}).get("params") or {}).get("keys") or {}

    known = [c for c in analysis.get("clusters", []) if c["id"] != OUTLIER_ID]
    ids = [c["id"] for c in known]
    orphans = sorted(_artifact_ids(workspace) - set(ids))
    clusters, wanted = [], {stage: [] for stage in NEXT}
    total = len(ids) + len(orphans)
    for index, cid in enumerate([*ids, *orphans]):
        progress("clusters", index, total)
        info = next((c for c in known if c["id"] == cid), None)
        row, stages = _cluster(workspace, cid, info, hashes, dataset_fingerprint, routing, route_entry, routing_path,
                       analysis_changed if dataset_keys.get(cid) else None, route_analysis_changed,
                       finetune_recipes.get(cid), dataset_keys.get(cid))
        clusters.append(row)
        for stage in stages:
            wanted[stage].append(cid)
    progress("clusters", total, total)

    stale = [c["id"] for c in clusters if c["stale"]]
    return {
        "out": str(root),
        "stages": {name: entry.get("finished_at") for name, entry in manifest.items()},
        "analysis": {"calls": (analysis.get("totals") or {}).get("calls"),
                     "clusters": len(ids), "recommended": (analysis.get("migration") or {}).get("recommended", []),
                     "written_at": _when(root / ANALYSIS_FILES["clusters"])},
        "routing": None if routing is None else {
            "built_at": (route_entry or {}).get("finished_at") or _when(routing_path),
            "target_precision": routing.get("target_precision"),
            "fallback_model": (routing.get("fallback") or {}).get("model"),
            "moved": routing.get("moved"),
            "analysis_changed": bool(route_analysis_changed),
        },
        "drift": _drift(workspace),
        "clusters": clusters,
        "counts": {
            "clusters": len(ids),
            "datasets": sum(1 for c in clusters if c["dataset"]["built"]),
            "adapters": sum(1 for c in clusters if c["adapter"]["present"]),
            "evaluated": sum(1 for c in clusters if c["evaluation"]["present"]),
            "passed": sum(1 for c in clusters if c["evaluation"].get("passed") is True),
            "routed": sum(1 for c in clusters if c["routing"]["routed"]),
            "stale": len(stale),
        },
        "stale": stale,
        "next": [_command(stage, root, ",".join(ids)) for stage, ids in wanted.items() if ids],
    }


def _older(path: Path, than: Path) -> bool:
    try:
        return path.stat().st_mtime < than.stat().st_mtime
    except OSError:
        return False


def _read_routing(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _changed_inputs(hashes: _Hashes, recorded: dict[str, str], extra: dict[str, str] | None = None) -> list[str]:
    """The analysis files whose content differs from the hash a stage recorded for it."""
    files = {**ANALYSIS_FILES, **(extra or {})}
    return [files[name] for name, digest in sorted(recorded.items())
            if name in files and hashes(files[name]) != digest]


def _artifact_ids(workspace: Workspace) -> set[str]:
    """Cluster ids that have a dataset, a specialist or an evaluation record."""
    found: set[str] = set()
    for stage in ("datasets", "specialists"):
        found |= {p.name for p in workspace.stage_dir(stage).glob("*") if p.is_dir() and not p.name.startswith(".")
                  and p.name != "cache"}
    found |= {p.stem for p in workspace.stage_dir("eval").glob("*.json")}
    return found


def _cluster(workspace: Workspace, cid: str, info: dict[str, Any] | None, hashes: _Hashes, fingerprint_of,
             routing: dict[str, Any] | None, route_entry: dict[str, Any] | None, routing_path: Path,
             analysis_changed: list[str] | None, route_analysis_changed: list[str],
             recipe: str | None, dataset_key_recorded: str | None) -> tuple[dict[str, Any], list[str]]:
    """One cluster's row, and the stages to run for it (see `NEXT`)."""
    root = workspace.root
    reasons: list[str] = []
    commands: list[str] = []

    def stale(reason: str, stage: str) -> None:
        reasons.append(reason)
        commands.append(stage)

    # dataset
    dataset_dir = workspace.stage_dir("datasets") / cid
    dataset = read_json_object(dataset_dir / "dataset.json")
    fingerprint = fingerprint_of(dataset_dir) if dataset is not None else None
    data = {"built": dataset is not None, "key": (dataset or {}).get("key"), "fingerprint": fingerprint,
            "sizes": (dataset or {}).get("sizes"), "built_at": _when(dataset_dir / "dataset.json")}
    if dataset is not None and info is not None:
        if analysis_changed:
            stale(f"the analysis changed since its dataset was built ({', '.join(analysis_changed)})",
                  "datasets")
        elif dataset_key_recorded is None and _older(dataset_dir / "dataset.json", root / ANALYSIS_FILES["clusters"]):
            stale("the analysis was rewritten after its dataset was built",  # no hashes recorded: by time
                  "datasets")

    # specialist
    folder = workspace.stage_dir("specialists") / cid
    metrics = read_json_object(folder / "metrics.json")
    metrics_hash = hashes(f"specialists/{cid}/metrics.json")
    adapter = {"present": metrics is not None and (folder / "adapter").is_dir(),
               "recipe": recipe, "recipe_hash": (metrics or {}).get("recipe_hash"),
               "base_model": (metrics or {}).get("base_model"),
               "trained_at": _when(folder / "metrics.json") if metrics is not None else None,
               "dataset_fingerprint": (metrics or {}).get("dataset_fingerprint"),
               "metrics_hash": metrics_hash}
    if metrics is not None:
        if dataset is None:
            stale("its specialist's dataset is gone", "datasets")
        elif metrics.get("dataset_fingerprint") != fingerprint:
            stale("its dataset changed since the specialist was trained",
                  "finetune")
        if not (folder / "adapter").is_dir():
            stale("its specialist's adapter is missing", "finetune")

    # evaluation
    record = read_json_object(workspace.stage_dir("eval") / f"{cid}.json")
    eval_path = workspace.stage_dir("eval") / f"{cid}.json"
    evaluation: dict[str, Any] = {"present": record is not None}
    if record is not None:
        evaluation.update({k: record.get(k) for k in ("passed", "metric", "value", "threshold")})
        evaluation["evaluated_at"] = _when(eval_path)
        key = record.get("key") or {}
        if metrics is None:
            stale("it has an evaluation but no specialist", "finetune")
        elif key.get("specialist") != metrics_hash:
            stale("its specialist was retrained since it was evaluated", "evaluate")
        elif fingerprint is not None and key.get("dataset") not in (None, fingerprint):
            stale("its dataset changed since it was evaluated", "evaluate")
    elif metrics is not None:
        commands.append("evaluate")

    # routing
    entry = next((c for c in (routing or {}).get("clusters") or [] if c.get("id") == cid), None)
    route = {"in_config": entry is not None, "routed": (entry or {}).get("status") == "slm",
             "status": (entry or {}).get("status"), "reason": (entry or {}).get("reason")}
    if routing is not None:
        build = "route"
        if entry is None and info is not None:
            stale("the routing config does not know this cluster", build)
        elif route_entry is not None:
            recorded = route_entry.get("inputs") or {}
            for relative, what, done in ((f"eval/{cid}.json", "its evaluation", "it was evaluated"),
                                         (f"specialists/{cid}/metrics.json", "its specialist", "it was trained")):
                before, now = recorded.get(relative), hashes(relative)
                if before != now:
                    stale(f"{done} after the routing config was built" if before is None else
                          f"{what} was removed after the routing config was built" if now is None else
                          f"{what} changed after the routing config was built", build)
            if route_analysis_changed and info is not None:
                stale(f"the analysis changed since the routing config was built "
                      f"({', '.join(route_analysis_changed)})", build)
        elif record is not None and _older(routing_path, eval_path):
            stale("it was evaluated after the routing config was built", build)
    elif record is not None:
        commands.append("route")
    if info is not None:  # the step that takes it further, if any
        if dataset is None and suitability_of(info) == "specialize":
            commands.append("datasets")
        elif dataset is not None and metrics is None:
            commands.append("finetune")
    if info is None:
        reasons.insert(0, "the current analysis has no such cluster (its artifacts are left from an earlier one)")

    stage = "analysed"
    for name, reached in (("dataset", data["built"]), ("trained", adapter["present"]),
                          ("evaluated", record is not None), ("routed", route["routed"])):
        if reached:
            stage = name
    return {
        "id": cid,
        "name": (info or {}).get("name"),
        "in_analysis": info is not None,
        "recommendation": suitability_of(info),
        "output_kind": ((info or {}).get("output") or {}).get("kind"),
        "calls_share": ((info or {}).get("shares") or {}).get("calls"),
        "stage": stage,
        "dataset": data,
        "adapter": adapter,
        "evaluation": evaluation,
        "routing": route,
        "stale": bool(reasons),
        "fresh": not reasons,
        "stale_reasons": list(dict.fromkeys(reasons)),
        "next": [_command(stage, root, cid) for stage in NEXT if stage in commands],
    }, [stage for stage in NEXT if stage in commands]


def suitability_of(info: dict[str, Any] | None) -> str | None:
    return ((info or {}).get("suitability") or {}).get("recommendation")


def _command(stage: str, root: Path, clusters: str) -> str:
    if stage == "route":
        return f"slm-migrate route build --out {root}"
    return f"slm-migrate {stage} --out {root} --clusters {clusters}"


def _drift(workspace: Workspace) -> dict[str, Any] | None:
    path = workspace.stage_dir("drift") / "report.json"
    report = read_json_object(path)
    if report is None:
        return None
    return {"checked_at": _when(path), "calls": report.get("calls"), "exceeded": report.get("exceeded"),
            "reasons": report.get("reasons", []), "abstain_share": (report.get("abstain") or {}).get("share"),
            "candidates": len((report.get("candidates") or {}).get("candidates") or []),
            "moved": [m["id"] for m in report.get("moved") or []]}
