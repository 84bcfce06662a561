"""The whole pipeline from one project config: analyze -> datasets -> finetune -> evaluate -> route.

`run` is what `slm-migrate run` and a nightly CI job call. Each stage is the same library call as its
own command, and each already skips the work whose inputs did not change (datasets per cluster by
the records' digest, finetune by dataset fingerprint + recipe hash + base, evaluate by specialist +
dataset + settings, route by its inputs); `analyze` is skipped here when the log files' bytes and
the analysis settings are those of the last run (`pipeline.analyze_key` in the manifest). So a
rerun on unchanged inputs does no work and says so per stage, and new data in one cluster retrains
and re-evaluates that cluster only. `force` names stages to redo anyway (`all` for every one).

`check` (CI) gates the routing config: when the new logs drift beyond the configured limits
(checked with the current router before anything is re-analysed), or a cluster that is routed or
passed its evaluation before fails now, the route stage does not run, the previous `routing.yaml`
stays as it was, and `gate` says why.

`ci_matrix` lists the clusters whose adapter is missing or stale, as a CI job matrix.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migrate import __version__
from migrate.config import ProjectConfig
from migrate.errors import MigrateError
from migrate.progress import ProgressFn, no_progress
from migrate.workspace import Workspace, sha256_file

STAGES = ("analyze", "datasets", "finetune", "evaluate", "route")
LogFn = Callable[[str, str], None]  # (stage, one-line summary)


class RunParams(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    config: ProjectConfig
    out: Path
    stages: list[str] = Field(default_factory=lambda: list(STAGES), description="stages to run, in pipeline order")
    force: list[str] = Field(default_factory=list, description="stages to redo even when unchanged (`all`: every one)")
    check: bool = Field(False, description="keep the routing config when an evaluation regressed")

    @field_validator("stages", "force")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in (*STAGES, "all")]
        if unknown:
            raise ValueError(f"unknown stage {', '.join(map(repr, unknown))} (stages: {', '.join(STAGES)}, all)")
        return value

    def forced(self, stage: str) -> bool:
        return "all" in self.force or stage in self.force


def run(params: RunParams, progress: ProgressFn = no_progress, log: LogFn = lambda stage, text: None) -> dict[str, Any]:
    """Run the selected stages in order; returns per stage its summary and what changed."""
    workspace = Workspace(params.out)
    results: dict[str, Any] = {}
    if params.check and (workspace.stage_dir("routing") / "router.json").exists():
        results["drift"] = _drift(params, workspace, progress)  # the new logs against today's router
        log("drift", results["drift"]["line"])
    clusters: list[str] | None = None  # the clusters the previous stage left to work on
    for stage in STAGES:
        if stage not in params.stages:
            continue
        reason = gate(results, workspace) if stage == "route" and params.check else None
        if reason:  # CI: a worse routing config never replaces the current one
            results["gate"] = reason
            results[stage] = {"status": "kept", "line": f"kept the previous routing config: {reason}"}
            log(stage, results[stage]["line"])
            break
        result = _STAGES[stage](params, workspace, clusters, progress)
        results[stage] = result
        log(stage, result["line"])
        clusters = result.get("clusters_next", clusters)
        if result.get("stop"):
            break
    drift_exceeded = bool((results.get("drift") or {}).get("exceeded"))
    return {"out": str(workspace.root), "stages": results, "changes": _changes(results),
            "gate": results.get("gate"), "check_failed": bool(results.get("gate")), "drift_exceeded": drift_exceeded}


def _drift(params: RunParams, workspace: Workspace, progress: ProgressFn) -> dict[str, Any]:
    from migrate import drift
    from migrate.ingest import IngestParams, resolve_paths

    config = params.config
    paths = resolve_paths([Path(p) for p in config.inputs])
    report = drift.run(drift.DriftParams(out=workspace.root, logs=IngestParams(paths=paths, format=config.format),
                                         scrub=config.curate.scrub, **config.drift.model_dump()), progress)
    share = report["abstain"]["share"]
    line = f"{report['calls']:,} calls: {share:.1%} unknown to the router"
    line += ("; exceeded: " + "; ".join(report["reasons"])) if report.get("exceeded") else "; within the limits"
    return {"status": "ran", "exceeded": bool(report.get("exceeded")), "reasons": report.get("reasons", []),
            "line": line}


# -- stages -------------------------------------------------------------------------------------
def _analyze(params: RunParams, workspace: Workspace, _clusters, progress: ProgressFn) -> dict[str, Any]:
    from migrate import analyze
    from migrate.ingest import IngestParams, resolve_paths

    config = params.config
    if not config.inputs:
        raise MigrateError("the config lists no log files", hint="list them under `inputs:` (paths or globs)")
    paths = resolve_paths([Path(p) for p in config.inputs])
    analyze_params = analyze.AnalyzeParams(
        ingest=IngestParams(paths=paths, format=config.format), out=workspace.root, prices=config.analyze.prices,
        cluster=config.analyze.cluster, suitability=config.analyze.suitability, curate=config.curate,
    )
    key = _analyze_key(paths, analyze_params)
    pipeline = workspace.read_manifest().get("pipeline", {})
    if (pipeline.get("analyze_key") == key and (workspace.stage_dir("analysis") / "clusters.json").exists()
            and not params.forced("analyze")):
        return {"status": "unchanged", "line": f"unchanged: the same {len(paths)} log file(s) and settings as the last run"}
    summary = analyze.run(analyze_params, progress).summary
    workspace.update_manifest("pipeline", {**pipeline, "analyze_key": key})
    totals = summary.get("totals", {})
    recommended = summary.get("migration", {}).get("recommended", [])
    return {"status": "ran", "summary": {"totals": totals, "recommended": recommended},
            "line": f"{totals.get('calls', 0):,} calls in {totals.get('clusters', 0)} subtasks; "
                    f"{len(recommended)} recommended for a specialist"}


def _analyze_key(paths: list[Path], analyze_params: Any) -> str:
    from migrate.curate import redacted_params

    settings = analyze_params.model_dump(mode="json", exclude={"ingest", "out", "curate"})
    payload = [__version__, [(str(p), sha256_file(p)) for p in paths], analyze_params.ingest.format, settings,
               redacted_params(analyze_params.curate)]
    return "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _datasets(params: RunParams, workspace: Workspace, _clusters, progress: ProgressFn) -> dict[str, Any]:
    from migrate import datasets

    config = params.config.datasets
    result = datasets.run(datasets.DatasetsParams(
        out=workspace.root, clusters=None if config.clusters == "recommended" else config.clusters,
        min_examples=config.min_examples, max_length=config.max_length, split=config.split,
        recipe=params.config.finetune.recipe, force=params.forced("datasets"),
    ), progress)
    usable = [c["id"] for c in result["clusters"] if c["status"] in ("built", "unchanged")]
    return {"status": "ran", "clusters": _statuses(result["clusters"]), "clusters_next": usable,
            "line": _count_line(result["clusters"], "datasets"), "stop": not usable}


def _finetune(params: RunParams, workspace: Workspace, clusters: list[str] | None, progress: ProgressFn) -> dict[str, Any]:
    from migrate import finetune

    result = finetune.run(finetune.FinetuneParams(
        out=workspace.root, clusters=clusters, config=params.config.finetune, force=params.forced("finetune"),
    ), progress)
    usable = [c["id"] for c in result["clusters"] if c["status"] in ("trained", "unchanged")]
    return {"status": "ran", "clusters": _statuses(result["clusters"]), "clusters_next": usable,
            "line": _count_line(result["clusters"], "adapters"), "stop": not usable,
            "failed": [c["id"] for c in result["clusters"] if c["status"] == "failed"]}


def _evaluate(params: RunParams, workspace: Workspace, clusters: list[str] | None, progress: ProgressFn) -> dict[str, Any]:
    from migrate import evaluate

    config = params.config.evaluate
    result = evaluate.run(evaluate.EvaluateParams(
        out=workspace.root, clusters=clusters, thresholds=config.thresholds,
        slm_cost_per_1k_tokens=config.slm_cost_per_1k_tokens, few_shot=config.few_shot, limit=config.limit,
        max_new_tokens=config.max_new_tokens, check=params.check, force=params.forced("evaluate"),
    ), progress)
    passed = [c["id"] for c in result["clusters"] if c.get("passed")]
    line = f"{len(passed)} of {len(result['clusters'])} specialists pass their thresholds"
    unchanged = sum(1 for c in result["clusters"] if c["status"] == "unchanged")
    if unchanged:
        line += f" ({unchanged} unchanged: re-decided, not generated again)"
    if result["regressions"]:
        line += f"; regressed: {', '.join(result['regressions'])}"
    out = {"status": "ran", "clusters": {c["id"]: ("pass" if c.get("passed") else c["status"] if c["status"] == "failed"
                                                   else "fail") for c in result["clusters"]},
           "regressions": result["regressions"], "line": line,
           "failed": [c["id"] for c in result["clusters"] if c["status"] == "failed"],
           "scores": _scores(workspace, [c["id"] for c in result["clusters"] if c["status"] != "failed"])}
    return out


def _scores(workspace: Workspace, clusters: list[str]) -> dict[str, dict[str, Any]]:
    """Per cluster, the deciding metric of each model (base zero-shot, base few-shot, specialist)."""
    scores = {}
    for cluster in clusters:
        record = json.loads((workspace.stage_dir("eval") / f"{cluster}.json").read_text(encoding="utf-8"))
        models = record.get("models", {})
        scores[cluster] = {"metric": record["metric"], "threshold": record["threshold"],
                           **{m: models.get(m, {}).get(record["metric"]) for m in
                              ("base_zero_shot", "base_few_shot", "specialist")}}
    return scores


def _route(params: RunParams, workspace: Workspace, _clusters, progress: ProgressFn) -> dict[str, Any]:
    from migrate import route

    config = params.config.route
    result = route.build(route.RouteParams(
        out=workspace.root, target_precision=config.target_precision, fallback_model=config.fallback_model,
        force=params.forced("route"),
    ), progress)
    routed = [c["id"] for c in result["clusters"] if c["status"] == "slm"]
    moved = result.get("moved") or {}
    share = moved.get("calls_share")
    return {"status": result["status"], "clusters": {c["id"]: c["status"] for c in result["clusters"]},
            "line": f"{result['status']}: {len(routed)} cluster(s) routed to specialists"
                    + (f", {share:.1%} of calls" if isinstance(share, (int, float)) else "")}


_STAGES = {"analyze": _analyze, "datasets": _datasets, "finetune": _finetune, "evaluate": _evaluate, "route": _route}


def _statuses(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {row["id"]: row["status"] for row in rows}


def _count_line(rows: list[dict[str, Any]], what: str) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return f"{what}: " + (", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()) or "none")


def _changes(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per cluster, what each stage did (for the closing table)."""
    ids: dict[str, dict[str, Any]] = {}
    for stage in ("datasets", "finetune", "evaluate", "route"):
        for cluster, status in (results.get(stage, {}).get("clusters") or {}).items():
            ids.setdefault(cluster, {"cluster": cluster})[stage] = status
    return [ids[c] for c in sorted(ids)]


