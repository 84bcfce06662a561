"""Train the router on the analysed calls and calibrate its thresholds on held-out ones.

1. **Split.** The curated calls are cut into `train`, `calibration` and `test` by whole groups:
   calls with the same request features (near-duplicates: slot values are masked, so the router
   cannot tell them apart) or of one trace are one group (union-find of
   `migrate.datasets.split.group_examples`), and a keyed hash of the seed and the group's key
   decides its part. No near-duplicate straddles two parts.
2. **Fit** (train): a multinomial logistic regression from the request embedding (`analyze`'s,
   through `RequestEmbedder`) to the cluster of `DIR/analysis/assignments.jsonl` (outliers are a
   class of their own), each call weighted by the calls it represents. Per cluster, from its training calls: the tools they offer, and the
   floors of `captured` and of the similarity to the cluster's centroids, by the rule `analyze`
   uses to call a call an outlier (below the median by `outlier_mads` MADs and at least 0.2, or
   below the fixed floor).
3. **Calibrate** (calibration): per cluster, the lowest confidence threshold at which the
   requests the router sends to it belong to it with at least the target precision (weighted by
   the calls each stands for). A cluster with fewer held-out calls than `min_calibration`, or no
   threshold that reaches the target, gets none: it never takes traffic.
4. **Measure** (test): per cluster the precision and coverage (the share of its calls routed to
   it) at its threshold, and the trade-off curves: share of traffic routed vs precision at each
   target precision (thresholds recalibrated per target) and at each plain confidence cut-off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from migrate import __version__
from migrate.analyze import cluster_id
from migrate.datasets.split import group_examples
from migrate.errors import MigrateError
from migrate.records import CallRecord
from migrate.route.embed import RequestEmbedder
from migrate.route.router import OUTLIER_ID, Router, Scores

PARTS = ("train", "calibration", "test")
TARGETS = (0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)  # target precisions of the trade-off curve
CUTOFFS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999)  # plain confidence cut-offs
GAP = 0.2  # as analyze: a call is an outlier only when also this far below its group's median


@dataclass
class Calls:
    """The analysed calls the router learns from, embedded, as columns (the records themselves are
    not kept: memory grows by ~300 bytes a call)."""

    vectors: np.ndarray  # (n, dims) float32 unit rows
    captured: np.ndarray  # (n,) share of each request the basis explains
    keys: list[str]  # feature keys: requests with one key look the same to the router
    traces: list[str | None]
    tool_sets: list[frozenset[str]]
    labels: np.ndarray  # cluster id per call (str), "outlier" allowed
    weights: np.ndarray  # calls each stands for (`represents`)

    @classmethod
    def embed(cls, embedder: RequestEmbedder, rows: Iterable[tuple[CallRecord, str, int]]) -> Calls:
        """Calls from (record, cluster, represents) rows, embedded one at a time."""
        vectors: list[np.ndarray] = []
        captured, keys, traces, tool_sets, labels, weights = [], [], [], [], [], []
        interned: dict[frozenset[str], frozenset[str]] = {}
        for record, label, represents in rows:
            vector, share, key = embedder.embed_keyed(record)
            vectors.append(vector.astype(np.float32))
            captured.append(share)
            keys.append(key)
            traces.append(record.trace_id)
            tools = frozenset(t["function"].get("name", "") for t in record.tools)
            tool_sets.append(interned.setdefault(tools, tools))  # one object per distinct tool set
            labels.append(label)
            weights.append(represents)
        dims = embedder.dims
        return cls(np.array(vectors, dtype=np.float32).reshape(len(vectors), dims), np.array(captured), keys, traces,
                   tool_sets, np.array(labels, dtype=object), np.asarray(weights, dtype=np.float64))


def split_calls(keys: list[str], traces: list[str | None], seed: int, calibration: float, test: float) -> np.ndarray:
    """Each call's part (`PARTS`), by whole groups: calls with one feature key (near-duplicates) or
    one trace are one group."""
    keyed = [SimpleNamespace(prompt_key=key, trace_id=trace) for key, trace in zip(keys, traces)]
    parts = np.empty(len(keys), dtype=object)
    for members in group_examples(keyed):
        key = min(keys[i] for i in members)
        u = int.from_bytes(hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest(), "little") / 2**64
        parts[members] = "test" if u < test else ("calibration" if u < test + calibration else "train")
    return parts


def parts_of(embedder: RequestEmbedder, records: list[CallRecord], seed: int, calibration: float, test: float
             ) -> np.ndarray:
    """The parts `split_calls` gives `records` (to find a build's held-out calls again)."""
    keys = [embedder.embed_keyed(record)[2] for record in records]
    return split_calls(keys, [record.trace_id for record in records], seed, calibration, test)


def class_order(analysis: dict[str, Any], labels: np.ndarray) -> list[str]:
    """The classes: clusters with training calls, in the analysis' order, the outliers last."""
    present = set(labels.tolist())
    ids = [c["id"] for c in analysis["clusters"] if c["id"] != OUTLIER_ID and c["id"] in present]
    return ids + ([OUTLIER_ID] if OUTLIER_ID in present else [])


def fit_router(embedding: dict[str, np.ndarray], unseen_idf: float, analysis: dict[str, Any], calls: Calls,
               parts: np.ndarray, *, seed: int, regularization: float) -> tuple[Router, Scores]:
    """The router fitted on the `train` part (no thresholds yet) and its scores of every call.
    `embedding`: the arrays of `DIR/analysis/embedding.npz`."""
    train = np.flatnonzero(parts == "train")
    classes = class_order(analysis, calls.labels[train])
    if not classes or classes == [OUTLIER_ID]:
        raise MigrateError("the analysis found no recurring subtask to route to: every request stays on the LLM",
                           hint="analyze more logs; routing needs clusters")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(label, -1) for label in calls.labels.tolist()])
    fit = train[y[train] >= 0]
    coef, intercept = fit_classifier(calls.vectors[fit], y[fit], calls.weights[fit], len(classes), regularization,
                                     seed)
    centroid_class = np.array([index.get(cluster_id(m), -1) for m in embedding["micro_cluster"].tolist()])
    header = {"classes": classes, "unseen_idf": unseen_idf, "tool_version": __version__, "clusters": {},
              "fallback_model": None}
    arrays = {"used_features": embedding["used_features"], "idf": embedding["idf"],
              "components": embedding["components"], "centroids": embedding["micro_centroids"],
              "centroid_class": centroid_class, "coef": coef, "intercept": intercept}
    similarity = Router(header, arrays).similarity(calls.vectors, np.maximum(y, 0))
    settings = analysis.get("params", {}).get("cluster", {})
    mads = settings.get("outlier_mads", 6.0)
    gates = {}
    for name, k in index.items():
        mine = fit[y[fit] == k]
        gates[name] = {
            "tools": sorted(set().union(*(calls.tool_sets[i] for i in mine))),
            "min_captured": round(floor_of(calls.captured[mine], mads, settings.get("min_captured", 0.35)), 6),
            "min_similarity": round(floor_of(similarity[mine], mads, settings.get("outlier_floor", 0.25)), 6),
        }
    router = Router({**header, "clusters": gates}, arrays)
    return router, router.score(calls.vectors, calls.captured, calls.tool_sets)


