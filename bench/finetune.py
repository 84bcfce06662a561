"""Benchmark `slm-migrate finetune` against a plain TRL script on the same data, model and settings.

Our overhead is the wall-time ratio of the two, each a whole fresh process (imports, loading and
tokenizing the data, training, the final evaluation on the validation split, writing the
outputs); the target is under 1.10.

- A: `slm-migrate finetune --out WS --clusters c01 --force --threads 1 --set max_steps=N` with the
  tiny-local recipe (recipes/tiny-local.yaml). It also checkpoints every `save_steps` (25) for
  --resume, hashes its inputs and outputs, and writes metrics, loss curve and model card: all
  counted as overhead.
- B: `bench/plain_trl.py`: the same dataset through `datasets.load_from_disk`, TRL's conversational
  prompt/completion rows, `SFTConfig`/`LoraConfig` with the same recipe values, TRL tokenizing
  itself, `torch.set_num_threads(1)`, the same seed, batch size, max_length and max_steps, no
  checkpoints, one evaluation on the validation split after training, the adapter saved.

slm-migrate evaluates at the end of each epoch; with N within one epoch (default 150 of 198 steps
on c01) that is one evaluation after the last step, the same work as B's. Both train on the same
cached tiny base folder, on identical token ids and loss masks (they reach the same losses). Runs
alternate A, B, A, B, ... and the medians are reported, with each child's CPU time (user + sys)
and peak RSS. Set-up, done by the script when needed (reused when present):

    slm-migrate analyze sample_logs/*.jsonl.gz --out bench/out/finetune-ws
    slm-migrate datasets --out bench/out/finetune-ws --clusters c01      # c01: label routing
    slm-migrate finetune ... --set max_steps=1   # builds and caches the tiny base; also a warm-up

then one unmeasured plain run (warm-up). One command does it all:

    python bench/finetune.py --results bench/RESULTS.md     # ~5 minutes on 2 idle cores
    python bench/finetune.py --steps 20 --repeats 1         # a quick check

Results go to stdout as JSON lines (one per run, then the summary), and with --results into the
marked block of RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import (  # bench/common.py (scripts run as `python bench/NAME.py`)
    machine,
    write_block,
)

ROOT = Path(__file__).resolve().parent.parent
PLAIN = ROOT / "bench" / "plain_trl.py"
RECIPE = ROOT / "recipes" / "tiny-local.yaml"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1"}
TARGET = 1.10


def slm_migrate() -> list[str]:
    """The console script of this interpreter's environment, else `python -m migrate`."""
    script = Path(sys.executable).parent / "slm-migrate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "migrate"]


