"""The analysis as GitHub-flavoured Markdown: headline, migration estimate, cluster table, one
section per cluster with its evidence and examples, and the footer (prices, parameters).

Log text is untrusted: outside code blocks `<` and `>` are written as entities (a renderer that
passes raw HTML through gets text, not tags) and table cells have their pipes escaped; examples go
in fenced blocks whose fence is longer than any backtick run inside.
"""

from __future__ import annotations

import re
from typing import Any

from migrate.report import facts

EXAMPLE_CHARS = 600  # per message
EXAMPLE_MESSAGES = 5  # per example: the system prompt and the last turns


def md_text(text: Any) -> str:
    """Untrusted text for a Markdown paragraph or list item (one line)."""
    return facts.one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_cell(text: Any) -> str:
    return md_text(text).replace("\\", "\\\\").replace("|", "\\|")


def md_code(text: str, info: str = "text") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    lines = [
        "| " + " | ".join(md_cell(h) for h in header) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _pairs(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"- {md_text(k)}: {md_text(v)}" for k, v in pairs)


def _items(label: str, values: list[str], empty: str = "none") -> str:
    return f"- **{label}:** " + (", ".join(md_text(v) for v in values) if values else empty)


def render_markdown(analysis: dict[str, Any]) -> str:
    clusters = facts.ordered_clusters(analysis)
    with_cost = facts.cost_known(analysis)
    parts = [
        "# slm-migrate analysis",
        f"slm-migrate {md_text(analysis.get('tool_version') or facts.UNKNOWN)}"
        f" · analysis format {md_text(analysis.get('version', facts.UNKNOWN))}"
        f" · seed {md_text(analysis.get('seed', facts.UNKNOWN))}",
        f"**{md_text(facts.headline_sentence(analysis))}**",
        "## Migration estimate",
        _pairs(facts.migration_facts(analysis)),
    ]
    if facts.curation_facts(analysis):
        parts += ["## Curation and privacy", _pairs(facts.curation_facts(analysis))]
        if facts.curation_note(analysis):
            parts.append(f"**Note:** {md_text(facts.curation_note(analysis))}")
    if facts.identity_facts(analysis):
        parts += ["## Since the previous analysis", _pairs(facts.identity_facts(analysis)), md_text(facts.IDENTITY_NOTE)]
    parts.append("## Subtasks")
    if clusters:
        numeric = {2, 3, 4, 5, 7, 8, 9, 10, 11, 12}
        rows = [[f"[{row[0]}](#{_anchor(c)})", *row[1:]] for c, row in
                ((c, facts.table_row(c, with_cost)) for c in clusters)]
        parts.append(_table(facts.TABLE_HEADER, rows, right=numeric))
    else:
        parts.append("No calls were analysed.")
    for cluster in clusters:
        parts.append(render_cluster(cluster))
    parts += [
        "## About this report",
        _pairs(facts.prices_facts(analysis)),
        facts.HINTS_NOTE,
        "Parameters:",
        md_code(facts.params_json(analysis), "json"),
    ]
    return "\n\n".join(parts) + "\n"


def _anchor(cluster: dict[str, Any]) -> str:
    return f"cluster-{re.sub(r'[^a-z0-9-]', '', str(cluster.get('id', '')).lower())}"


def render_cluster(cluster: dict[str, Any]) -> str:
    outlier = facts.is_outlier(cluster)
    suitability = cluster.get("suitability") or {}
    heading = f'<a id="{_anchor(cluster)}"></a>\n\n### {md_text(cluster.get("id", "?"))} · {md_text(cluster.get("name"))}'
    verdict = (
        "**Stays on the LLM**: these calls belong to no recurring subtask."
        if outlier else
        f"**Recommendation: {facts.recommendation_label(cluster)}** · suitability score "
        f"{facts.score(suitability.get('score'))}"
    )
    grouped = facts.cluster_facts(cluster)
    parts = [heading, md_text(cluster.get("description") or ""), verdict]
    if facts.cluster_curation(cluster):
        parts.append(f"Curation: {md_text(facts.cluster_curation(cluster))}")
    reasons = facts.reasons(cluster)
    if reasons:
        parts.append("Why:\n\n" + "\n".join(f"- {md_text(r)}" for r in reasons))
    components = facts.components(cluster)
    if components:
        parts.append("Score components: " + ", ".join(f"{md_text(k)} {v}" for k, v in components))
    parts += [
        "**Output**\n\n" + _pairs(grouped["output"]) + "\n" + _items("top outputs", facts.top_outputs(cluster)),
        "**Tokens and latency**\n\n" + _pairs(grouped["tokens"]),
        "**Cost**\n\n" + _pairs(grouped["cost"]),
        "**Context**\n\n" + "\n".join([
            _items("agent hints (hints only, not trusted)", facts.agent_hints(cluster)),
            _items("models", facts.models(cluster)),
            _items("tools offered", facts.tools_offered(cluster)),
            _items("distinctive terms", facts.terms(cluster)),
        ]),
    ]
    examples = cluster.get("examples") or []
    if not examples:
        parts.append("_No examples kept._")
    for number, example in enumerate(examples, 1):
        parts.append(render_example(number, example))
    return "\n\n".join(p for p in parts if p)


def render_example(number: int, example: dict[str, Any]) -> str:
    view = facts.example_view(example, EXAMPLE_CHARS, EXAMPLE_MESSAGES)
    lines = [f"#### Example {number}: {md_text(view['title'])}"]
    meta = []
    if view["agent"]:
        meta.append(f"agent hint: {md_text(view['agent'])}")
    if view["tools"]:
        meta.append("tools: " + ", ".join(md_text(t) for t in view["tools"]))
    if meta:
        lines.append(" · ".join(meta))
    body = []
    for index, (label, text) in enumerate(view["parts"]):
        if view["omitted"] and index == view["omitted_at"]:
            body.append(f"… {view['omitted']} earlier messages left out …")
        body.append(f"[{label}]\n{text}")
    lines.append(md_code("\n\n".join(body) if body else "(no messages)"))
    return "\n\n".join(lines)
