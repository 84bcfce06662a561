"""Analyze: discover the recurring subtasks in agent logs and say which a small model could take.

Reads: log files (via `migrate.ingest`). Writes, under the workspace `DIR`:
- `DIR/analysis/assignments.jsonl`: `{"id", "line", "cluster"}` per ingested call, in input order;
- `DIR/analysis/clusters.json`: per cluster its id, name, size, shares, output, suitability, examples;
  and how the ids relate to the previous analysis in `DIR` (`identity`, `vanished`, `id_history`);
- `DIR/analysis/embedding.npz`: the request embedding (features kept, idf, SVD basis, centroids),
  plain arrays loaded without pickle, for routing new requests the same way;
- `DIR/analysis/report.md`, `DIR/analysis/report.html` (self-contained, with plots);
- `DIR/quarantine.jsonl` and the `analyze` entry of `DIR/manifest.json`.
Takes: `AnalyzeParams`. Returns: `AnalyzeResult` (the summary and the paths written).

Cluster ids survive new data: when `DIR` already holds an analysis, each new cluster whose calls
the previous analysis places (mostly) in one of its clusters keeps that cluster's id; new
subtasks get ids never used before, and old clusters with no successor are reported as vanished
(`migrate.analyze.identity`). `keep_ids=False` numbers the clusters afresh.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from migrate import __version__
from migrate.analyze import identity, naming
from migrate.analyze.cluster import OUTLIER, ClusterParams, assign_clusters, embed
from migrate.analyze.cost import PriceTable
from migrate.analyze.identity import OUTLIER_ID, Identity, cluster_id
from migrate.analyze.suitability import SuitabilityParams, Totals, profile_cluster
from migrate.analyze.table import CallTable
from migrate.curate import CurateParams, Curator, redacted_params
from migrate.errors import MigrateError
from migrate.ingest import Ingestor, IngestParams
from migrate.progress import ProgressFn, no_progress
from migrate.records import CallRecord
from migrate.workspace import JsonlWriter, Workspace, atomic_open, write_json

EXAMPLES_PER_CLUSTER = 3
EXAMPLE_CHARS = 4000


class AnalyzeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ingest: IngestParams
    out: Path = Field(Path("slm-migrate-out"), description="workspace folder")
    prices: Path | None = Field(None, description="YAML price table merged over the bundled one")
    cluster: ClusterParams = Field(default_factory=ClusterParams)
    suitability: SuitabilityParams = Field(default_factory=SuitabilityParams)
    curate: CurateParams = Field(default_factory=CurateParams)
    keep_ids: bool = Field(True, description="match the clusters to the previous analysis in `out`, so known "
                           "subtasks keep their ids (False: number them afresh, c00 = largest)")


@dataclass
class AnalyzeResult:
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)


def _clip(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str) and len(content) > EXAMPLE_CHARS:
        message = {**message, "content": content[:EXAMPLE_CHARS] + " […]"}
    return message


def example_view(record: CallRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "model": record.model,
        "agent": record.agent,
        "tools": [t["function"].get("name") for t in record.tools],
        "messages": [_clip(m) for m in record.messages],
        "response": _clip(record.response) if record.response else None,
        "error": record.error,
    }


def run(params: AnalyzeParams, progress: ProgressFn = no_progress) -> AnalyzeResult:
    started = time.perf_counter()
    workspace = Workspace(params.out)
    # read before anything is overwritten: the ids this run's clusters inherit
    previous = identity.load_previous(workspace.stage_dir("analysis")) if params.keep_ids else None
    prices = PriceTable(params.prices)
    table = CallTable(prices)
    curator = Curator(params.curate, workspace)
    for record, dropped, found in curator.stream(lambda reject: Ingestor(params.ingest, reject, progress)):
        table.add(record, dropped=dropped, pii=found)
    ingestor = curator.ingestor
    curated = curator.finish()
    ingest_seconds = time.perf_counter() - started

    progress("cluster", 0, 3)
    placed = identity.place_calls(table, previous) if previous else None  # before embed consumes the table
    embedding = embed(table, params.cluster)
    progress("cluster", 1, 3)
    clustering = assign_clusters(table, embedding, params.cluster)
    ids = (identity.match_clusters(clustering.labels, placed, previous) if previous
           else identity.first_identity(clustering.labels))
    progress("cluster", 2, 3)
    analysis = describe_clusters(table, clustering, prices, params, ids)
    progress("cluster", 3, 3)

    out = workspace.stage_dir("analysis")
    paths = {
        "assignments": out / "assignments.jsonl",
        "clusters": out / "clusters.json",
        "embedding": out / "embedding.npz",
        "report_md": out / "report.md",
        "report_html": out / "report.html",
        "audit": curator.audit_path,
        "quarantine": workspace.quarantine_path,
    }
    audit = curator.audit(analysis_curation(analysis))
    analysis["curation"] = {k: audit[k] for k in ("kept_for_training", "dropped")} | {
        k: audit["pii"][k] for k in ("values_replaced", "calls_with", "coverage")
    }
    write_json(paths["audit"], audit)
    write_assignments(paths["assignments"], table, clustering.labels, ids)
    write_json(paths["clusters"], analysis)
    write_embedding(paths["embedding"], embedding, clustering, ids)
    from migrate.report import write_analysis_reports  # matplotlib: imported only when reporting

    write_analysis_reports(analysis, plot_points(embedding, clustering, ids), paths["report_md"], paths["report_html"])

    summary = build_summary(analysis, ingestor, paths, time.perf_counter() - started, ingest_seconds)
    workspace.record_stage(
        "analyze",
        inputs=ingestor.input_hashes(),
        params={**params.model_dump(mode="json", exclude={"curate"}), "curate": redacted_params(params.curate)},
        outputs=[p for k, p in paths.items() if k != "quarantine"] + curated,
    )
    return AnalyzeResult(summary=summary, paths=paths)


def describe_clusters(
    table: CallTable, clustering, prices: PriceTable, params: AnalyzeParams, ids: Identity | None = None
) -> dict[str, Any]:
    """The analysis (`clusters.json`); `ids` names the clusters (default: `c00` = largest)."""
    ids = ids or identity.first_identity(clustering.labels)
    labels = clustering.labels
    timestamps = table.column("timestamp")
    known_ts = timestamps[~np.isnan(timestamps)]
    days = float((known_ts.max() - known_ts.min()) / 86400.0) if len(known_ts) > 1 else 0.0
    prompt, completion = table.column("prompt_tokens"), table.column("completion_tokens")
    totals = Totals(
        calls=len(table),
        prompt_tokens=float(prompt[prompt >= 0].sum()),
        completion_tokens=float(completion[completion >= 0].sum()),
        cost_usd=float(np.nansum(table.column("cost"))),
        days=days,
    )
    actions = table.action_matrix()
    examples_by_cluster = table.examples_by_label(labels)
    terms = naming.distinctive_terms(examples_by_cluster)

    indices = [i for i in [*range(int(labels.max()) + 1), OUTLIER] if (labels == i).any()]
    rows_of = {i: np.flatnonzero(labels == i) for i in indices}
    agents_of = {i: table.agent_counts(rows_of[i]) for i in indices}
    generic = naming.generic_hints([agents_of[i] for i in indices], [len(rows_of[i]) for i in indices])
    clusters = []
    for index in indices:
        rows, agents = rows_of[index], agents_of[index]
        profile = profile_cluster(table, actions, rows, totals, params.suitability, prices.slm_cost)
        name, description = naming.name_cluster(profile, terms.get(index, []), agents, generic)
        if index == OUTLIER:
            name, description = "outliers (stay on the LLM)", "Calls that belong to no recurring subtask."
            profile["suitability"] = {
                "score": 0.0, "recommendation": "keep_on_llm", "components": {},
                "reasons": ["not a recurring subtask: one-off or rare calls stay on the LLM"],
            }
        tools_offered = Counter(
            t["function"].get("name") for r in examples_by_cluster.get(index, []) for t in r.tools
        )
        clusters.append({
            "id": ids.name(index),
            "curation": table.curation_counts(rows),
            "name": name,
            "description": description,
            **profile,
            "terms": terms.get(index, []),
            "agent_hints": [{"hint": h, "count": c} for h, c in agents.most_common(5)],
            "models": dict(Counter(
                table.models.names[m] for m in table.column("model_ids")[rows] if m >= 0
            ).most_common(5)),
            "tools_offered": sorted(t for t in tools_offered if t),
            "examples": [example_view(r) for r in examples_by_cluster.get(index, [])[:EXAMPLES_PER_CLUSTER]],
        })
    recommended = [c for c in clusters if c["suitability"]["recommendation"] == "specialize"]
    moved_cost = sum(c["cost"]["llm_usd"] for c in recommended)
    slm_cost = sum(c["cost"]["slm_usd"] for c in recommended)
    return {
        "version": 1,
        "tool_version": __version__,
        "seed": params.cluster.seed,
        "totals": {
            "calls": totals.calls,
            "clusters": sum(1 for c in clusters if c["id"] != OUTLIER_ID),
            "outliers": int((labels == OUTLIER).sum()),
            "prompt_tokens": int(totals.prompt_tokens),
            "completion_tokens": int(totals.completion_tokens),
            "cost_usd": round(totals.cost_usd, 4),
            "calls_with_known_cost": int((~np.isnan(table.column("cost"))).sum()),
            "calls_with_estimated_tokens": table.tokens_estimated,
            "days": round(days, 3),
            "unpriced_models": sorted(
                name for name in table.models.names if prices.price_for(name) is None
            ),
        },
        "migration": {
            "recommended": [c["id"] for c in recommended],
            "calls_share": round(sum(c["shares"]["calls"] for c in recommended), 4),
            "cost_share": round(sum(c["shares"]["cost"] for c in recommended), 4),
            "llm_usd": round(moved_cost, 4),
            "slm_usd": round(slm_cost, 4),
            "savings_usd": round(moved_cost - slm_cost, 4),
            "monthly_savings_usd": round((moved_cost - slm_cost) / days * 30, 4) if days > 0 else None,
            "llm_latency_hours": round(sum(c["latency_ms"]["total_hours"] for c in recommended), 3),
        },
        "identity": ids.describe(),
        "vanished": ids.vanished,
        "id_history": ids.history(),
        "prices": prices.describe(),
        "params": {
            **params.model_dump(mode="json", exclude={"ingest", "out", "curate"}),
            "curate": redacted_params(params.curate),
        },
        "clusters": clusters,
    }


def analysis_curation(analysis: dict[str, Any]) -> dict[str, Any]:
    """Per cluster: calls kept for training, dropped by reason, calls with each PII type."""
    return {c["id"]: c["curation"] for c in analysis["clusters"]}


def write_assignments(path: Path, table: CallTable, labels: np.ndarray, ids: Identity) -> None:
    names = {index: ids.name(index) for index in np.unique(labels).tolist()}
    with JsonlWriter(path) as out:
        for record_id, line, label in zip(table.ids, table.column("lines").tolist(), labels.tolist()):
            out.write({"id": record_id, "line": line, "cluster": names[label]})


def write_embedding(path: Path, embedding, clustering, ids: Identity) -> None:
    """The embedding; `micro_cluster` holds per micro-cluster its cluster's id number (`cluster_id`
    of it is the id) or -1 for the outliers."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        used_features=embedding.used_features,
        idf=embedding.idf,
        components=embedding.components,
        micro_centroids=clustering.micro_centroids,
        micro_cluster=ids.renumber(clustering.micro_cluster),
    )
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())


