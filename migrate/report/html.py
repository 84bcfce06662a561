"""The analysis as one self-contained HTML page: headline, migration estimate, four inline SVG plots,
the cluster table, one section per cluster (examples in collapsibles) and the footer.

No scripts, no external CSS, fonts or images; a Content-Security-Policy forbids loading any. Every
string from the analysis is escaped with `html.escape`: the log text in it is untrusted.
"""

from __future__ import annotations

from html import escape
from typing import Any

from migrate.report import facts
from migrate.report.plots import Plot

EXAMPLE_CHARS = 2000  # per message
EXAMPLE_MESSAGES = 8  # per example: the system prompt and the last turns

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg2:#f6f8fa;--spec:#2b8a3e;--keep:#5c6f87;--out:#8c8c8c}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:1.5rem 2rem 3rem}
h1{margin:0 0 .2rem;font-size:1.8rem}h2{margin-top:2.2rem;border-bottom:1px solid var(--line);padding-bottom:.3rem}
h3{margin:0 0 .4rem;font-size:1.25rem}h4{margin:1rem 0 .3rem;font-size:1rem}
.meta,.muted{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0;padding:0}
.cards div{background:var(--bg2);border:1px solid var(--line);border-radius:8px;padding:.6rem 1rem;min-width:9rem}
.cards dt{color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}
.cards dd{margin:0;font-size:1.3rem;font-weight:600}
.lead{font-size:1.05rem;background:#ebfbee;border-left:4px solid var(--spec);padding:.6rem 1rem;border-radius:4px}
.lead.none{background:var(--bg2);border-left-color:var(--keep)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.3rem 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));gap:1rem;align-items:start}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:.5rem;background:#fff}
svg.plot{display:block;max-width:100%;height:auto}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{border-bottom:1px solid var(--line);padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:var(--bg2);position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{min-width:11rem;max-width:22rem;overflow-wrap:anywhere}
td .badge{white-space:nowrap}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:.05rem .5rem;border-radius:999px;color:#fff;vertical-align:middle}
.badge.specialize{background:var(--spec)}.badge.keep_on_llm{background:var(--keep)}.badge.outlier{background:var(--out)}
section.cluster{border:1px solid var(--line);border-left:5px solid var(--keep);border-radius:8px;padding:1rem 1.2rem;margin:1.2rem 0}
section.cluster.specialize{border-left-color:var(--spec)}section.cluster.outlier{border-left-color:var(--out);background:#fafafa}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:0 1.5rem}
ul{margin:.2rem 0;padding-left:1.3rem}
.chips span{display:inline-block;background:var(--bg2);border:1px solid var(--line);border-radius:4px;padding:0 .4rem;margin:.1rem .2rem .1rem 0;font-size:.85rem}
details{border:1px solid var(--line);border-radius:6px;margin:.4rem 0;background:#fff}
summary{cursor:pointer;padding:.4rem .8rem;font-weight:600}
details>div{padding:0 .8rem .6rem}
.role{font-size:.75rem;font-weight:700;text-transform:uppercase;color:var(--muted);margin-top:.5rem}
pre{margin:.1rem 0;padding:.5rem .7rem;background:var(--bg2);border-radius:4px;white-space:pre-wrap;word-break:break-word;font-size:.82rem;max-height:24rem;overflow:auto}
.role.response+pre{background:#ebfbee}.role.error+pre{background:#fff5f5}
footer{margin-top:3rem;border-top:1px solid var(--line);padding-top:1rem;font-size:.9rem}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def e(value: Any) -> str:
    return escape(str(value if value is not None else ""), quote=True)


def _kv(pairs: list[tuple[str, str]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in pairs) + "</dl>"


def _chips(values: list[str], empty: str = "none") -> str:
    if not values:
        return f'<span class="muted">{e(empty)}</span>'
    return '<span class="chips">' + "".join(f"<span>{e(v)}</span>" for v in values) + "</span>"


def _anchor(cluster: dict[str, Any]) -> str:
    return e(f"cluster-{cluster.get('id', '')}")


def _badge(cluster: dict[str, Any], short: bool = False) -> str:
    if facts.is_outlier(cluster):
        return f'<span class="badge outlier">{"keep on LLM" if short else "stays on the LLM"}</span>'
    rec = facts.recommendation(cluster)
    return f'<span class="badge {e(rec)}">{e(facts.recommendation_label(cluster))}</span>'


def render_html(analysis: dict[str, Any], plots: list[Plot]) -> str:
    clusters = facts.ordered_clusters(analysis)
    threshold = facts.threshold(analysis)
    recommended = (analysis.get("migration") or {}).get("recommended") or []
    body = [
        "<header><h1>slm-migrate analysis</h1>",
        f'<p class="meta">slm-migrate {e(analysis.get("tool_version") or facts.UNKNOWN)} · analysis format '
        f'{e(analysis.get("version", facts.UNKNOWN))} · seed {e(analysis.get("seed", facts.UNKNOWN))}</p></header>',
        '<section aria-label="headline"><dl class="cards">'
        + "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts.headline(analysis))
        + "</dl></section>",
        '<section id="migration"><h2>Migration estimate</h2>',
        f'<p class="lead{"" if recommended else " none"}">{e(facts.migration_sentence(analysis))}</p>',
        _kv(facts.migration_facts(analysis)),
        "</section>",
        *(
            ['<section id="curation"><h2>Curation and privacy</h2>', _kv(facts.curation_facts(analysis)),
             f'<p class="muted">{e(facts.curation_note(analysis) or "")}</p></section>']
            if facts.curation_facts(analysis) else []
        ),
        *(
            ['<section id="identity"><h2>Since the previous analysis</h2>', _kv(facts.identity_facts(analysis)),
             f'<p class="muted">{e(facts.IDENTITY_NOTE)}</p></section>']
            if facts.identity_facts(analysis) else []
        ),
        '<section id="plots"><h2>Overview</h2><div class="plots">',
        *(f'<figure id="plot-{e(p.key)}">{p.svg}</figure>' for p in plots),
        "</div></section>",
        '<section id="subtasks"><h2>Subtasks</h2>',
        render_table(analysis, clusters),
        "</section>",
        *(render_cluster(c, threshold) for c in clusters),
        render_footer(analysis),
    ]
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        "<title>slm-migrate analysis</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def render_table(analysis: dict[str, Any], clusters: list[dict[str, Any]]) -> str:
    if not clusters:
        return "<p>No calls were analysed.</p>"
    with_cost = facts.cost_known(analysis)
    text_columns = {0, 1, 6, 13}
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in facts.TABLE_HEADER)
    rows = []
    for cluster in clusters:
        cells = facts.table_row(cluster, with_cost)
        tds = [f'<td><a href="#{_anchor(cluster)}">{e(cells[0])}</a></td>', f'<td class="name">{e(cells[1])}</td>']
        for index, cell in enumerate(cells[2:], 2):
            if index == 13:
                tds.append(f"<td>{_badge(cluster, short=True)}</td>")
            else:
                css = "" if index in text_columns else ' class="num"'
                tds.append(f"<td{css}>{e(cell)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    note = (
        '<p class="muted">Shares are of all calls, of all prompt + completion tokens and of the total spend; '
        "p95 and p50 are percentiles over the cluster's calls; the score runs from 0 to 1.</p>"
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>{note}'


def render_cluster(cluster: dict[str, Any], threshold: float | None) -> str:
    outlier = facts.is_outlier(cluster)
    kind = "outlier" if outlier else facts.recommendation(cluster)
    suitability = cluster.get("suitability") or {}
    grouped = facts.cluster_facts(cluster)
    out = [
        f'<section class="cluster {e(kind)}" id="{_anchor(cluster)}">',
        f"<h3>{e(cluster.get('id', '?'))} · {e(cluster.get('name'))} {_badge(cluster)}</h3>",
        f"<p>{e(cluster.get('description') or '')}</p>",
    ]
    if facts.cluster_curation(cluster):
        out.append(f'<p class="muted">Curation: {e(facts.cluster_curation(cluster))}</p>')
    if outlier:
        out.append("<p><strong>These calls stay on the LLM:</strong> they belong to no recurring subtask.</p>")
    else:
        limit = f" (threshold {facts.ratio(threshold)})" if facts.known(threshold) else ""
        out.append(f"<p><strong>Suitability score {e(facts.score(suitability.get('score')))}</strong>{e(limit)}"
                   f" → {e(facts.recommendation_label(cluster))}</p>")
    reasons = facts.reasons(cluster)
    if reasons:
        out.append("<ul>" + "".join(f"<li>{e(r)}</li>" for r in reasons) + "</ul>")
    components = facts.components(cluster)
    if components:
        out.append('<p class="muted">Score components: ' + " · ".join(f"{e(k)} {e(v)}" for k, v in components) + "</p>")
    out += [
        '<div class="cols">',
        "<div><h4>Output</h4>" + _kv(grouped["output"])
        + "<h4>Top outputs</h4>" + _chips(facts.top_outputs(cluster), "no recurring tool, label or JSON key set") + "</div>",
        "<div><h4>Tokens and latency</h4>" + _kv(grouped["tokens"]) + "<h4>Cost</h4>" + _kv(grouped["cost"]) + "</div>",
        "</div>",
        '<dl class="kv">',
        f"<dt>agent hints (hints only, not trusted)</dt><dd>{_chips(facts.agent_hints(cluster))}</dd>",
        f"<dt>models</dt><dd>{_chips(facts.models(cluster))}</dd>",
        f"<dt>tools offered</dt><dd>{_chips(facts.tools_offered(cluster))}</dd>",
        f"<dt>distinctive terms</dt><dd>{_chips(facts.terms(cluster))}</dd>",
        "</dl>",
        "<h4>Examples</h4>",
    ]
    examples = cluster.get("examples") or []
    if not examples:
        out.append('<p class="muted">No examples kept.</p>')
    out += [render_example(n, ex) for n, ex in enumerate(examples, 1)]
    out.append("</section>")
    return "\n".join(out)


def render_example(number: int, example: dict[str, Any]) -> str:
    view = facts.example_view(example, EXAMPLE_CHARS, EXAMPLE_MESSAGES)
    out = [f"<details><summary>Example {number}: {e(view['title'])}</summary><div>"]
    meta = []
    if view["agent"]:
        meta.append(f"agent hint: {e(view['agent'])}")
    if view["tools"]:
        meta.append("tools: " + e(", ".join(view["tools"])))
    if meta:
        out.append(f'<p class="muted">{" · ".join(meta)}</p>')
    for index, (label, text) in enumerate(view["parts"]):
        if view["omitted"] and index == view["omitted_at"]:
            out.append(f'<p class="muted">… {view["omitted"]} earlier messages left out …</p>')
        role = label if label in ("response", "error") else "message"
        out.append(f'<div class="role {role}">{e(label)}</div><pre>{e(text)}</pre>')
    if not view["parts"]:
        out.append('<p class="muted">No messages.</p>')
    out.append("</div></details>")
    return "\n".join(out)


def render_footer(analysis: dict[str, Any]) -> str:
    return (
        '<footer><h2>About this report</h2>'
        + _kv(facts.prices_facts(analysis))
        + f"<p>{e(facts.HINTS_NOTE)}</p>"
        + "<details><summary>Parameters</summary><div><pre>"
        + e(facts.params_json(analysis))
        + "</pre></div></details></footer>"
    )
