"""Readable names for clusters: distinctive prompt terms, the tools they call, the agent hint.

Terms are ranked by class-based TF-IDF over the kept examples (a term frequent in this cluster's
prompts and rare in the others'), from the system prompt and the opening of the user turn.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from migrate.analyze import features
from migrate.analyze.suitability import KIND_LABELS
from migrate.masking import words
from migrate.records import CallRecord

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not now of off on once only or other our ours out over own same she should so some such
    than that the their them then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself
    must may also use using used please only one two etc every always never each via per""".split()
)


def _terms(record: CallRecord) -> set[str]:
    system = " ".join(m["content"] or "" for m in record.messages if m["role"] in ("system", "developer"))
    opening = words(features.last_user_text(record))[: features.OPENING_WORDS * 2]
    return {
        w for w in words(system)[:200] + opening
        if not w.startswith("<") and w not in STOPWORDS and len(w) > 2
    }


# Words that say what a prompt asks for; among a cluster's distinctive terms they come first.
TASK_WORDS = frozenset(
    """summarize summarise summary summaries rewrite rewrites classify classification classifier
    extract extraction translate translation draft reply replies plan planning planner route router
    routing sql query queries search sentiment intent triage label labels answer respond tool tools
    json schema generate write review analyze analyse escalate""".split()
)


def distinctive_terms(examples: dict[int, list[CallRecord]], top: int = 6) -> dict[int, list[str]]:
    """Per cluster, its most distinctive prompt terms (class-based TF-IDF)."""
    per_cluster: dict[int, Counter[str]] = {}
    for cluster, records in examples.items():
        counts: Counter[str] = Counter()
        for record in records:
            counts.update(_terms(record))
        per_cluster[cluster] = counts
    n_clusters = max(len(per_cluster), 1)
    spread = Counter(term for counts in per_cluster.values() for term in counts)
    out: dict[int, list[str]] = {}
    for cluster, counts in per_cluster.items():
        size = max(len(examples[cluster]), 1)
        scored = {
            term: (count / size) * math.log(1 + n_clusters / spread[term]) * (3.0 if term in TASK_WORDS else 1.0)
            for term, count in counts.items()
            if count / size >= 0.5
        }
        chosen: list[str] = []
        for term, _ in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])):
            if not any(_same_stem(term, other) for other in chosen):
                chosen.append(term)
            if len(chosen) == top:
                break
        out[cluster] = chosen
    return out


def _same_stem(a: str, b: str) -> bool:
    """"tool"/"tools", "label"/"labels", "plan"/"planning": one of them is enough in a name."""
    short, long = sorted((a, b), key=len)
    return len(short) >= 3 and long.startswith(short) and len(long) - len(short) <= 4


def generic_hints(hints_per_cluster: list[Counter[str]], sizes: list[int]) -> set[str]:
    """Hints that name a framework rather than an agent ("ChatOpenAI", "llm-call"): hints that
    hold a tenth or more of three or more clusters. They are never used as names."""
    spread: Counter[str] = Counter()
    for hints, size in zip(hints_per_cluster, sizes):
        spread.update(h for h, c in hints.items() if c >= 0.1 * size)
    return {h for h, n in spread.items() if n >= 3}


def name_cluster(
    profile: dict[str, Any], terms: list[str], agents: Counter[str], generic_hints: set[str] = frozenset()
) -> tuple[str, str]:
    """(short name, one-sentence description) of a profiled cluster."""
    output = profile["output"]
    kind = output["kind"]
    values = [o["value"].replace(",", ", ") for o in output["top_outputs"]][:3]
    more = ", …" if len(output["top_outputs"]) > 3 else ""
    detail = KIND_LABELS[kind] + (f" ({' | '.join(values)}{more})" if values else "")
    hint, hint_count = agents.most_common(1)[0] if agents else (None, 0)
    subject = " ".join(terms[:3])
    if hint and hint not in generic_hints and hint_count >= 0.5 * profile["size"]:
        subject = hint
    name = f"{subject or 'requests'} → {detail}"
    description = (
        f"{profile['size']} calls ({profile['shares']['calls']:.1%}) answering with {KIND_LABELS[kind]}"
        + (f"; prompts about: {', '.join(terms)}" if terms else "")
        + (f"; agent hint: {hint} ({hint_count / profile['size']:.0%})" if hint else "")
        + "."
    )
    return name, description
