"""The drift report as GitHub-flavoured Markdown: verdict, abstentions, cluster shares, clusters whose
inputs moved, candidate clusters. Masked, scrubbed text only; escaped as the analysis report is."""

from __future__ import annotations

from typing import Any

from migrate.report.markdown import _table, md_code, md_text


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _tokens(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['token']} ({r['before']:.0%} → {r['after']:.0%})" for r in rows) or "—"


def drift_markdown(report: dict[str, Any]) -> str:
    abstain, limits = report["abstain"], report["limits"]
    verdict = "**Limits exceeded:**\n\n" + "\n".join(f"- {md_text(r)}" for r in report["reasons"]) \
        if report["exceeded"] else "Within the limits."
    parts = [
        "# slm-migrate drift",
        (f"{report['calls']:,} new calls ({report['quarantined']:,} lines quarantined) routed with router "
         f"`{md_text((report['router'].get('sha256') or '')[:19])}`."),
        verdict,
        "## Abstentions",
        (f"The router leaves {_pct(abstain['share'])} of the new calls to the LLM unrecognised "
         f"(limit {_pct(limits['max_abstain_share'])}); {_pct(abstain['unknown_share'])} match no cluster's context "
         f"(the analysis had {_pct(abstain['analysis_outlier_share'])} outliers)."),
        _table(["reason", "calls", "share"],
               [[r, f"{v['calls']:,}", _pct(v["share"])] for r, v in abstain["by_reason"].items()], {1, 2})
        if abstain["by_reason"] else "",
        "## Share of calls per cluster",
        _table(["cluster", "name", "status", "analysis", "new", "change", "calls", "near"],
               [[c["id"], c["name"] or "", c["status"], _pct(c["analysis_share"]), _pct(c["share"]),
                 f"{c['change'] * 100:+.1f} pts" + (" ⚠" if c["exceeded"] else ""), f"{c['calls']:,}",
                 f"{c['near_calls']:,}"] for c in report["clusters"]], {3, 4, 5, 6, 7}),
        "`near`: calls the router did not place whose context still matches the cluster.",
        "## Inputs moved",
    ]
    if not report["moved"]:
        parts.append("No cluster's request context moved beyond "
                     f"{limits['max_context_change']:.0%} of its calls.")
    for m in report["moved"]:
        parts += [f"### {md_text(m['id'])} · {md_text(m['name'])} ({m['calls']:,} calls, {m['status']})",
                  "\n".join(f"- {md_text(w)}" for w in m["what"])]
        system = m["system_prompt"]
        if system["words_added"] or system["words_removed"]:
            parts.append(f"- system prompt words more common: {md_text(_tokens(system['words_added']))}; "
                         f"less common: {md_text(_tokens(system['words_removed']))}; overlap with the known "
                         f"prompts {system['overlap'] if system['overlap'] is not None else '—'}")
        opening = m["opening"]
        if opening["words_added"] or opening["words_removed"]:
            parts.append(f"- user-turn opening words more common: {md_text(_tokens(opening['words_added']))}; "
                         f"less common: {md_text(_tokens(opening['words_removed']))}")
    cands = report["candidates"]
    parts += ["## Candidate clusters",
              (f"{cands['abstained']:,} abstained calls, {cands['clustered']:,} clustered; groups of at least "
               f"{cands['min_size']:,} calls are candidates.")]
    if not cands["candidates"]:
        parts.append("No candidate cluster.")
    for c in cands["candidates"]:
        resembles = c["resembles"]
        parts += [
            f"### {md_text(c['id'])} · {md_text(c['name'])}",
            f"{c['size']:,} calls ({_pct(c['calls_share'])} of the new calls), {md_text(c['output_kind'])} answers, "
            f"suitability {c['score']:.2f} ({md_text(c['recommendation'])}); terms: {md_text(', '.join(c['terms']) or '—')}; "
            f"tools: {md_text(', '.join(c['tools']) or 'none')}; router: "
            + md_text(", ".join(f"{r} {n}" for r, n in c["reasons"].items()))
            + (f"; context matches {md_text(resembles['context']['cluster'])} ({resembles['context']['share']:.0%})"
               if resembles["context"] else "; its context matches no known cluster")
            + (f"; the router's best guess: {md_text(resembles['router_guess']['cluster'])} "
               f"({resembles['router_guess']['share']:.0%})" if resembles["router_guess"] else "") + ".",
        ]
        example = c.get("example")
        if example:
            parts.append(md_code(f"system: {example['system'] or '(none)'}\nuser: {example['user']}"))
    parts.append(f"Scrubbed: {'yes' if report['pii']['scrubbed'] else 'no'} · {report['seconds']:.1f} s")
    return "\n\n".join(p for p in parts if p) + "\n"
