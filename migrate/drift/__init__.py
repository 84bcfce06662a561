"""Drift: does new traffic still look like the logs the clusters, specialists and router were built
from? The library under `slm-migrate drift --out DIR NEW_LOGS...` (paper step S6).

Reads: the new logs (any format, streamed through `migrate.ingest`); from the workspace `DIR`,
`DIR/routing/router.json` + `router.npz` (the router, from `slm-migrate route build`),
`DIR/analysis/clusters.json` (each cluster's name and share of calls) and, to learn each
cluster's request context, `DIR/analysis/assignments.jsonl` + `DIR/curate/records.jsonl`.
Writes, under `DIR/drift/`: `report.json` (what `run` returns), `report.md`, `quarantine.jsonl`
(unreadable lines, reasons scrubbed), `baseline.json` (the clusters' contexts, a cache keyed by
the hashes of the files it was read from), and the `drift` entry of `DIR/manifest.json`.
Takes: `DriftParams`. Returns the report as a dict (JSON-able).

Every new call is scrubbed as `curate` scrubs (same engine, same workspace key, in a worker
process beside this one) before anything looks at it, and the report holds only counts, masked
words, tool names, hashes and masked examples of scrubbed calls. Each call is then routed with the
workspace's router and *attributed* to a cluster: the cluster the router recognised; or, when
the router abstained only because of its confidence threshold or an unknown tool, its best guess;
or, when it abstained because the call looks unlike the logs, the cluster whose prompt template
or tool set the call's context still matches (`contexts.Templates.near`). Calls attributed to no cluster
are unknown work. The report gives:

- `abstain`: the share of calls the router abstains on, by reason (`unknown_share`: attributed to
  no cluster), against `max_abstain_share`;
- `clusters`: per cluster its share of calls in the analysis and of the attributed new calls,
  and the change, against `max_share_change`;
- `candidates`: new candidate clusters among the abstained calls (`candidates`);
- `moved`: clusters whose request context moved (`contexts.compare`: system prompt words, the
  opening of the user turn, tools offered, tool parameter schemas), with at least
  `min_moved_calls` attributed calls;
- `exceeded` and `reasons`: the limits crossed (`run --check` fails on them).
Memory is bounded (token counts per cluster, at most `max_abstained` abstained calls kept).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from migrate import __version__
from migrate.analyze.cost import PriceTable
from migrate.analyze.suitability import Totals
from migrate.analyze.table import estimate_tokens
from migrate.curate import CurateParams, redacted_params
from migrate.curate.parallel import ScrubPool, default_workers
from migrate.curate.scrub import Scrubber, ScrubParams, check_entities, workspace_key
from migrate.drift.candidates import AbstainedCalls, find_candidates
from migrate.drift.contexts import CallContext, ContextReader, ContextStats, Templates, compare
from migrate.errors import MigrateError
from migrate.ingest import Ingestor, IngestParams
from migrate.progress import ProgressFn, no_progress
from migrate.records import CallRecord
from migrate.workspace import JsonlWriter, Workspace, sha256_file, write_json, write_text

__all__ = ["DriftParams", "baseline_contexts", "run"]

VERSION = 1
OUTLIER_ID = "outlier"
THRESHOLD_ONLY = frozenset({"low_confidence", "not_calibrated", "unknown_tools"})  # looked like its guess
REASONS = ("outlier", "unlike_logs", "far_from_cluster", "unknown_tools", "not_calibrated", "low_confidence")
_PROGRESS_EVERY = 2000


class DriftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Field(Path("slm-migrate-out"), description="workspace folder (with a built router)")
    logs: IngestParams = Field(description="the new logs")
    max_abstain_share: float = Field(
        0.2, ge=0, le=1, description="exceeded when the router abstains on more than this share of the new calls")
    max_share_change: float = Field(
        0.1, ge=0, le=1, description="exceeded when a cluster's share of calls moves by more than this (absolute)")
    max_context_change: float = Field(
        0.2, gt=0, le=1, description="a prompt word, tool or tool schema whose share of a cluster's calls changes "
        "by at least this moves the cluster's inputs")
    min_moved_calls: int = Field(30, ge=1, description="fewest new calls of a cluster to compare its inputs on")
    fail_on_moved: Literal["routed", "any", "never"] = Field(
        "routed", description="whose moved inputs count as exceeded: clusters routed to a specialist, any, none")
    min_candidate_size: int = Field(20, ge=2, description="fewest abstained calls that make a candidate cluster")
    min_candidate_share: float = Field(
        0.01, ge=0, le=1, description="... and fewest as a share of the new calls")
    max_abstained: int = Field(50_000, ge=100, description="abstained calls kept for clustering (the first ones)")
    seed: int = Field(0, description="seed of the candidate clustering")
    scrub: ScrubParams = Field(default_factory=ScrubParams, description="PII scrubbing, as curate's `scrub`")
    workers: int | None = Field(None, ge=0, le=1, description="scrub in a worker process (default: with 2+ cores)")


# -- inputs -------------------------------------------------------------------------------------
def _read_json(path: Path, what: str, hint: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MigrateError(f"no {what} ({path} is missing)", hint=hint) from None
    except (OSError, ValueError) as exc:
        raise MigrateError(f"{path}: unreadable {what} ({exc})", hint=hint) from None


def baseline_contexts(workspace: Workspace, progress: ProgressFn = no_progress) -> dict[str, ContextStats]:
    """Each cluster's request context in the analysed logs (curated records joined with their
    cluster), from the cache `DIR/drift/baseline.json` when the files did not change."""
    assignments = workspace.stage_dir("analysis") / "assignments.jsonl"
    records = workspace.stage_dir("curate") / "records.jsonl"
    for path in (assignments, records):
        if not path.exists():
            raise MigrateError(f"no analysis in {workspace.root} ({path.relative_to(workspace.root)} is missing)",
                               hint=f"run `slm-migrate analyze LOGS... --out {workspace.root}` (with curation) first")
    key = [VERSION, __version__, sha256_file(assignments), sha256_file(records)]
    cache = workspace.stage_dir("drift") / "baseline.json"
    if cache.exists():
        try:
            stored = json.loads(cache.read_text(encoding="utf-8"))
            if stored.get("key") == key:
                return {c: ContextStats.from_dict(s) for c, s in stored["clusters"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # rebuilt below
    cluster_of: dict[str, str] = {}
    with open(assignments, "rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            cluster_of.setdefault(row["id"], row["cluster"])
    stats: dict[str, ContextStats] = {}
    reader = ContextReader()
    size, done = records.stat().st_size, 0
    with open(records, "rb") as handle:
        for n, line in enumerate(handle):
            done += len(line)
            if n % _PROGRESS_EVERY == 0:
                progress("baseline", done, size)
            row = orjson.loads(line)
            cluster = cluster_of.get(row["id"])
            if cluster is None or cluster == OUTLIER_ID:
                continue
            weight = float(row.pop("represents", None) or 1)
            row.pop("represents_index", None)
            stats.setdefault(cluster, ContextStats()).add(reader.read(CallRecord.from_dict(row)), weight)
    progress("baseline", size, size)
    for s in stats.values():
        s.finish()
    write_json(cache, {"key": key, "clusters": {c: s.to_dict() for c, s in sorted(stats.items())}})
    return stats


def _check_router(workspace: Workspace, router, analysis: dict[str, Any]) -> list[str]:
    """An error when the router knows other clusters than the analysis; a warning when it was
    built from an earlier version of the analysis."""
    clusters = {c["id"] for c in analysis["clusters"]} - {OUTLIER_ID}
    known = set(router.classes) - {OUTLIER_ID}
    if clusters != known:
        raise MigrateError(f"the router in {workspace.root / 'routing'} was built from another analysis "
                           f"(clusters {', '.join(sorted(known))}; the analysis has {', '.join(sorted(clusters))})",
                           hint=f"rebuild it with `slm-migrate route build --out {workspace.root}`")
    built_from = (workspace.read_manifest().get("stages", {}).get("route") or {}).get("inputs", {}).get("clusters")
    path = workspace.stage_dir("analysis") / "clusters.json"
    if built_from and built_from != sha256_file(path):
        return [("the router was built before the current analysis was written: rebuild it with "
                 f"`slm-migrate route build --out {workspace.root}` to drift against what it learned")]
    return []


class _Scrub:
    """Scrubs records and texts the way `curate` does (a worker process when there are 2+ cores)."""

    def __init__(self, params: ScrubParams, workers: int | None, root: Path):
        check_entities(params)
        self.enabled = params.enabled
        self.found: Counter[str] = Counter()
        self.calls_with: Counter[str] = Counter()
        self.pool: ScrubPool | None = None
        self.scrubber: Scrubber | None = None
        if self.enabled:
            key = workspace_key(root)
            if (default_workers() if workers is None else workers) > 0:
                self.pool = ScrubPool(params, key)  # Presidio loads in the worker while we go on
            else:
                self.scrubber = Scrubber(params, key)

    def records(self, records):
        if self.pool is not None:
            scrubbed = self.pool.scrub(records)
        elif self.scrubber is not None:
            scrubbed = ((r, self.scrubber.scrub_record(r)) for r in records)
        else:
            scrubbed = ((r, Counter()) for r in records)
        for record, kinds in scrubbed:
            if kinds:
                self.found.update(kinds)
                self.calls_with.update(set(kinds))
            yield record

    def text(self, text: str) -> str:
        if self.pool is not None:
            return self.pool.scrub_text(text)
        return self.scrubber.scrub_text(text) if self.scrubber is not None else text

    def coverage(self) -> dict[str, Any] | None:
        if self.pool is not None:
            return self.pool.coverage()
        return self.scrubber.coverage() if self.scrubber is not None else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


class _Attributor:
    """The cluster a routed call belongs to (see the module docstring), cached per context."""

    def __init__(self, templates: Templates):
        self.templates = templates
        self.baseline = templates.clusters
        self._nearest: dict[tuple[str, frozenset[str]], str | None] = {}

    def attribute(self, decision, context: CallContext) -> str | None:
        if decision.cluster is not None:
            return decision.cluster
        guess = decision.candidate
        if decision.reason in THRESHOLD_ONLY and guess in self.baseline:
            return guess
        key = (context.skeleton, context.tools)
        if key not in self._nearest:
            if len(self._nearest) >= 4096:
                self._nearest.clear()
            self._nearest[key] = self._nearest_cluster(context, guess)
        return self._nearest[key]

    def _nearest_cluster(self, context: CallContext, guess: str | None) -> str | None:
        """The router's guess when the context still matches it, else the best matching cluster."""
        if guess in self.baseline and self.templates.near(guess, context):
            return guess
        scored = [(self.templates.overlap(c, context.system), c) for c in self.baseline
                  if self.templates.near(c, context)]
        return max(scored)[1] if scored else None


