"""Stream JSON objects out of `.jsonl` / `.jsonl.gz` files, one line at a time.

Never holds more than one line in memory (and never more than `max_line_bytes` of it). Every line
that cannot become a JSON object is reported as a `BadLine` with a reason instead of raising, so a
caller can quarantine it and go on. The file's content hash is computed on the way.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16


@dataclass(slots=True)
class BadLine:
    line: int
    reason: str


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


class LineReader:
    """Iterate `(line_number, obj)` or `(line_number, BadLine)`; `sha256` is ready after the end."""

    def __init__(self, path: Path, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        self.path = path
        self.max_line_bytes = max_line_bytes
        self._digest = hashlib.sha256()
        self.sha256: str | None = None
        self._raw: Any = None

    @property
    def bytes_read(self) -> int:
        """Bytes of the file on disk consumed so far (compressed bytes for gzip): for progress."""
        return self._raw.tell() if self._raw is not None and not self._raw.closed else 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        lineno = 0
        with open(self.path, "rb") as disk:
            self._raw = disk
            handle = gzip.GzipFile(fileobj=disk, mode="rb") if is_gzip(self.path) else disk
            while True:
                try:
                    raw = handle.readline(self.max_line_bytes + 1)
                except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
                    yield lineno + 1, BadLine(lineno + 1, f"corrupt or truncated gzip stream: {exc}")
                    break
                if not raw:
                    break
                lineno += 1
                self._digest.update(raw)
                if len(raw) > self.max_line_bytes and not raw.endswith(b"\n"):
                    skipped = self._skip_rest_of_line(handle)
                    size = len(raw) + skipped
                    yield lineno, BadLine(
                        lineno, f"line longer than the limit of {self.max_line_bytes} bytes ({size} bytes)"
                    )
                    continue
                yield lineno, parse_line(raw, lineno)
        self.sha256 = f"sha256:{self._digest.hexdigest()}"

    def _skip_rest_of_line(self, handle) -> int:
        skipped = 0
        while True:
            try:
                chunk = handle.readline(_CHUNK)
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError):
                return skipped
            self._digest.update(chunk)
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped


def parse_line(raw: bytes, lineno: int) -> Any:
    """One line's JSON object, None for a blank line, or a `BadLine` saying why not."""
    stripped = raw.strip()
    if not stripped:
        return None
    try:
        obj = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        try:
            stripped.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return BadLine(lineno, f"not valid UTF-8 (byte {uexc.start})")
        return BadLine(lineno, f"invalid JSON: {exc}")
    if not isinstance(obj, dict):
        return BadLine(lineno, f"expected a JSON object, got {type(obj).__name__}")
    return obj