def fit_classifier(vectors: np.ndarray, y: np.ndarray, weights: np.ndarray, n_classes: int, c: float, seed: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(coef (k, dims), intercept (k,)) of a multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    dims = vectors.shape[1]
    if n_classes == 1:  # one class: it is always the top one; the floors and threshold still apply
        return np.zeros((1, dims)), np.zeros(1)
    with threadpool_limits(1):  # a small problem: threads only contend
        model = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(vectors, y, sample_weight=weights)
    coef = np.zeros((n_classes, dims))
    intercept = np.full(n_classes, -1e3)  # a class without training calls is never the top one
    if len(model.classes_) == 2:  # sklearn keeps one row for two classes: logit of the second
        coef[model.classes_[1]], intercept[model.classes_[1]] = model.coef_[0], model.intercept_[0]
        coef[model.classes_[0]], intercept[model.classes_[0]] = 0.0, 0.0
    else:
        coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
    return coef, intercept


def floor_of(values: np.ndarray, mads: float, floor: float) -> float:
    """The value below which `analyze` would call a member of this group an outlier."""
    if len(values) == 0:
        return 1.0
    typical = float(np.median(values))
    mad = float(np.median(np.abs(values - typical)))
    return max(floor, typical - max(mads * mad, GAP))


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, weights: np.ndarray, target: float
                     ) -> tuple[float | None, float | None]:
    """(lowest threshold whose routed calls reach `target` precision, that precision); (None,
    None) when none does. Only thresholds between distinct confidences are considered."""
    if len(confidence) == 0:
        return None, None
    order = np.argsort(-confidence, kind="stable")
    conf, hit, w = confidence[order], correct[order].astype(np.float64), weights[order]
    precision = np.cumsum(hit * w) / np.cumsum(w)
    boundary = np.append(conf[:-1] > conf[1:], True)  # a cut after row i separates distinct values
    ok = np.flatnonzero(boundary & (precision >= target))
    if len(ok) == 0:
        return None, None
    i = int(ok.max())
    return float(conf[i]), float(precision[i])


