"""The workspace folder: where each stage's artifacts live, atomic writes, and the manifest.

Layout (see README): `DIR/manifest.json`, `DIR/quarantine.jsonl`, `DIR/analysis/...`. Every write
goes to a temporary file in the same folder and is renamed into place, so a crash never leaves a
half-written artifact. `manifest.json` records per stage what it read (content hashes), its
parameters and the tool version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from migrate import __version__

DEFAULT_OUT = Path("slm-migrate-out")
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; rename it over `path` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> Path:
    with atomic_open(path) as handle:
        handle.write(text)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return path


def write_json(path: Path, data: Any) -> Path:
    return write_bytes(path, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


class JsonlWriter:
    """Append JSON lines to a temporary file; `commit()` renames it into place.

    The temporary file is created on the first write (or at commit, empty), so a writer that a
    failed run never used leaves nothing behind.
    """

    def __init__(self, path: Path):
        self.path = path
        self._ctx: Any = None
        self._handle: Any = None
        self.count = 0

    def _open(self) -> None:
        if self._ctx is None:
            self._ctx = atomic_open(self.path, "wb")
            self._handle = self._ctx.__enter__()

    def write(self, row: dict[str, Any]) -> None:
        self._open()
        self._handle.write(orjson.dumps(row) + b"\n")
        self.count += 1

    def commit(self) -> Path:
        self._open()
        self._ctx.__exit__(None, None, None)
        self._ctx = None
        return self.path

    def abort(self) -> None:
        if self._ctx is not None:
            with contextlib.suppress(BaseException):
                self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
            self._ctx = None

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when it is missing, unreadable or not an object (a
    stage's earlier output, read to decide whether work can be skipped)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def select_clusters(available: dict[str, Path], wanted: list[str] | None, missing_message, hint) -> list[str]:
    """`wanted` (default: every `available` cluster), each checked against `available`; a
    MigrateError built by `missing_message(ids)` and `hint(ids)` names the ones missing."""
    from migrate.errors import MigrateError

    if wanted is None:
        return list(available)
    missing = [c for c in dict.fromkeys(wanted) if c not in available]
    if missing:
        raise MigrateError(missing_message(missing), hint=hint(missing))
    return list(dict.fromkeys(wanted))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


class Workspace:
    """Paths of one workspace folder and its manifest."""

    def __init__(self, root: Path | str = DEFAULT_OUT):
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def quarantine_path(self) -> Path:
        return self.root / "quarantine.jsonl"

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"tool_version": __version__, "stages": {}}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def update_manifest(self, key: str, value: Any) -> None:
        """Set one top-level entry of the manifest (e.g. the pipeline's own bookkeeping)."""
        manifest = self.read_manifest()
        manifest[key] = value
        write_json(self.manifest_path, manifest)

    def record_stage(
        self,
        stage: str,
        *,
        inputs: dict[str, str],
        params: dict[str, Any],
        outputs: list[Path],
    ) -> None:
        """Record what `stage` read (content hashes), its parameters and what it wrote."""
        manifest = self.read_manifest()
        manifest["tool_version"] = __version__
        manifest.setdefault("stages", {})[stage] = {
            "tool_version": __version__,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "inputs": inputs,
            "params": params,
            "outputs": {
                str(path.relative_to(self.root)): sha256_file(path) for path in outputs
            },
        }
        write_json(self.manifest_path, manifest)


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """A hidden temporary folder beside `target` to fill; on success it replaces `target`, on
    failure it is removed, so `target` is always the previous or the new content, never a half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(temp, 0o777 & ~_UMASK)  # mkdtemp makes 0700
    try:
        yield temp
        replace_dir(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def replace_dir(source: Path, target: Path) -> None:
    """Move the finished folder `source` to `target`, replacing what was there (a folder cannot be
    renamed over a non-empty one: the old one is renamed aside first, then removed)."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)