# -- the gate -----------------------------------------------------------------------------------
def gate(results: dict[str, Any], workspace: Workspace) -> str | None:
    """Why the routing config must not be replaced (None: it may): a cluster routed to its
    specialist in the current routing config, or that passed before, fails its evaluation now."""
    evaluation = results.get("evaluate") or {}
    reasons = []
    if (results.get("drift") or {}).get("exceeded"):
        reasons.append("drift beyond the limits: " + "; ".join(results["drift"]["reasons"]))
    if evaluation.get("regressions"):
        reasons.append("evaluation regressed: " + ", ".join(evaluation["regressions"]))
    routed = routed_clusters(workspace)
    failing = sorted(c for c in routed if evaluation.get("clusters", {}).get(c) == "fail")
    if failing:
        reasons.append("routed to a specialist but now failing: " + ", ".join(failing))
    return "; ".join(reasons) or None


def routed_clusters(workspace: Workspace) -> set[str]:
    import yaml

    path = workspace.stage_dir("routing") / "routing.yaml"
    if not path.exists():
        return set()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {c["id"] for c in data.get("clusters", []) if c.get("status") == "slm"}


# -- CI matrix ----------------------------------------------------------------------------------
def ci_matrix(out: Path, config: ProjectConfig) -> dict[str, Any]:
    """`{"include": [{"cluster", "recipe", "why"}]}`: the clusters whose adapter is missing or was
    trained on another dataset or recipe (GitHub Actions' `strategy.matrix` shape)."""
    from migrate.finetune import available_datasets
    from migrate.finetune.examples import dataset_fingerprint
    from migrate.finetune.recipe import apply_overrides, load_recipe, recipe_hash

    workspace = Workspace(out)
    include = []
    for cluster, dataset_dir in available_datasets(workspace).items():
        name = config.finetune.recipes.get(cluster) or config.finetune.recipe
        recipe = apply_overrides(load_recipe(name), config.finetune.set) if config.finetune.set else load_recipe(name)
        metrics_path = workspace.stage_dir("specialists") / cluster / "metrics.json"
        if not metrics_path.exists():
            why = "no adapter"
        else:
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            why = ("dataset changed" if metrics.get("dataset_fingerprint") != dataset_fingerprint(dataset_dir)
                   else "recipe changed" if metrics.get("recipe_hash") != recipe_hash(recipe) else None)
        if why:
            include.append({"cluster": cluster, "recipe": name, "why": why})
    return {"include": include}