class _Tally:
    """Counts over the new calls."""

    def __init__(self, prices: PriceTable):
        self.prices = prices
        self.calls = 0
        self.reasons: Counter[str] = Counter()
        self.attributed: Counter[str] = Counter()
        self.near: Counter[str] = Counter()
        self.contexts: dict[str, ContextStats] = {}
        self.prompt_tokens = self.completion_tokens = 0
        self.cost = 0.0
        self.first = self.last = None

    def add(self, record: CallRecord, decision, cluster: str | None, context: CallContext) -> None:
        self.calls += 1
        if decision.cluster is None:
            self.reasons[decision.reason] += 1
        if cluster is not None:
            self.attributed[cluster] += 1
            if decision.cluster is None:
                self.near[cluster] += 1
            self.contexts.setdefault(cluster, ContextStats()).add(context)
        prompt, completion = record.prompt_tokens, record.completion_tokens
        if prompt is None and record.response is not None:
            prompt, completion = estimate_tokens(record, len(orjson.dumps(record.tools)) if record.tools else 0)
        self.prompt_tokens += prompt or 0
        self.completion_tokens += completion or 0
        cost = record.cost_usd if record.cost_usd is not None else self.prices.cost(record.model, prompt, completion)
        self.cost += cost or 0.0
        if record.timestamp is not None:
            self.first = record.timestamp if self.first is None else min(self.first, record.timestamp)
            self.last = record.timestamp if self.last is None else max(self.last, record.timestamp)

    def totals(self) -> Totals:
        days = (self.last - self.first) / 86400.0 if self.first is not None and self.last is not None else 0.0
        return Totals(calls=self.calls, prompt_tokens=float(self.prompt_tokens),
                      completion_tokens=float(self.completion_tokens), cost_usd=self.cost, days=days)


