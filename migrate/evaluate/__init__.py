"""Evaluate each specialist against the LLM's answers and the untuned base (paper step S4), the
library under `slm-migrate evaluate`.

Reads: `DIR/analysis/clusters.json` (each cluster's name, output kind and LLM cost),
`DIR/specialists/<cluster>/` (`adapter/`, `metrics.json` with `base_model` and `base_path`) and
`DIR/datasets/<cluster>/` (the held-out `test` split; `train` for the few-shot examples).
Writes, atomically: `DIR/eval/<cluster>.json`, `DIR/eval/report.md`, `DIR/eval/report.html`, and
the stage in `DIR/manifest.json`. Takes: `EvaluateParams`.

`DIR/eval/<cluster>.json` is a contract (the routing stage reads it):
`{"cluster", "name", "kind", "passed", "metric", "value", "threshold",
  "models": {"specialist" | "base_zero_shot" | "base_few_shot": {<metrics of the kind>,
             "latency_ms_p50", "latency_ms_p95", "tokens_per_second", ...}},
  "specialist": {"adapter", "base_model", "base_path"}, "examples", "per_example": [...first 50],
  "cost", "judge", "params", "key", ...}`.
`passed` is the specialist's `metric` (the deciding metric of the cluster's kind) at or above
`threshold`. A cluster whose specialist `metrics.json`, dataset and generation parameters did not
change since its record was written (`key`) is not generated again (`force` does), only re-decided
under the current thresholds. The result lists as `regressions` the clusters whose previous record
passed and whose new one fails; with `check`, `check_failed` is true when there is one (CI).

Modules: `parse` (generated text -> message), `metrics`, `backends` (local transformers+peft,
OpenAI-compatible HTTP), `client` (the HTTP client), `cases` (test cases, few-shot), `judge`,
`cluster` (one cluster's record), `report` (Markdown and HTML with plots).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from migrate import __version__
from migrate.errors import MigrateError
from migrate.evaluate.metrics import METRICS, family
from migrate.progress import ProgressFn, no_progress
from migrate.workspace import (
    Workspace,
    read_json_object,
    select_clusters,
    sha256_file,
    write_json,
)

__all__ = ["EvaluateConfig", "EvaluateParams", "Threshold", "Thresholds", "run"]

# output kind (as `analyze` names it) -> the `Thresholds` field that holds its rule
KINDS = {"tool_call": "tool_call", "json": "json_", "label": "label", "code": "code",
         "short_text": "short_text", "long_text": "long_text"}


class Threshold(BaseModel):
    """The deciding metric of an output kind and the least value that passes."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="a metric of the kind (see migrate.evaluate.metrics.METRICS)")
    min: float = Field(ge=0, description="pass when the specialist's metric is at least this (chrF: 0-100)")


