"""Benchmark `slm-migrate analyze` end to end on generated logs of 100k and 1M calls.

For each size: generate a gzipped OpenAI request/response log with `sample_logs/generate.py` (a
different seed from the committed sample), run `slm-migrate analyze` on it in a fresh process, and
measure wall time, calls/s and peak RSS (`ru_maxrss` of that process). Also scores the clustering
against the generator's ground truth (adjusted Rand index), so speed is never bought with quality.

    python bench/analyze.py                    # 100k and 1M, each curation mode (~25 minutes)
    python bench/analyze.py --sizes 20000      # a quick run
    python bench/analyze.py --results bench/RESULTS.md   # also rewrite the results table

Results go to stdout as JSON lines, and with --results into the marked block of RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from common import (  # bench/common.py (scripts run as `python bench/NAME.py`)
    machine,
    write_block,
)
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "sample_logs" / "generate.py"


def generate(path: Path, calls: int, seed: int) -> float:
    if path.exists() and Path(f"{path}.labels.jsonl").exists():
        return 0.0
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(GENERATOR), "--single-format", "openai", "--file", str(path),
         "--calls", str(calls), "--seed", str(seed)],
        check=True,
    )
    return time.perf_counter() - started


def measure(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of `cmd` run in a child of a fresh measuring process."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True)
    seconds, rss_kib = out.stdout.split()
    return float(seconds), int(rss_kib) * 1024


def ari(labels_path: Path, assignments_path: Path) -> float:
    truth = {}
    with open(labels_path) as handle:
        for line in handle:
            row = json.loads(line)
            truth[row["line"]] = row["subtask"]
    pred, gold = [], []
    with open(assignments_path) as handle:
        for line in handle:
            row = json.loads(line)
            if row["line"] in truth:
                pred.append(row["cluster"])
                gold.append(truth[row["line"]])
    return adjusted_rand_score(gold, pred)


# curation modes: the label in the table, and the extra analyze arguments
MODES = {
    "off": "off (--no-curate)",
    "no-scrub": "on, scrubbing off",
    "on": "on (default)",
}


def run_size(calls: int, workdir: Path, seed: int, mode: str) -> dict:
    log = workdir / f"calls-{calls}.openai.jsonl.gz"
    gen_seconds = generate(log, calls, seed)
    out = workdir / f"out-{calls}-{mode}"
    cmd = [sys.executable, "-m", "migrate", "analyze", str(log), "--out", str(out), "--json"]
    if mode == "off":
        cmd.append("--no-curate")
    elif mode == "no-scrub":
        config = workdir / "no-scrub.yaml"
        config.write_text("curate:\n  scrub:\n    enabled: false\n")
        cmd += ["--config", str(config)]
    seconds, rss = measure(cmd)
    clusters = json.loads((out / "analysis" / "clusters.json").read_text())
    return {
        "calls": calls,
        "curation": MODES[mode],
        "file_mb": round(log.stat().st_size / 2**20, 1),
        "seconds": round(seconds, 1),
        "calls_per_s": round(calls / seconds),
        "peak_rss_mb": round(rss / 2**20),
        "clusters": clusters["totals"]["clusters"],
        "outliers": clusters["totals"]["outliers"],
        "ari": round(ari(Path(f"{log}.labels.jsonl"), out / "analysis" / "assignments.jsonl"), 4),
        "generate_seconds": round(gen_seconds, 1),
    }


def write_results(path: Path, rows: list[dict]) -> None:
    lines = [
        f"Measured {dt.date.today().isoformat()} on {machine()}.",
        "",
        "| calls | curation | log (gz) | wall time | calls/s | peak RSS | subtasks found | outliers | ARI vs truth |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['calls']:,} | {r['curation']} | {r['file_mb']} MB | {r['seconds']} s | {r['calls_per_s']:,} | "
            f"{r['peak_rss_mb']:,} MB | {r['clusters']} | {r['outliers']:,} | {r['ari']} |"
        )
    write_block(path, "analyze", "\n".join(lines), "Analyze — `bench/analyze.py`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--results", type=Path, default=None, help="rewrite the table in this RESULTS.md")
    parser.add_argument("--curation", nargs="+", choices=list(MODES), default=list(MODES),
                        help="curation modes to measure: none (off), filters and dedup without PII scrubbing "
                        "(no-scrub: scrubbing's own cost is `on` against this), and the default (on)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for calls in args.sizes:
        for mode in args.curation:
            row = run_size(calls, args.workdir, args.seed, mode)
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.results:
        write_results(args.results, rows)


if __name__ == "__main__":
    main()
