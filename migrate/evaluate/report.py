"""The evaluation as Markdown and as one self-contained HTML page with plots.

Reads the records of `DIR/eval/<cluster>.json` (the contract in `migrate.evaluate`); writes
`report.md` and `report.html` atomically. Escaping, styles and number formats come from the
analysis report (`migrate.report`): answers quoted here are model output and log text, untrusted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrate.report import facts
from migrate.report.html import CSP, CSS, e
from migrate.report.markdown import md_cell, md_code, md_text
from migrate.workspace import write_text

MODELS = {"specialist": "specialist", "base_zero_shot": "base zero-shot", "base_few_shot": "base few-shot"}
SPEED = [("latency_ms_p50", "latency p50 (ms)"), ("latency_ms_p95", "latency p95 (ms)"),
         ("tokens_per_second", "tokens / s"), ("prompt_tokens_mean", "prompt tokens (mean)"),
         ("completion_tokens_mean", "completion tokens (mean)"), ("errors", "failed requests")]
TABLE_HEADER = ["cluster", "name", "kind", "examples", "metric", "threshold", *MODELS.values(), "verdict",
                "specialist p50 ms", "LLM $/call", "SLM $/call"]
INTRO = ("Each specialist is compared with the untuned base model (zero-shot, and few-shot with training examples "
         "in the prompt) on the cluster's held-out test split; the LLM's logged answers are the reference. Only the "
         "specialist's deciding metric decides pass or fail.")
ONE_DECIMAL = {"chrf", "latency", "latency_ms_p50", "latency_ms_p95", "tokens_per_second", "prompt_tokens_mean",
               "completion_tokens_mean"}
EXAMPLES_SHOWN = 3
ANSWER_CHARS = 600
EXTRA_CSS = ".badge.pass{background:var(--spec)}.badge.fail{background:#c92a2a}section.cluster.pass{border-left-color:var(--spec)}" \
            "section.cluster.fail{border-left-color:#c92a2a}"


def write_reports(records: list[dict[str, Any]], md_path: Path, html_path: Path) -> None:
    from migrate.evaluate.plots import render_eval_plots

    records = sorted(records, key=lambda r: str(r.get("cluster")))
    write_text(md_path, render_markdown(records))
    write_text(html_path, render_html(records, render_eval_plots(records)))


# -- facts shared by both renderings ------------------------------------------------------------
def number(metric: str | None, value: Any) -> str:
    """A metric's value: chrF, latencies and token counts with one decimal, scores with three."""
    if not facts.known(value):
        return facts.UNKNOWN
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:,.1f}" if metric in ONE_DECIMAL else f"{value:.3f}"


def verdict(record: dict[str, Any]) -> str:
    return "pass: specialist" if record.get("passed") else "fail: stays on LLM"


def decision(record: dict[str, Any]) -> str:
    metric = record.get("metric")
    return (f"specialist {metric} {number(metric, record.get('value'))}, threshold {number(metric, record.get('threshold'))} "
            f"({facts.count(record.get('examples'))} of {facts.count(record.get('test_examples'))} test examples).")


def headline(records: list[dict[str, Any]]) -> str:
    passed = [r["cluster"] for r in records if r.get("passed")]
    if not records:
        return "No cluster has been evaluated."
    return (f"{len(records)} cluster{'s' if len(records) != 1 else ''} evaluated: {len(passed)} passed "
            f"({', '.join(passed) or 'none'}) and may move to their specialist; {len(records) - len(passed)} "
            "stay on the LLM.")


def table_row(record: dict[str, Any]) -> list[str]:
    models, metric, cost = record.get("models") or {}, record.get("metric"), record.get("cost") or {}
    return [str(record.get("cluster")), facts.one_line(record.get("name"), 60), facts.kind_label(record.get("kind")),
            facts.count(record.get("examples")), str(metric), number(metric, record.get("threshold")),
            *(number(metric, (models.get(m) or {}).get(metric)) for m in MODELS), verdict(record),
            number("latency", (models.get("specialist") or {}).get("latency_ms_p50")),
            facts.usd(cost.get("llm_per_call_usd")), facts.usd(cost.get("slm_per_call_usd"))]


def metric_rows(record: dict[str, Any]) -> list[list[str]]:
    """One row per metric of the kind, then per speed figure: the value of each model."""
    models = record.get("models") or {}
    names = [k for k in (models.get("specialist") or {}) if k not in dict(SPEED) and k != "seconds"]
    rows = [[n, *(number(n, (models.get(m) or {}).get(n)) for m in MODELS)] for n in names]
    return rows + [[label, *(number(key, (models.get(m) or {}).get(key)) for m in MODELS)] for key, label in SPEED]


def cost_pairs(record: dict[str, Any]) -> list[tuple[str, str]]:
    cost = record.get("cost") or {}
    return [("LLM per call (from the logs)", facts.usd(cost.get("llm_per_call_usd"))),
            ("SLM per call (measured tokens x serving price)", facts.usd(cost.get("slm_per_call_usd"))),
            ("saving per call", f"{facts.usd(cost.get('saving_per_call_usd'))} ({facts.pct(cost.get('saving_share'))})"),
            ("LLM cost per month", facts.usd(cost.get("monthly_llm_usd"))),
            ("savings per month if routed", facts.usd(cost.get("monthly_savings_usd")))]