class Thresholds(BaseModel):
    """Pass/fail rule per output kind (the `evaluate.thresholds` section of the project config).
    A kind not listed here is scored as text and uses `short_text`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tool_call: Threshold = Threshold(metric="exact_match", min=0.95)
    json_: Threshold = Field(Threshold(metric="field_f1", min=0.9), alias="json")  # `json` shadows BaseModel.json
    label: Threshold = Threshold(metric="accuracy", min=0.95)
    code: Threshold = Threshold(metric="chrf", min=50.0)
    short_text: Threshold = Threshold(metric="chrf", min=50.0)
    long_text: Threshold = Threshold(metric="chrf", min=50.0)

    @model_validator(mode="after")
    def _metrics_exist(self) -> Thresholds:
        for kind in KINDS:
            allowed = METRICS[family(kind)]
            if self.for_kind(kind).metric not in allowed:
                raise ValueError(f"{kind}: unknown metric {self.for_kind(kind).metric!r} (one of {', '.join(allowed)})")
        return self

    def for_kind(self, kind: str | None) -> Threshold:
        return getattr(self, KINDS.get(kind or "", "short_text"))


class EvaluateConfig(BaseModel):
    """The `evaluate:` section of the project config."""

    model_config = ConfigDict(extra="forbid")

    thresholds: Thresholds = Field(default_factory=Thresholds)
    slm_cost_per_1k_tokens: float | None = Field(
        None, ge=0, description="USD per 1,000 tokens of serving the SLM (None: the price table's `slm` entry)")
    few_shot: int = Field(3, ge=0, description="training examples in the few-shot baseline's prompt")
    limit: int | None = Field(200, ge=1, description="most test examples per cluster (a seeded sample); None: all")
    max_new_tokens: int = Field(256, ge=1, description="most tokens generated per answer")


class EvaluateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Path("slm-migrate-out")
    clusters: list[str] | None = Field(None, description="cluster ids (None: every cluster with a specialist)")
    backend: str = Field("local", description="generation backend: local (transformers) or openai (HTTP)")
    base_url: str | None = Field(None, description="openai backend: the server's URL, e.g. http://localhost:8000/v1")
    api_key_env: str = Field("SLM_MIGRATE_API_KEY", description="env var holding the openai backend's API key")
    served_adapter_name: str = Field("{cluster}", description="openai backend: the specialist's model name")
    served_base_name: str | None = Field(None, description="openai backend: the base's model name (default: the recipe's)")
    judge_url: str | None = Field(None, description="OpenAI-compatible URL of an LLM judge (None: no judge)")
    judge_model: str = Field("gpt-4o-mini", description="the judge's model name")
    judge_api_key_env: str = Field("OPENAI_API_KEY", description="env var holding the judge's API key")
    judge_limit: int = Field(50, ge=1, description="examples per cluster sent to the judge")
    few_shot: int = Field(3, ge=0, description="training examples in the few-shot baseline's prompt")
    max_new_tokens: int = Field(256, ge=1, description="most tokens generated per answer")
    batch_size: int = Field(8, ge=1, description="prompts per generation batch (openai: concurrent requests)")
    limit: int | None = Field(200, ge=1, description="most test examples per cluster (a seeded sample); None: all")
    seed: int = Field(0, description="seed of the test sample, the few-shot examples and the judge's order")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    slm_cost_per_1k_tokens: float | None = Field(
        None, ge=0, description="USD per 1,000 tokens of serving the SLM (None: the price table's `slm` entry)")
    check: bool = Field(False, description="fail (`check_failed`) when a cluster that passed before fails now (CI)")
    force: bool = Field(False, description="evaluate clusters whose inputs did not change")


def run(params: EvaluateParams, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """`slm-migrate evaluate`: one record per selected cluster and the reports; what was done."""
    from migrate.evaluate.backends import BackendOptions, make_backend
    from migrate.evaluate.cluster import decide, evaluate_cluster
    from migrate.evaluate.report import write_reports
    from migrate.finetune.examples import dataset_fingerprint

    workspace = Workspace(params.out)
    infos = _read_clusters(workspace)
    available = available_specialists(workspace)
    selected = _select(workspace, available, params.clusters)
    eval_dir = workspace.stage_dir("eval")
    options = BackendOptions(base_url=params.base_url, api_key_env=params.api_key_env,
                             served_adapter_name=params.served_adapter_name, served_base_name=params.served_base_name)
    judge = None
    if params.judge_url:
        from migrate.evaluate.judge import Judge

        judge = Judge(params.judge_url, params.judge_model, params.judge_api_key_env, seed=params.seed)
    targets = {c: _target(workspace, c, available[c]) for c in selected}
    selected.sort(key=lambda c: targets[c].base_path)  # (stable) each base is loaded once
    backend = make_backend(params.backend, options)  # loads nothing yet; refuses bad options now
    results, regressions, keys = [], [], {}
    try:
        for index, cluster in enumerate(selected):
            progress("clusters", index, len(selected))
            info = infos.get(cluster, {"id": cluster})
            dataset_dir = workspace.stage_dir("datasets") / cluster
            path = eval_dir / f"{cluster}.json"
            previous = read_json_object(path)
            row: dict[str, Any] = {"id": cluster, "name": info.get("name"), "path": str(path)}
            try:
                key = _key(params, available[cluster], dataset_fingerprint(dataset_dir))
                keys.update({f"{cluster}/specialist": key["specialist"], f"{cluster}/dataset": key["dataset"]})
                if previous and previous.get("key") == key and not params.force:
                    record, row["status"] = decide(previous, params.thresholds), "unchanged"
                    row["message"] = "specialist, dataset and parameters unchanged since the last evaluation (--force reruns)"
                else:
                    record = evaluate_cluster(info, targets[cluster], dataset_dir, backend, params,
                                              judge=judge, progress=progress)
                    record["key"] = key
                    row["status"], row["message"] = "evaluated", None
            except MigrateError as exc:
                results.append({**row, "status": "failed", "passed": None,
                                "message": f"{exc.message} ({exc.hint})" if exc.hint else exc.message})
                continue
            write_json(path, record)
            row.update({k: record[k] for k in ("kind", "passed", "metric", "value", "threshold", "examples")})
            if previous and previous.get("passed") and not record["passed"]:
                regressions.append(cluster)
                row["regressed"] = True
            results.append(row)
        progress("clusters", len(selected), len(selected))
    finally:
        backend.close()

    # the report covers every cluster with a specialist and a record, evaluated in this run or before
    records = [r for r in (read_json_object(eval_dir / f"{c}.json") for c in available) if r and "cluster" in r]
    md_path, html_path = eval_dir / "report.md", eval_dir / "report.html"
    write_reports(records, md_path, html_path)
    workspace.record_stage(
        "evaluate",
        inputs=keys,
        params=params.model_dump(mode="json", exclude={"out", "force", "check"}, by_alias=True),
        outputs=sorted([eval_dir / f"{r['id']}.json" for r in results if r["status"] != "failed"]
                       + [md_path, html_path]),
    )
    return {"clusters": results, "regressions": regressions, "check_failed": params.check and bool(regressions),
            "out": str(eval_dir),
            "report": {"markdown": str(md_path), "html": str(html_path)}}


def available_specialists(workspace: Workspace) -> dict[str, Path]:
    """Cluster id -> specialist folder, for every specialist `slm-migrate finetune` finished."""
    root = workspace.stage_dir("specialists")
    found = {p.name: p for p in sorted(root.glob("*"))
             if not p.name.startswith(".") and (p / "metrics.json").exists() and (p / "adapter").is_dir()}
    if not found:
        raise MigrateError(f"no specialists in {root}",
                           hint=f"run `slm-migrate finetune --out {workspace.root}` after `slm-migrate datasets`")
    return found


def _select(workspace: Workspace, available: dict[str, Path], wanted: list[str] | None) -> list[str]:
    return select_clusters(
        available, wanted,
        lambda ids: f"no specialist for cluster {', '.join(map(repr, ids))} in {workspace.stage_dir('specialists')}",
        lambda ids: f"train it with `slm-migrate finetune --out {workspace.root} --clusters {','.join(ids)}` "
        f"(specialists present: {', '.join(available)})",
    )


def _read_clusters(workspace: Workspace) -> dict[str, dict[str, Any]]:
    path = workspace.stage_dir("analysis") / "clusters.json"
    if not path.exists():
        raise MigrateError(f"no analysis in {workspace.root} (missing analysis/clusters.json)",
                           hint=f"run `slm-migrate analyze LOGS... --out {workspace.root}` first")
    return {c["id"]: c for c in json.loads(path.read_text(encoding="utf-8")).get("clusters") or []}


def _target(workspace: Workspace, cluster: str, folder: Path) -> Any:
    """The specialist's adapter and base. A `base_path` that no longer exists (the workspace was
    copied or moved) is looked up by its folder name in this workspace's base cache."""
    from migrate.evaluate.backends import Target

    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    base_path = str(metrics.get("base_path") or metrics.get("base_model") or "")
    moved = workspace.stage_dir("cache") / "base" / Path(base_path).name
    if not Path(base_path).exists() and moved.exists():
        base_path = str(moved.resolve())
    return Target(cluster=cluster, adapter=(folder / "adapter").resolve(), base_path=base_path,
                  base_model=str(metrics.get("base_model") or base_path), precision=metrics.get("precision"))


def _key(params: EvaluateParams, specialist: Path, dataset: str) -> dict[str, Any]:
    """What a record depends on: the specialist (its metrics.json changes on every training), the
    dataset, the parameters that change the answers or the scores (not thresholds: a record is
    re-decided, not regenerated, when only they change) and the tool version (the metrics' code)."""
    fields = {"backend", "base_url", "served_adapter_name", "served_base_name", "judge_url", "judge_model",
              "judge_limit", "few_shot", "max_new_tokens", "limit", "seed", "slm_cost_per_1k_tokens"}
    return {"specialist": sha256_file(specialist / "metrics.json"), "dataset": dataset,
            "params": params.model_dump(mode="json", include=fields), "tool_version": __version__}


