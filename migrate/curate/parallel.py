"""Scrub in a worker process while the main process parses, featurises and deduplicates.

Scrubbing is the most expensive per-call step of curation and needs no shared state (placeholders
depend only on the key), so a worker process runs it beside the rest of the pipeline on a second
core. Records travel in batches, in order, with a bounded number of batches in flight, so memory
does not grow with the log and the output order is the input order. (Moving dedup to the worker
as well was measured slower: the worker became the bottleneck.)
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from typing import Any

from migrate.curate.scrub import Scrubber, ScrubParams
from migrate.records import CallRecord

BATCH = 256  # records per task: large enough to amortise the round trip
IN_FLIGHT = 4  # batches queued ahead of the worker

_scrubber: list[Scrubber] = []  # the worker's own scrubber


def default_workers() -> int:
    """Scrub in a worker process when there is a second core to run it on."""
    return 1 if (os.cpu_count() or 1) >= 2 else 0


def _start(params: dict[str, Any], key: bytes) -> None:
    _scrubber.append(Scrubber(ScrubParams.model_validate(params), key))


def _scrub_batch(records: list[CallRecord]) -> list[tuple[CallRecord, Counter[str]]]:
    return [(record, Counter(_scrubber[0].scrub_record(record))) for record in records]


def _scrub_text(text: str) -> str:
    return _scrubber[0].scrub_text(text)


def _coverage() -> dict[str, Any]:
    return _scrubber[0].coverage()


class ScrubPool:
    """`scrub(records)` yields `(record, found)` in input order, scrubbed by a worker process.

    The worker holds the only Presidio engine (~370 MB): the main process asks it for the rare
    single text (`scrub_text`) and for what it covers (`coverage`)."""

    def __init__(self, params: ScrubParams, key: bytes):
        context = multiprocessing.get_context("spawn")  # no fork of a process holding BLAS threads
        self._pool = context.Pool(1, initializer=_start, initargs=(params.model_dump(mode="json"), key))

    def scrub(self, records: Iterable[CallRecord]) -> Iterator[tuple[CallRecord, Counter[str]]]:
        pending: deque[Any] = deque()
        batch: list[CallRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) == BATCH:
                pending.append(self._pool.apply_async(_scrub_batch, (batch,)))
                batch = []
                while len(pending) > IN_FLIGHT:
                    yield from pending.popleft().get()
        if batch:
            pending.append(self._pool.apply_async(_scrub_batch, (batch,)))
        while pending:
            yield from pending.popleft().get()

    def scrub_text(self, text: str) -> str:
        """`text` scrubbed by the worker (after the batches already sent)."""
        return self._pool.apply(_scrub_text, (text,))

    def coverage(self) -> dict[str, Any]:
        return self._pool.apply(_coverage)

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()
