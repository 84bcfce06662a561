"""What people see: rich progress bars and summary tables, all on stderr (stdout is for data)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from migrate.progress import ProgressFn


@contextlib.contextmanager
def progress_bars(console: Console) -> Iterator[ProgressFn]:
    """A `ProgressFn` that draws one rich bar per task name."""
    bars = Progress(
        TextColumn("[bold]{task.description:<8}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        console=console, transient=False,
        refresh_per_second=2,  # 10/s (rich's default) costs ~2% of a CPU beside training
    )
    tasks: dict[str, Any] = {}

    def update(task: str, done: float, total: float | None = None) -> None:
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=total)
        bars.update(tasks[task], completed=done, total=total)

    with bars:
        yield update


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def print_analysis(summary: dict[str, Any], console: Console) -> None:
    files = Table(title="Ingested", title_justify="left")
    for column in ("file", "format", "records", "skipped", "quarantined"):
        files.add_column(column, justify="right" if column not in ("file", "format") else "left")
    for f in summary["files"]:
        files.add_row(escape(f["path"]), f["format"] or "?", f"{f['records']:,}", f"{f['skipped']:,}",
                      f"[red]{f['quarantined']:,}[/]" if f["quarantined"] else "0")
    console.print(files)
    for warning in summary["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}")

    table = Table(title="Subtasks found", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("name", overflow="ellipsis", no_wrap=True, width=max(6, min(56, console.width - 74)))
    for column, width in (("calls", 6), ("% calls", 7), ("% cost", 6)):
        table.add_column(column, justify="right", no_wrap=True, min_width=width)
    table.add_column("output", no_wrap=True, min_width=10)
    table.add_column("score", justify="right", no_wrap=True, min_width=5)
    table.add_column("verdict", no_wrap=True, min_width=11)
    for c in summary["clusters"]:
        rec = "[green]specialize[/]" if c["recommendation"] == "specialize" else "[dim]keep on LLM[/]"
        if c["id"] == "outlier":
            table.add_section()
        table.add_row(c["id"], escape(c["name"]), f"{c['size']:,}", f"{c['calls_share']:.1%}",
                      f"{c['cost_share']:.1%}", c["output_kind"], f"{c['score']:.2f}", rec)
    console.print(table)

    totals, move = summary["totals"], summary["migration"]
    console.print(
        f"{summary['records']:,} calls in {totals['clusters']} subtasks (+{totals['outliers']:,} outliers), "
        f"{summary['quarantined']:,} lines quarantined; {totals['days']:.1f} days of traffic costing "
        f"{_money(totals['cost_usd'])}."
    )
    console.print(
        f"[bold]Recommended for small models:[/] {len(move['recommended'])} subtasks, "
        f"{move['calls_share']:.1%} of calls and {move['cost_share']:.1%} of spend; estimated savings "
        f"{_money(move['savings_usd'])} over these logs"
        + (f", {_money(move['monthly_savings_usd'])} a month." if move["monthly_savings_usd"] is not None else ".")
    )
    curation = summary["curation"]
    dropped = sum(curation["dropped"].values())
    scrubbed = ", ".join(f"{k} {v:,}" for k, v in curation["values_replaced"].items()) or "nothing found"
    console.print(
        f"Curation: {curation['kept_for_training']:,} calls kept for training, {dropped:,} dropped; "
        f"scrubbed {escape(scrubbed)}."
    )
    if curation["coverage"].get("note"):
        console.print(f"[yellow]note:[/] {escape(curation['coverage']['note'])}")
    if totals["unpriced_models"]:
        console.print(f"[yellow]no price for:[/] {escape(', '.join(totals['unpriced_models']))} (add them with --prices)")
    identity = summary.get("identity") or {}
    if identity.get("previous"):
        console.print(f"Since the previous analysis: {len(identity.get('kept', []))} cluster ids kept"
                      + (f"; new: {', '.join(identity['new'])}" if identity.get("new") else "")
                      + (f"; vanished: {', '.join(v['id'] for v in identity['vanished'])}" if identity.get("vanished") else ""),
                      highlight=False)
    console.print(f"Report: {escape(summary['artifacts']['report_html'])}  ({summary['seconds']:.1f} s)")


def print_env(info: dict[str, Any], console: Console) -> None:
    table = Table(title=f"slm-migrate {info['slm_migrate']} · Python {info['python']}", title_justify="left")
    table.add_column("package")
    table.add_column("version")
    for group in ("core", "train"):
        for name, version in info[group].items():
            table.add_row(name, version or "[dim]not installed[/]")
    console.print(table)
    devices = info["devices"]
    cuda = devices.get("cuda")
    gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in cuda) if cuda else "none"
    console.print(f"CPU cores: {devices['cpu_count']}  ·  CUDA GPUs: {gpus}  ·  platform: {info['platform']}")
    if devices.get("note"):
        console.print(f"[dim]{escape(devices['note'])}[/]")


def print_curation(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="Curation", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("what")
    table.add_column("calls", justify="right")
    table.add_row("read", f"{summary['records']:,}")
    for reason, count in summary["dropped"].items():
        if count:
            table.add_row(f"dropped: {reason}", f"{count:,}")
    table.add_row("[bold]kept for training[/]", f"[bold]{summary['kept_for_training']:,}[/]")
    for entity, count in summary["pii"]["calls_with"].items():
        table.add_row(f"scrubbed {entity}", f"{count:,}")
    console.print(table)
    note = summary["pii"]["coverage"].get("note")
    if note:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(f"Curated records: {escape(summary['artifacts']['records'])}")


def print_datasets(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="Datasets", title_justify="left")
    for column in ("cluster", "name", "status", "train", "validation", "test", "dropped"):
        table.add_column(column, justify="right" if column in ("train", "validation", "test", "dropped") else "left",
                         min_width=len(column), max_width=24 if column == "name" else None, no_wrap=True,
                         overflow="ellipsis")
    for c in summary["clusters"]:
        sizes = c.get("sizes") or {}
        style = {"built": "green", "unchanged": "cyan", "too_small": "yellow"}.get(c["status"], "")
        table.add_row(
            c["id"], c["name"], f"[{style}]{c['status']}[/]",
            *(f"{sizes[s]:,}" if s in sizes else "-" for s in ("train", "validation", "test")),
            str(sum((c.get("dropped") or {}).values())),
        )
    console.print(table)
    for c in summary["clusters"]:
        if c["status"] == "too_small":
            console.print(f"[yellow]skipped:[/] {c['message']}", highlight=False)
    if not summary["clusters"]:
        console.print("[yellow]no cluster is recommended for a specialist:[/] name clusters with --clusters", highlight=False)
    console.print(f"validated with the {summary['renderer']}; written under {summary['out']}", highlight=False)


def print_finetune(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="Specialists", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("cluster", "recipe", "status", "train", "steps", "loss", "eval", "time"):
        table.add_column(column, justify="left" if column in ("cluster", "recipe", "status") else "right", no_wrap=True)
    for c in summary["clusters"]:
        style = {"trained": "green", "unchanged": "cyan", "failed": "red"}.get(c["status"], "")
        first, last = c.get("first_loss"), c.get("last_loss")
        loss = f"{first:.2f} → {last:.2f}" if first is not None and last is not None else "-"
        examples = (c.get("examples") or {}).get("train")
        table.add_row(
            c["id"], c["recipe"], f"[{style}]{c['status']}[/]",
            f"{examples:,}" if examples is not None else "-",
            str(c.get("steps") or "-"), loss,
            f"{c['eval_loss']:.2f}" if c.get("eval_loss") is not None else "-",
            f"{c['train_seconds']:.0f} s" if c.get("train_seconds") is not None else "-",
        )
    console.print(table)
    for c in summary["clusters"]:
        if c["status"] == "failed":
            console.print(f"[red]failed:[/] {c['id']}: {c['message']}", highlight=False)
    if any(c["recipe"] == "tiny-local" for c in summary["clusters"]):
        console.print("[yellow]note:[/] tiny-local exercises the pipeline with a toy model; choose a real recipe "
                      "with --recipe (see recipes/)", highlight=False)
    console.print(f"adapters under {summary['out']}", highlight=False)


def print_routing(summary: dict[str, Any], console: Console) -> None:
    table = Table(title=f"Routing (target precision {summary['target_precision']:.2%})", title_justify="left",
                  box=box.SIMPLE_HEAD)
    for column in ("cluster", "status", "threshold", "precision", "coverage", "calls moved"):
        table.add_column(column, justify="left" if column in ("cluster", "status") else "right", no_wrap=True)
    pct = lambda v: f"{v:.1%}" if isinstance(v, (int, float)) else "-"  # noqa: E731
    for c in summary["clusters"]:
        style = "green" if c["status"] == "slm" else "yellow"
        table.add_row(c["id"], f"[{style}]{c['status']}[/]",
                      f"{c['threshold']:.3f}" if c.get("threshold") is not None else "-",
                      pct(c.get("test_precision")), pct(c.get("test_coverage")), pct(c.get("moved_calls_share")))
    console.print(table)
    for c in summary["clusters"]:
        if c["status"] != "slm" and c.get("reason"):
            console.print(f"[yellow]{c['id']} stays on the LLM:[/] {c['reason']}", highlight=False)
    moved = summary.get("moved") or {}
    if moved:
        console.print(f"to small models: {pct(moved.get('calls_share'))} of calls, {pct(moved.get('cost_share'))} "
                      f"of cost; everything else goes to {summary.get('fallback_model') or 'the LLM each request names'}",
                      highlight=False)
    if summary.get("status") == "unchanged":
        console.print("[cyan]unchanged:[/] inputs and parameters as in the last build (--force rebuilds)", highlight=False)
    console.print(f"routing config: {summary['artifacts'].get('routing', summary['out'])}", highlight=False)


def print_evaluation(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="Evaluation (held-out test splits)", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("cluster", "kind", "metric", "specialist", "threshold", "verdict", "examples"):
        table.add_column(column, justify="left" if column in ("cluster", "kind", "metric", "verdict") else "right",
                         no_wrap=True)
    for c in summary["clusters"]:
        if c["status"] == "failed":
            table.add_row(c["id"], c.get("kind") or "-", "-", "-", "-", "[red]not evaluated[/]", "-")
            continue
        verdict = "[green]pass[/]" if c.get("passed") else "[yellow]fail[/]"
        if c["id"] in summary.get("regressions", []):
            verdict = "[red]regressed[/]"
        value = c.get("value")
        table.add_row(c["id"], c.get("kind") or "-", c.get("metric") or "-",
                      f"{value:.3g}" if isinstance(value, (int, float)) else "-",
                      f"{c['threshold']:.3g}" if isinstance(c.get("threshold"), (int, float)) else "-",
                      verdict + (" (unchanged)" if c["status"] == "unchanged" else ""), str(c.get("examples") or "-"))
    console.print(table)
    for c in summary["clusters"]:
        if c["status"] == "failed":
            console.print(f"[red]not evaluated:[/] {c['id']}: {c.get('message')}", highlight=False)
    console.print(f"per-model metrics, latency and cost: {summary['report']['html']}", highlight=False)


def print_run(summary: dict[str, Any], console: Console) -> None:
    changes = summary["changes"]
    if changes:
        table = Table(title="What changed, per cluster", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("cluster", "dataset", "adapter", "evaluation", "routing"):
            table.add_column(column, no_wrap=True)
        style = {"built": "green", "trained": "green", "pass": "green", "slm": "green", "fail": "yellow",
                 "too_small": "yellow", "failed": "red", "llm": "dim"}
        scores = (summary["stages"].get("evaluate") or {}).get("scores") or {}
        for row in changes:
            cells = [row.get(stage, "-") for stage in ("datasets", "finetune", "evaluate", "route")]
            cells = [f"[{style.get(c, '')}]{c}[/]" if style.get(c) else c for c in cells]
            score = scores.get(row["cluster"])
            if score:  # base zero-shot / few-shot -> specialist, on the deciding metric
                fmt = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
                cells[2] = (f"{cells[2]} {score['metric']} {fmt(score['base_zero_shot'])} / "
                            f"{fmt(score['base_few_shot'])} -> {fmt(score['specialist'])}")
            table.add_row(row["cluster"], *cells)
        console.print(table)
        if scores:
            console.print("evaluation: the deciding metric of base zero-shot / base few-shot -> specialist, "
                          "on held-out test calls", highlight=False)
    if summary.get("gate"):
        console.print(f"[red]check failed:[/] {summary['gate']}; the previous routing config was kept", highlight=False)
    console.print(f"workspace: {summary['out']}", highlight=False)


def print_drift(report: dict[str, Any], console: Console) -> None:
    """`slm-migrate drift`: abstentions, share changes, moved inputs, candidate clusters, verdict."""
    pct = lambda v: f"{v:.1%}" if isinstance(v, (int, float)) else "-"  # noqa: E731
    abstain = report["abstain"]
    style = "red" if abstain["exceeded"] else "green"
    console.print(f"{report['calls']:,} new calls: the router abstains on [{style}]{pct(abstain['share'])}[/] "
                  f"(limit {pct(report['limits']['max_abstain_share'])}); {pct(abstain['unknown_share'])} match no "
                  f"cluster (analysis: {pct(abstain['analysis_outlier_share'])} outliers)", highlight=False)
    if abstain["by_reason"]:
        console.print("  " + ", ".join(f"{r} {v['calls']:,}" for r, v in abstain["by_reason"].items()),
                      highlight=False)
    table = Table(title="Share of calls", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("cluster", "status", "analysis", "new", "change", "near", "inputs"):
        table.add_column(column, justify="left" if column in ("cluster", "status", "inputs") else "right",
                         no_wrap=True)
    moved = {m["id"]: m for m in report["moved"]}
    for c in report["clusters"]:
        change = f"{c['change'] * 100:+.1f} pts"
        table.add_row(c["id"], c["status"], pct(c["analysis_share"]), pct(c["share"]),
                      f"[red]{change}[/]" if c["exceeded"] else change, f"{c['near_calls']:,}",
                      ("[red]moved[/]" if moved[c["id"]]["counts"] else "[yellow]moved[/]") if c["id"] in moved
                      else "-")
    console.print(table)
    for m in report["moved"]:
        console.print(f"[yellow]{m['id']} inputs moved:[/] {escape('; '.join(m['what']))}", highlight=False)
    for c in report["candidates"]["candidates"]:
        context = (c["resembles"].get("context") or {}).get("cluster")
        console.print(f"[cyan]candidate {c['id']}:[/] {c['size']:,} calls ({pct(c['calls_share'])}), "
                      f"{escape(c['name'])}" + (f" — its context matches {context}" if context else ""),
                      highlight=False)
    for warning in report.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if report["exceeded"]:
        for reason in report["reasons"]:
            console.print(f"[red]exceeded:[/] {escape(reason)}", highlight=False)
    else:
        console.print("[green]within the limits[/]", highlight=False)
    console.print(f"report: {escape(report['report']['markdown'])}  ({report['seconds']:.1f} s)", highlight=False)


def print_status(status: dict[str, Any], console: Console) -> None:
    """`slm-migrate status`: one row per cluster, then what is stale and the commands to run."""
    table = Table(title=f"Workspace {escape(status['out'])}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("cluster", "recommendation", "data", "adapter", "evaluation", "routed", "state"):
        table.add_column(column, no_wrap=True)
    for c in status["clusters"]:
        data = c["dataset"]
        adapter = c["adapter"]
        evaluation = c["evaluation"]
        if evaluation["present"]:
            value = evaluation.get("value")
            shown = f"{evaluation.get('metric')} {value:.3g}" if isinstance(value, (int, float)) else "-"
            verdict = f"[green]pass[/] {shown}" if evaluation.get("passed") else f"[yellow]fail[/] {shown}"
        else:
            verdict = "-"
        routed = "[green]slm[/]" if c["routing"]["routed"] else (c["routing"]["status"] or "-")
        state = "[red]stale[/]" if c["stale"] else f"[green]fresh[/] ({c['stage']})"
        table.add_row(
            c["id"], c["recommendation"] or "-",
            (data["fingerprint"] or data["key"] or "")[7:19] if data["built"] else "-",
            escape(f"{adapter['recipe'] or adapter['base_model'] or '?'}") if adapter["present"] else "-",
            verdict, routed, state,
        )
    console.print(table)
    for c in status["clusters"]:
        for reason in c["stale_reasons"]:
            console.print(f"[red]{c['id']} stale:[/] {escape(reason)}", highlight=False)
    drift = status.get("drift")
    if drift:
        verdict = "[red]exceeded[/]" if drift["exceeded"] else "[green]within the limits[/]"
        console.print(f"last drift check ({drift['checked_at']}): {verdict}, {drift['calls']:,} calls", highlight=False)
    for command in status["next"]:
        console.print(f"next: {escape(command)}", highlight=False)
