"""The routing report: what goes where, at what precision, and the trade-off curve — as Markdown
(`report.md`) and one self-contained HTML page with an inline SVG plot (`report.html`).

The trade-off is the RouteLLM view: how much of the traffic can move to small models at each
quality level. Here quality is the router's precision on held-out calls (a request sent to a
specialist belongs to its cluster); each target precision recalibrates the thresholds on the
calibration calls and is measured on the test calls. Cluster names and reasons come from the logs:
escaped for each format (`migrate.report.markdown`, `migrate.report.html`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrate.report.html import CSP, CSS, e
from migrate.report.markdown import _table, md_code, md_text
from migrate.workspace import write_text

ALL_COLOR, PROMOTED_COLOR, CUTOFF_COLOR = "#4c6ef5", "#2b8a3e", "#adb5bd"


def pct(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def num(value: Any, digits: int = 4) -> str:
    return "none" if value is None else f"{value:.{digits}f}"


def cluster_rows(routing: dict[str, Any]) -> list[list[str]]:
    return [[c["id"], c["name"] or "", c["status"], c["reason"], num(c["router"]["threshold"]),
             pct(c["router"]["test_precision"]), pct(c["router"]["test_coverage"]),
             pct(c["moved"]["calls_share"]), pct(c["moved"]["cost_share"])]
            for c in routing["clusters"]]


CLUSTER_HEADER = ["id", "name", "status", "why", "threshold", "test precision", "test coverage",
                  "calls moved", "cost moved"]


def curve_rows(tradeoff: dict[str, Any]) -> list[list[str]]:
    return [[f"{p['target']:g}", pct(p["all_clusters"]["share_routed"]), pct(p["all_clusters"]["precision"], 2),
             pct(p["promoted"]["share_routed"]), pct(p["promoted"]["precision"], 2)] for p in tradeoff["by_target"]]


CURVE_HEADER = ["target precision", "routed (all clusters)", "precision", "routed (promoted only)", "precision"]


def coverage_rows(tradeoff: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    points = tradeoff["by_target"]
    header = ["cluster"] + [f"{p['target']:g}" for p in points]
    ids = list(points[0]["clusters"]) if points else []
    rows = [[cid] + [f"{pct(p['clusters'][cid]['coverage'])} @ {pct(p['clusters'][cid]['precision'], 2)}"
                     for p in points] for cid in ids]
    return header, rows


def headline(routing: dict[str, Any]) -> str:
    moved, held = routing["moved"], routing["held_out"]
    if not moved["clusters"]:
        return ("No specialist is promoted yet: every request goes to the fallback LLM. The router is built, and "
                "the table says what each cluster still needs.")
    savings = moved.get("monthly_savings_usd")
    saved = f", about ${savings:,.2f} a month saved" if savings else ""
    return (f"{len(moved['clusters'])} specialist(s) take {pct(moved['calls_share'])} of the calls and "
            f"{pct(moved['cost_share'])} of the LLM spend{saved}; on held-out calls "
            f"{pct(held.get('test_precision_promoted'), 2)} of the requests they receive belong to their cluster "
            f"(target {routing['target_precision']:g}).")


# -- Markdown -----------------------------------------------------------------------------------
def render_markdown(routing: dict[str, Any], tradeoff: dict[str, Any]) -> str:
    fallback = routing["fallback"]
    held = routing["held_out"]
    header, rows = coverage_rows(tradeoff)
    parts = [
        "# slm-migrate routing",
        (f"Target precision {routing['target_precision']:g} · fallback LLM `{md_text(fallback['model'])}` "
        f"({md_text(fallback['source'])}) · held-out calls: {held['split']['calibration']:,} to calibrate, "
        f"{held['split']['test']:,} to test"),
        md_text(headline(routing)),
        "## Clusters",
        _table(CLUSTER_HEADER, cluster_rows(routing), right={4, 5, 6, 7, 8}),
        ("Precision: of the held-out test calls the router sends to a cluster, the share that belong to it. "
        "Coverage: of a cluster's test calls, the share the router sends to it. Moved: the cluster's share of all "
        "calls (and of cost) times its coverage, for promoted clusters only."),
        "## Trade-off: traffic routed vs precision",
        ("Each row recalibrates the thresholds to a target precision and measures the test calls: the share of "
        "all traffic sent to a specialist and the share of it that lands in the right cluster, if every cluster "
        "were promoted and with the promoted ones only."),
        _table(CURVE_HEADER, curve_rows(tradeoff), right={1, 2, 3, 4}),
        "Per cluster, coverage @ precision at each target precision:",
        _table(header, rows, right=set(range(1, len(header)))),
        "## Serving",
    ]
    commands = routing["serve"]["vllm"]
    if commands:
        parts.append("One vLLM server per base model holds every promoted adapter (run from the workspace folder):")
        parts += [md_code(c["command"], "sh") for c in commands]
    else:
        parts.append("No adapter is promoted: nothing to serve besides the fallback LLM.")
    return "\n\n".join(parts) + "\n"


# -- HTML ---------------------------------------------------------------------------------------
def _html_table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in header)
    numeric = ' class="num"'
    body = "".join(
        "<tr>" + "".join(f"<td{numeric if i in right else ''}>{e(cell)}</td>" for i, cell in enumerate(row))
        + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def render_html(routing: dict[str, Any], tradeoff: dict[str, Any], plot_svg: str) -> str:
    fallback, held = routing["fallback"], routing["held_out"]
    header, rows = coverage_rows(tradeoff)
    commands = routing["serve"]["vllm"]
    serve = ("".join(f"<pre>{e(c['command'])}</pre>" for c in commands) if commands
             else "<p>No adapter is promoted: nothing to serve besides the fallback LLM.</p>")
    body = [
        "<header><h1>slm-migrate routing</h1>",
        (f'<p class="meta">target precision {e(routing["target_precision"])} · fallback LLM {e(fallback["model"])} '
        f'({e(fallback["source"])}) · held-out calls: {held["split"]["calibration"]:,} to calibrate, '
        f'{held["split"]["test"]:,} to test</p></header>'),
        f'<p class="lead{"" if routing["moved"]["clusters"] else " none"}">{e(headline(routing))}</p>',
        '<section id="clusters"><h2>Clusters</h2>',
        _html_table(CLUSTER_HEADER, cluster_rows(routing), {4, 5, 6, 7, 8}),
        ('<p class="muted">Precision: of the held-out test calls the router sends to a cluster, the share that belong '
        "to it. Coverage: of a cluster's test calls, the share the router sends to it. Moved: the cluster's share "
        "of all calls (and of cost) times its coverage, for promoted clusters only.</p></section>"),
        '<section id="tradeoff"><h2>Trade-off: traffic routed vs precision</h2>',
        f'<figure id="plot-tradeoff">{plot_svg}</figure>',
        _html_table(CURVE_HEADER, curve_rows(tradeoff), {1, 2, 3, 4}),
        "<h4>Per cluster: coverage @ precision at each target precision</h4>",
        _html_table(header, rows, set(range(1, len(header)))),
        "</section>",
        f'<section id="serving"><h2>Serving</h2><p>Run from the workspace folder:</p>{serve}</section>',
    ]
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        "<title>slm-migrate routing</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


# -- plot ---------------------------------------------------------------------------------------
def _plot_tradeoff(fig, tradeoff: dict[str, Any]) -> tuple[str, str]:
    title = "Share of traffic routed to specialists vs precision (held-out test calls)"
    fig.set_size_inches(10.0, 4.4)
    fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    overall, per_cluster = fig.subplots(1, 2)
    points = tradeoff["by_target"]
    target = tradeoff["target_precision"]
    lowest = [target * 100]

    def line(ax, xs, ys, **kwargs):
        pairs = [(x * 100, y * 100) for x, y in zip(xs, ys) if x is not None and y is not None]
        if pairs:
            ax.plot([p[0] for p in pairs], [p[1] for p in pairs], marker="o", markersize=3.5, linewidth=1.4, **kwargs)
            lowest.append(min(p[1] for p in pairs))

    cut = tradeoff["by_cutoff"]
    line(overall, [p["share_routed"] for p in cut], [p["precision"] for p in cut], color=CUTOFF_COLOR,
         linestyle="--", label="one confidence cut-off for all")
    line(overall, [p["all_clusters"]["share_routed"] for p in points], [p["all_clusters"]["precision"] for p in points],
         color=ALL_COLOR, label="calibrated, every cluster promoted")
    line(overall, [p["promoted"]["share_routed"] for p in points], [p["promoted"]["precision"] for p in points],
         color=PROMOTED_COLOR, label="calibrated, promoted clusters")
    overall.set_title("All traffic", loc="left")
    overall.set_xlabel("% of all calls sent to a specialist")
    overall.set_ylabel("precision (%)")
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    ids = list(points[0]["clusters"]) if points else []
    for i, cid in enumerate(ids):
        line(per_cluster, [p["clusters"][cid]["coverage"] for p in points],
             [p["clusters"][cid]["precision"] for p in points], color=palette[i % len(palette)], label=cid)
    per_cluster.set_title("Per cluster", loc="left")
    per_cluster.set_xlabel("% of the cluster's calls sent to its specialist")
    per_cluster.set_ylabel("precision (%)")
    if ids:
        per_cluster.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=7)
    for ax in (overall, per_cluster):
        ax.set_xlim(0, 102)
        ax.set_ylim(max(0.0, min(lowest) - 1.0), 100.5)
        ax.axhline(target * 100, color="#c92a2a", linestyle=":", linewidth=1.0, label=f"target {target:g}")
    overall.legend(loc="lower left", frameon=False, fontsize=7)
    chosen = next((p for p in points if p["target"] == target), None)
    summary = (f" At the target {target:g}, {pct(chosen['all_clusters']['share_routed'])} of the test calls would go "
               f"to a specialist if every cluster were promoted, at precision "
               f"{pct(chosen['all_clusters']['precision'], 2)}.") if chosen else ""
    return title, ("Left: share of all test calls sent to a specialist (x) against the precision of those routes (y), "
                   "one point per target precision, for every cluster promoted and for the promoted ones, and for one "
                   "plain confidence cut-off. Right: the same per cluster (coverage of its calls)." + summary)


def render_plot(tradeoff: dict[str, Any]) -> str:
    import warnings

    import matplotlib as mpl

    from migrate.report.plots import _render

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return _render(mpl, "tradeoff", _plot_tradeoff, tradeoff).svg


def write_route_reports(routing: dict[str, Any], tradeoff: dict[str, Any], md_path: Path, html_path: Path) -> None:
    write_text(md_path, render_markdown(routing, tradeoff))
    write_text(html_path, render_html(routing, tradeoff, render_plot(tradeoff)))
