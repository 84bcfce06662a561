"""Ingest: stream agent call logs of any supported format as canonical `CallRecord`s.

Reads: log files (`.jsonl` or `.jsonl.gz`, gzip recognised by its magic bytes), each detected on
its own unless `format` is given. Writes: every rejected line to the quarantine sink as
`{"file", "line", "reason"}` (never its raw text). Takes: `IngestParams`.

Bad input never crashes the run and loses nothing: a line that cannot be read is quarantined with
its reason and the run goes on. At the end, a missing or empty input, or a file where every line
failed, is an error naming the path and the first reasons; `strict` makes any quarantined line one.
"""

from __future__ import annotations

import glob
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrate.errors import MigrateError
from migrate.ingest import openai_batch
from migrate.ingest.base import LineContext
from migrate.ingest.formats import BATCH_INPUT, FORMATS, READERS, DETECT_LINES, detect_format
from migrate.ingest.lines import DEFAULT_MAX_LINE_BYTES, BadLine, LineReader
from migrate.ingest.normalize import BadRecord
from migrate.progress import ProgressFn, no_progress
from migrate.records import CallRecord

__all__ = ["IngestParams", "FileStats", "Ingestor", "FORMATS", "resolve_paths"]

EXIT_QUALITY_GATE = 3  # exit code when --strict finds quarantined lines
QuarantineFn = Callable[[dict[str, Any]], None]
_PROGRESS_EVERY = 2000


class IngestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[Path] = Field(description="log files (globs are expanded)")
    format: str | None = Field(None, description="force one format for every file")
    strict: bool = Field(False, description="fail when any line is quarantined")
    max_line_bytes: int = Field(DEFAULT_MAX_LINE_BYTES, gt=0, description="longer lines are quarantined")


@dataclass
class FileStats:
    path: str
    format: str | None
    lines: int = 0
    records: int = 0
    skipped: int = 0  # rows of the format that are not LLM calls (Langfuse spans, LangSmith chains)
    quarantined: int = 0
    sha256: str | None = None
    first_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "first_reasons"}


