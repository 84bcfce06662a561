"""Route: send each request to a specialist when that is safe, to the LLM otherwise — the library
under `slm-migrate route build` and `slm-migrate route test`.

Reads, from the workspace `DIR`: `DIR/analysis/clusters.json` (clusters, shares, cost, analysis
parameters), `DIR/analysis/assignments.jsonl` (each call's cluster), `DIR/curate/records.jsonl`
(the curated calls, each with `represents`), `DIR/analysis/embedding.npz` (the request embedding),
and where present `DIR/eval/<cluster>.json` (evaluate's verdict and the specialist it judged) and
`DIR/specialists/<cluster>/metrics.json`.
Writes, under `DIR/routing/`: `router.json` + `router.npz` (the router: a JSON header with the
format version and the sha256 of the weights, the weights as plain arrays loaded without pickle),
`routing.yaml` (per cluster: status, reason, specialist, threshold, expected share of traffic and
cost moved; the fallback LLM; the `vllm serve` command), `tradeoff.json` (share of traffic routed
vs precision, overall and per cluster), `report.md` and `report.html`; and the `route` entry of
`DIR/manifest.json`. A rerun whose inputs and parameters did not change is skipped (`force`
rebuilds).
Takes: `RouteParams`. `build(params, progress)` returns a summary dict; `test(out, request)` routes
one request with the built router. Modules: `embed` (requests as analyze embeds them), `router`
(`Router`, `Decision`, storage), `calibrate` (split, fit, thresholds, curves), `config`
(`routing.yaml`), `report` (Markdown and HTML with the trade-off plot).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from migrate import __version__
from migrate.errors import MigrateError
from migrate.progress import ProgressFn, no_progress
from migrate.records import CallRecord
from migrate.route import calibrate, config
from migrate.route.embed import RequestEmbedder
from migrate.route.router import HEADER, OUTLIER_ID, WEIGHTS, Decision, Router
from migrate.workspace import Workspace, sha256_file, write_json

__all__ = ["Decision", "RouteParams", "Router", "build", "test"]


class RouteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Field(Path("slm-migrate-out"), description="workspace folder")
    target_precision: float = Field(
        0.99, gt=0, le=1,
        description="share of the requests sent to a specialist that must belong to its cluster (held-out calls)")
    fallback_model: str | None = Field(
        None, description="the LLM for everything else (default: the model each request names, else the most "
        "used in the logs)")
    seed: int = Field(0, description="seed of the train/calibration/test split")
    calibration_fraction: float = Field(
        0.2, gt=0, lt=0.5, description="share of call groups held out to calibrate thresholds")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="share of call groups held out to measure the router")
    min_calibration: int = Field(
        20, ge=1, description="fewest held-out calls of a cluster to calibrate its threshold on (fewer: it stays on "
        "the LLM)")
    regularization: float = Field(10.0, gt=0, description="inverse L2 strength `C` of the logistic regression")
    force: bool = Field(False, description="rebuild even when inputs and parameters are unchanged")

    @model_validator(mode="after")
    def _fractions(self) -> RouteParams:
        if self.calibration_fraction + self.test_fraction >= 0.8:
            raise ValueError("calibration_fraction + test_fraction must leave at least 20% of the calls to train on")
        return self


# -- inputs -------------------------------------------------------------------------------------
def _paths(workspace: Workspace) -> dict[str, Path]:
    analysis = workspace.stage_dir("analysis")
    return {
        "clusters": analysis / "clusters.json",
        "assignments": analysis / "assignments.jsonl",
        "embedding": analysis / "embedding.npz",
        "records": workspace.stage_dir("curate") / "records.jsonl",
    }


def _input_hashes(workspace: Workspace) -> dict[str, str]:
    """Content hashes of everything the build reads (eval verdicts and specialists included)."""
    hashes = {name: sha256_file(path) for name, path in _paths(workspace).items()}
    for path in sorted(workspace.stage_dir("eval").glob("*.json")):
        hashes[path.relative_to(workspace.root).as_posix()] = sha256_file(path)
    for path in sorted(workspace.stage_dir("specialists").glob("*/metrics.json")):
        hashes[path.relative_to(workspace.root).as_posix()] = sha256_file(path)
        adapter = path.parent / "adapter"
        hashes[adapter.relative_to(workspace.root).as_posix()] = "present" if adapter.is_dir() else "missing"
    return hashes


def _check_inputs(workspace: Workspace) -> None:
    paths = _paths(workspace)
    missing = [p for p in ("clusters", "assignments", "embedding") if not paths[p].exists()]
    if missing:
        raise MigrateError(
            f"no analysis in {workspace.root} (missing {paths[missing[0]].relative_to(workspace.root)})",
            hint=f"run `slm-migrate analyze LOGS... --out {workspace.root}` first")
    if not paths["records"].exists():
        raise MigrateError(
            f"no curated records in {workspace.root} (missing curate/records.jsonl): the router learns from them",
            hint=f"rerun `slm-migrate analyze LOGS... --out {workspace.root}` without --no-curate")


def read_calls(workspace: Workspace, embedder: RequestEmbedder, progress: ProgressFn = no_progress
               ) -> tuple[calibrate.Calls, Counter[str]]:
    """The curated calls with their cluster (joined on the record id), embedded as they stream
    past, and the models the calls named (weighted by the calls each stands for)."""
    paths = _paths(workspace)
    cluster_of: dict[str, str] = {}
    with open(paths["assignments"], "rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            cluster_of.setdefault(row["id"], row["cluster"])
    models: Counter[str] = Counter()
    size = paths["records"].stat().st_size

    def rows():
        done = 0
        with open(paths["records"], "rb") as handle:
            for n, line in enumerate(handle):
                done += len(line)
                if n % 2000 == 0:
                    progress("embedding calls", done, size)
                row = orjson.loads(line)
                represents = int(row.pop("represents", None) or 1)
                if row.get("model"):
                    models[row["model"]] += represents
                cluster = cluster_of.get(row["id"])
                if cluster is not None:
                    yield CallRecord.from_dict(row), cluster, represents
        progress("embedding calls", size, size)

    calls = calibrate.Calls.embed(embedder, rows())
    if not len(calls.labels):
        raise MigrateError(f"{paths['records']}: no curated call has a cluster in {paths['assignments'].name}",
                           hint="the analysis and the curated records disagree: rerun `slm-migrate analyze`")
    return calls, models


# -- build --------------------------------------------------------------------------------------
def build(params: RouteParams, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """`slm-migrate route build`: train and calibrate the router, write the routing config."""
    started = time.perf_counter()
    workspace = Workspace(params.out)
    _check_inputs(workspace)
    out = workspace.stage_dir("routing")
    paths = {"header": out / HEADER, "weights": out / WEIGHTS, "routing": out / "routing.yaml",
             "tradeoff": out / "tradeoff.json", "report_md": out / "report.md", "report_html": out / "report.html"}
    inputs = _input_hashes(workspace)
    settings = params.model_dump(mode="json", exclude={"out", "force"})
    key = "sha256:" + hashlib.sha256(json.dumps([__version__, settings, inputs], sort_keys=True).encode()).hexdigest()
    if not params.force and _unchanged(workspace, key, paths):
        routing = yaml.safe_load(paths["routing"].read_text(encoding="utf-8"))
        return {**summarize(routing, paths), "status": "unchanged", "seconds": round(time.perf_counter() - started, 2),
                "message": "inputs and parameters unchanged since the last build (--force rebuilds)"}

    analysis = json.loads(_paths(workspace)["clusters"].read_text(encoding="utf-8"))
    with np.load(_paths(workspace)["embedding"], allow_pickle=False) as npz:
        embedding = {name: npz[name] for name in npz.files}
    unseen = RequestEmbedder.unseen_idf_for(int(analysis["totals"]["calls"]))
    embedder = RequestEmbedder(embedding["used_features"], embedding["idf"], embedding["components"], unseen)
    calls, models = read_calls(workspace, embedder, progress)
    progress("router", 0, 4)
    parts = calibrate.split_calls(calls.keys, calls.traces, params.seed, params.calibration_fraction,
                                  params.test_fraction)
    router, scores = calibrate.fit_router(embedding, unseen, analysis, calls, parts, seed=params.seed,
                                          regularization=params.regularization)
    progress("router", 1, 4)
    statuses = {c["id"]: config.specialist_status(workspace, c) for c in analysis["clusters"] if c["id"] != OUTLIER_ID}
    cal, test_rows = np.flatnonzero(parts == "calibration"), np.flatnonzero(parts == "test")
    calibrated = calibrate.calibrate(router, scores, calls, cal, params.target_precision, params.min_calibration)
    thresholds = {c: e["threshold"] for c, e in calibrated.items()}
    measured = calibrate.measure(router, scores, calls, test_rows, thresholds)
    statuses = _unrecognised_stay(statuses, calibrated)
    promoted = {c for c, s in statuses.items() if s["status"] == "slm"}
    fallback = config.fallback_model(params.fallback_model, models)
    router = Router({**router.header, "fallback_model": fallback[0],
                     "fallback_configured": params.fallback_model is not None,
                     "target_precision": params.target_precision,
                     "clusters": _router_clusters(router, analysis, statuses, calibrated)}, router.arrays)
    progress("router", 2, 4)

    router_info = {}
    for cid, entry in calibrated.items():
        test_entry = measured["clusters"].get(cid, {})
        router_info[cid] = {**entry, "test_calls": test_entry.get("calls"), "precision": test_entry.get("precision"),
                            "coverage": test_entry.get("coverage")}
    now = calibrate.measure(router, scores, calls, test_rows, thresholds, promoted)
    held_out = {
        "split": {part: int((parts == part).sum()) for part in calibrate.PARTS},
        "test_precision_all_clusters": measured["precision"],
        "test_share_routed_all_clusters": measured["share_routed"],
        "test_precision_promoted": now["precision"],
        "test_share_routed_promoted": now["share_routed"],
    }
    routing = config.routing_config(workspace, analysis, statuses, router_info, held_out,
                                    params.target_precision, fallback)
    curves = calibrate.tradeoff(router, scores, calls, parts, promoted, params.min_calibration,
                                params.target_precision)
    tradeoff = {"version": 1, "target_precision": params.target_precision, "test_calls": len(test_rows),
                "promoted": sorted(promoted), "names": {c["id"]: c["name"] for c in routing["clusters"]}, **curves}
    progress("router", 3, 4)

    router.save(out)
    config.write_routing_yaml(paths["routing"], routing)
    write_json(paths["tradeoff"], tradeoff)
    from migrate.route.report import write_route_reports  # matplotlib: imported only when reporting

    write_route_reports(routing, tradeoff, paths["report_md"], paths["report_html"])
    progress("router", 4, 4)
    workspace.record_stage("route", inputs=inputs, params={**settings, "key": key}, outputs=list(paths.values()))
    return {**summarize(routing, paths), "status": "built", "seconds": round(time.perf_counter() - started, 2)}


def _unrecognised_stay(statuses: dict[str, dict[str, Any]], calibrated: dict[str, dict[str, Any]]
                       ) -> dict[str, dict[str, Any]]:
    """A promoted cluster the router cannot recognise at the target precision stays on the LLM."""
    out = dict(statuses)
    for cid, status in statuses.items():
        entry = calibrated.get(cid)
        if status["status"] == "slm" and (entry is None or entry["threshold"] is None):
            why = entry["why_none"] if entry else "the router saw none of its calls in training"
            out[cid] = {**status, "status": "llm", "reason": f"{status['reason']}, but {why}"}
    return out


def _router_clusters(router: Router, analysis: dict[str, Any], statuses: dict[str, dict[str, Any]],
                     calibrated: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = {c["id"]: c["name"] for c in analysis["clusters"]}
    out = {}
    for cid, gates in router.clusters.items():
        status = statuses.get(cid, {"status": "llm", "reason": "outliers stay on the LLM", "specialist": None})
        out[cid] = {**gates, "name": names.get(cid), "threshold": (calibrated.get(cid) or {}).get("threshold"),
                    "status": status["status"], "reason": status["reason"],
                    "adapter_name": (status.get("specialist") or {}).get("adapter_name")}
    return out


def _unchanged(workspace: Workspace, key: str, paths: dict[str, Path]) -> bool:
    entry = workspace.read_manifest().get("stages", {}).get("route")
    if not entry or entry.get("params", {}).get("key") != key:
        return False
    outputs = entry.get("outputs", {})
    for path in paths.values():
        name = path.relative_to(workspace.root).as_posix()
        if not path.exists() or outputs.get(name) != sha256_file(path):
            return False
    return True


def summarize(routing: dict[str, Any], paths: dict[str, Path]) -> dict[str, Any]:
    """What `build` returns: the decision per cluster and the totals, from the routing config."""
    return {
        "out": str(paths["routing"].parent),
        "target_precision": routing["target_precision"],
        "fallback_model": routing["fallback"]["model"],
        "moved": routing["moved"],
        "held_out": routing["held_out"],
        "clusters": [
            {"id": c["id"], "name": c["name"], "status": c["status"], "reason": c["reason"],
             "threshold": c["router"]["threshold"], "test_precision": c["router"]["test_precision"],
             "test_coverage": c["router"]["test_coverage"], "moved_calls_share": c["moved"]["calls_share"],
             "moved_cost_share": c["moved"]["cost_share"]}
            for c in routing["clusters"]
        ],
        "serve": [s["command"] for s in routing["serve"]["vllm"]],
        "artifacts": {k: str(p) for k, p in paths.items()},
    }


# -- test ---------------------------------------------------------------------------------------
def test(out: Path | str, request: dict[str, Any]) -> dict[str, Any]:
    """`slm-migrate route test`: where the router of workspace `out` sends `request`."""
    router = Router.load(Workspace(out).stage_dir("routing"))
    decision = router.route(request)
    return {"decision": decision.target, **{k: v for k, v in decision.to_dict().items() if k != "target"}}


test.__test__ = False  # not a pytest test, despite its name
