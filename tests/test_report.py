"""The analysis reports: both files written, self-contained HTML with four inline SVG plots,
untrusted log text escaped, deterministic bytes, and odd analyses (missing values, only outliers,
a single cluster) still rendering."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from migrate.report import write_analysis_reports
from migrate.report.markdown import md_cell, render_markdown

XSS = "<script>alert(1)</script>"


def make_cluster(cid: str, size: int, total: int, *, kind: str = "tool_call", score: float = 0.8,
                 recommend: bool = True, name: str | None = None, examples: list | None = None) -> dict[str, Any]:
    """A cluster shaped like `describe_clusters` + `profile_cluster` build it."""
    share = size / total
    cost = 0.004 * size
    suitability = {
        "score": score,
        "recommendation": "specialize" if recommend else "keep_on_llm",
        "components": {"structure": 0.95, "volume": 1.0, "context_fit": 1.0, "output_fit": 1.0, "regularity": 1.0},
        "reasons": [
            f"{share:.1%} of calls, {share:.1%} of tokens, {share:.1%} of spend",
            "answers are tool call (shape stable in 95% of calls)",
            "prompts fit a small model's context (p95 1,210 tokens vs 8,192)",
        ],
    }
    if cid == "outlier":
        suitability = {"score": 0.0, "recommendation": "keep_on_llm", "components": {},
                       "reasons": ["not a recurring subtask: one-off or rare calls stay on the LLM"]}
    return {
        "id": cid,
        "name": name or f"support triage → {kind} (lookup_order, refund)",
        "description": f"{size} calls ({share:.1%}) answering with {kind}; prompts about: order, refund.",
        "size": size,
        "shares": {"calls": round(share, 4), "tokens": round(share * 0.9, 4), "cost": round(share * 1.1, 4)},
        "output": {
            "kind": kind,
            "kinds": {"tool_call": 0.95, "error": 0.05} if kind == "tool_call" else {"text": 1.0},
            "schema_stability": 0.95,
            "distinct_outputs": size // 3,
            "variety": 0.33,
            "top_outputs": [{"value": "lookup_order", "share": 0.7}, {"value": "refund|partial", "share": 0.25}],
        },
        "tokens": {"prompt_total": 900 * size, "completion_total": 40 * size, "prompt_p50": 850.0,
                   "prompt_p95": 1210.0, "completion_p50": 35.0, "completion_p95": 62.0},
        "latency_ms": {"p50": 812.0, "p95": 2150.5},
        "cost": {"llm_usd": cost, "calls_with_known_cost": size, "per_call_usd": 0.004, "slm_usd": cost / 20,
                 "monthly_llm_usd": cost * 3, "monthly_savings_usd": cost * 2.85},
        "error_rate": 0.05,
        "suitability": suitability,
        "terms": ["order", "refund", "customer"],
        "agent_hints": [{"hint": "support-bot", "count": size - 2}],
        "models": {"gpt-4o": size},
        "tools_offered": ["lookup_order", "refund"],
        "examples": examples if examples is not None else [example(f"{cid}-1")],
    }


def example(record_id: str, content: str = "Where is my order #123?") -> dict[str, Any]:
    return {
        "id": record_id,
        "model": "gpt-4o",
        "agent": "support-bot",
        "tools": ["lookup_order", "refund"],
        "messages": [
            {"role": "system", "content": "You are a support agent. Use the tools."},
            {"role": "user", "content": content},
        ],
        "response": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order_id": "123"}'}},
        ]},
        "error": None,
    }


def make_analysis(clusters: list[dict[str, Any]], total: int = 1000) -> dict[str, Any]:
    recommended = [c for c in clusters if c["suitability"]["recommendation"] == "specialize"]
    return {
        "version": 1,
        "tool_version": "0.1.0",
        "seed": 0,
        "totals": {
            "calls": total,
            "clusters": sum(1 for c in clusters if c["id"] != "outlier"),
            "outliers": sum(c["size"] for c in clusters if c["id"] == "outlier"),
            "prompt_tokens": 900 * total,
            "completion_tokens": 40 * total,
            "cost_usd": 0.004 * total,
            "calls_with_known_cost": total - 10,
            "days": 6.5,
            "unpriced_models": ["my-local-llama"],
        },
        "migration": {
            "recommended": [c["id"] for c in recommended],
            "calls_share": round(sum(c["shares"]["calls"] for c in recommended), 4),
            "cost_share": round(sum(c["shares"]["cost"] for c in recommended), 4),
            "llm_usd": 2.4,
            "slm_usd": 0.12,
            "savings_usd": 2.28,
            "monthly_savings_usd": 10.52,
        },
        "prices": {"sources": ["bundled"], "slm_usd_per_1m": {"input": 0.1, "output": 0.2}},
        "params": {
            "prices": None,
            "cluster": {"seed": 0, "dims": 64, "min_cluster_size": 10},
            "suitability": {"min_calls": 50, "threshold": 0.6, "slm_context_tokens": 8192},
        },
        "clusters": clusters,
    }


def typical_analysis() -> dict[str, Any]:
    return make_analysis([
        make_cluster("c00", 600, 1000),
        make_cluster("c01", 300, 1000, kind="long_text", score=0.35, recommend=False),
        make_cluster("outlier", 100, 1000, kind="long_text", name="outliers (stay on the LLM)"),
    ])


def points_for(analysis: dict[str, Any]) -> dict[str, Any]:
    ids = [c["id"] for c in analysis["clusters"]]
    n = 60
    return {
        "x": [((i * 37) % 17) / 17.0 - 0.5 for i in range(n)],
        "y": [((i * 53) % 19) / 19.0 - 0.5 for i in range(n)],
        "cluster": [ids[i % len(ids)] for i in range(n)] if ids else [],
    }


def render(tmp_path: Path, analysis: dict[str, Any], points: dict[str, Any] | None = None) -> tuple[str, str]:
    md, html = tmp_path / "analysis" / "report.md", tmp_path / "analysis" / "report.html"
    write_analysis_reports(analysis, points_for(analysis) if points is None else points, md, html)
    return md.read_text(encoding="utf-8"), html.read_text(encoding="utf-8")


def test_writes_both_reports_with_headline_table_and_sections(tmp_path):
    analysis = typical_analysis()
    md, html = render(tmp_path, analysis)
    assert not list((tmp_path / "analysis").glob(".*.tmp")), "atomic writes leave no temp files"
    for text in (md, html):
        assert "slm-migrate analysis" in text
        assert "0.1.0" in text
        assert "1,000 calls" in text or "1,000" in text
        assert "$10.52" in text  # monthly savings of the migration
        assert "support-bot" in text  # agent hint shown…
        assert "hints only, not trusted" in text  # …and labelled as a hint
        assert "bundled" in text and "never trusted as clusters" in text
    assert "| id | name | calls | % calls | % tokens | % cost | output kind |" in md
    for cid in ("c00", "c01", "outlier"):
        assert f"### {cid} · " in md
        assert f'id="cluster-{cid}"' in html
    # the outlier group comes last and says it stays on the LLM
    assert md.index("### outlier") > md.index("### c01") > md.index("### c00")
    assert "Stays on the LLM" in md and "stays on the LLM" in html
    assert html.count("<details>") >= 3  # one collapsible per example (+ parameters)
    assert "lookup_order" in html and "order_id" in html  # the response's tool call


def test_html_is_self_contained_with_four_accessible_plots(tmp_path):
    _, html = render(tmp_path, typical_analysis())
    assert html.count("<svg") == 4
    assert html.count("<title id=\"plot-") == 4 and html.count("<desc id=\"plot-") == 4
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    assert "threshold 0.60" in html  # the suitability plot's threshold line is labelled
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "@import" not in html and "url(http" not in html
    assert "Content-Security-Policy" in html
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "ids must be unique across the page"


def test_untrusted_text_is_escaped(tmp_path):
    analysis = typical_analysis()
    c00 = analysis["clusters"][0]
    c00["name"] = f"evil {XSS} | name $x^2$ _under"
    c00["terms"] = [XSS]
    c00["examples"] = [example("x-1", content=f"hi {XSS} ```` $x$ & more")]
    c00["agent_hints"] = [{"hint": '"><img src=x onerror=alert(1)>', "count": 3}]
    md, html = render(tmp_path, analysis)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    outside_code = re.sub(r"(?ms)^(`{3,})text\n.*?^\1$", "", md)
    assert "<script" not in outside_code and "<img" not in outside_code  # raw only inside code blocks
    table_line = next(line for line in md.splitlines() if line.startswith("| [c00]"))
    assert "evil &lt;script&gt;alert(1)&lt;/script&gt; \\| name $x^2$" in table_line  # cells escaped
    assert table_line.count(" | ") == 13  # the planted pipe did not add a column
    heading = next(line for line in md.splitlines() if line.startswith("### c00"))
    assert "<script" not in heading
    # the fence around the example is longer than the backtick run inside it
    assert "`````text" in md


def test_rendering_twice_gives_identical_bytes(tmp_path):
    analysis = typical_analysis()
    first = render(tmp_path / "a", copy.deepcopy(analysis))
    second = render(tmp_path / "b", copy.deepcopy(analysis))
    assert first == second


@pytest.mark.parametrize("case", ["none_values", "only_outliers", "single_cluster", "empty", "no_cost"])
def test_edge_cases_render(tmp_path, case):
    if case == "none_values":
        cluster = make_cluster("c00", 40, 40, recommend=False, examples=[])
        cluster["tokens"] = dict.fromkeys(cluster["tokens"])
        cluster["latency_ms"] = {"p50": None, "p95": None}
        cluster["cost"] = {"llm_usd": 0.0, "calls_with_known_cost": 0, "per_call_usd": 0.0, "slm_usd": 0.0,
                           "monthly_llm_usd": None, "monthly_savings_usd": None}
        cluster["suitability"]["components"] = {}
        analysis = make_analysis([cluster], total=40)
        analysis["totals"].update(days=0.0, cost_usd=0.0, calls_with_known_cost=0)
        analysis["migration"].update(monthly_savings_usd=None, recommended=[])
        points = {"x": [], "y": [], "cluster": []}
    elif case == "only_outliers":
        analysis = make_analysis([make_cluster("outlier", 12, 12, name="outliers (stay on the LLM)")], total=12)
        points = None
    elif case == "single_cluster":
        analysis = make_analysis([make_cluster("c00", 500, 500)], total=500)
        points = None
    elif case == "empty":
        analysis = make_analysis([], total=0)
        points = {"x": [], "y": [], "cluster": []}
    else:
        analysis = typical_analysis()
        analysis["totals"].update(cost_usd=0.0, calls_with_known_cost=0)
        for c in analysis["clusters"]:
            c["shares"]["cost"] = 0.0
        points = None
    md, html = render(tmp_path, analysis, points)
    assert html.count("<svg") == 4
    for cluster in analysis["clusters"]:
        assert f"### {cluster['id']} · " in md
        assert f'id="cluster-{cluster["id"]}"' in html
    if case == "none_values":
        assert "unknown" in md and "No examples kept" in md and "No examples kept" in html
        assert "No subtask is recommended" in html
    if case == "only_outliers":
        assert "nothing to score" in html
    if case == "no_cost":
        assert "unknown (no prices for these models)" in md


def test_long_conversations_and_messages_are_cut(tmp_path):
    analysis = typical_analysis()
    turns = [{"role": "system", "content": "sys"}] + [
        {"role": "user" if i % 2 else "assistant", "content": f"turn {i} " + "x" * 5000} for i in range(20)
    ]
    analysis["clusters"][0]["examples"] = [{**example("long"), "messages": turns}]
    md, html = render(tmp_path, analysis)
    assert "earlier messages left out" in md and "earlier messages left out" in html
    assert "more characters]" in md and "more characters]" in html
    assert "turn 19" in html and "turn 1 " not in html


def test_md_cell_escapes_pipes_and_newlines():
    assert md_cell("a|b\nc") == "a\\|b c"


def test_markdown_renders_without_matplotlib_state():
    text = render_markdown(typical_analysis())
    assert text.startswith("# slm-migrate analysis\n")
    assert text.endswith("\n") and not text.endswith("\n\n")
