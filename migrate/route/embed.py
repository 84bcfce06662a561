"""A request as the analysis saw it: the same features, the same TF-IDF weights, the same SVD basis.

`analyze` embeds every call from its request alone (`migrate.analyze.features`: system-prompt
skeleton, tools offered, request controls, conversation shape, the last user turn, slots masked),
weights the hashed features by IDF and projects them on a 64-dimensional SVD basis; it saves that
basis in `DIR/analysis/embedding.npz`. `RequestEmbedder` repeats those steps for one incoming
OpenAI chat request, so the router places it exactly where `analyze` would have.

Per request it gives the unit vector in the embedding and `captured`: the share of the request's
weighted feature norm that the basis explains. Features the analysis never saw often enough to
keep (a one-off prompt, an unknown tool) count in the norm with the IDF of a feature seen once,
so a request unlike the logs has a low `captured` whatever direction its few known features point.

Cost per request: the context (system prompt, tools, shape) repeats across a call site, so its
projection is computed once and cached (a bounded dict); per request only the last user turn is
masked and hashed (~50 features, `murmurhash3_32` as sklearn's `FeatureHasher` does). The caches
only ever add or clear entries, so one embedder may serve several threads.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from sklearn.utils import murmurhash3_32

from migrate.analyze import features
from migrate.analyze.table import N_FEATURES
from migrate.errors import MigrateError
from migrate.ingest import normalize
from migrate.ingest.base import request_params
from migrate.ingest.normalize import BadRecord
from migrate.records import CallRecord

CONTEXT_CACHE = 4096  # distinct contexts (call sites) whose projection is kept (cleared when full)
FEATURE_CACHE = 200_000  # feature names whose hashed index and row are kept (cleared when full)
_INT_MIN = -(2**31)


def record_from_request(request: dict[str, Any]) -> CallRecord:
    """An OpenAI chat request (`messages`, `tools`/`functions`, `tool_choice`, ...) as a
    `CallRecord` without an answer, normalised the way the log readers normalise calls."""
    if not isinstance(request, dict):
        raise MigrateError(f"a request is a JSON object with `messages`, not a {type(request).__name__}",
                           hint='send an OpenAI chat request: {"messages": [{"role": "user", "content": "..."}]}')
    try:
        messages = normalize.messages(request.get("messages"))
        tools = normalize.tools(request.get("tools"), request.get("functions"))
    except BadRecord as exc:
        raise MigrateError(f"not an OpenAI chat request: {exc}",
                           hint='send {"messages": [{"role": "user", "content": "..."}], "tools": [...]}') from None
    return CallRecord(id="request", file="", line=0, messages=messages, tools=tools,
                      model=request.get("model"), params=request_params(request))


def feature_index(name: str) -> int:
    """The column `FeatureHasher(n_features=N_FEATURES, alternate_sign=False)` gives `name`."""
    h = murmurhash3_32(name, 0)
    if h == _INT_MIN:
        return (2**31 - 1 - (N_FEATURES - 1)) % N_FEATURES
    return abs(h) % N_FEATURES


class RequestEmbedder:
    """Requests -> (unit vector, captured) in the analysis embedding."""

    def __init__(self, used_features: np.ndarray, idf: np.ndarray, components: np.ndarray, unseen_idf: float):
        self.dims = int(components.shape[0])
        kept = len(idf)
        self.column = {int(f): i for i, f in enumerate(np.asarray(used_features).tolist())}
        # one extra row for every feature the basis does not hold: weighted by `unseen_idf`, projected to 0
        self.idf = np.append(np.asarray(idf, dtype=np.float64), float(unseen_idf))
        self.basis = np.zeros((kept + 1, self.dims))
        self.basis[:kept] = np.asarray(components, dtype=np.float64).T
        self.unseen_idf = float(unseen_idf)
        self._contexts: dict[tuple[Any, ...], tuple[np.ndarray, float, bytes]] = {}
        self._rows: dict[str, tuple[int, int]] = {}  # feature name -> (hashed index, row)

    @staticmethod
    def unseen_idf_for(calls: int) -> float:
        """The IDF `analyze` gave a feature seen in one call of `calls` (features seen in too few
        calls are not in the basis; an unseen one weighs at least as much)."""
        return math.log((1.0 + calls) / 2.0) + 1.0

    def _row(self, name: str) -> tuple[int, int]:
        index = feature_index(name)
        found = (index, self.column.get(index, len(self.idf) - 1))
        if len(self._rows) >= FEATURE_CACHE:
            self._rows.clear()
        self._rows[name] = found
        return found

    def _project(self, feats: dict[str, float]) -> tuple[np.ndarray, float]:
        """(projection on the basis, squared norm of the IDF-weighted hashed features)."""
        if not feats:
            return np.zeros(self.dims), 0.0
        get, miss = self._rows.get, self._row
        indices, rows = zip(*[get(name) or miss(name) for name in feats])
        if len(set(indices)) < len(indices):  # a hash collision: FeatureHasher adds the features' values
            return self._project_colliding(feats)
        values = np.fromiter(feats.values(), dtype=np.float64, count=len(feats)) * self.idf[list(rows)]
        return values @ self.basis[list(rows)], float(values @ values)

    def _project_colliding(self, feats: dict[str, float]) -> tuple[np.ndarray, float]:
        summed: dict[int, float] = {}
        row_of: dict[int, int] = {}
        for name, weight in feats.items():
            index, row = self._rows.get(name) or self._row(name)
            summed[index] = summed.get(index, 0.0) + weight
            row_of[index] = row
        rows = [row_of[i] for i in summed]
        values = np.asarray(list(summed.values())) * self.idf[rows]
        return values @ self.basis[rows], float(values @ values)

    def _context(self, record: CallRecord) -> tuple[np.ndarray, float, bytes]:
        """(projection, squared norm, digest of the feature names) of a request's context."""
        key = features.context_key(record)
        found = self._contexts.get(key)
        if found is None:
            feats = features.context_features(key)
            found = (*self._project(feats), _digest(feats))
            if len(self._contexts) >= CONTEXT_CACHE:  # cleared when full: call sites are few, churn is rare
                self._contexts.clear()
            self._contexts[key] = found
        return found

    def embed(self, record: CallRecord) -> tuple[np.ndarray, float]:
        """(unit vector, captured) of one request, as `analyze` embeds a call."""
        vector, captured, _ = self._embed(record, keyed=False)
        return vector, captured

    def embed_keyed(self, record: CallRecord) -> tuple[np.ndarray, float, str]:
        """(unit vector, captured, feature key): requests with one key have the same features, so
        the router cannot tell them apart (near-duplicates: slot values are masked)."""
        return self._embed(record, keyed=True)

    def _embed(self, record: CallRecord, keyed: bool) -> tuple[np.ndarray, float, str]:
        context, context_sq, context_digest = self._context(record)
        user_feats = features.user_features(record)
        user, user_sq = self._project(user_feats)
        vector = context + user
        norm = math.sqrt(context_sq + user_sq) + 1e-12
        length = float(np.sqrt(vector @ vector))
        key = hashlib.blake2b(context_digest + _digest(user_feats), digest_size=12).hexdigest() if keyed else ""
        return vector / (length + 1e-12), length / norm, key


def _digest(feats: dict[str, float]) -> bytes:
    return hashlib.blake2b("\n".join(sorted(feats)).encode(), digest_size=12).digest()
