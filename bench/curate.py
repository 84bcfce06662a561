"""Benchmark curation on its own: scrubbing, filters, exact and near dedup, per call.

Reads a generated log (as `bench/analyze.py` makes it), parses every call once, then times each
curation step over all of them in this process, and analyze's own per-call work for comparison.

    python bench/curate.py                         # the 100k-call log of bench/analyze.py
    python bench/curate.py --log FILE.jsonl.gz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(label: str, calls: int, fn) -> dict:
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    row = {"step": label, "seconds": round(seconds, 2), "us_per_call": round(seconds / calls * 1e6, 1),
           "calls_per_s": round(calls / seconds)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=ROOT / "bench" / "out" / "calls-100000.openai.jsonl.gz")
    args = parser.parse_args()

    from migrate.analyze.cost import PriceTable
    from migrate.analyze.table import CallTable
    from migrate.curate.dedup import Deduplicator, DedupParams
    from migrate.curate.filters import FilterParams, drop_reason
    from migrate.curate.scrub import Scrubber, ScrubParams
    from migrate.ingest import Ingestor, IngestParams

    started = time.perf_counter()
    records = list(Ingestor(IngestParams(paths=[args.log]), lambda row: None).records())
    n = len(records)
    print(json.dumps({"step": "parse", "calls": n, "seconds": round(time.perf_counter() - started, 1)}))
    scrubber = Scrubber(ScrubParams(), b"bench-key" * 4)
    rows = [timed("scrub (Presidio + secrets)", n, lambda: [scrubber.scrub_record(r) for r in records])]
    print(json.dumps({"found": dict(scrubber.found.most_common())}))
    filters = FilterParams()
    rows.append(timed("filters", n, lambda: [drop_reason(r, filters) for r in records]))
    exact = Deduplicator(DedupParams(near=False))
    rows.append(timed("dedup exact", n, lambda: [exact.check(i, r) for i, r in enumerate(records)]))
    near = Deduplicator(DedupParams())
    rows.append(timed("dedup exact + near (MinHash)", n, lambda: [near.check(i, r) for i, r in enumerate(records)]))
    table = CallTable(PriceTable())
    rows.append(timed("analyze features (for comparison)", n, lambda: [table.add(r) for r in records]))


if __name__ == "__main__":
    main()
