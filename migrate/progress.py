"""The progress callback that stages accept (they never print; the CLI draws the bars)."""

from __future__ import annotations

from typing import Protocol


class ProgressFn(Protocol):
    def __call__(self, task: str, done: float, total: float | None = None) -> None:
        """Report that `task` has reached `done` out of `total` (None: unknown)."""


def no_progress(task: str, done: float, total: float | None = None) -> None:
    return None
