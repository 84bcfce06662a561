"""The `slm-migrate` command line: parse flags, call one stage, print a summary. No logic here.

Exit codes: 0 done; 1 unexpected failure (a bug: rerun with SLM_MIGRATE_DEBUG=1); 2 bad input or
usage (the message says what and how to fix it), or a cluster could not be processed (the others
were); 3 a data-quality gate failed (`analyze --strict`; `datasets` with nothing to build); 4 an
evaluation regressed (`evaluate --check`, `run --check`: a cluster that passed before fails now);
5 drift exceeded a configured limit (`drift --check`, `run --check`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from migrate import __version__
from migrate.errors import MigrateError

app = typer.Typer(
    name="slm-migrate",
    help="Move the repetitive work of LLM-powered agents onto fine-tuned small language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stderr = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"slm-migrate {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Move the repetitive work of LLM-powered agents onto fine-tuned small language models.

    Pipeline: analyze (ingest, cluster, score) -> datasets -> finetune -> evaluate -> route.
    """


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a `MigrateError` into a red message with its hint and the error's exit code."""
    try:
        yield
    except MigrateError as exc:
        stderr.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            stderr.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@app.command()
def env(as_json: bool = typer.Option(False, "--json", help="Print as JSON on stdout.")) -> None:
    """Show versions of slm-migrate and its libraries, and the compute devices available."""
    from migrate.envinfo import collect_env
    from migrate.summary import print_env

    info = collect_env()
    if as_json:
        _emit_json(info)
    else:
        print_env(info, stderr)


