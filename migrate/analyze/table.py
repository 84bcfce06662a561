"""The compact, columnar state that analyze keeps per call while the logs stream past.

Per call: where it came from, its context id, its hashed user-turn features, its action tokens and
its numbers (tokens, cost, latency, time). Full records are kept only as a few examples per
context (bounded), so memory grows with the number of calls by a few dozen numbers each — not with
the size of the prompts.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher

from migrate.analyze import features
from migrate.analyze.cost import PriceTable
from migrate.records import CallRecord

N_FEATURES = 2**20
EXAMPLES_PER_CONTEXT = 3
MAX_EXAMPLES = 20_000
_CHUNK = 4096


CHARS_PER_TOKEN = 4.0  # the usual rule of thumb for English text with BPE tokenizers


def estimate_tokens(record: CallRecord, tool_chars: int) -> tuple[int, int]:
    """(prompt, completion) tokens of a call whose log has no usage, from its text length."""
    prompt_chars = tool_chars + sum(len(m["content"] or "") + 8 for m in record.messages)
    answer_chars = len(record.output_text) + sum(
        len(c["function"]["name"]) + len(c["function"]["arguments"]) + 8 for c in record.tool_calls
    )
    return round(prompt_chars / CHARS_PER_TOKEN), max(1, round(answer_chars / CHARS_PER_TOKEN))


class Vocab:
    """Strings to dense ids, in order of first appearance."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def id(self, name: str) -> int:
        found = self.ids.get(name)
        if found is None:
            found = self.ids[name] = len(self.names)
            self.names.append(name)
        return found


