"""The format registry and per-file detection.

`READERS` maps a format name to its reader module (`detect(obj) -> bool`, `parse(obj, ctx) ->
CallRecord | None`). `openai_batch_input` is not a reader: its lines are joined into batch output
records. Detection votes over the first lines of a file; `--format` overrides it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from migrate.ingest import langfuse, langsmith, messages, openai_batch, openai_pairs, openpipe

BATCH_INPUT = "openai_batch_input"

READERS: dict[str, ModuleType] = {
    "openai": openai_pairs,
    "openai_batch": openai_batch,
    "openpipe": openpipe,
    "langfuse": langfuse,
    "langsmith": langsmith,
    "messages": messages,
}
FORMATS = (*READERS, BATCH_INPUT)
DETECT_LINES = 50


def detect_line(obj: dict[str, Any]) -> str | None:
    """The format one parsed line looks like, or None."""
    if openai_batch.detect_input(obj):
        return BATCH_INPUT
    for name, reader in READERS.items():
        if reader.detect(obj):
            return name
    return None


def detect_format(objs: Iterable[dict[str, Any]]) -> str | None:
    """The format most of the given lines look like (None when none is recognised)."""
    votes = Counter(fmt for fmt in map(detect_line, objs) if fmt)
    return votes.most_common(1)[0][0] if votes else None
