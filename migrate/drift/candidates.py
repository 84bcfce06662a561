"""New candidate clusters: the recurring work among the calls the router did not recognise.

The abstained calls (scrubbed) are kept in analyze's own `CallTable` — a few numbers and hashed
features per call, full records only as a few examples per context — up to a bound, and clustered
with analyze's embedding and clustering (`migrate.analyze.cluster`) on their own: TF-IDF of the
request features, SVD, micro-clusters merged into call sites and subtasks, explicit outliers. A
group of at least the minimum size is a candidate: a subtask the analysis did not see, or a known
one whose inputs moved so far that the router no longer recognises it (`resembles` says which
cluster the context matches, and the router's best guess). Each candidate is described as
analyze describes a cluster: size and share, output kind and suitability, distinctive terms, the
tools offered, and one example prompt, masked.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from migrate.analyze import naming
from migrate.analyze.cluster import OUTLIER, ClusterParams, assign_clusters, embed
from migrate.analyze.cost import PriceTable
from migrate.analyze.features import last_user_text
from migrate.analyze.suitability import SuitabilityParams, Totals, profile_cluster
from migrate.analyze.table import CallTable
from migrate.masking import mask_text
from migrate.records import CallRecord

EXAMPLE_CHARS = 400  # characters of each masked example text shown


class AbstainedCalls:
    """The abstained calls kept for clustering (at most `limit`: the first ones), with the
    router's reason, its best guess and the cluster the context points to, per call."""

    def __init__(self, prices: PriceTable, limit: int):
        self.table = CallTable(prices)
        self.limit = limit
        self.reasons: list[str] = []
        self.guesses: list[str | None] = []
        self.attributed: list[str | None] = []
        self.seen = 0

    def add(self, record: CallRecord, reason: str, guess: str | None, attributed: str | None) -> None:
        self.seen += 1
        if len(self.table) >= self.limit:
            return
        self.table.add(record)
        self.reasons.append(reason)
        self.guesses.append(guess)
        self.attributed.append(attributed)

    def __len__(self) -> int:
        return len(self.table)


def find_candidates(abstained: AbstainedCalls, totals: Totals, min_size: int, seed: int,
                    suitability: SuitabilityParams | None = None) -> dict[str, Any]:
    """Cluster the abstained calls; describe the groups of at least `min_size` calls."""
    table = abstained.table
    n = len(table)
    summary: dict[str, Any] = {"abstained": abstained.seen, "clustered": n, "min_size": min_size,
                               "in_candidates": 0, "candidates": []}
    if n < max(min_size, 3):
        return summary
    params = ClusterParams(seed=seed, min_cluster_size=min_size)
    with warnings.catch_warnings():  # abstentions are often near-duplicates: fewer distinct points than k
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = assign_clusters(table, embed(table, params), params).labels
    actions = table.action_matrix()
    examples = table.examples_by_label(labels)
    terms = naming.distinctive_terms(examples)
    candidates = []
    for index in sorted(set(labels.tolist()) - {OUTLIER}):
        rows = np.flatnonzero(labels == index)
        profile = profile_cluster(table, actions, rows, totals, suitability or SuitabilityParams(),
                                  table.prices.slm_cost)
        name, description = naming.name_cluster(profile, terms.get(index, []), table.agent_counts(rows))
        records = examples.get(index, [])
        candidates.append({
            "id": f"new{len(candidates):02d}",
            "name": name,
            "description": description,
            "size": len(rows),
            "calls_share": profile["shares"]["calls"],
            "output_kind": profile["output"]["kind"],
            "score": profile["suitability"]["score"],
            "recommendation": profile["suitability"]["recommendation"],
            "terms": terms.get(index, []),
            "tools": sorted({t["function"].get("name", "") for r in records for t in r.tools} - {""}),
            "reasons": dict(Counter(abstained.reasons[i] for i in rows.tolist()).most_common()),
            "resembles": _resembles(abstained, rows),
            "example": _example(records[0]) if records else None,
        })
    summary["candidates"] = candidates
    summary["in_candidates"] = sum(c["size"] for c in candidates)
    return summary


def _resembles(abstained: AbstainedCalls, rows: np.ndarray) -> dict[str, Any]:
    """The known cluster most of a candidate's calls match by context (prompt template or tools:
    a known subtask whose inputs moved), and the router's most common best guess (weak evidence:
    the classifier always names some cluster)."""
    out: dict[str, Any] = {}
    for name, values in (("context", abstained.attributed), ("router_guess", abstained.guesses)):
        counts = Counter(values[i] for i in rows.tolist() if values[i] and values[i] != "outlier")
        cluster, count = counts.most_common(1)[0] if counts else (None, 0)
        out[name] = {"cluster": cluster, "share": round(count / len(rows), 4)} if cluster else None
    return out


def _example(record: CallRecord) -> dict[str, Any]:
    """One call's request, scrubbed already and masked here (slot values replaced by their type)."""
    system = "\n".join(m["content"] or "" for m in record.messages if m["role"] in ("system", "developer"))
    return {
        "system": _clip(mask_text(system)),
        "user": _clip(mask_text(last_user_text(record))),
        "tools": [t["function"].get("name") for t in record.tools],
    }


def _clip(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " …"
