"""Dedup: exact and near-duplicate calls, counted so the statistics still reflect real volume.

Dedup thins the training data, not the statistics: every dropped call is counted against the
kept call that stands for it (`Deduplicator.represents`), so a kept example can carry the weight of
all the calls it represents.

What makes two calls the same is `dedup_text`: the request and the answer with slot values masked
(`migrate.masking.words`), so two calls that differ only in an order number, an e-mail
or a date, in the request and the answer alike, are duplicates by design. Quote characters are
blanked before masking: the quoted-value mask of `words` suits clustering, but here it would hide
what matters (`{"label": "refund"}` and `{"label": "exchange"}` would be one answer, and every
quoted review sent to a classifier one request).

- **Exact**: a 16-byte blake2b digest of `dedup_text`, in a dict (memory ~ distinct calls).
- **Near**: two calls with the same *context* (the tool names offered and the masked system and
  developer messages) whose *turns* (every other message of the request) and *answers* each have
  word 3-gram shingle sets with an estimated Jaccard similarity of at least `threshold`.
  - The context is compared whole, not shingled: in agent logs it is long and shared by every call
    of a call site, and shingled with the rest it would make any two calls of a site with a long
    system prompt near-duplicates, whatever their input and answer.
  - The answer is compared on its own: a label or a JSON object is a few words of a long call, so
    over the whole text two inputs one word apart would be near-duplicates even when their answers
    differ, and those are the examples that teach the difference. A long answer with one word
    changed is still nearly the same.
  - A seeded `MinHash` of the turn shingles is looked up in an LSH band index before it is
    inserted (the banding is datasketch's `MinHashLSH` choice for the threshold; the index is one
    dict per band, far lighter than datasketch's in-memory storage).
    Its candidates are checked against each kept call's stored signatures (context digest, turn
    and answer MinHash values); the earliest kept call that passes is the representative. The
    LSH bands are tuned for recall (see `_LSH_WEIGHTS`): the check removes false candidates.

Deterministic: the same calls in the same order give the same decisions, in any process (shingles
are hashed with CRC-32, not Python's salted `hash`; LSH candidates are checked, then the earliest
kept one wins).

Cost (measured on 20,000 generated support-agent calls, `sample_logs/generate.py --single-format
openai`, ~900 characters of messages a call, 7% of them dropped; one CPU core): see `Deduplicator`.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections import Counter
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from migrate.masking import words
from migrate.records import CallRecord

CONTEXT_ROLES = ("system", "developer")
_BLANK_QUOTES = str.maketrans({'"': " ", "'": " "})
# LSH band weights (false positives, false negatives): with 64 permutations and threshold 0.9 the
# default (0.5, 0.5) picks 3 bands of 21 rows, which finds a pair at similarity 0.9 only 29% of the
# time; (0.1, 0.9) picks 5 bands of 12 rows (81%). False candidates cost one signature check. On
# 8,000 generated calls this missed 10 of 346 near-duplicates (checked by exact Jaccard), not 23.
_LSH_WEIGHTS = (0.1, 0.9)


class DedupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exact: bool = Field(True, description="drop calls whose masked request and answer equal a kept call's")
    near: bool = Field(True, description="drop calls nearly the same as a kept call (MinHash LSH)")
    threshold: float = Field(
        0.9,
        gt=0,
        le=1,
        description="estimated Jaccard similarity of word 3-gram shingles (of the turns and, on its own, "
        "of the answer) from which two calls with the same context are near-duplicates",
    )
    num_perm: int = Field(64, ge=16, le=512, description="MinHash permutations (more: finer estimates, slower)")
    seed: int = Field(1, ge=0, description="MinHash seed (decisions are deterministic for a seed)")


# -- what makes two calls the same --------------------------------------------------------------
@lru_cache(maxsize=1024)
def _masked(text: str) -> tuple[str, ...]:
    """Masked words of one message, cached: system prompts and earlier turns repeat (the cache
    saves a third of the masking time on the sample logs; 1,024 texts keep its memory small)."""
    return tuple(words(text.translate(_BLANK_QUOTES)))


def _message_tokens(message: dict[str, Any], out: list[str]) -> None:
    content = message.get("content")
    if content:
        out.extend(_masked(content))
    for call in message.get("tool_calls") or ():
        function = call["function"]
        out.append(f"call:{function['name']}")
        arguments = function.get("arguments")
        if arguments:
            out.extend(_masked(arguments))


def masked_parts(record: CallRecord) -> tuple[list[str], list[str], list[str]]:
    """The call as three token lists: its context (the tool names offered, then the system and
    developer messages), its turns (every other message of the request) and its answer (content,
    then tool calls). Each message is led by a `role:` token and each tool call by `call:name`
    (never words: `words` strips colons)."""
    context = ["tools:", *sorted(tool["function"].get("name") or "" for tool in record.tools)]
    turns: list[str] = []
    for message in record.messages:
        role = message["role"]
        out = context if role in CONTEXT_ROLES else turns
        out.append(f"{role}:")
        _message_tokens(message, out)
    answer: list[str] = []
    if record.response:
        _message_tokens(record.response, answer)
    return context, turns, answer


def dedup_text(record: CallRecord) -> str:
    """What makes two calls the same: the masked request (system + all messages, roles included,
    tool names offered) and the answer (content + tool calls), via
    migrate.masking.words for masking."""
    return _joined(*masked_parts(record))


def _joined(context: list[str], turns: list[str], answer: list[str]) -> str:
    return " ".join(context) + "\n" + " ".join(turns) + "\nanswer: " + " ".join(answer)


def shingles(tokens: list[str]) -> set[bytes]:
    """Word 3-grams of `tokens` (the whole sequence when it is shorter)."""
    if len(tokens) < 3:
        return {" ".join(tokens).encode()}
    return {f"{a} {b} {c}".encode() for a, b, c in zip(tokens, tokens[1:], tokens[2:])}


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _band_key(band: bytes) -> bytes:
    return hashlib.blake2b(band, digest_size=8).digest()


class MinHasher:
    """Seeded MinHash signatures of shingle sets: datasketch's classic universal hashing
    (`(a * crc32(shingle) + b) mod (2**61 - 1)`, 32 bits kept), computed for all the sets of a
    call in one numpy pass. datasketch's `MinHash.update_batch` computes the same kind of values
    but pays for an object copy and argument checks per set: ~2x the time here."""

    _PRIME = np.uint64((1 << 61) - 1)

    def __init__(self, num_perm: int, seed: int):
        generator = np.random.RandomState(seed)
        self._a = generator.randint(1, self._PRIME, size=num_perm, dtype=np.uint64)
        self._b = generator.randint(0, self._PRIME, size=num_perm, dtype=np.uint64)

    def signatures(self, *sets: set[bytes]) -> list[np.ndarray]:
        """One `uint32` array of `num_perm` values per set (every set must be non-empty)."""
        hashes = np.fromiter((zlib.crc32(item) for group in sets for item in group), dtype=np.uint64)
        with np.errstate(over="ignore"):  # the product wraps around, as in datasketch
            permuted = ((hashes[:, None] * self._a + self._b) % self._PRIME).astype(np.uint32)
        starts = np.cumsum([0, *(len(group) for group in sets[:-1])])
        return list(np.minimum.reduceat(permuted, starts, axis=0))


# -- the stream ---------------------------------------------------------------------------------
class Deduplicator:
    """Decides, call by call in stream order, which calls are kept and whom the others duplicate.

    `represents[i]` is the number of calls kept call `i` stands for (itself included) and
    `counts` the calls dropped by reason, so `sum(represents.values())` is the number of calls
    checked and `len(represents) + sum(counts.values())` too.

    Cost, measured on the 20,000 calls described at the top (Python 3.11, datasketch 2.0, one
    core), per call checked:
    - exact only: ~40 µs (almost all of it masking) and ~140 bytes per distinct call (the digest,
      its dict slot and the `represents` entry);
    - exact and near (the default): ~130 µs, and ~0.9 KB per kept call: the band index (5 dict
      entries) and the stored signatures (~0.6 KB: 8 + 2 x 256 bytes), plus the exact digest.
      (datasketch's `MinHashLSH` storage, a Python set per bucket, took ~3.5 KB per kept call.)
    So a 1M-call log takes ~2 minutes and, when most calls are distinct, ~1 GB.
    """

    def __init__(self, params: DedupParams):
        self.params = params
        self.represents: dict[int, int] = {}
        self.counts: Counter[str] = Counter()
        self._exact: dict[bytes, int] = {}  # digest of dedup_text -> the kept index it maps to
        # kept index -> 8-byte context digest + request MinHash values + answer MinHash values
        self._signatures: dict[int, bytes] = {}
        if params.near:
            # ~0.4 s to import: only when needed
            from datasketch import MinHashLSH

            self._minhash = MinHasher(params.num_perm, params.seed)
            # datasketch picks the banding (bands x rows) for the threshold; the index itself is one
            # dict per band, bucket key -> kept index (a list only on collision): ~5x less memory
            # than MinHashLSH's in-memory storage, which keeps a Python set per bucket.
            lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm, weights=_LSH_WEIGHTS)
            self._bands, self._rows = lsh.b, lsh.r
            self._buckets: list[dict[int, int | list[int]]] = [{} for _ in range(self._bands)]
            # slots that must agree: estimated Jaccard = agreeing slots / num_perm >= threshold
            self._agree = math.ceil(params.threshold * params.num_perm - 1e-9)

    def check(self, index: int, record: CallRecord) -> str | None:
        """None if `record` is kept (first of its kind); "duplicate" or "near_duplicate" otherwise.
        The kept record it duplicates gets its `represents` count incremented."""
        if not (self.params.exact or self.params.near):
            self.represents[index] = 1
            return None
        context, turns, answer = masked_parts(record)
        digest = None
        if self.params.exact:
            digest = _digest(_joined(context, turns, answer))
            kept = self._exact.get(digest)
            if kept is not None:
                return self._drop(kept, "duplicate")
        if self.params.near:
            kept = self._near_match(index, context, turns, answer)
            if kept is not None:
                if digest is not None:  # a later exact copy of this call is a duplicate of `kept`
                    self._exact[digest] = kept
                return self._drop(kept, "near_duplicate")
        if digest is not None:
            self._exact[digest] = index
        self.represents[index] = 1
        return None

    def _drop(self, kept: int, reason: str) -> str:
        self.represents[kept] += 1
        self.counts[reason] += 1
        return reason

    def _near_match(self, index: int, context: list[str], turns: list[str], answer: list[str]) -> int | None:
        """The earliest kept call this one nearly duplicates; otherwise None, and it is indexed."""
        request_values, reply_values = self._minhash.signatures(shingles(turns), shingles(answer))
        head = _digest(" ".join(context))[:8]
        size = request_values.nbytes
        keys = self._band_keys(request_values)
        best = None
        for kept in self._candidates(keys):
            if best is not None and kept > best:
                continue
            stored = self._signatures[kept]
            if (
                stored[:8] == head
                and self._alike(stored, 8, request_values)
                and self._alike(stored, 8 + size, reply_values)
            ):
                best = kept
        if best is None:
            self._insert(index, keys)
            self._signatures[index] = head + request_values.tobytes() + reply_values.tobytes()
        return best

    def _band_keys(self, values: np.ndarray) -> list[int]:
        r = self._rows
        return [int.from_bytes(_band_key(values[i * r:(i + 1) * r].tobytes()), "little") for i in range(self._bands)]

    def _candidates(self, keys: list[int]) -> set[int]:
        found: set[int] = set()
        for bucket, key in zip(self._buckets, keys):
            hit = bucket.get(key)
            if hit is not None:
                found.update(hit if isinstance(hit, list) else (hit,))
        return found

    def _insert(self, index: int, keys: list[int]) -> None:
        for bucket, key in zip(self._buckets, keys):
            hit = bucket.get(key)
            if hit is None:
                bucket[key] = index
            elif isinstance(hit, list):
                hit.append(index)
            else:
                bucket[key] = [hit, index]

    def _alike(self, stored: bytes, offset: int, values: np.ndarray) -> bool:
        """Whether the MinHash values stored at `offset` estimate a Jaccard >= threshold with `values`."""
        kept = np.frombuffer(stored, dtype=values.dtype, count=len(values), offset=offset)
        return int(np.count_nonzero(kept == values)) >= self._agree
