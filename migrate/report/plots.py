"""The report's plots as inline SVG strings: cluster sizes, calls vs cost, suitability, a 2-D map.

matplotlib is imported inside `render_plots`, so importing this module stays cheap. Figures are
drawn on an explicit Agg canvas (`Figure` + `FigureCanvasAgg`, no pyplot: no global backend switch,
no figure registry to leak into) and saved as SVG with text kept as text (`svg.fonttype: none`),
a fixed hash salt per plot (stable, non-colliding ids when several SVGs share one page) and no date,
so the same analysis gives the same bytes.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from migrate.report import facts

COLORS = {"specialize": "#2b8a3e", "keep_on_llm": "#7b8fa6"}
OUTLIER_COLOR = "#b5b5b5"
CALLS_COLOR, COST_COLOR = "#4c6ef5", "#f08c00"
CLUSTER_PALETTES = ("tab20", "tab20b", "tab20c")  # 60 distinct colours before any repeats
LABEL_CHARS = 34  # cluster names on axes are cut to this many characters
RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,  # log text with "$" must not turn into mathtext
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
}


@dataclass
class Plot:
    key: str  # stable id: "sizes", "calls_cost", "suitability", "map"
    title: str
    alt: str  # what the plot shows, for screen readers and the figure caption
    svg: str  # an `<svg>` element with a `<title>` and `<desc>`, ready to inline


def render_plots(analysis: dict[str, Any], points: dict[str, Any]) -> list[Plot]:
    """The four plots of the HTML report, in page order."""
    import matplotlib as mpl

    clusters = facts.ordered_clusters(analysis)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return [
            _render(mpl, "sizes", _plot_sizes, clusters),
            _render(mpl, "calls_cost", _plot_calls_cost, clusters, facts.cost_known(analysis)),
            _render(mpl, "suitability", _plot_suitability, clusters, facts.threshold(analysis)),
            _render(mpl, "map", _plot_map, points or {}),
        ]


def _render(mpl, key: str, draw, *args) -> Plot:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with mpl.rc_context({**RC, "svg.hashsalt": f"slm-migrate-{key}"}):
        fig = Figure(layout="constrained")
        FigureCanvasAgg(fig)
        title, alt = draw(fig, *args)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    fig.clear()
    return Plot(key=key, title=title, alt=alt, svg=_inline_svg(buffer.getvalue(), key, title, alt))


def _inline_svg(svg: str, key: str, title: str, alt: str) -> str:
    """Drop the XML prolog and the artists' group ids (they repeat across figures: `figure_1`…),
    make the element responsive and accessible."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'<g id="[^"]*"', "<g", svg)
    svg = re.sub(r'\n\s*', "\n", svg)
    head_end = svg.index(">") + 1
    opening = svg[:head_end].replace(
        "<svg ", f'<svg role="img" aria-labelledby="plot-{key}-title plot-{key}-desc" class="plot" ', 1
    )
    accessible = (
        f'<title id="plot-{key}-title">{escape(title)}</title>'
        f'<desc id="plot-{key}-desc">{escape(alt)}</desc>'
    )
    return opening + accessible + svg[head_end:].strip() + "\n"


def _axis_label(cluster: dict[str, Any]) -> str:
    if facts.is_outlier(cluster):
        return "outliers (stay on LLM)"
    return f"{cluster.get('id', '?')} · {facts.one_line(cluster.get('name'), LABEL_CHARS)}"


def _bar_height(n: int) -> float:
    return min(max(2.4, 0.32 * n + 1.3), 16.0)


def _slots(ax, n: int) -> None:
    """Top-to-bottom bars with room for at least three, so one or two bars stay bar-shaped."""
    ax.set_ylim(max(n, 3) - 0.5, -0.5)


def _legend_below(fig, ax, **kwargs) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles=kwargs.pop("handles", handles), loc="outside lower center", frameon=False, fontsize=8,
               ncols=3, **kwargs)


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _share(value: Any) -> float:
    return float(value) * 100 if facts.known(value) else 0.0


def _plot_sizes(fig, clusters: list[dict[str, Any]]) -> tuple[str, str]:
    title = "Cluster sizes (share of calls)"
    fig.set_size_inches(7.0, _bar_height(len(clusters)))
    ax = fig.add_subplot()
    ax.set_title(title, loc="left")
    if not clusters:
        _empty(ax, "no calls")
        return title, "No calls were analysed."
    positions = list(range(len(clusters)))
    values = [_share((c.get("shares") or {}).get("calls")) for c in clusters]
    colors = [OUTLIER_COLOR if facts.is_outlier(c) else COLORS.get(facts.recommendation(c), COLORS["keep_on_llm"])
              for c in clusters]
    ax.barh(positions, values, color=colors, height=0.7)
    ax.set_yticks(positions, [_axis_label(c) for c in clusters])
    _slots(ax, len(clusters))
    ax.set_xlabel("% of calls")
    ax.set_xlim(0, max(max(values) * 1.15, 1.0))
    for pos, value in zip(positions, values):
        ax.text(value, pos, f" {value:.1f}%", va="center", fontsize=8, color="#333333")
    from matplotlib.patches import Patch

    handles = [Patch(color=COLORS["specialize"], label="specialize"),
               Patch(color=COLORS["keep_on_llm"], label="keep on LLM"),
               Patch(color=OUTLIER_COLOR, label="outliers")]
    _legend_below(fig, ax, handles=handles)
    parts = [f"{c.get('id')} {_share((c.get('shares') or {}).get('calls')):.1f}% ({facts.recommendation_label(c)})"
             for c in clusters]
    return title, "Horizontal bars, share of calls per cluster, coloured by recommendation: " + "; ".join(parts) + "."