class CallTable:
    def __init__(self, prices: PriceTable):
        self.prices = prices
        self.hasher = FeatureHasher(n_features=N_FEATURES, input_type="dict", alternate_sign=False)
        self.ids: list[str] = []
        self.lines = array("i")
        self.files = Vocab()
        self.file_ids = array("i")
        # request side
        self.context_ids = array("i")
        self._context_index: dict[tuple[Any, ...], int] = {}
        self.context_keys: list[tuple[Any, ...]] = []
        self._context_rows: list[sp.csr_matrix] = []
        # hashed user-turn features, as CSR parts grown in place (a vstack of chunks would need
        # twice the memory of the largest object of a run at its end)
        self._user_data = array("f")
        self._user_indices = array("i")
        self._user_indptr = array("q", [0])
        self._pending_user: list[dict[str, float]] = []
        self._user_consumed = False
        # action side
        self.kinds = array("b")
        self.output_hashes = array("q")  # hash of the whole answer: how varied outputs are
        self.actions = Vocab()
        self.action_indptr = array("q", [0])
        self.action_ids = array("i")
        self._actions: sp.csr_matrix | None = None
        # numbers
        self.prompt_tokens = array("q")
        self.completion_tokens = array("q")
        self.cost = array("d")
        self.latency = array("d")
        self.timestamp = array("d")
        self.agents = Vocab()
        self.agent_ids = array("i")
        self.models = Vocab()
        self.drop_reasons = Vocab()
        self.dropped_ids = array("i")
        self.pii_types = Vocab()
        self.pii_ids = array("i")
        self.pii_indptr = array("q", [0])
        self.model_ids = array("i")
        self.tokens_estimated = 0
        self._context_tool_chars: list[int] = []
        # examples
        self.examples: dict[int, list[tuple[int, CallRecord]]] = {}  # context -> (row, record)
        self._n_examples = 0

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, record: CallRecord, dropped: str | None = None, pii: tuple[str, ...] = ()) -> None:
        """Keep what clustering needs of one (already scrubbed) call; `dropped` says why it is not
        training data (a filter or dedup reason), `pii` which entity types were scrubbed from it."""
        row = len(self.ids)
        self.ids.append(record.id)
        self.lines.append(record.line)
        self.file_ids.append(self.files.id(record.file))

        key = features.context_key(record)
        cid = self._context_index.get(key)
        if cid is None:
            cid = self._context_index[key] = len(self.context_keys)
            self.context_keys.append(key)
            self._context_rows.append(self.hasher.transform([features.context_features(key)]))
            self._context_tool_chars.append(len(orjson.dumps(record.tools)) if record.tools else 0)
        self.context_ids.append(cid)
        self._pending_user.append(features.user_features(record))
        if len(self._pending_user) >= _CHUNK:
            self._flush_user()

        kind = features.output_kind(record)
        self.kinds.append(features.KINDS.index(kind))
        self.output_hashes.append(features.output_hash(record))
        for token in features.action_tokens(record, kind):
            self.action_ids.append(self.actions.id(token))
        self.action_indptr.append(len(self.action_ids))

        prompt, completion = record.prompt_tokens, record.completion_tokens
        if prompt is None and record.response is not None:  # no usage logged: estimate from text
            prompt, completion = estimate_tokens(record, self._context_tool_chars[cid])
            self.tokens_estimated += 1
        self.prompt_tokens.append(-1 if prompt is None else prompt)
        self.completion_tokens.append(-1 if completion is None else completion)
        cost = record.cost_usd
        if cost is None:
            cost = self.prices.cost(record.model, prompt, completion)
        self.cost.append(np.nan if cost is None else cost)
        self.latency.append(np.nan if record.latency_ms is None else record.latency_ms)
        self.timestamp.append(np.nan if record.timestamp is None else record.timestamp)
        self.agent_ids.append(self.agents.id(record.agent) if record.agent else -1)
        self.dropped_ids.append(self.drop_reasons.id(dropped) if dropped else -1)
        for entity in pii:
            self.pii_ids.append(self.pii_types.id(entity))
        self.pii_indptr.append(len(self.pii_ids))
        self.model_ids.append(self.models.id(record.model) if record.model else -1)

        kept = self.examples.setdefault(cid, [])
        if len(kept) < EXAMPLES_PER_CONTEXT and self._n_examples < MAX_EXAMPLES:
            kept.append((row, record))
            self._n_examples += 1

    def _flush_user(self) -> None:
        if self._pending_user:
            chunk = self.hasher.transform(self._pending_user)
            offset = len(self._user_data)
            self._user_data.frombytes(chunk.data.astype(np.float32).tobytes())
            self._user_indices.frombytes(chunk.indices.astype(np.int32).tobytes())
            self._user_indptr.frombytes((chunk.indptr[1:].astype(np.int64) + offset).tobytes())
            self._pending_user = []

    # -- finished columns ----------------------------------------------------------------------
    def context_matrix(self) -> sp.csr_matrix:
        return sp.vstack(self._context_rows, format="csr").astype(np.float32)

    def consume_user_matrix(self) -> sp.csr_matrix:
        """The hashed user-turn features, one row per call: a view on the table's buffers, for a
        caller that may change it in place. Once only: a second call is a bug."""
        matrix = self.user_matrix()
        self._user_consumed = True
        return matrix

    def user_matrix(self) -> sp.csr_matrix:
        """The hashed user-turn features as added, to read (not change) before they are consumed."""
        if self._user_consumed:
            raise RuntimeError("the user features were already consumed (embed runs once per table)")
        self._flush_user()
        return sp.csr_matrix(
            (
                np.frombuffer(self._user_data, dtype=np.float32),
                np.frombuffer(self._user_indices, dtype=np.int32),
                np.frombuffer(self._user_indptr, dtype=np.int64),
            ),
            shape=(len(self), N_FEATURES),
            copy=False,
        )

    def examples_by_label(self, labels: np.ndarray) -> dict[int, list[CallRecord]]:
        """The kept example records grouped by the cluster label of their call (`labels[row]`)."""
        grouped: dict[int, list[CallRecord]] = {}
        for kept in self.examples.values():
            for row, record in kept:
                grouped.setdefault(int(labels[row]), []).append(record)
        return grouped

    def action_matrix(self) -> sp.csr_matrix:
        """Action tokens per call (calls x action vocabulary, ones); built once, then reused."""
        if self._actions is None or self._actions.shape[0] != len(self):
            indptr = np.frombuffer(self.action_indptr, dtype=np.int64)
            indices = np.frombuffer(self.action_ids, dtype=np.int32)
            data = np.ones(len(indices), dtype=np.float32)
            self._actions = sp.csr_matrix(
                (data, indices, indptr), shape=(len(self), len(self.actions.names)), copy=False
            )
        return self._actions

    def column(self, name: str) -> np.ndarray:
        arr = getattr(self, name)
        dtype = {"b": np.int8, "i": np.int32, "q": np.int64, "d": np.float64}[arr.typecode]
        return np.frombuffer(arr, dtype=dtype)

    def curation_counts(self, rows: np.ndarray) -> dict[str, Any]:
        dropped = self.column("dropped_ids")[rows]
        reasons = Counter(dropped[dropped >= 0].tolist())
        indptr = np.frombuffer(self.pii_indptr, dtype=np.int64)
        ids = np.frombuffer(self.pii_ids, dtype=np.int32)
        pii: Counter[str] = Counter()
        for row in rows[np.diff(indptr)[rows] > 0].tolist():
            pii.update(self.pii_types.names[i] for i in ids[indptr[row]:indptr[row + 1]].tolist())
        return {
            "kept_for_training": int((dropped < 0).sum()),
            "dropped": {self.drop_reasons.names[i]: n for i, n in sorted(reasons.items())},
            "calls_with_pii": dict(pii.most_common()),
        }

    def agent_counts(self, rows: np.ndarray) -> Counter[str]:
        ids = self.column("agent_ids")[rows]
        counts = Counter(ids[ids >= 0].tolist())
        return Counter({self.agents.names[i]: n for i, n in counts.items()})
