"""What both reports say, as plain strings: formatted numbers, the headline, the cluster table rows,
the facts of one cluster and readable views of its example calls.

Markdown and HTML render the same facts; only the markup differs. Every value may be missing
(`None`, NaN, an absent key) and reads "unknown" then. Strings here are *not* escaped: the log text
they carry is untrusted and each renderer escapes it for its own format.
"""

from __future__ import annotations

import json
import math
from typing import Any

from migrate.analyze.suitability import KIND_LABELS

UNKNOWN = "unknown"
OUTLIER_ID = "outlier"
RECOMMENDATION_LABELS = {"specialize": "specialize", "keep_on_llm": "keep on LLM"}
HINTS_NOTE = (
    "Agent hints come from the logs' metadata, tags and trace names. They are shown as hints only and "
    "are never trusted as clusters: subtasks are found from the requests and answers themselves."
)
TABLE_HEADER = [
    "id", "name", "calls", "% calls", "% tokens", "% cost", "output kind", "schema stability",
    "variety", "prompt p95 tok", "completion p95 tok", "latency p50 ms", "score", "recommendation",
]


def known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def pct(value: float | None) -> str:
    return f"{value:.1%}" if known(value) else UNKNOWN


def usd(value: float | None) -> str:
    if not known(value):
        return UNKNOWN
    size = abs(value)
    sign = "-" if value < 0 else ""
    if 0 < size < 0.0001:
        return f"{sign}<$0.0001"
    return f"{sign}${size:,.4f}" if 0 < size < 0.01 else f"{sign}${size:,.2f}"


def count(value: float | None) -> str:
    return f"{round(value):,}" if known(value) else UNKNOWN


def ratio(value: float | None) -> str:
    return f"{value:.2f}" if known(value) else UNKNOWN


def score(value: float | None) -> str:
    """Suitability scores keep 3 decimals: 0.597 must not read as the 0.60 threshold."""
    return f"{value:.3f}" if known(value) else UNKNOWN


def one_line(text: Any, limit: int | None = None) -> str:
    """A single line (whitespace collapsed), cut to `limit` characters."""
    line = " ".join(str(text if text is not None else "").split())
    return line if limit is None or len(line) <= limit else line[: limit - 1].rstrip() + "…"


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + f" … [{len(text) - limit:,} more characters]"


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get(kind or "", (kind or UNKNOWN).replace("_", " "))


def is_outlier(cluster: dict[str, Any]) -> bool:
    return cluster.get("id") == OUTLIER_ID


def recommendation(cluster: dict[str, Any]) -> str:
    """"specialize" or "keep_on_llm" (the outlier group always stays on the LLM)."""
    if is_outlier(cluster):
        return "keep_on_llm"
    return (cluster.get("suitability") or {}).get("recommendation") or "keep_on_llm"


def recommendation_label(cluster: dict[str, Any]) -> str:
    return RECOMMENDATION_LABELS.get(recommendation(cluster), recommendation(cluster))