def resolve_paths(paths: list[Path]) -> list[Path]:
    """Existing files in the order given; glob patterns expanded. A clear error otherwise."""
    if not paths:
        raise MigrateError("no log files given", hint="pass one or more .jsonl / .jsonl.gz files")
    resolved: list[Path] = []
    for path in paths:
        if not path.exists() and any(ch in str(path) for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            if not matches:
                raise MigrateError(f"no file matches {str(path)!r}")
            resolved.extend(m for m in matches if m.is_file())
        elif not path.exists():
            raise MigrateError(f"log file not found: {path}", hint="check the path (and the working folder)")
        elif path.is_dir():
            raise MigrateError(
                f"{path} is a folder, not a log file",
                hint=f"pass its files, e.g. {path}/*.jsonl.gz",
            )
        else:
            resolved.append(path)
    return resolved


class Ingestor:
    """Iterate over `records()` once; then `stats` and `warnings` describe what was read."""

    def __init__(
        self,
        params: IngestParams,
        quarantine: QuarantineFn,
        progress: ProgressFn = no_progress,
    ):
        if params.format is not None and params.format not in FORMATS:
            raise MigrateError(
                f"unknown format {params.format!r}", hint=f"choose one of: {', '.join(FORMATS)}"
            )
        self.params = params
        self.paths = resolve_paths(params.paths)
        self._quarantine = quarantine
        self._progress = progress
        self.stats: list[FileStats] = []
        self.warnings: list[str] = []
        self._batch: dict[str, dict[str, Any]] = {}
        self._batch_lines: dict[str, tuple[str, int]] = {}
        self._answered: set[str] = set()

    # -- public -------------------------------------------------------------------------------
    def records(self) -> Iterator[CallRecord]:
        formats = {path: self._detect(path) for path in self.paths}
        total_bytes = float(sum(path.stat().st_size for path in self.paths))
        done_bytes = 0.0
        for path in self.paths:  # batch inputs first: output lines join on them
            if formats[path] == BATCH_INPUT:
                self._index_batch_input(path)
        for path in self.paths:
            if formats[path] != BATCH_INPUT:
                yield from self._read_file(path, formats[path], done_bytes, total_bytes)
            done_bytes += path.stat().st_size
            self._progress("ingest", done_bytes, total_bytes)
        self._quarantine_unjoined_batch_inputs()
        self._check_outcome()

    @property
    def total_records(self) -> int:
        """Call records read (batch input lines are joined into them, not counted apart)."""
        return sum(s.records for s in self.stats if s.format != BATCH_INPUT)

    @property
    def total_quarantined(self) -> int:
        return sum(s.quarantined for s in self.stats)

    def input_hashes(self) -> dict[str, str]:
        return {s.path: s.sha256 for s in self.stats if s.sha256}

    # -- steps --------------------------------------------------------------------------------
    def _detect(self, path: Path) -> str | None:
        sample: list[dict[str, Any]] = []
        for _, obj in itertools.islice(LineReader(path, self.params.max_line_bytes), DETECT_LINES * 4):
            if isinstance(obj, dict):
                sample.append(obj)
                if len(sample) >= DETECT_LINES:
                    break
        detected = detect_format(sample)
        if detected == BATCH_INPUT or self.params.format is None:
            return detected
        return self.params.format

    def _reject(self, stats: FileStats, line: int, reason: str) -> None:
        stats.quarantined += 1
        if len(stats.first_reasons) < 3:
            stats.first_reasons.append(f"line {line}: {reason}")
        self._quarantine({"file": stats.path, "line": line, "reason": reason})

    def _read_file(self, path: Path, fmt: str | None, done: float, total: float) -> Iterator[CallRecord]:
        stats = FileStats(path=str(path), format=fmt)
        self.stats.append(stats)
        reader = READERS.get(fmt) if fmt else None
        lines = LineReader(path, self.params.max_line_bytes)
        ctx = LineContext(file=str(path), line=0, batch_requests=self._batch)
        for lineno, obj in lines:
            stats.lines = lineno
            if lineno % _PROGRESS_EVERY == 0:
                self._progress("ingest", done + lines.bytes_read, total)
            if obj is None:
                continue
            if isinstance(obj, BadLine):
                self._reject(stats, obj.line, obj.reason)
                continue
            if reader is None:
                self._reject(stats, lineno, f"unknown log format (not one of: {', '.join(READERS)})")
                continue
            if not reader.detect(obj):
                self._reject(stats, lineno, f"unknown shape: not a {fmt} record")
                continue
            ctx.line = lineno
            try:
                record = reader.parse(obj, ctx)
            except BadRecord as exc:
                self._reject(stats, lineno, str(exc))
                continue
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                self._reject(stats, lineno, f"unreadable {fmt} record ({type(exc).__name__}: {str(exc)[:120]})")
                continue
            if record is None:
                stats.skipped += 1
                continue
            if fmt == "openai_batch":
                self._answered.add(record.id)
            stats.records += 1
            yield record
        stats.sha256 = lines.sha256
        if fmt == "openai_batch" and not self._batch:
            self.warnings.append(
                f"{path}: batch output read without its batch input file, so the records have no "
                "request; pass the input file too to join them on custom_id"
            )

    def _index_batch_input(self, path: Path) -> None:
        stats = FileStats(path=str(path), format=BATCH_INPUT)
        self.stats.append(stats)
        lines = LineReader(path, self.params.max_line_bytes)
        for lineno, obj in lines:
            stats.lines = lineno
            if obj is None:
                continue
            if isinstance(obj, BadLine):
                self._reject(stats, obj.line, obj.reason)
                continue
            try:
                custom_id, body = openai_batch.index_input(obj)
            except (BadRecord, KeyError, TypeError) as exc:
                self._reject(stats, lineno, str(exc))
                continue
            if custom_id in self._batch:
                self._reject(stats, lineno, f"duplicate batch custom_id {custom_id!r}")
                continue
            self._batch[custom_id] = body
            self._batch_lines[custom_id] = (str(path), lineno)
            stats.records += 1
        stats.sha256 = lines.sha256

    def _quarantine_unjoined_batch_inputs(self) -> None:
        """Batch requests that no output line answered have no response: quarantine them."""
        if not self._batch_lines:
            return
        by_path = {s.path: s for s in self.stats}
        for custom_id, (path, line) in self._batch_lines.items():
            if custom_id not in self._answered:
                stats = by_path[path]
                stats.records -= 1
                self._reject(stats, line, f"batch request {custom_id!r} has no output line (no response)")

    def _check_outcome(self) -> None:
        for stats in self.stats:
            if stats.lines == 0:
                raise MigrateError(f"{stats.path} is empty", hint="pass a log file with at least one call")
            if stats.records == 0 and stats.skipped == 0 and stats.quarantined > 0:
                reasons = "; ".join(stats.first_reasons)
                raise MigrateError(
                    f"no line of {stats.path} could be read ({stats.quarantined} quarantined: {reasons})",
                    hint="check the file's format; --format names it explicitly",
                )
        if self.params.strict and self.total_quarantined:
            first = next(s for s in self.stats if s.quarantined)
            raise MigrateError(
                f"{self.total_quarantined} line(s) quarantined and --strict is set "
                f"(first: {first.path} {first.first_reasons[0]})",
                hint="see quarantine.jsonl in the output folder, or drop --strict",
                exit_code=EXIT_QUALITY_GATE,
            )
        if self.total_records == 0:
            raise MigrateError("the logs hold no LLM call records", hint="check the files and their format")