def calibrate(router: Router, scores: Scores, calls: Calls, rows: np.ndarray, target: float,
              min_calibration: int) -> dict[str, dict[str, Any]]:
    """Per cluster: its threshold at `target` from the calibration `rows`, and why it has none."""
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(router.classes):
        if name == OUTLIER_ID:
            continue
        held_out = int((calls.labels[rows] == name).sum())
        candidates = rows[(scores.best[rows] == k) & (scores.check[rows] == "")]
        entry: dict[str, Any] = {"threshold": None, "calibration_calls": held_out, "calibration_precision": None}
        if held_out < min_calibration:
            entry["why_none"] = (f"only {held_out} held-out calls to calibrate on (fewer than {min_calibration}): "
                                 "the router cannot show it recognises this cluster")
        else:
            threshold, precision = choose_threshold(
                scores.confidence[candidates], calls.labels[candidates] == name, calls.weights[candidates], target)
            entry.update(threshold=threshold, calibration_precision=precision)
            if threshold is None:
                entry["why_none"] = f"no confidence threshold reaches precision {target} on held-out calls"
        out[name] = entry
    return out


def routed_mask(router: Router, scores: Scores, thresholds: dict[str, float | None], rows: np.ndarray,
                allowed: set[str] | None = None) -> np.ndarray:
    """Which of `rows` are routed to their top class (a cluster) under `thresholds`."""
    limit = np.array([np.inf if thresholds.get(c) is None or (allowed is not None and c not in allowed)
                      else thresholds[c] for c in router.classes])
    best = scores.best[rows]
    return (scores.check[rows] == "") & (scores.confidence[rows] >= limit[best])


def measure(router: Router, scores: Scores, calls: Calls, rows: np.ndarray, thresholds: dict[str, float | None],
            allowed: set[str] | None = None) -> dict[str, Any]:
    """On `rows`: the share of traffic routed and its precision, overall and per cluster."""
    routed = routed_mask(router, scores, thresholds, rows, allowed)
    best = np.array(router.classes, dtype=object)[scores.best[rows]]
    labels, weights = calls.labels[rows], calls.weights[rows]
    correct = routed & (best == labels)
    total = float(weights.sum())
    clusters = {}
    for name in router.classes:
        if name == OUTLIER_ID:
            continue
        mine, sent = labels == name, routed & (best == name)
        clusters[name] = {
            "calls": int(mine.sum()),
            "routed": int(sent.sum()),
            "coverage": _ratio(weights[mine & sent].sum(), weights[mine].sum()),
            "precision": _ratio(weights[sent & correct].sum(), weights[sent].sum()),
        }
    return {
        "calls": len(rows),
        "share_routed": _ratio(weights[routed].sum(), total),
        "precision": _ratio(weights[correct].sum(), weights[routed].sum()),
        "clusters": clusters,
    }


def tradeoff(router: Router, scores: Scores, calls: Calls, parts: np.ndarray, promoted: set[str],
             min_calibration: int, chosen: float) -> dict[str, Any]:
    """The curves of share routed vs precision on the test calls, at each of `TARGETS` and the
    `chosen` target precision."""
    cal, test = np.flatnonzero(parts == "calibration"), np.flatnonzero(parts == "test")
    by_target = []
    for target in sorted({*TARGETS, chosen}):
        calibrated = calibrate(router, scores, calls, cal, target, min_calibration)
        thresholds = {c: e["threshold"] for c, e in calibrated.items()}
        every = measure(router, scores, calls, test, thresholds)
        now = measure(router, scores, calls, test, thresholds, promoted)
        by_target.append({
            "target": target,
            "all_clusters": {"share_routed": every["share_routed"], "precision": every["precision"]},
            "promoted": {"share_routed": now["share_routed"], "precision": now["precision"]},
            "clusters": {c: {"threshold": _round(thresholds[c], 6), **every["clusters"][c]} for c in thresholds},
        })
    by_cutoff = []
    for cutoff in CUTOFFS:
        thresholds = {c: cutoff for c in router.classes if c != OUTLIER_ID}
        every = measure(router, scores, calls, test, thresholds)
        by_cutoff.append({"cutoff": cutoff, "share_routed": every["share_routed"], "precision": every["precision"],
                          "clusters": every["clusters"]})
    return {"by_target": by_target, "by_cutoff": by_cutoff}


def _ratio(num: float, den: float) -> float | None:
    return round(float(num) / float(den), 6) if den > 0 else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