def ordered_clusters(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The clusters in the analysis' order (largest first), the outlier group last."""
    clusters = list(analysis.get("clusters") or [])
    return sorted(clusters, key=is_outlier)


def threshold(analysis: dict[str, Any]) -> float | None:
    return ((analysis.get("params") or {}).get("suitability") or {}).get("threshold")


def cost_known(analysis: dict[str, Any]) -> bool:
    totals = analysis.get("totals") or {}
    return bool(totals.get("calls_with_known_cost")) and (totals.get("cost_usd") or 0) > 0


def headline(analysis: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs: calls, subtasks, outliers, days, spend."""
    totals = analysis.get("totals") or {}
    calls = totals.get("calls")
    priced = totals.get("calls_with_known_cost")
    if not cost_known(analysis):
        spend = f"{UNKNOWN} (no prices for these models)"
    else:
        spend = usd(totals.get("cost_usd"))
        if known(calls) and known(priced) and priced < calls:
            spend += f" (priced for {count(priced)} of {count(calls)} calls)"
    days = totals.get("days")
    return [
        ("calls", count(calls)),
        ("subtasks", count(totals.get("clusters"))),
        ("outlier calls", count(totals.get("outliers"))),
        ("days of traffic", f"{days:,.1f}" if known(days) and days > 0 else UNKNOWN),
        ("total spend", spend),
    ]


def headline_sentence(analysis: dict[str, Any]) -> str:
    facts = dict(headline(analysis))
    return (
        f"{facts['calls']} calls, {facts['subtasks']} subtasks (+ {facts['outlier calls']} outlier calls), "
        f"{facts['days of traffic']} days of traffic, total spend {facts['total spend']}."
    )


def migration_facts(analysis: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the migration estimate."""
    migration = analysis.get("migration") or {}
    recommended = migration.get("recommended") or []
    return [
        ("recommended subtasks", ", ".join(str(r) for r in recommended) if recommended else "none"),
        ("share of calls", pct(migration.get("calls_share"))),
        ("share of spend", pct(migration.get("cost_share")) if cost_known(analysis) else UNKNOWN),
        ("their cost on the LLM", usd(migration.get("llm_usd"))),
        ("their cost on a small model", usd(migration.get("slm_usd"))),
        ("savings over these logs", usd(migration.get("savings_usd"))),
        ("savings per month", usd(migration.get("monthly_savings_usd"))),
    ]


def curation_facts(analysis: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the curation: what was scrubbed, dropped and kept for training."""
    curation = analysis.get("curation")
    if not curation:
        return []
    dropped = {k: v for k, v in (curation.get("dropped") or {}).items() if v}
    replaced = curation.get("values_replaced") or {}
    coverage = curation.get("coverage") or {}
    return [
        ("kept for training", count(curation.get("kept_for_training"))),
        ("dropped", ", ".join(f"{k.replace('_', ' ')} {count(v)}" for k, v in dropped.items()) or "none"),
        ("values scrubbed", ", ".join(f"{k} {count(v)}" for k, v in replaced.items()) or "none found"),
        ("not detected", ", ".join(coverage.get("not_covered") or []) or "nothing left out"),
    ]


def curation_note(analysis: dict[str, Any]) -> str | None:
    return ((analysis.get("curation") or {}).get("coverage") or {}).get("note")


IDENTITY_NOTE = (
    "A subtask keeps the id it had in the previous analysis of this workspace when most of its calls "
    "would have gone to that cluster; new subtasks get ids never used before. The specialists, datasets "
    "and routing entries of vanished ids no longer match any traffic."
)


def identity_facts(analysis: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of how the ids relate to the previous analysis (none on a first one)."""
    identity = analysis.get("identity") or {}
    if not identity.get("previous"):
        return []
    names = {c.get("id"): c.get("name") for c in analysis.get("clusters") or []}
    vanished = analysis.get("vanished") or []
    return [
        ("kept their ids", ", ".join(sorted(identity.get("kept") or {})) or "none"),
        ("new subtasks", ", ".join(f"{i} ({one_line(names.get(i), 60)})" for i in identity.get("new") or []) or "none"),
        ("vanished", ", ".join(f"{v.get('id')} ({one_line(v.get('name'), 60)}, {count(v.get('size'))} calls before)"
                               for v in vanished) or "none"),
    ]


def cluster_curation(cluster: dict[str, Any]) -> str | None:
    curation = cluster.get("curation")
    if not curation:
        return None
    dropped = ", ".join(f"{k.replace('_', ' ')} {count(v)}" for k, v in (curation.get("dropped") or {}).items())
    pii = ", ".join(f"{k} {count(v)}" for k, v in (curation.get("calls_with_pii") or {}).items())
    return (f"{count(curation.get('kept_for_training'))} calls kept for training"
            + (f"; dropped: {dropped}" if dropped else "") + (f"; calls with scrubbed {pii}" if pii else ""))


def migration_sentence(analysis: dict[str, Any]) -> str:
    migration = analysis.get("migration") or {}
    recommended = migration.get("recommended") or []
    if not recommended:
        return "No subtask is recommended for a small model yet: every call stays on the LLM."
    facts = dict(migration_facts(analysis))
    return (
        f"Moving {len(recommended)} subtask{'s' if len(recommended) != 1 else ''} "
        f"({facts['recommended subtasks']}) to a small model covers {facts['share of calls']} of calls and "
        f"{facts['share of spend']} of spend: {facts['their cost on the LLM']} on the LLM vs "
        f"{facts['their cost on a small model']} on a small model, saving {facts['savings over these logs']} "
        f"over these logs ({facts['savings per month']} per month)."
    )


def unpriced_models(analysis: dict[str, Any]) -> list[str]:
    return [str(m) for m in (analysis.get("totals") or {}).get("unpriced_models") or []]


def table_row(cluster: dict[str, Any], with_cost: bool = True) -> list[str]:
    """The cells of one cluster's row, in `TABLE_HEADER` order."""
    shares = cluster.get("shares") or {}
    output = cluster.get("output") or {}
    tokens = cluster.get("tokens") or {}
    latency = cluster.get("latency_ms") or {}
    outlier = is_outlier(cluster)
    return [
        str(cluster.get("id", "?")),
        one_line(cluster.get("name"), 80),
        count(cluster.get("size")),
        pct(shares.get("calls")),
        pct(shares.get("tokens")),
        pct(shares.get("cost")) if with_cost else UNKNOWN,
        kind_label(output.get("kind")),
        "—" if outlier else ratio(output.get("schema_stability")),
        "—" if outlier else ratio(output.get("variety")),
        count(tokens.get("prompt_p95")),
        count(tokens.get("completion_p95")),
        count(latency.get("p50")),
        "—" if outlier else score((cluster.get("suitability") or {}).get("score")),
        recommendation_label(cluster),
    ]


def cluster_facts(cluster: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """The key figures of one cluster, grouped: output, tokens & latency, cost."""
    output = cluster.get("output") or {}
    tokens = cluster.get("tokens") or {}
    latency = cluster.get("latency_ms") or {}
    cost = cluster.get("cost") or {}
    kinds = output.get("kinds") or {}
    return {
        "output": [
            ("kind", kind_label(output.get("kind"))),
            ("kinds seen", ", ".join(f"{kind_label(k)} {pct(v)}" for k, v in kinds.items()) or UNKNOWN),
            ("schema stability", ratio(output.get("schema_stability"))),
            ("distinct outputs", count(output.get("distinct_outputs"))),
            ("variety (distinct / answered)", ratio(output.get("variety"))),
            ("error rate", pct(cluster.get("error_rate"))),
        ],
        "tokens": [
            ("prompt tokens p50 / p95", f"{count(tokens.get('prompt_p50'))} / {count(tokens.get('prompt_p95'))}"),
            ("completion tokens p50 / p95",
             f"{count(tokens.get('completion_p50'))} / {count(tokens.get('completion_p95'))}"),
            ("prompt / completion tokens in total",
             f"{count(tokens.get('prompt_total'))} / {count(tokens.get('completion_total'))}"),
            ("latency p50 / p95 (ms)", f"{count(latency.get('p50'))} / {count(latency.get('p95'))}"),
        ],
        "cost": [
            ("on the LLM", usd(cost.get("llm_usd"))),
            ("calls with a known cost", f"{count(cost.get('calls_with_known_cost'))} of {count(cluster.get('size'))}"),
            ("per call", usd(cost.get("per_call_usd"))),
            ("on a small model", usd(cost.get("slm_usd"))),
            ("LLM cost per month", usd(cost.get("monthly_llm_usd"))),
            ("savings per month", usd(cost.get("monthly_savings_usd"))),
        ],
    }


def components(cluster: dict[str, Any]) -> list[tuple[str, str]]:
    parts = (cluster.get("suitability") or {}).get("components") or {}
    return [(str(k).replace("_", " "), ratio(v)) for k, v in parts.items()]


def reasons(cluster: dict[str, Any]) -> list[str]:
    return [str(r) for r in (cluster.get("suitability") or {}).get("reasons") or []]


def top_outputs(cluster: dict[str, Any]) -> list[str]:
    return [
        f"{one_line(o.get('value'), 120)} ({pct(o.get('share'))})"
        for o in (cluster.get("output") or {}).get("top_outputs") or []
    ]


def agent_hints(cluster: dict[str, Any]) -> list[str]:
    return [f"{one_line(h.get('hint'), 80)} ({count(h.get('count'))})" for h in cluster.get("agent_hints") or []]


def models(cluster: dict[str, Any]) -> list[str]:
    return [f"{one_line(m, 80)} ({count(n)})" for m, n in (cluster.get("models") or {}).items()]


def tools_offered(cluster: dict[str, Any]) -> list[str]:
    return [one_line(t, 80) for t in cluster.get("tools_offered") or []]


def terms(cluster: dict[str, Any]) -> list[str]:
    return [one_line(t, 60) for t in cluster.get("terms") or []]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _tool_call_text(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        arguments = json.dumps(parsed, ensure_ascii=False, indent=2)
    except (TypeError, ValueError):
        arguments = _text(arguments)
    return f"{function.get('name') or '?'}({arguments})"


def _message_text(message: dict[str, Any]) -> str:
    parts = [_text(message.get("content"))] if message.get("content") is not None else []
    parts += [f"→ tool call {_tool_call_text(c)}" for c in message.get("tool_calls") or []]
    return "\n".join(parts) if parts else "(empty)"


def _message_label(message: dict[str, Any]) -> str:
    label = str(message.get("role") or "?")
    if message.get("name"):
        label += f" ({message['name']})"
    if message.get("tool_call_id"):
        label += f" [{message['tool_call_id']}]"
    return label


def example_view(example: dict[str, Any], max_chars: int, max_messages: int) -> dict[str, Any]:
    """One example call made readable: a title and (label, text) parts, long text cut.

    Long conversations keep the system prompt and the last turns (`omitted` says how many were left
    out); every text is cut to `max_chars`.
    """
    messages = list(example.get("messages") or [])
    head: list[dict[str, Any]] = []
    kept = messages
    if len(messages) > max_messages:
        head = [m for m in messages[:1] if m.get("role") in ("system", "developer")]
        kept = head + messages[len(messages) - (max_messages - len(head)):]
    parts = [(_message_label(m), truncate(_message_text(m), max_chars)) for m in kept]
    if example.get("response"):
        parts.append(("response", truncate(_message_text(example["response"]), max_chars)))
    if example.get("error"):
        parts.append(("error", truncate(_text(example["error"]), max_chars)))
    title = " · ".join(one_line(v, 80) for v in (example.get("id"), example.get("model")) if v)
    return {
        "title": title or "example",
        "agent": one_line(example.get("agent"), 80) if example.get("agent") else None,
        "tools": [one_line(t, 80) for t in example.get("tools") or [] if t],
        "parts": parts,
        "omitted": len(messages) - len(kept),  # turns left out, after the first `len(head)` parts
        "omitted_at": len(head),
    }


def params_json(analysis: dict[str, Any]) -> str:
    return json.dumps(analysis.get("params") or {}, indent=2, sort_keys=True, ensure_ascii=False)


def prices_facts(analysis: dict[str, Any]) -> list[tuple[str, str]]:
    prices = analysis.get("prices") or {}
    slm = prices.get("slm_usd_per_1m") or {}
    return [
        ("price tables", ", ".join(str(s) for s in prices.get("sources") or []) or UNKNOWN),
        ("small model price (USD per 1M tokens)",
         f"input {usd(slm.get('input'))}, output {usd(slm.get('output'))}"),
        ("models without a price", ", ".join(unpriced_models(analysis)) or "none"),
    ]