def _plot_calls_cost(fig, clusters: list[dict[str, Any]], cost_known: bool) -> tuple[str, str]:
    title = "Share of calls vs share of cost" + ("" if cost_known else " (cost unknown)")
    fig.set_size_inches(7.0, _bar_height(len(clusters) * 1.4))
    ax = fig.add_subplot()
    ax.set_title(title, loc="left")
    if not clusters:
        _empty(ax, "no calls")
        return title, "No calls were analysed."
    positions = list(range(len(clusters)))
    calls = [_share((c.get("shares") or {}).get("calls")) for c in clusters]
    cost = [_share((c.get("shares") or {}).get("cost")) if cost_known else 0.0 for c in clusters]
    ax.barh([p - 0.2 for p in positions], calls, height=0.38, color=CALLS_COLOR, label="% of calls")
    ax.barh([p + 0.2 for p in positions], cost, height=0.38, color=COST_COLOR, label="% of cost")
    ax.set_yticks(positions, [_axis_label(c) for c in clusters])
    _slots(ax, len(clusters))
    ax.set_xlabel("% of all calls / % of total spend")
    ax.set_xlim(0, max(max(calls + cost) * 1.1, 1.0))
    _legend_below(fig, ax)
    parts = [f"{c.get('id')} calls {a:.1f}%, cost {f'{b:.1f}%' if cost_known else 'unknown'}"
             for c, a, b in zip(clusters, calls, cost)]
    return title, "Grouped horizontal bars per cluster: " + "; ".join(parts) + "."


def _plot_suitability(fig, clusters: list[dict[str, Any]], threshold: float | None) -> tuple[str, str]:
    title = "Suitability for a small model"
    scored = [c for c in clusters if not facts.is_outlier(c)]
    fig.set_size_inches(7.0, _bar_height(len(scored)))
    ax = fig.add_subplot()
    ax.set_title(title, loc="left")
    if not scored:
        _empty(ax, "no recurring subtasks: nothing to score")
        return title, "No recurring subtasks were found, so no cluster has a suitability score."
    positions = list(range(len(scored)))
    scores = [float((c.get("suitability") or {}).get("score") or 0.0) for c in scored]
    colors = [COLORS.get(facts.recommendation(c), COLORS["keep_on_llm"]) for c in scored]
    ax.barh(positions, scores, color=colors, height=0.7)
    ax.set_yticks(positions, [_axis_label(c) for c in scored])
    _slots(ax, len(scored))
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("suitability score (0–1)")
    if facts.known(threshold):
        ax.axvline(threshold, color="#c92a2a", linestyle="--", linewidth=1.2, label=f"threshold {threshold:.2f}")
        _legend_below(fig, ax)
    parts = [f"{c.get('id')} {s:.3f} ({facts.recommendation_label(c)})" for c, s in zip(scored, scores)]
    line = f" with the recommendation threshold at {threshold:.2f}" if facts.known(threshold) else ""
    return title, f"Horizontal bars, suitability score per cluster{line}: " + "; ".join(parts) + "."


def _plot_map(fig, points: dict[str, Any]) -> tuple[str, str]:
    title = "Map of calls (2-D projection of the request embedding)"
    fig.set_size_inches(7.5, 5.0)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left")
    xs, ys, labels = list(points.get("x") or []), list(points.get("y") or []), list(points.get("cluster") or [])
    n = min(len(xs), len(ys), len(labels))
    groups: dict[str, tuple[list[float], list[float]]] = {}
    for x, y, label in zip(xs[:n], ys[:n], labels[:n]):
        if facts.known(x) and facts.known(y) and math.isfinite(x) and math.isfinite(y):
            group = groups.setdefault(str(label), ([], []))
            group[0].append(float(x))
            group[1].append(float(y))
    if not groups:
        _empty(ax, "no calls to plot")
        return title, "No calls to plot."
    ids = sorted((g for g in groups if g != facts.OUTLIER_ID))
    from matplotlib import colormaps

    palette = [color for name in CLUSTER_PALETTES for color in colormaps[name].colors]
    total = sum(len(g[0]) for g in groups.values())
    size = 14.0 if total < 500 else 8.0
    if facts.OUTLIER_ID in groups:
        gx, gy = groups[facts.OUTLIER_ID]
        ax.scatter(gx, gy, s=size / 2, color=OUTLIER_COLOR, alpha=0.6, linewidths=0, label="outliers")
    for i, cluster in enumerate(ids):
        gx, gy = groups[cluster]
        ax.scatter(gx, gy, s=size, color=palette[i % len(palette)], alpha=0.85, linewidths=0, label=cluster)
    ax.set_xlabel("first axis")
    ax.set_ylabel("second axis")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8, markerscale=1.6,
              ncols=max(1, math.ceil(len(groups) / 22)), title="cluster")
    return title, (
        f"Scatter of {total:,} sampled calls on the first two axes of the request embedding, coloured by "
        f"cluster ({len(ids)} clusters" + (", outliers in grey" if facts.OUTLIER_ID in groups else "")
        + "). Calls close together sent similar requests."
    )