def run_logged(cmd: list[str], log: Path) -> float:
    """Run `cmd` in ROOT with stdout and stderr to `log`; its wall seconds."""
    started = time.perf_counter()
    with open(log, "w") as handle:
        done = subprocess.run(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n  see {log}")
    return time.perf_counter() - started


def measure(cmd: list[str], stdout: Path, stderr: Path) -> dict:
    """Wall seconds, CPU seconds and peak RSS of `cmd`, a fresh child process of this one."""
    load = os.getloadavg()[0]
    with open(stdout, "w") as out, open(stderr, "w") as err:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f"failed ({child.returncode}): {' '.join(cmd)}\n  see {stderr}")
    return {"wall_seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "load_1min_before": round(load, 2)}


def setup(ws: Path, cluster: str, logs: Path) -> Path:
    """Workspace, dataset and cached tiny base, built when missing; the base folder."""
    if not (ws / "analysis" / "clusters.json").exists():
        logs_in = sorted(str(p) for p in (ROOT / "sample_logs").glob("*.jsonl.gz"))
        run_logged([*slm_migrate(), "analyze", *logs_in, "--out", str(ws)], logs / "setup-analyze.log")
    if not (ws / "datasets" / cluster / "dataset.json").exists():
        run_logged([*slm_migrate(), "datasets", "--out", str(ws), "--clusters", cluster], logs / "setup-datasets.log")
    # Resolves (builds on first use) the tiny base under ws/cache/base/, and warms the caches.
    run_logged([*slm_migrate(), "finetune", "--out", str(ws), "--clusters", cluster, "--force",
                "--threads", "1", "--set", "max_steps=1"], logs / "setup-finetune.log")
    metrics = json.loads((ws / "specialists" / cluster / "metrics.json").read_text())
    base = Path(metrics["base_path"])
    return base if base.is_absolute() else ROOT / base


def check_one_epoch(ws: Path, cluster: str, steps: int) -> None:
    """slm-migrate evaluates at every epoch end (eval_strategy="epoch"), the plain script once
    after training: the same work only while max_steps stays within one epoch."""
    import yaml

    train = json.loads((ws / "datasets" / cluster / "dataset.json").read_text())["sizes"]["train"]
    recipe = yaml.safe_load(RECIPE.read_text())
    per_epoch = -(-train // (recipe["per_device_train_batch_size"] * recipe["gradient_accumulation_steps"]))
    if steps > per_epoch:
        sys.exit(f"--steps {steps} is more than one epoch ({per_epoch} steps): slm-migrate would evaluate "
                 "more often than the plain script; use fewer steps")


def run_ours(ws: Path, cluster: str, steps: int, threads: int, logs: Path, repeat: int) -> dict:
    cmd = [*slm_migrate(), "finetune", "--out", str(ws), "--clusters", cluster, "--force",
           "--threads", str(threads), "--set", f"max_steps={steps}"]
    row = measure(cmd, logs / f"ours-{repeat}.out", logs / f"ours-{repeat}.err")
    folder = ws / "specialists" / cluster
    metrics = json.loads((folder / "metrics.json").read_text())
    history = json.loads((folder / "loss.json").read_text())
    end = next(r for r in history if "train_runtime" in r)
    # The trainer evaluates at the end of the (cut) epoch, inside train(): take it out of the
    # training time so that tokens/s means the same for both runs.
    inside = [r["eval_runtime"] for r in history[: history.index(end)] if "eval_runtime" in r]
    eval_seconds = sum(inside)
    train_seconds = end["train_runtime"] - eval_seconds
    return {"run": "slm-migrate", "repeat": repeat, **row, "steps": metrics["steps"],
            "train_tokens": metrics["train_tokens"], "train_seconds": round(train_seconds, 2),
            "eval_seconds": eval_seconds, "tokens_per_second": round(metrics["train_tokens"] / train_seconds, 1),
            "train_loss": metrics["train_loss"], "eval_loss": metrics["eval_loss"]}


def run_plain(ws: Path, cluster: str, base: Path, steps: int, threads: int, logs: Path, repeat: int) -> dict:
    out = ws.parent / "finetune-plain" / "adapter"
    shutil.rmtree(out.parent, ignore_errors=True)
    cmd = [sys.executable, str(PLAIN), "--dataset", str(ws / "datasets" / cluster), "--base", str(base),
           "--out", str(out), "--recipe", str(RECIPE), "--max-steps", str(steps), "--threads", str(threads)]
    stdout = logs / f"plain-{repeat}.out"
    row = measure(cmd, stdout, logs / f"plain-{repeat}.err")
    result = json.loads(stdout.read_text().strip().splitlines()[-1])
    return {"run": "plain-trl", "repeat": repeat, **row, "steps": result["steps"],
            "train_tokens": result["train_tokens"], "train_seconds": result["train_seconds"],
            "eval_seconds": result["eval_seconds"], "tokens_per_second": result["tokens_per_second"],
            "train_loss": result["train_loss"], "eval_loss": result["eval_loss"]}


def summarise(rows: list[dict], steps: int) -> dict:
    ours = [r for r in rows if r["run"] == "slm-migrate"]
    plain = [r for r in rows if r["run"] == "plain-trl"]

    def median(runs: list[dict], key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 2)

    ratio = median(ours, "wall_seconds") / median(plain, "wall_seconds")
    cpu_ratio = median(ours, "cpu_seconds") / median(plain, "cpu_seconds")
    pairs = [a["wall_seconds"] / b["wall_seconds"] for a, b in zip(ours, plain)]
    return {
        "summary": True, "steps": steps, "repeats": len(ours),
        "ours_wall_seconds": median(ours, "wall_seconds"), "plain_wall_seconds": median(plain, "wall_seconds"),
        "ratio": round(ratio, 3), "pair_ratios": [round(p, 3) for p in pairs], "target": TARGET,
        "met": ratio < TARGET, "cpu_ratio": round(cpu_ratio, 3),
        "ours_tokens_per_second": median(ours, "tokens_per_second"),
        "plain_tokens_per_second": median(plain, "tokens_per_second"),
        "same_losses": all(a["train_loss"] == b["train_loss"] and a["eval_loss"] == b["eval_loss"]
                           for a, b in zip(ours, plain)),
        "load_1min": [min(r["load_1min_before"] for r in rows), max(r["load_1min_before"] for r in rows)],
    }


def versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("torch", "transformers", "trl", "peft", "datasets"))


def write_results(path: Path, rows: list[dict], summary: dict, cluster: str, threads: int) -> None:
    ours = [r for r in rows if r["run"] == "slm-migrate"]
    plain = [r for r in rows if r["run"] == "plain-trl"]
    label = {"slm-migrate": f"`slm-migrate finetune` (tiny-local, {cluster})", "plain-trl": "plain TRL (`bench/plain_trl.py`)"}

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    low, high = summary["load_1min"]
    shared = " (other work shared the cores: wall times vary with it, CPU times far less)" if high > 1.5 else ""
    lines = [
        (f"Measured {dt.date.today().isoformat()} on {machine()}; {versions()}. {threads} torch "
         f"thread per run; 1-minute load average before the runs {low}–{high}{shared}."),
        "",
        (f"| run | steps | wall time, median of {summary['repeats']} (all runs) | CPU time | train tokens "
         "| training tokens/s | final eval | peak RSS |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for runs in (ours, plain):
        walls = ", ".join(f"{r['wall_seconds']:.1f}" for r in runs)
        lines.append(
            f"| {label[runs[0]['run']]} | {runs[0]['steps']} | **{med(runs, 'wall_seconds'):.1f} s** ({walls}) | "
            f"{med(runs, 'cpu_seconds'):.1f} s | {runs[0]['train_tokens']:,} | {med(runs, 'tokens_per_second'):,.0f} | "
            f"{med(runs, 'eval_seconds'):.1f} s | {med(runs, 'peak_rss_mb'):,.0f} MB |"
        )
    verdict = "met" if summary["met"] else "**missed**"
    lines += [
        "",
        f"Wall-time ratio (our overhead): **{summary['ratio']:.3f}** (target < {TARGET:.2f}: {verdict}); "
        f"per interleaved pair {', '.join(f'{p:.3f}' for p in summary['pair_ratios'])}; "
        f"CPU-time ratio {summary['cpu_ratio']:.3f}. "
        + ("Both runs reach the same training and validation loss to the last digit (same tokens, order and "
           "initialisation)." if summary["same_losses"] else "The two runs' losses differ: check the settings."),
    ]
    write_block(path, "finetune", "\n".join(lines), "Fine-tuning overhead — `bench/finetune.py`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="max_steps of every measured run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, interleaved")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--cluster", default="c01", help="the sample's label-routing cluster")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--results", type=Path, default=None, help="rewrite the block in this RESULTS.md")
    args = parser.parse_args()
    os.environ.update(OFFLINE)
    ws = args.workdir.resolve() / "finetune-ws"
    logs = args.workdir.resolve() / "finetune-logs"
    logs.mkdir(parents=True, exist_ok=True)

    base = setup(ws, args.cluster, logs)
    check_one_epoch(ws, args.cluster, args.steps)
    run_plain(ws, args.cluster, base, 1, args.threads, logs, 0)  # warm-up, not measured
    rows = []
    for repeat in range(1, args.repeats + 1):
        for row in (run_ours(ws, args.cluster, args.steps, args.threads, logs, repeat),
                    run_plain(ws, args.cluster, base, args.steps, args.threads, logs, repeat)):
            print(json.dumps(row), flush=True)
            rows.append(row)
    summary = summarise(rows, args.steps)
    print(json.dumps(summary), flush=True)
    if args.results:
        write_results(args.results, rows, summary, args.cluster, args.threads)


if __name__ == "__main__":
    main()