# -- run ----------------------------------------------------------------------------------------
def run(params: DriftParams, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """`slm-migrate drift`: route the new logs, compare them with the analysis, write the report."""
    from migrate.route import Router

    started = time.perf_counter()
    workspace = Workspace(params.out)
    analysis = _read_json(workspace.stage_dir("analysis") / "clusters.json", "analysis",
                          f"run `slm-migrate analyze LOGS... --out {workspace.root}` first")
    hint = f"build the router with `slm-migrate route build --out {workspace.root}` first"
    if not (workspace.stage_dir("routing") / "router.json").exists():
        raise MigrateError(f"no router in {workspace.root} (routing/router.json is missing)", hint=hint)
    out = workspace.stage_dir("drift")
    paths = {"json": out / "report.json", "markdown": out / "report.md", "quarantine": out / "quarantine.jsonl"}
    scrub = _Scrub(params.scrub, params.workers, workspace.root)
    quarantine = JsonlWriter(paths["quarantine"])
    try:
        router = Router.load(workspace.stage_dir("routing"))
        warnings = _check_router(workspace, router, analysis)
        baseline = baseline_contexts(workspace, progress)
        templates = Templates(baseline)
        attributor = _Attributor(templates)
        prices = PriceTable(None)
        tally = _Tally(prices)
        abstained = AbstainedCalls(prices, params.max_abstained)
        reader = ContextReader()

        def reject(row: dict[str, Any]) -> None:
            quarantine.write({**row, "reason": scrub.text(row["reason"])})

        ingestor = Ingestor(params.logs, reject, progress)
        for record in scrub.records(ingestor.records()):
            decision = router.route_record(record)
            context = reader.read(record)
            cluster = attributor.attribute(decision, context)
            tally.add(record, decision, cluster, context)
            if decision.cluster is None:
                abstained.add(record, decision.reason, decision.candidate, cluster)
        coverage = scrub.coverage()
    finally:  # the quarantine is kept even when the run fails: nothing read is lost
        scrub.close()
        quarantine.commit()

    progress("candidates", 0, 1)
    min_size = max(params.min_candidate_size, round(params.min_candidate_share * tally.calls))
    candidates = find_candidates(abstained, tally.totals(), min_size, params.seed)
    progress("candidates", 1, 1)
    report = _report(params, analysis, router, templates, tally, candidates)
    report.update({
        "files": [s.to_dict() for s in ingestor.stats],
        "warnings": warnings + ingestor.warnings,
        "quarantined": ingestor.total_quarantined,
        "pii": {"scrubbed": scrub.enabled, "values_replaced": dict(scrub.found.most_common()),
                "calls_with": dict(scrub.calls_with.most_common()),
                "note": (coverage or {}).get("note") if scrub.enabled else "scrubbing is off"},
        "seconds": round(time.perf_counter() - started, 2),
        "report": {"json": str(paths["json"]), "markdown": str(paths["markdown"])},
    })
    from migrate.drift.report import drift_markdown

    write_json(paths["json"], report)
    write_text(paths["markdown"], drift_markdown(report))
    settings = params.model_dump(mode="json", exclude={"out", "scrub"})
    workspace.record_stage(
        "drift",
        inputs={**ingestor.input_hashes(), "routing/router.json": sha256_file(workspace.stage_dir("routing") / "router.json")},
        params={**settings, "scrub": redacted_params(CurateParams(scrub=params.scrub))["scrub"]},
        outputs=list(paths.values()),
    )
    return report


def _report(params: DriftParams, analysis: dict[str, Any], router, templates: Templates,
            tally: _Tally, candidates: dict[str, Any]) -> dict[str, Any]:
    n = max(tally.calls, 1)
    reasons: list[str] = []
    abstained = sum(tally.reasons.values())
    unknown = tally.calls - sum(tally.attributed.values())
    abstain = {
        "calls": abstained,
        "share": round(abstained / n, 4),
        "limit": params.max_abstain_share,
        "exceeded": abstained / n > params.max_abstain_share,
        "unknown_calls": unknown,
        "unknown_share": round(unknown / n, 4),
        "analysis_outlier_share": round(analysis["totals"].get("outliers", 0) / max(analysis["totals"]["calls"], 1), 4),
        "by_reason": {r: {"calls": c, "share": round(c / n, 4)} for r, c in tally.reasons.most_common()},
    }
    if abstain["exceeded"]:
        reasons.append(f"the router abstains on {abstain['share']:.1%} of the new calls "
                       f"(limit {params.max_abstain_share:.0%})")

    status = {c: (info.get("status") or "llm") for c, info in router.clusters.items()}
    clusters = []
    for cluster in analysis["clusters"]:
        cid = cluster["id"]
        if cid == OUTLIER_ID:
            continue
        before = float((cluster.get("shares") or {}).get("calls") or 0.0)
        after = tally.attributed.get(cid, 0) / n
        change = after - before
        row = {"id": cid, "name": cluster.get("name"), "status": status.get(cid, "llm"),
               "analysis_share": round(before, 4), "share": round(after, 4), "change": round(change, 4),
               "calls": tally.attributed.get(cid, 0), "near_calls": tally.near.get(cid, 0),
               "exceeded": abs(change) > params.max_share_change}
        clusters.append(row)
        if row["exceeded"]:
            reasons.append(f"{cid} ({cluster.get('name')}): share of calls {before:.1%} -> {after:.1%} "
                           f"({change * 100:+.1f} points, limit {params.max_share_change * 100:.0f})")

    moved, compared, too_few = [], [], []
    for row in clusters:
        cid = row["id"]
        after = tally.contexts.get(cid)
        if after is None or cid not in templates.clusters:
            continue
        if after.calls < params.min_moved_calls:
            too_few.append(cid)
            continue
        compared.append(cid)
        found = compare(templates, cid, after.finish(), params.max_context_change)
        if not found["moved"]:
            continue
        counts = params.fail_on_moved == "any" or (params.fail_on_moved == "routed" and row["status"] == "slm")
        moved.append({"id": cid, "name": row["name"], "status": row["status"], "calls": row["calls"],
                      "counts": counts, **{k: v for k, v in found.items() if k != "moved"}})
        if counts:
            reasons.append(f"{cid} ({row['name']}): inputs moved: " + "; ".join(found["what"]))
    return {
        "version": VERSION,
        "calls": tally.calls,
        "router": {"sha256": router.header.get("sha256"), "target_precision": router.header.get("target_precision")},
        "abstain": abstain,
        "clusters": clusters,
        "moved": moved,
        "compared": compared,
        "too_few_to_compare": too_few,
        "candidates": candidates,
        "limits": params.model_dump(mode="json", include={
            "max_abstain_share", "max_share_change", "max_context_change", "min_moved_calls", "fail_on_moved",
            "min_candidate_size", "min_candidate_share"}),
        "exceeded": bool(reasons),
        "reasons": reasons,
    }
