"""The evaluation report's plots as inline SVG: the deciding metric of each cluster per model
against its threshold, and the latency of each model.

Drawn with the analysis report's machinery (`migrate.report.plots`: an explicit Agg canvas, text
kept as text, fixed hash salts and no date, so the same records give the same bytes).
"""

from __future__ import annotations

import warnings
from typing import Any

from migrate.report import facts
from migrate.report.plots import Plot, _bar_height, _empty, _legend_below, _render, _slots

MODEL_LABELS = {"specialist": "specialist (LoRA)", "base_zero_shot": "base, zero-shot", "base_few_shot": "base, few-shot"}
MODEL_COLORS = {"specialist": "#2b8a3e", "base_zero_shot": "#adb5bd", "base_few_shot": "#4c6ef5"}
LABEL_CHARS = 30


def scale(metric: str | None) -> float:
    """chrF runs 0-100, every other metric 0-1: plots divide by this to share one axis."""
    return 100.0 if metric == "chrf" else 1.0


def render_eval_plots(records: list[dict[str, Any]]) -> list[Plot]:
    import matplotlib as mpl

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return [_render(mpl, "eval_metric", _plot_metric, records),
                _render(mpl, "eval_latency", _plot_latency, records)]


def _label(record: dict[str, Any]) -> str:
    return f"{record.get('cluster', '?')} · {facts.one_line(record.get('name'), LABEL_CHARS)}"


def _grouped(ax, records: list[dict[str, Any]], value_of) -> list[list[float | None]]:
    """Three bars per cluster (one per model), top to bottom; the values drawn, per model."""
    height = 0.26
    drawn = []
    for offset, model in zip((-height, 0.0, height), MODEL_LABELS):
        values = [value_of(r, model) for r in records]
        drawn.append(values)
        ax.barh([i + offset for i in range(len(records))], [v or 0.0 for v in values], height=height * 0.95,
                color=MODEL_COLORS[model], label=MODEL_LABELS[model])
    ax.set_yticks(range(len(records)), [_label(r) for r in records])
    _slots(ax, len(records))
    return drawn


def _plot_metric(fig, records: list[dict[str, Any]]) -> tuple[str, str]:
    title = "Deciding metric per cluster and model (chrF / 100)"
    fig.set_size_inches(7.5, _bar_height(len(records) * 2.2))
    ax = fig.add_subplot()
    ax.set_title(title, loc="left")
    if not records:
        _empty(ax, "no cluster evaluated")
        return title, "No cluster was evaluated."

    def value(record: dict[str, Any], model: str) -> float | None:
        v = ((record.get("models") or {}).get(model) or {}).get(record.get("metric"))
        return None if v is None else float(v) / scale(record.get("metric"))

    drawn = _grouped(ax, records, value)
    for offset, values in zip((-0.26, 0.0, 0.26), drawn):
        for i, v in enumerate(values):
            ax.text(v or 0.0, i + offset, f" {_fmt(v)}", va="center", fontsize=7, color="#333333")
    for i, record in enumerate(records):
        if facts.known(record.get("threshold")):
            x = float(record["threshold"]) / scale(record.get("metric"))
            ax.plot([x, x], [i - 0.45, i + 0.45], color="#c92a2a", linewidth=1.6,
                    label="threshold" if i == 0 else None)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("score (1 = perfect)")
    _legend_below(fig, ax)
    parts = [f"{r.get('cluster')} {r.get('metric')}: " + ", ".join(
        f"{MODEL_LABELS[m]} {_fmt(v)}" for m, v in zip(MODEL_LABELS, (d[i] for d in drawn)))
        + f"; threshold {_fmt((r.get('threshold') or 0) / scale(r.get('metric')))}; "
        + ("passed" if r.get("passed") else "failed") for i, r in enumerate(records)]
    return title, "Grouped horizontal bars per cluster, one per model, with the pass threshold: " + "; ".join(parts) + "."


def _plot_latency(fig, records: list[dict[str, Any]]) -> tuple[str, str]:
    title = "Latency per call, median (ms)"
    fig.set_size_inches(7.5, _bar_height(len(records) * 2.2))
    ax = fig.add_subplot()
    ax.set_title(title, loc="left")
    if not records:
        _empty(ax, "no cluster evaluated")
        return title, "No cluster was evaluated."
    drawn = _grouped(ax, records, lambda r, m: ((r.get("models") or {}).get(m) or {}).get("latency_ms_p50"))
    top = max([v for d in drawn for v in d if v] or [1.0])
    ax.set_xlim(0, top * 1.15)
    ax.set_xlabel("milliseconds per call (p50)")
    _legend_below(fig, ax)
    parts = [f"{r.get('cluster')}: " + ", ".join(f"{MODEL_LABELS[m]} {_fmt(v, 0)} ms" for m, v in zip(MODEL_LABELS, (d[i] for d in drawn)))
             for i, r in enumerate(records)]
    return title, "Grouped horizontal bars, median latency per call of each model: " + "; ".join(parts) + "."


def _fmt(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if facts.known(value) else facts.UNKNOWN