def judge_pairs(record: dict[str, Any]) -> list[tuple[str, str]]:
    judge = record.get("judge")
    if not judge:
        return []
    return [("judge model", str(judge.get("model"))), ("examples judged", facts.count(judge.get("judged"))),
            ("mean score (1-10)", facts.ratio(judge.get("score_mean"))),
            ("vs the LLM's answer: win / tie / loss",
             " / ".join(facts.pct(judge.get(k)) for k in ("win_rate", "tie_rate", "loss_rate")))]


def answer_text(message: dict[str, Any] | None) -> str:
    message = message or {}
    lines = [str(message["content"])] if message.get("content") else []
    lines += [f"→ {c.get('name')}({c.get('arguments')})" for c in message.get("tool_calls") or []]
    lines += [f"[{k.replace('_', ' ')}: {message[k]}]" for k in ("parse_error", "error") if message.get(k)]
    return facts.truncate("\n".join(lines) or "(empty)", ANSWER_CHARS)


def example_parts(row: dict[str, Any]) -> list[tuple[str, str]]:
    parts = [("reference (LLM)", answer_text(row.get("reference")))]
    for model, label in MODELS.items():
        scores = (row.get("scores") or {}).get(model) or {}
        shown = ", ".join(f"{k} {number(k, v)}" for k, v in scores.items() if v is not None)
        parts.append((f"{label} ({shown})" if shown else label, answer_text((row.get("predictions") or {}).get(model))))
    return parts


# -- Markdown -----------------------------------------------------------------------------------
def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows])


def render_markdown(records: list[dict[str, Any]]) -> str:
    parts = ["# slm-migrate evaluation", f"**{md_text(headline(records))}**", INTRO, "## Clusters"]
    if records:
        parts.append(_md_table(TABLE_HEADER, [table_row(r) for r in records]))
    for record in records:
        parts += [f"## {md_text(record.get('cluster'))} · {md_text(record.get('name'))}",
                  f"**{md_text(verdict(record))}**: {md_text(decision(record))}",
                  _md_table(["metric", *MODELS.values()], metric_rows(record)),
                  "**Cost**\n\n" + "\n".join(f"- {md_text(k)}: {md_text(v)}" for k, v in cost_pairs(record))]
        if judge_pairs(record):
            parts.append("**LLM judge**\n\n" + "\n".join(f"- {md_text(k)}: {md_text(v)}" for k, v in judge_pairs(record)))
        for row in (record.get("per_example") or [])[:EXAMPLES_SHOWN]:
            body = "\n\n".join(f"[{label}]\n{text}" for label, text in example_parts(row))
            parts += [f"#### Example {md_text(row.get('id'))}", md_code(body)]
    return "\n\n".join(parts) + "\n"


# -- HTML ---------------------------------------------------------------------------------------
def _html_table(header: list[str], rows: list[list[str]], text_columns: set[int]) -> str:
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in header)
    num = ' class="num"'
    body = "".join("<tr>" + "".join(f"<td{'' if i in text_columns else num}>{e(c)}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _kv(pairs: list[tuple[str, str]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in pairs) + "</dl>"


def render_html(records: list[dict[str, Any]], plots: list[Any]) -> str:
    body = ["<header><h1>slm-migrate evaluation</h1></header>",
            f'<p class="lead{"" if any(r.get("passed") for r in records) else " none"}">{e(headline(records))}</p>',
            '<section id="plots"><h2>Overview</h2><div class="plots">',
            *(f'<figure id="plot-{e(p.key)}">{p.svg}</figure>' for p in plots), "</div></section>",
            '<section id="clusters"><h2>Clusters</h2>',
            (_html_table(TABLE_HEADER, [table_row(r) for r in records], {0, 1, 2, 4, 9}) if records
             else "<p>No cluster has been evaluated.</p>"), "</section>"]
    for record in records:
        status = "pass" if record.get("passed") else "fail"
        body += [f'<section class="cluster {status}" id="cluster-{e(record.get("cluster"))}">',
                 f'<h3>{e(record.get("cluster"))} · {e(record.get("name"))} <span class="badge {status}">{e(verdict(record))}</span></h3>',
                 f"<p>{e(decision(record))}</p>",
                 _html_table(["metric", *MODELS.values()], metric_rows(record), {0}),
                 "<h4>Cost</h4>" + _kv(cost_pairs(record))]
        if judge_pairs(record):
            body.append("<h4>LLM judge</h4>" + _kv(judge_pairs(record)))
        for row in (record.get("per_example") or [])[:EXAMPLES_SHOWN]:
            parts = "".join(f'<div class="role">{e(label)}</div><pre>{e(text)}</pre>' for label, text in example_parts(row))
            body.append(f"<details><summary>Example {e(row.get('id'))}</summary><div>{parts}</div></details>")
        body.append("</section>")
    params = [r.get("params") for r in records]
    body.append('<footer><h2>About this report</h2><details><summary>Parameters</summary><div><pre>'
                + e(json.dumps(params[0] if params else {}, indent=2)) + "</pre></div></details></footer>")
    return ('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n<title>slm-migrate evaluation</title>\n'
            f"<style>{CSS}{EXTRA_CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n")
