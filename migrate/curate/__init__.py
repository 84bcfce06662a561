"""Curate: scrub PII and secrets, drop calls unfit for training, find duplicates — with an audit.

Reads: call records (streamed from `migrate.ingest`). Writes, under the workspace `DIR`:
- `DIR/curate/records.jsonl`: the scrubbed calls fit for training (not dropped by a filter, not a
  duplicate), each with `represents`: how many calls of the logs it stands for;
- `DIR/curate/audit.json`: what was found (per entity type, per cluster when run inside
  `analyze`), what was dropped and why, what could not be detected, a sample of redactions shown
  as placeholders only;
- `DIR/.pii-key`: the placeholder key when `SLM_MIGRATE_PII_KEY` is not set (not an artifact).
Takes: `CurateParams`. Runs inside `analyze` before clustering (the default) and on its own as
`slm-migrate curate`.

Dedup and filters thin the training data, not the statistics: `analyze` still counts every call.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from migrate.curate.dedup import Deduplicator, DedupParams
from migrate.curate.filters import REASONS, FilterParams, drop_reason
from migrate.curate.parallel import ScrubPool, default_workers
from migrate.curate.scrub import Scrubber, ScrubParams, check_entities, workspace_key
from migrate.ingest import Ingestor, IngestParams
from migrate.progress import ProgressFn, no_progress
from migrate.records import CallRecord
from migrate.workspace import JsonlWriter, Workspace, atomic_open, write_json

__all__ = ["CurateParams", "Curator", "redacted_params"]

REDACTION_SAMPLES = 12
_PLACEHOLDER = re.compile(r"<[A-Z_]+_[0-9a-f]{8}>")


class CurateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="curate at all (off: no scrubbing, filters, dedup or records)")
    scrub: ScrubParams = Field(default_factory=ScrubParams)
    filters: FilterParams = Field(default_factory=FilterParams)
    dedup: DedupParams = Field(default_factory=DedupParams)
    write_records: bool = Field(True, description="write the curated records for the datasets stage")
    workers: int | None = Field(
        None, ge=0, le=1,
        description="scrub in a worker process beside the main one (default: 1 when there are 2+ cores, else 0)",
    )


def redacted_params(params: CurateParams) -> dict[str, Any]:
    """Parameters as recorded in artifacts: allow/deny lists hold sensitive values by nature, so
    only their size and a hash are recorded."""
    data = params.model_dump(mode="json")
    for name in ("allow", "deny"):
        values = data["scrub"][name]
        digest = hashlib.sha256("\n".join(values).encode()).hexdigest()[:16]
        data["scrub"][name] = {"count": len(values), "sha256": digest} if values else []
    return data


class Curator:
    """Curate calls one at a time (`process`), then describe what was done (`audit`)."""

    def __init__(self, params: CurateParams, workspace: Workspace):
        check_entities(params.scrub)
        if not params.enabled:
            params = params.model_copy(update={
                "scrub": params.scrub.model_copy(update={"enabled": False}),
                "filters": FilterParams(drop_errors=False, drop_truncated=False, drop_empty=False,
                                        drop_invalid_tool_calls=False),
                "dedup": DedupParams(exact=False, near=False),
                "write_records": False,
            })
        self.params = params
        self.workspace = workspace
        self.workers = default_workers() if params.workers is None else params.workers
        self._scrubber: Scrubber | None = None  # built on first use: with a worker, never in this process
        self._key = workspace_key(workspace.root) if params.scrub.enabled else None
        self._pool: ScrubPool | None = None
        self._coverage: dict[str, Any] | None = None
        self.found: Counter[str] = Counter()  # values replaced, by entity type
        self.dedup = Deduplicator(params.dedup)
        self.dropped: Counter[str] = Counter()
        self.calls = 0
        self.kept = 0
        self.entity_records: Counter[str] = Counter()  # calls in which each entity type was found
        self.samples: list[str] = []
        self._writer = JsonlWriter(self.records_path) if params.write_records else None
        self._kept_rows: list[tuple[int, CallRecord]] = []

    @property
    def records_path(self) -> Path:
        return self.workspace.stage_dir("curate") / "records.jsonl"

    @property
    def audit_path(self) -> Path:
        return self.workspace.stage_dir("curate") / "audit.json"

    @property
    def scrubbing(self) -> bool:
        return self._key is not None

    @property
    def scrubber(self) -> Scrubber:
        """This process's scrubber (only when no worker scrubs; ~370 MB of Presidio)."""
        if self._scrubber is None:
            self._scrubber = Scrubber(self.params.scrub, self._key)
            self._scrubber.found = self.found
        return self._scrubber

    def scrub_text(self, text: str) -> str:
        if not self.scrubbing:
            return text
        if self._pool is not None:
            return self._pool.scrub_text(text)
        return self.scrubber.scrub_text(text)

    def process(self, index: int, record: CallRecord) -> tuple[str | None, tuple[str, ...]]:
        """Scrub `record` in place; (why it is not training data or None, entity types found)."""
        kinds = self.scrubber.scrub_record(record) if self.scrubbing else Counter()
        return self.keep(index, record, kinds)

    def keep(self, index: int, record: CallRecord, kinds: Counter[str]) -> tuple[str | None, tuple[str, ...]]:
        """Filters and dedup for a scrubbed `record` (`kinds`: values scrubbed from it, by type)."""
        reason = drop_reason(record, self.params.filters) or self.dedup.check(index, record)
        self.calls += 1
        found = tuple(sorted(kinds))
        if found:
            self.entity_records.update(found)
            if len(self.samples) < REDACTION_SAMPLES:
                self._sample(record)
        if reason:
            self.dropped[reason] += 1
        else:
            self.kept += 1
            if self._writer is not None:
                self._kept_rows.append((index, record))
                if len(self._kept_rows) >= 4096:
                    self._flush()
        return reason, found

    def _flush(self) -> None:
        for index, record in self._kept_rows:
            row = record.to_dict()
            row["represents_index"] = index
            self._writer.write(row)
        self._kept_rows = []

    def _sample(self, record: CallRecord) -> None:
        texts = [m.get("content") or "" for m in record.messages] + [record.output_text]
        for text in texts:
            match = _PLACEHOLDER.search(text)
            if match:
                start = max(0, match.start() - 60)
                self.samples.append(text[start:match.end() + 60].replace("\n", " "))
                return

    def stream(self, ingestor_for):
        """Ingest and curate: yield `(record, dropped, found)` for every call, in input order.

        `ingestor_for(reject)` builds the `Ingestor` with the quarantine sink; rejected lines go to
        `DIR/quarantine.jsonl` with their reason scrubbed too (a reason may quote log text). The
        quarantine is committed even when the run fails: nothing is lost.
        """
        quarantine = JsonlWriter(self.workspace.quarantine_path)

        def reject(row: dict[str, Any]) -> None:
            quarantine.write({**row, "reason": self.scrub_text(row["reason"])})

        self.ingestor = ingestor_for(reject)
        if self.scrubbing and self.workers > 0:
            self._pool = ScrubPool(self.params.scrub, self._key)
        try:
            if self._pool is None:
                for index, record in enumerate(self.ingestor.records()):
                    yield (record, *self.process(index, record))
            else:  # scrubbed beside us; what it found is counted here, where the audit is kept
                self._coverage = self._pool.coverage()
                for index, (record, kinds) in enumerate(self._pool.scrub(self.ingestor.records())):
                    self.found.update(kinds)
                    yield (record, *self.keep(index, record, kinds))
        except BaseException:
            self.abort()
            raise
        finally:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            quarantine.commit()

    def finish(self) -> list[Path]:
        """Write the curated records (with the final `represents` counts); returns the paths."""
        if self._writer is None:
            return []
        self._flush()
        self._writer.commit()
        _rewrite_represents(self.records_path, self.dedup.represents)
        return [self.records_path]

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()

    def audit(self, per_cluster: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        if not self.scrubbing:
            coverage = {"entities": [], "not_covered": [], "ner": False, "note": "scrubbing is off"}
        else:
            coverage = self._coverage or self.scrubber.coverage()
        return {
            "calls": self.calls,
            "kept_for_training": self.kept,
            "dropped": {reason: self.dropped.get(reason, 0) for reason in (*REASONS, "duplicate", "near_duplicate")},
            "pii": {
                "scrubbed": self.scrubbing,
                "values_replaced": dict(self.found.most_common()),
                "calls_with": dict(self.entity_records.most_common()),
                "coverage": coverage,
                "samples": self.samples,
            },
            "per_cluster": per_cluster or {},
            "params": redacted_params(self.params),
        }


def _rewrite_represents(path: Path, represents: dict[int, int]) -> None:
    """Replace each row's `represents_index` by `represents` (known only once all calls are seen)."""
    with open(path, "rb") as source, atomic_open(path, "wb") as target:
        for line in source:
            row = orjson.loads(line)
            row["represents"] = represents.get(row.pop("represents_index"), 1)
            target.write(orjson.dumps(row) + b"\n")


class CurateRunParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ingest: IngestParams
    out: Path = Path("slm-migrate-out")
    curate: CurateParams = Field(default_factory=CurateParams)


def run(params: CurateRunParams, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """`slm-migrate curate`: ingest, curate, write the curated records and the audit."""

    workspace = Workspace(params.out)
    curator = Curator(params.curate, workspace)
    for _ in curator.stream(lambda reject: Ingestor(params.ingest, reject, progress)):
        pass
    ingestor = curator.ingestor
    outputs = curator.finish()
    audit = curator.audit()
    write_json(curator.audit_path, audit)
    workspace.record_stage(
        "curate",
        inputs=ingestor.input_hashes(),
        params={"ingest": params.ingest.model_dump(mode="json"), "curate": redacted_params(params.curate)},
        outputs=[*outputs, curator.audit_path],
    )
    return {
        "files": [s.to_dict() for s in ingestor.stats],
        "records": ingestor.total_records,
        "quarantined": ingestor.total_quarantined,
        "kept_for_training": audit["kept_for_training"],
        "dropped": audit["dropped"],
        "pii": {k: audit["pii"][k] for k in ("values_replaced", "calls_with", "coverage")},
        "artifacts": {"records": str(curator.records_path), "audit": str(curator.audit_path)},
    }