@app.command()
def analyze(
    logs: list[Path] = typer.Argument(..., help="Log files (.jsonl or .jsonl.gz; globs are expanded).", show_default=False),
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder for the artifacts."),
    log_format: str | None = typer.Option(
        None, "--format", "-f",
        help="Force the format of every file: openai, openai_batch, openai_batch_input, openpipe, langfuse, langsmith, messages. Default: detected per file.",
    ),
    prices: Path | None = typer.Option(None, "--prices", help="YAML price table merged over the bundled one (USD per 1M tokens)."),
    seed: int = typer.Option(0, "--seed", help="Random seed for sampling, SVD and k-means."),
    min_cluster_size: int = typer.Option(10, "--min-cluster-size", help="Smaller groups of calls become outliers."),
    merge_threshold: float = typer.Option(0.65, "--merge-threshold", help="Answer similarity (0-1) from which differently worded call sites merge into one subtask; lower merges more."),
    min_calls: int = typer.Option(50, "--min-calls", help="Fewest calls for a cluster to be recommended for a specialist."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 3) when any input line is quarantined."),
    max_line_bytes: int = typer.Option(8 * 1024 * 1024, "--max-line-bytes", help="Longer lines are quarantined."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Project config (YAML): curation settings under `curate:`."),
    no_curate: bool = typer.Option(False, "--no-curate", help="Skip curation (no PII scrubbing, filters or dedup): only for logs that are already clean."),
    fresh_ids: bool = typer.Option(False, "--fresh-ids", help="Number clusters afresh (largest first) instead of keeping the ids of a previous analysis in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Ingest agent call logs, scrub PII and secrets, discover the recurring subtasks and score
    each for a small model.

    Writes OUT/analysis/{assignments.jsonl, clusters.json, report.md, report.html},
    OUT/curate/{records.jsonl, audit.json} and OUT/quarantine.jsonl (every line that could not
    be read, with file, line and reason).
    """
    from migrate import analyze as stage
    from migrate.analyze.cluster import ClusterParams
    from migrate.analyze.suitability import SuitabilityParams
    from migrate.config import load_config
    from migrate.ingest import IngestParams
    from migrate.summary import print_analysis, progress_bars

    with user_errors():
        project = load_config(config)
    params = stage.AnalyzeParams(
        ingest=IngestParams(paths=logs, format=log_format, strict=strict, max_line_bytes=max_line_bytes),
        out=out,
        prices=prices,
        cluster=ClusterParams(seed=seed, min_cluster_size=min_cluster_size, merge_threshold=merge_threshold),
        suitability=SuitabilityParams(min_calls=min_calls),
        curate=project.curate.model_copy(update={"enabled": False}) if no_curate else project.curate,
        keep_ids=not fresh_ids,
    )
    with user_errors(), progress_bars(stderr) as progress:
        result = stage.run(params, progress)
    if as_json:
        _emit_json(result.summary)
    print_analysis(result.summary, stderr)


@app.command()
def curate(
    logs: list[Path] = typer.Argument(..., help="Log files (.jsonl or .jsonl.gz; globs are expanded).", show_default=False),
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder for the artifacts."),
    log_format: str | None = typer.Option(None, "--format", "-f", help="Force the format of every file (see analyze)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Project config (YAML): curation settings under `curate:`."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 3) when any input line is quarantined."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Scrub PII and secrets from the logs, drop calls unfit for training, remove duplicates.

    Writes OUT/curate/records.jsonl (scrubbed calls fit for training), OUT/curate/audit.json and
    OUT/quarantine.jsonl. `analyze` runs the same curation before clustering.
    """
    from migrate import curate as stage
    from migrate.config import load_config
    from migrate.ingest import IngestParams
    from migrate.summary import print_curation, progress_bars

    with user_errors():
        project = load_config(config)
    params = stage.CurateRunParams(
        ingest=IngestParams(paths=logs, format=log_format, strict=strict), out=out, curate=project.curate,
    )
    with user_errors(), progress_bars(stderr) as progress:
        summary = stage.run(params, progress)
    if as_json:
        _emit_json(summary)
    print_curation(summary, stderr)


def _cluster_list(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@app.command()
def datasets(
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder (where analyze wrote)."),
    clusters: str | None = typer.Option(None, "--clusters", help="Comma-separated cluster ids (default: those recommended for a specialist)."),
    all_recommended: bool = typer.Option(False, "--all-recommended", help="Build every cluster recommended as 'specialize' (the default)."),
    min_examples: int = typer.Option(50, "--min-examples", help="Fewest usable examples for a cluster to be built; smaller ones are skipped with a message."),
    max_length: int | None = typer.Option(None, "--max-length", help="Most tokens of prompt + answer; longer examples are dropped, never truncated. Default: the recipe's, else 2048."),
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="The recipe the datasets are for: validate with its chat template, max_length and (if available offline) its base model's tokenizer."),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="Local model folder whose tokenizer and chat template to validate with (default: ChatML, estimated lengths)."),
    test_fraction: float = typer.Option(0.1, "--test-fraction", help="Share of examples held out for testing."),
    validation_fraction: float = typer.Option(0.1, "--validation-fraction", help="Share held out for validation."),
    max_test: int = typer.Option(1000, "--max-test", help="Most test examples."),
    max_train: int | None = typer.Option(None, "--max-train", help="Most training examples (default: no cap)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    force: bool = typer.Option(False, "--force", help="Rebuild clusters whose records and settings did not change."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Build a fine-tuning dataset per subtask, with leakage-safe stratified splits.

    Writes OUT/datasets/<cluster>/ (a Hugging Face DatasetDict, openai/*.jsonl, README.md card).
    Exit code 0 when every selected cluster was built or is unchanged, also when some were
    skipped as too small (each named with what to do); 3 when none could be built.
    """
    from migrate import datasets as stage
    from migrate.datasets.split import SplitParams
    from migrate.summary import print_datasets, progress_bars

    if clusters and all_recommended:
        with user_errors():
            raise MigrateError("--clusters and --all-recommended exclude each other", hint="give one of them")
    with user_errors():
        params = stage.DatasetsParams(
            out=out, clusters=_cluster_list(clusters), min_examples=min_examples, max_length=max_length,
            tokenizer=tokenizer, recipe=recipe, force=force,
            split=SplitParams(test_fraction=test_fraction, validation_fraction=validation_fraction,
                              max_test=max_test, max_train=max_train, seed=seed),
        )
    with user_errors(), progress_bars(stderr) as progress:
        summary = stage.run(params, progress)
    if as_json:
        _emit_json(summary)
    print_datasets(summary, stderr)
    if summary["clusters"] and not any(c["status"] in ("built", "unchanged") for c in summary["clusters"]):
        raise typer.Exit(3)


@app.command()
def finetune(
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder (where datasets wrote)."),
    clusters: str | None = typer.Option(None, "--clusters", help="Comma-separated cluster ids (default: every cluster with a dataset). One per CI job: --clusters c03."),
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="Recipe name (see recipes/) or YAML file, for every cluster. Default: the config's, else tiny-local."),
    overrides: list[str] = typer.Option([], "--set", help="Override one recipe field: --set learning_rate=1e-4 --set tiny.pretrain_steps=50."),
    resume: bool = typer.Option(False, "--resume", help="Continue interrupted runs from their last checkpoint."),
    force: bool = typer.Option(False, "--force", help="Retrain clusters whose dataset, recipe and base did not change."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice; 1 when other work shares the cores)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Project config (YAML): recipes under `finetune:`."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Train one LoRA specialist per cluster on its dataset (TRL SFTTrainer + peft).

    Writes OUT/specialists/<cluster>/{adapter/, metrics.json, loss.json, loss.png, README.md}.
    Scales out with accelerate: `accelerate launch -m migrate finetune ...`. Exit code 0 when
    every cluster trained or was unchanged; 2 when a cluster failed (the others still train).
    """
    from migrate import finetune as stage
    from migrate.config import load_config
    from migrate.summary import print_finetune, progress_bars

    with user_errors():
        project = load_config(config)
    if threads:
        import torch

        torch.set_num_threads(threads)
    params = stage.FinetuneParams(
        out=out, clusters=_cluster_list(clusters), recipe=recipe, config=project.finetune,
        overrides=overrides, resume=resume, force=force,
    )
    with user_errors(), progress_bars(stderr) as progress:
        summary = stage.run(params, progress)
    if as_json:
        _emit_json(summary)
    print_finetune(summary, stderr)
    if any(c["status"] == "failed" for c in summary["clusters"]):
        raise typer.Exit(2)


@app.command()
def evaluate(
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder (where finetune wrote)."),
    clusters: str | None = typer.Option(None, "--clusters", help="Comma-separated cluster ids (default: every cluster with a specialist)."),
    backend: str = typer.Option("local", "--backend", help="local (transformers + peft, in this process) or openai (any OpenAI-compatible server, e.g. vLLM --enable-lora)."),
    base_url: str | None = typer.Option(None, "--base-url", help="openai backend: the server, e.g. http://localhost:8000/v1 (API key from $SLM_MIGRATE_API_KEY)."),
    judge: str | None = typer.Option(None, "--judge", help="OpenAI-compatible URL of an LLM judge (API key from $OPENAI_API_KEY); default: no judge."),
    judge_model: str = typer.Option("gpt-4o-mini", "--judge-model", help="The judge's model name."),
    few_shot: int | None = typer.Option(None, "--few-shot", help="Training examples in the base model's few-shot prompt (default: the config's, else 3)."),
    limit: int | None = typer.Option(None, "--limit", help="Most test examples per cluster, a seeded sample (default: the config's, else 200)."),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", help="Most tokens generated per answer (default: the config's, else 256)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts per generation batch (openai: concurrent requests)."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch (local backend)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Project config (YAML): thresholds and SLM cost under `evaluate:`."),
    check: bool = typer.Option(False, "--check", help="Exit 4 when a cluster that passed its threshold before fails now (CI)."),
    force: bool = typer.Option(False, "--force", help="Generate again for clusters whose specialist, dataset and settings did not change."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Evaluate each specialist on its held-out test split against the LLM's answers, beside the
    untuned base model zero-shot and few-shot; decide pass/fail per cluster.

    Writes OUT/eval/<cluster>.json, OUT/eval/report.md and OUT/eval/report.html. Exit code 0 when
    it ran (whatever the verdicts), 2 when a cluster could not be evaluated, 4 with --check when a
    cluster that passed before fails now.
    """
    from migrate import evaluate as stage
    from migrate.config import load_config
    from migrate.summary import print_evaluation, progress_bars

    with user_errors():
        project = load_config(config)
    if threads:
        import torch

        torch.set_num_threads(threads)
    with user_errors():
        params = stage.EvaluateParams(
            out=out, clusters=_cluster_list(clusters), backend=backend, base_url=base_url, judge_url=judge,
            judge_model=judge_model, few_shot=project.evaluate.few_shot if few_shot is None else few_shot,
            limit=limit or project.evaluate.limit,
            max_new_tokens=max_new_tokens or project.evaluate.max_new_tokens,
            batch_size=batch_size, thresholds=project.evaluate.thresholds,
            slm_cost_per_1k_tokens=project.evaluate.slm_cost_per_1k_tokens, check=check, force=force,
        )
    with user_errors(), progress_bars(stderr) as progress:
        summary = stage.run(params, progress)
    if as_json:
        _emit_json(summary)
    print_evaluation(summary, stderr)
    if summary.get("check_failed"):
        raise typer.Exit(4)
    if any(c["status"] == "failed" for c in summary["clusters"]):
        raise typer.Exit(2)


@app.command()
def init(
    path: Path = typer.Argument(Path("slm-migrate.yaml"), help="Where to write the config."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter project config for `slm-migrate run`."""
    from migrate.config import STARTER
    from migrate.workspace import write_text

    with user_errors():
        if path.exists() and not force:
            raise MigrateError(f"{path} exists", hint="edit it, or pass --force to overwrite it")
        write_text(path, STARTER)
    stderr.print(f"wrote {path}: list your logs under `inputs:`, then `slm-migrate run --config {path}`", highlight=False)


@app.command("run")
def run_pipeline(
    config: Path = typer.Option(..., "--config", "-c", help="Project config (YAML; `slm-migrate init` writes one)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Workspace folder (default: the config's `out`, else slm-migrate-out)."),
    stages: str | None = typer.Option(None, "--stages", help="Comma-separated stages to run (default: analyze,datasets,finetune,evaluate,route)."),
    force: list[str] = typer.Option([], "--force", help="Redo a stage even when its inputs did not change: a stage name, or `all` (repeatable)."),
    check: bool = typer.Option(False, "--check", help="CI gate: keep the previous routing config and exit 4 when a routed or previously passing cluster now fails its evaluation, 5 when the logs drifted beyond the limits."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Run analyze -> datasets -> finetune -> evaluate -> route build from one project config.

    Every stage skips what did not change (per stage, per cluster) and says so; new data in one
    cluster retrains and re-evaluates that cluster only. Exit codes: 0 done; 2 bad input, or a
    cluster failed in a stage; with --check, when the gate held the routing config back: 4 an
    evaluation failed, 5 the new logs drifted beyond the config's `drift:` limits.
    """
    from migrate import pipeline
    from migrate.config import load_config
    from migrate.summary import print_run, progress_bars

    with user_errors():
        project = load_config(config)
        for stage in [*(_cluster_list(stages) or []), *force]:
            if stage not in (*pipeline.STAGES, "all"):
                raise MigrateError(f"unknown stage {stage!r}", hint=f"stages: {', '.join(pipeline.STAGES)} (or all for --force)")
        params = pipeline.RunParams(
            config=project, out=out or project.out or Path("slm-migrate-out"),
            stages=_cluster_list(stages) or list(pipeline.STAGES), force=force, check=check,
        )
    if threads:
        import torch

        torch.set_num_threads(threads)

    def log(stage: str, line: str) -> None:
        stderr.print(f"[bold]{stage:<9}[/] {escape(line)}", highlight=False)

    with user_errors(), progress_bars(stderr) as progress:
        summary = pipeline.run(params, progress, log)
    if as_json:
        _emit_json(summary)
    print_run(summary, stderr)
    if summary["check_failed"]:
        raise typer.Exit(5 if summary["drift_exceeded"] else 4)
    if any(stage.get("failed") for stage in summary["stages"].values()):
        raise typer.Exit(2)


@app.command("ci-matrix")
def ci_matrix(
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder (after `run --stages analyze,datasets`)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Project config (the recipe per cluster)."),
) -> None:
    """Print, as a JSON CI matrix on stdout, the clusters whose adapter is missing or stale:
    {"include": [{"cluster": "c03", "recipe": "...", "why": "dataset changed"}]}. Train each in its
    own job with `slm-migrate finetune --clusters c03`."""
    from migrate import pipeline
    from migrate.config import load_config

    with user_errors():
        project = load_config(config)
        sys.stdout.write(json.dumps(pipeline.ci_matrix(out, project)) + "\n")


@app.command()
def drift(
    logs: list[Path] = typer.Argument(..., help="New log files (.jsonl or .jsonl.gz; globs are expanded).", show_default=False),
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder (with an analysis and a built router)."),
    log_format: str | None = typer.Option(None, "--format", "-f", help="Force the format of every file (see analyze)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Project config: limits under `drift:`, scrubbing under `curate:`."),
    check: bool = typer.Option(False, "--check", help="Exit 5 when a limit is exceeded (CI)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Compare new logs with the analysis: unknown work (calls the router abstains on), each
    cluster's change of share, candidate new clusters among the unknown calls, and clusters whose
    inputs moved (system prompt, tools, tool schemas). New calls are scrubbed before anything is
    kept. Writes OUT/drift/report.json and report.md.
    """
    from migrate import drift as stage
    from migrate.config import load_config
    from migrate.ingest import IngestParams
    from migrate.summary import print_drift, progress_bars

    with user_errors():
        project = load_config(config)
        params = stage.DriftParams(out=out, logs=IngestParams(paths=logs, format=log_format),
                                   scrub=project.curate.scrub, **project.drift.model_dump())
    with user_errors(), progress_bars(stderr) as progress:
        report = stage.run(params, progress)
    if as_json:
        _emit_json(report)
    print_drift(report, stderr)
    if check and report.get("exceeded"):
        raise typer.Exit(5)


@app.command()
def status(
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON on stdout."),
) -> None:
    """Each cluster's state: data hash, dataset, adapter, last evaluation, routed or not, and
    whether anything is stale (built from inputs that changed since), with the commands to run."""
    from migrate import status as stage
    from migrate.summary import print_status

    with user_errors():
        result = stage.run(stage.StatusParams(out=out))
    if as_json:
        _emit_json(result)
    print_status(result, stderr)


route_app = typer.Typer(
    help="Route requests: a specialist when it is safe, the LLM otherwise (build the router, test it).",
    no_args_is_help=True,
)
app.add_typer(route_app, name="route")


@route_app.command("build")
def route_build(
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder."),
    target_precision: float = typer.Option(0.99, "--target-precision", help="Share of the requests sent to a specialist that must belong to its cluster (on held-out calls)."),
    fallback_model: str | None = typer.Option(None, "--fallback-model", help="The LLM for everything else (default: the model each request names, else the most used in the logs)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/calibration/test split."),
    min_calibration: int = typer.Option(20, "--min-calibration", help="Fewest held-out calls of a cluster to calibrate its threshold on (fewer: it stays on the LLM)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when inputs and parameters did not change."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Train and calibrate the router; write OUT/routing/{routing.yaml, router.json, router.npz,
    tradeoff.json, report.md, report.html}.

    A cluster is routed to its specialist (status `slm`) only if its evaluation passed
    (OUT/eval/<cluster>.json); everything else stays on the LLM, with the reason.
    """
    from migrate import route as stage
    from migrate.summary import print_routing, progress_bars

    with user_errors():
        params = stage.RouteParams(out=out, target_precision=target_precision, fallback_model=fallback_model,
                                   seed=seed, min_calibration=min_calibration, force=force)
    with user_errors(), progress_bars(stderr) as progress:
        summary = stage.build(params, progress)
    if as_json:
        _emit_json(summary)
    print_routing(summary, stderr)


@route_app.command("test")
def route_test(
    out: Path = typer.Option(Path("slm-migrate-out"), "--out", "-o", help="Workspace folder (with a built router)."),
    request: Path | None = typer.Option(None, "--request", help="An OpenAI chat request as JSON (messages, tools); default: read stdin."),
) -> None:
    """Route one request: print the decision, the cluster, the confidence and why (JSON on stdout)."""
    from migrate import route as stage

    with user_errors():
        text = request.read_text(encoding="utf-8") if request else sys.stdin.read()
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise MigrateError(f"{request or 'stdin'}: not a JSON request ({exc})",
                               hint='give {"messages": [...], "tools": [...]} as JSON') from None
        _emit_json(stage.test(out, body))


def main() -> None:
    """Console entry point: unexpected failures become a one-line message (traceback on demand)."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into a message
        if os.environ.get("SLM_MIGRATE_DEBUG"):
            import traceback

            traceback.print_exc()  # no locals: they hold log text
        else:
            stderr.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False)
            stderr.print("[yellow]hint:[/] rerun with SLM_MIGRATE_DEBUG=1 for the traceback, and report it")
        sys.exit(1)
