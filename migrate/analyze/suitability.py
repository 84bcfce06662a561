"""Per cluster: the evidence (traffic, tokens, money, output kind and stability, variety, lengths)
and a suitability score for a small model, with its reasons.

The paper's rule of thumb, made measurable: high-frequency, high-structure subtasks with prompts
that fit a small model's context are the ones to specialize; long, varied free text stays on the
LLM.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from migrate.analyze import features
from migrate.analyze.table import CallTable

KIND_STRUCTURE = {
    "tool_call": 1.0, "json": 1.0, "label": 1.0, "code": 0.8, "short_text": 0.6, "long_text": 0.2, "error": 0.0,
}
KIND_LABELS = {
    "tool_call": "tool call", "json": "JSON", "label": "label", "code": "code/SQL",
    "short_text": "short text", "long_text": "long text", "error": "failed calls",
    "short": "short answer", "text": "free text",  # per-call kinds (features.KINDS)
}
OUTPUT_TYPES = {"tool:": "tool", "keys:": "json_keys", "val:": "label"}


class SuitabilityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_calls: int = Field(50, ge=1, description="fewer calls than this are not worth a specialist")
    threshold: float = Field(0.6, ge=0, le=1, description="score from which a cluster is recommended")
    slm_context_tokens: int = Field(8192, ge=256, description="context a small model handles well")
    slm_output_tokens: int = Field(512, ge=16, description="answer length a small model imitates well")
    full_volume_share: float = Field(0.05, gt=0, le=1, description="share of calls that earns the full volume score")
    label_max_values: int = Field(30, ge=2, description="most distinct short answers a label set may have")


@dataclass
class Totals:
    calls: int
    prompt_tokens: float
    completion_tokens: float
    cost_usd: float
    days: float


def _pct(values: np.ndarray, q: float) -> float | None:
    values = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    return round(float(np.percentile(values, q)), 1) if len(values) else None


def _known(values: np.ndarray) -> np.ndarray:
    return values[values >= 0].astype(np.float64)


def output_kind(kind_shares: dict[str, float], actions: Counter[str], n_ok: int,
                completion_p50: float | None, params: SuitabilityParams) -> tuple[str, float]:
    """(cluster output kind, how stable its shape is in [0, 1])."""
    answered = {k: v for k, v in kind_shares.items() if k not in ("error", "short", "text")}
    text_share = kind_shares.get("short", 0.0) + kind_shares.get("text", 0.0)
    if text_share:
        answered["text"] = text_share
    if not answered or n_ok == 0:
        return "error", 0.0
    kind, share = max(answered.items(), key=lambda kv: kv[1])
    purity = share / max(sum(answered.values()), 1e-9)
    if kind == "tool_call":
        invalid = actions.get("args:invalid", 0) / n_ok
        return kind, purity * (1.0 - invalid)
    if kind == "json":
        key_sets = [(t, c) for t, c in actions.items() if t.startswith("keys:")]
        modal = max((c for _, c in key_sets), default=0)
        return kind, purity * modal / max(sum(c for _, c in key_sets), 1)
    if kind == "code":
        return kind, purity
    values = Counter({t[4:]: c for t, c in actions.items() if t.startswith("val:")})
    short_share = sum(values.values()) / n_ok
    if short_share >= 0.9 and values:
        top = values.most_common(params.label_max_values)
        coverage = sum(c for _, c in top) / sum(values.values())
        if coverage >= 0.95 and len(values) <= max(params.label_max_values, 0.02 * n_ok):
            return "label", purity * coverage
    if completion_p50 is not None and completion_p50 <= 60:
        return "short_text", purity
    return "long_text", purity


def profile_cluster(
    table: CallTable,
    action_matrix,
    rows: np.ndarray,
    totals: Totals,
    params: SuitabilityParams,
    slm_cost,
) -> dict[str, Any]:
    n = len(rows)
    kinds = table.column("kinds")[rows]
    kind_counts = np.bincount(kinds, minlength=len(features.KINDS))
    kind_shares = {k: round(float(c) / n, 4) for k, c in zip(features.KINDS, kind_counts) if c}
    n_ok = int(n - kind_counts[features.KINDS.index("error")])
    action_counts = np.asarray(action_matrix[rows].sum(axis=0)).ravel()
    actions = Counter({table.actions.names[i]: int(action_counts[i]) for i in np.flatnonzero(action_counts)})

    prompt = _known(table.column("prompt_tokens")[rows])
    completion = _known(table.column("completion_tokens")[rows])
    cost = table.column("cost")[rows]
    latency = table.column("latency")[rows]
    cost_usd = float(np.nansum(cost))
    completion_p50 = _pct(completion, 50)
    kind, stability = output_kind(kind_shares, actions, n_ok, completion_p50, params)
    distinct = len(np.unique(table.column("output_hashes")[rows][kinds != features.KINDS.index("error")]))
    variety = distinct / max(n_ok, 1)

    shares = {
        "calls": n / max(totals.calls, 1),
        "tokens": float(prompt.sum() + completion.sum()) / max(totals.prompt_tokens + totals.completion_tokens, 1),
        "cost": cost_usd / totals.cost_usd if totals.cost_usd > 0 else 0.0,
    }
    tokens = {
        "prompt_total": int(prompt.sum()), "completion_total": int(completion.sum()),
        "prompt_p50": _pct(prompt, 50), "prompt_p95": _pct(prompt, 95),
        "completion_p50": completion_p50, "completion_p95": _pct(completion, 95),
    }
    slm_usd = slm_cost(float(prompt.sum()), float(completion.sum()))
    per_day = 1.0 / totals.days if totals.days > 0 else None
    money = {
        "llm_usd": round(cost_usd, 6),
        "calls_with_known_cost": int((~np.isnan(cost)).sum()),
        "per_call_usd": cost_usd / n if n else 0.0,
        "slm_usd": round(slm_usd, 6),
        "monthly_llm_usd": round(cost_usd * per_day * 30, 4) if per_day else None,
        "monthly_savings_usd": round((cost_usd - slm_usd) * per_day * 30, 4) if per_day else None,
    }
    wanted = {"tool_call": "tool:", "json": "keys:", "label": "val:"}.get(kind)
    top_outputs = [
        {"type": OUTPUT_TYPES[wanted], "value": t[len(wanted):], "share": round(c / max(n_ok, 1), 4)}
        for t, c in actions.most_common()
        if wanted and t.startswith(wanted)
    ][:8]
    output = {
        "kind": kind,
        "kinds": kind_shares,
        "schema_stability": round(stability, 4),
        "distinct_outputs": distinct,
        "variety": round(variety, 4),
        "top_outputs": top_outputs,
    }
    score, components, reasons = score_cluster(n, shares, kind, stability, variety, tokens, params)
    error_rate = 1.0 - n_ok / n if n else 0.0
    recommend = score >= params.threshold and n >= params.min_calls and error_rate < 0.5
    if n < params.min_calls:
        reasons.append(f"only {n} calls: fewer than {params.min_calls}, not worth a specialist yet")
    if error_rate >= 0.5:
        reasons.append(f"{error_rate:.0%} of calls failed: too little good data to learn from")
    return {
        "size": n,
        "shares": {k: round(v, 4) for k, v in shares.items()},
        "output": output,
        "tokens": tokens,
        "latency_ms": {
            "p50": _pct(latency, 50), "p95": _pct(latency, 95),
            "total_hours": round(float(np.nansum(latency)) / 3.6e6, 3),  # LLM wait this subtask costs
        },
        "calls_per_day": round(n / totals.days, 1) if totals.days > 0 else None,
        "cost": money,
        "error_rate": round(error_rate, 4),
        "suitability": {
            "score": round(score, 3),
            "recommendation": "specialize" if recommend else "keep_on_llm",
            "components": {k: round(v, 3) for k, v in components.items()},
            "reasons": reasons,
        },
    }


def score_cluster(n, shares, kind, stability, variety, tokens, params: SuitabilityParams):
    structure = KIND_STRUCTURE[kind] * stability
    volume = min(1.0, shares["calls"] / params.full_volume_share)
    p95_prompt = tokens["prompt_p95"] or 0.0
    p95_out = tokens["completion_p95"] or 0.0
    context_fit = min(1.0, params.slm_context_tokens / p95_prompt) if p95_prompt else 1.0
    output_fit = min(1.0, params.slm_output_tokens / p95_out) if p95_out else 1.0
    free_text = kind in ("short_text", "long_text")
    regularity = 1.0 - variety if free_text else 1.0
    components = {
        "structure": structure, "volume": volume, "context_fit": context_fit,
        "output_fit": output_fit, "regularity": regularity,
    }
    score = 0.45 * structure + 0.2 * volume + 0.1 * context_fit + 0.1 * output_fit + 0.15 * regularity
    reasons = [
        f"{shares['calls']:.1%} of calls, {shares['tokens']:.1%} of tokens, {shares['cost']:.1%} of spend",
        f"answers are {KIND_LABELS[kind]} (shape stable in {stability:.0%} of calls)",
    ]
    if free_text:
        reasons.append(f"{variety:.0%} of answers are distinct" + (" (free-form: hard to imitate)" if variety > 0.5 else ""))
    if p95_prompt:
        fits = "fit" if context_fit >= 1 else "exceed"
        reasons.append(f"prompts {fits} a small model's context (p95 {p95_prompt:,.0f} tokens vs {params.slm_context_tokens:,})")
    if p95_out:
        fits = "short enough" if output_fit >= 1 else "long"
        reasons.append(f"answers are {fits} (p95 {p95_out:,.0f} tokens vs {params.slm_output_tokens:,})")
    return score, components, reasons