def plot_points(embedding, clustering, ids: Identity, limit: int = 3000) -> dict[str, Any]:
    """A 2-D view of a sample of calls (first two SVD axes of the request embedding)."""
    sample = clustering.sample[:limit]
    points = embedding.vectors[sample].astype(np.float64)
    centred = points - points.mean(axis=0)
    _, axes = np.linalg.eigh(centred.T @ centred)  # principal axes: last columns, largest first
    xy = centred @ axes[:, ::-1][:, :2]
    return {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "cluster": [ids.name(int(c)) for c in clustering.labels[sample]]}


def build_summary(analysis, ingestor: Ingestor, paths, seconds: float, ingest_seconds: float) -> dict[str, Any]:
    return {
        "files": [s.to_dict() for s in ingestor.stats],
        "warnings": ingestor.warnings,
        "records": ingestor.total_records,
        "quarantined": ingestor.total_quarantined,
        "totals": analysis["totals"],
        "migration": analysis["migration"],
        "curation": analysis["curation"],
        "identity": {
            **{k: analysis["identity"][k] for k in ("previous", "new")},
            "kept": sorted(analysis["identity"]["kept"]),
            "vanished": [{k: v[k] for k in ("id", "name", "size")} for v in analysis["vanished"]],
        },
        "clusters": [
            {
                "id": c["id"],
                "name": c["name"],
                "size": c["size"],
                "calls_share": c["shares"]["calls"],
                "cost_share": c["shares"]["cost"],
                "output_kind": c["output"]["kind"],
                "score": c["suitability"]["score"],
                "recommendation": c["suitability"]["recommendation"],
            }
            for c in analysis["clusters"]
        ],
        "artifacts": {k: str(p) for k, p in paths.items()},
        "seconds": round(seconds, 2),
        "ingest_seconds": round(ingest_seconds, 2),
    }


__all__ = ["AnalyzeParams", "AnalyzeResult", "run", "MigrateError", "cluster_id"]
