"""Benchmark the router's decisions: latency per request (in-process) and throughput.

Analyses the bundled sample logs (or reuses `--out`), builds the router, and routes the held-out
test calls of its split as raw OpenAI chat requests — read from the logs again, unscrubbed, as a
proxy would receive them (the router was trained on scrubbed calls). Per request it measures
`Router.route(request)` end to end (normalising the request, featurising, classifying, checking):

- wall-clock latency p50/p90/p99 with the call-site cache warm (the steady state: a call site's
  system prompt and tools are featurised once) and cold (the cache emptied before each request:
  the first request of a call site);
- CPU time per request (`time.thread_time_ns`), which a loaded machine's preemptions do not inflate;
- throughput: requests per second routed one after the other on one thread.
It also reports how the raw requests were decided, and their precision against the analysis.

    python bench/route.py                                  # ~30 s (analysis ~20 s, build ~3 s)
    python bench/route.py --out DIR                        # reuse an analysed workspace
    python bench/route.py --results bench/RESULTS.md       # also rewrite the results block

Results go to stdout as JSON, and with --results into the marked block of RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one request at a time: BLAS threads only contend

import numpy as np
import orjson
from common import (  # bench/common.py (scripts run as `python bench/NAME.py`)
    machine,
    write_block,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_P50_US = 200.0


def analyse(out: Path) -> None:
    if (out / "analysis" / "clusters.json").exists():
        return
    logs = sorted(str(p) for p in (ROOT / "sample_logs").glob("*.jsonl.gz"))
    done = subprocess.run([sys.executable, "-m", "migrate", "analyze", *logs, "--out", str(out), "--json"],
                          check=False, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        sys.exit(f"analyze failed:\n{done.stderr}")


def held_out_requests(out: Path, router) -> tuple[list[dict], list[str]]:
    """The raw requests of the test part of the router's split, and their clusters."""
    from migrate.ingest import Ingestor, IngestParams
    from migrate.records import CallRecord
    from migrate.route import RouteParams, calibrate

    params = RouteParams(out=out)
    cluster = {}
    for line in (out / "analysis" / "assignments.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        cluster.setdefault(row["id"], row["cluster"])
    curated = []
    for line in (out / "curate" / "records.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        row.pop("represents", None)
        curated.append(CallRecord.from_dict(row))
    parts = calibrate.parts_of(router.embedder, curated, params.seed, params.calibration_fraction,
                               params.test_fraction)
    # joined on (file name, line): ids default to "<path as given>:<line>", and paths differ by cwd
    test_calls = {(Path(r.file).name, r.line): cluster[r.id] for r, part in zip(curated, parts) if part == "test"}
    logs = sorted((ROOT / "sample_logs").glob("*.jsonl.gz"))
    requests, labels = [], []
    for record in Ingestor(IngestParams(paths=logs), lambda _: None).records():
        label = test_calls.get((Path(record.file).name, record.line))
        if label is not None:
            requests.append({"model": record.model, "messages": record.messages, "tools": record.tools,
                             **record.params})
            labels.append(label)
    return requests, labels


def latencies(router, requests: list[dict], passes: int, cold: bool) -> tuple[np.ndarray, np.ndarray]:
    """(wall µs, CPU µs) per request and pass."""
    wall, cpu = [], []
    contexts = router.embedder._contexts
    for _ in range(passes):
        for request in requests:
            if cold:
                contexts.clear()
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            router.route(request)
            w1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            wall.append(w1 - w0)
            cpu.append(c1 - c0)
    return np.array(wall) / 1e3, np.array(cpu) / 1e3


def percentiles(values: np.ndarray) -> dict[str, float]:
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (50, 90, 99)}


def run(out: Path, passes: int) -> dict:
    from migrate.route import RouteParams, Router, build

    analyse(out)
    started = time.perf_counter()
    build(RouteParams(out=out, force=True))
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    router = Router.load(out / "routing")
    load_ms = (time.perf_counter() - started) * 1e3
    requests, labels = held_out_requests(out, router)
    router = Router.load(out / "routing")  # a fresh one: its caches empty

    decisions = [router.route(r) for r in requests]  # warms the call-site cache
    reasons = Counter(d.reason for d in decisions)
    recognised = [(d.cluster, label) for d, label in zip(decisions, labels) if d.cluster is not None]
    in_clusters = sum(1 for label in labels if label != "outlier")

    warm_wall, warm_cpu = latencies(router, requests, passes, cold=False)
    cold_wall, cold_cpu = latencies(router, requests, 1, cold=True)
    started = time.perf_counter()
    for _ in range(passes):
        for request in requests:
            router.route(request)
    throughput = passes * len(requests) / (time.perf_counter() - started)
    return {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "requests": len(requests),
        "passes": passes,
        "build_seconds": round(build_seconds, 2),
        "load_ms": round(load_ms, 1),
        "warm_wall_us": percentiles(warm_wall),
        "warm_cpu_us": percentiles(warm_cpu),
        "cold_wall_us": percentiles(cold_wall),
        "cold_cpu_us": percentiles(cold_cpu),
        "throughput_per_s": round(throughput),
        "decisions": dict(reasons.most_common()),
        "recognised_share": round(len(recognised) / max(in_clusters, 1), 4),
        "precision_vs_analysis": round(sum(c == label for c, label in recognised) / max(len(recognised), 1), 4),
        "target_p50_us": TARGET_P50_US,
    }


def write_results(path: Path, r: dict) -> None:
    block = "\n".join([
        (f"Measured {r['date']} on {r['machine']}; load average {', '.join(map(str, r['load_average']))} "
        f"(the machine is shared). {r['requests']:,} held-out requests, {r['passes']} passes."),
        "",
        "| call-site cache | wall p50 | wall p90 | wall p99 | CPU p50 | CPU p99 |",
        "|---|---:|---:|---:|---:|---:|",
        (f"| warm (steady state) | {r['warm_wall_us']['p50']} µs | {r['warm_wall_us']['p90']} µs | "
        f"{r['warm_wall_us']['p99']} µs | {r['warm_cpu_us']['p50']} µs | {r['warm_cpu_us']['p99']} µs |"),
        (f"| cold (first request of a call site) | {r['cold_wall_us']['p50']} µs | {r['cold_wall_us']['p90']} µs | "
        f"{r['cold_wall_us']['p99']} µs | {r['cold_cpu_us']['p50']} µs | {r['cold_cpu_us']['p99']} µs |"),
        "",
        f"Throughput {r['throughput_per_s']:,} requests/s on one thread; router build {r['build_seconds']} s, load "
        f"{r['load_ms']} ms. Raw (unscrubbed) held-out requests: {r['recognised_share']:.1%} of those in a cluster "
        f"recognised, precision {r['precision_vs_analysis']:.2%} against the analysis; decisions "
        + ", ".join(f"{k} {v:,}" for k, v in r["decisions"].items()) + ".",
    ])
    write_block(path, "route", block, "Router decisions — `bench/route.py`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "route-sample",
                        help="workspace (analysed here first when it holds no analysis)")
    parser.add_argument("--passes", type=int, default=5, help="times each held-out request is routed")
    parser.add_argument("--results", type=Path, default=None, help="rewrite the route block in this RESULTS.md")
    args = parser.parse_args()
    result = run(args.out, args.passes)
    print(json.dumps(result, indent=1))
    if args.results:
        write_results(args.results, result)


if __name__ == "__main__":
    main()
