"""What a cluster's calls send besides the user's words, counted so that two sets of calls compare.

A call site is recognisable by its context: the system prompt, the opening of the user turn (where
prompts without a system message put their instructions), the tools it offers and their parameter
schemas. Per cluster, `ContextStats` counts in how many calls each token of each field occurs
(weighted by the calls a curated record stands for):

- `system`: the masked words of the system/developer prompt (`migrate.masking`; weekday and month
  names count as slots too: "Today is Tuesday" is one template);
- `opening`: the masked first words of the last user turn;
- `tools`: the names of the tools offered;
- `schemas`: `name@hash` per tool offered, the hash over its parameter schema.

It also keeps the skeleton hash of each system prompt (its masked words, in order) and the word
sets of the most common ones (the cluster's prompt templates), so that a new call's system prompt
can be matched to the nearest template (`Templates`: IDF-weighted Jaccard of the word sets).

`compare(before, after)` lists the tokens whose share of the cluster's calls changed by at least
`max_change` (and clearly beyond sampling noise): words added to or removed from the prompt (only
when at least `max_change` of the calls send a prompt never seen in the cluster: a new mix of known
templates is not a moved input), tools added or removed, tools whose parameter schema changed
(with the parameters added, removed or changed). Everything here is masked words, tool names and hashes from scrubbed records: no slot
value and no raw text.

Memory is bounded: the token counts of a field are pruned of rare tokens past `MAX_TOKENS`
(lossy counting: a pruned token's share was below `PRUNE_SHARE`, far below any change reported),
and skeletons, templates and schemas are capped.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from migrate.analyze import features
from migrate.analyze.naming import STOPWORDS
from migrate.masking import words
from migrate.records import CallRecord

FIELDS = ("system", "opening", "tools", "schemas")
REPEATED = ("system", "tools", "schemas")  # fields that repeat across a call site
PENDING = 2048  # distinct token sets held before they are spread over their tokens
OPENING_WORDS = 2 * features.OPENING_WORDS  # words of the last user turn that count as its opening
SYSTEM_WORDS = 2000  # words of a system prompt compared (the longest prompts are cut here)
MAX_TOKENS = 20_000  # distinct tokens kept per field and cluster before rare ones are pruned
PRUNE_SHARE = 0.005  # tokens in fewer than this share of a cluster's calls are pruned first
MAX_SKELETONS = 2_000  # distinct system-prompt skeletons counted per cluster
MAX_TEMPLATES = 20  # most common skeletons whose word sets are kept (the cluster's templates)
TEMPLATE_CANDIDATES = 200  # skeletons whose word sets are held until the most common are known
MAX_SCHEMAS = 500  # distinct tool schemas described per cluster
CACHE = 4096  # distinct system prompts / tool lists whose context is cached while streaming
Z_MIN = 4.0  # a share change must be this many standard errors from zero to count
SHOWN = 8  # tokens listed per field and direction

CALENDAR = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun "
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec today yesterday tomorrow".split()
)


def _masked(text: str, limit: int) -> list[str]:
    return ["<cal>" if w in CALENDAR else w for w in words(text)[:limit]]


def _digest(value: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=6).hexdigest()


def schema_summary(function: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(`name@hash`, {"params": {name: hash of its schema}, "required": [...]}) of one tool."""
    parameters = function.get("parameters") if isinstance(function.get("parameters"), dict) else {}
    properties = parameters.get("properties") if isinstance(parameters.get("properties"), dict) else {}
    required = parameters.get("required") if isinstance(parameters.get("required"), list) else []
    summary = {"params": {str(k): _digest(v) for k, v in properties.items()},
               "required": sorted(str(r) for r in required)}
    return f"{function.get('name', '')}@{_digest(parameters)}", summary


@dataclass(frozen=True)
class CallContext:
    """The context of one call, as sets of tokens per field."""

    skeleton: str  # hash of the masked system prompt ("" when it has none)
    system: frozenset[str]
    opening: frozenset[str]
    tools: frozenset[str]
    schemas: dict[str, dict[str, Any]]  # name@hash -> summary
    schema_tokens: frozenset[str]  # the keys of `schemas`

    def tokens(self, name: str) -> frozenset[str]:
        return self.schema_tokens if name == "schemas" else getattr(self, name)


class ContextReader:
    """Records -> `CallContext`, with the system prompt and tool list of a call site worked out once."""

    def __init__(self) -> None:
        self._systems: dict[str, tuple[str, frozenset[str]]] = {}
        self._tools: dict[bytes, tuple[frozenset[str], dict[str, dict[str, Any]]]] = {}

    def read(self, record: CallRecord) -> CallContext:
        system = "\n".join(m["content"] or "" for m in record.messages if m["role"] in ("system", "developer"))
        found = self._systems.get(system)
        if found is None:
            masked = _masked(system, SYSTEM_WORDS)
            skeleton = hashlib.blake2b(" ".join(masked).encode(), digest_size=8).hexdigest() if masked else ""
            found = (skeleton, frozenset(masked))
            if len(self._systems) >= CACHE:
                self._systems.clear()
            self._systems[system] = found
        tools = self._tool_context(record.tools)
        opening = frozenset(_masked(features.last_user_text(record)[:1000], OPENING_WORDS))
        return CallContext(skeleton=found[0], system=found[1], opening=opening, tools=tools[0], schemas=tools[1],
                           schema_tokens=tools[2])

    def _tool_context(self, tools: list[dict[str, Any]]
                      ) -> tuple[frozenset[str], dict[str, dict[str, Any]], frozenset[str]]:
        if not tools:
            return frozenset(), {}, frozenset()
        raw = orjson.dumps(tools)
        found = self._tools.get(raw)
        if found is None:
            functions = [t.get("function") or {} for t in tools]
            schemas = dict(schema_summary(f) for f in functions)
            found = (frozenset(str(f.get("name", "")) for f in functions), schemas, frozenset(schemas))
            if len(self._tools) >= CACHE:
                self._tools.clear()
            self._tools[raw] = found
        return found


@dataclass
class ContextStats:
    """Token counts of one cluster's calls (see the module docstring)."""

    calls: float = 0.0
    df: dict[str, Counter[str]] = field(default_factory=lambda: {name: Counter() for name in FIELDS})
    skeletons: Counter[str] = field(default_factory=Counter)
    templates: dict[str, list[str]] = field(default_factory=dict)  # skeleton -> its masked word set
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # name@hash -> summary
    _template_sets: list[frozenset[str]] | None = field(default=None, init=False, repr=False, compare=False)
    # token sets that repeat across a call site (system prompt, tools) are counted as sets first
    # and spread over their tokens in batches: a long prompt costs once per batch, not per call
    _pending: Counter[tuple[str, frozenset[str]]] = field(default_factory=Counter, init=False, repr=False,
                                                          compare=False)

    def add(self, context: CallContext, weight: float = 1.0) -> None:
        self.calls += weight
        for name in REPEATED:
            tokens = context.tokens(name)
            if tokens:
                self._pending[name, tokens] += weight
        if len(self._pending) >= PENDING:
            self._flush()
        counts = self.df["opening"]
        for token in context.opening:
            counts[token] += weight
        if len(counts) > MAX_TOKENS:
            self._prune(counts)
        if context.skeleton in self.skeletons or len(self.skeletons) < MAX_SKELETONS:
            self.skeletons[context.skeleton] += weight
            if context.skeleton not in self.templates and len(self.templates) < TEMPLATE_CANDIDATES:
                self.templates[context.skeleton] = sorted(context.system)
        for token, summary in context.schemas.items():
            if token not in self.schemas and len(self.schemas) < MAX_SCHEMAS:
                self.schemas[token] = summary

    def _flush(self) -> None:
        for (name, tokens), weight in self._pending.items():
            counts = self.df[name]
            for token in tokens:
                counts[token] += weight
        self._pending.clear()
        for counts in self.df.values():
            if len(counts) > MAX_TOKENS:
                self._prune(counts)

    def _prune(self, counts: Counter[str]) -> None:
        floor = max(1.0, PRUNE_SHARE * self.calls)
        for token in [t for t, n in counts.items() if n < floor]:
            del counts[token]
        if len(counts) > MAX_TOKENS:  # still too many: keep the most common
            kept = counts.most_common(MAX_TOKENS // 2)
            counts.clear()
            counts.update(dict(kept))

    def share(self, name: str, token: str) -> float:
        if self._pending:
            self._flush()
        return self.df[name].get(token, 0.0) / self.calls if self.calls else 0.0

    # -- templates ---------------------------------------------------------------------------
    def finish(self) -> ContextStats:
        """Drop the tokens of fewer than `PRUNE_SHARE` of the calls (one-off words, which no
        comparison reports) and keep the word sets of the `MAX_TEMPLATES` most common skeletons."""
        self._flush()
        floor = max(1.0, PRUNE_SHARE * self.calls)
        for counts in self.df.values():
            for token in [t for t, n in counts.items() if n < floor]:
                del counts[token]
        top = {s for s, _ in self.skeletons.most_common(MAX_TEMPLATES)}
        self.templates = {s: w for s, w in self.templates.items() if s in top}
        self._template_sets = None
        return self

    def template_sets(self) -> list[frozenset[str]]:
        if self._template_sets is None:
            self._template_sets = [frozenset(w) for s, w in self.templates.items() if s]
        return self._template_sets

    def core_tools(self) -> frozenset[str]:
        """Tools offered in at least half of the cluster's calls."""
        return frozenset(t for t, n in self.df["tools"].items() if self.calls and n / self.calls >= 0.5)

    # -- storage -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._flush()
        return {"calls": self.calls, "df": {k: dict(v) for k, v in self.df.items()},
                "skeletons": dict(self.skeletons), "templates": self.templates, "schemas": self.schemas}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContextStats:
        stats = cls(calls=float(data["calls"]), df={k: Counter(data["df"].get(k, {})) for k in FIELDS},
                    skeletons=Counter(data["skeletons"]), templates=dict(data["templates"]),
                    schemas=dict(data["schemas"]))
        return stats.finish()


class Templates:
    """The prompt templates of every cluster, compared by IDF-weighted Jaccard similarity of their
    word sets: words that most templates share ("you", "are", "the") weigh little, words that
    name a task ("classify", "billing", "sql") weigh much, so a short generic prompt is not
    mistaken for another short generic prompt."""

    def __init__(self, clusters: dict[str, ContextStats]):
        self.clusters = clusters
        self.sets = {c: stats.template_sets() for c, stats in clusters.items()}
        df = Counter(w for sets in self.sets.values() for t in sets for w in t)
        n = sum(len(sets) for sets in self.sets.values())
        self.idf = {w: math.log((1 + n) / (1 + d)) + 1 for w, d in df.items()}
        self.unseen = math.log(1 + n) + 1
        self._weights: dict[frozenset[str], float] = {}

    def _weight(self, words: frozenset[str]) -> float:
        get, unseen = self.idf.get, self.unseen
        return sum(get(w, unseen) for w in words)

    def overlap(self, cluster: str, system: frozenset[str]) -> float:
        """Similarity (0..1) of a system prompt's word set to the nearest template of `cluster`."""
        if not system:
            return 0.0
        best = 0.0
        for template in self.sets.get(cluster, ()):
            union = self._weight(system | template)
            if union:
                best = max(best, self._weight(system & template) / union)
        return best

    def prompt_overlap(self, cluster: str, after: ContextStats) -> float | None:
        """Mean similarity of `after`'s most common system prompts (weighted by their calls) to
        the nearest template of `cluster`; None when its calls send no system prompt."""
        known = self.clusters[cluster].skeletons
        total = weight = 0.0
        for skeleton, word_list in after.templates.items():
            if skeleton:
                n = after.skeletons.get(skeleton, 0.0)
                total += n * (1.0 if skeleton in known else self.overlap(cluster, frozenset(word_list)))
                weight += n
        return round(total / weight, 4) if weight else None

    def near(self, cluster: str, context: CallContext, min_overlap: float = 0.5) -> bool:
        """Whether a call the router did not place still has the context of `cluster`: its system
        prompt is close to one of the cluster's templates, or it offers mostly the cluster's tools."""
        if self.overlap(cluster, context.system) >= min_overlap:
            return True
        core = self.clusters[cluster].core_tools()
        if context.tools and core:
            return len(context.tools & core) / len(context.tools | core) >= min_overlap
        return False


# -- comparison ------------------------------------------------------------------------------------
def _significant(before: float, after: float, n_before: float, n_after: float, max_change: float) -> bool:
    change = abs(after - before)
    if change < max_change:
        return False
    pooled = (before * n_before + after * n_after) / (n_before + n_after)
    error = math.sqrt(max(pooled * (1 - pooled), 1e-9) * (1 / n_before + 1 / n_after))
    return change >= Z_MIN * error


def changed_tokens(before: ContextStats, after: ContextStats, name: str, max_change: float
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(added, removed): tokens of field `name` whose share of calls rose / fell by `max_change`."""
    added, removed = [], []
    for token in set(before.df[name]) | set(after.df[name]):
        b, a = before.share(name, token), after.share(name, token)
        if _significant(b, a, before.calls, after.calls, max_change):
            (added if a > b else removed).append({"token": token, "before": round(b, 4), "after": round(a, 4)})
    return sorted(added, key=_shown_first), sorted(removed, key=_shown_first)


def _shown_first(row: dict[str, Any]) -> tuple[bool, float, str]:
    """Words that say something before stopwords, then the largest changes first."""
    return row["token"] in STOPWORDS, -abs(row["after"] - row["before"]), row["token"]


def _schema_changes(before: ContextStats, after: ContextStats, added: list[dict[str, Any]],
                    removed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per tool whose schema hash changed: the parameters added, removed and changed."""
    old = {r["token"].rsplit("@", 1)[0]: r for r in removed}
    out = []
    for row in added:
        tool = row["token"].rsplit("@", 1)[0]
        if tool not in old:  # a new tool: reported under `tools`
            continue
        was = before.schemas.get(old[tool]["token"], {"params": {}, "required": []})
        now = after.schemas.get(row["token"], {"params": {}, "required": []})
        params_before, params_after = was["params"], now["params"]
        out.append({
            "tool": tool,
            "calls_share": {"before": old[tool]["before"], "after": row["after"]},
            "params_added": sorted(set(params_after) - set(params_before)),
            "params_removed": sorted(set(params_before) - set(params_after)),
            "params_changed": sorted(p for p in set(params_after) & set(params_before)
                                     if params_after[p] != params_before[p]),
            "required_added": sorted(set(now["required"]) - set(was["required"])),
            "required_removed": sorted(set(was["required"]) - set(now["required"])),
        })
    return out


def compare(templates: Templates, cluster: str, after: ContextStats, max_change: float) -> dict[str, Any]:
    """What moved between the analysis's calls of `cluster` and `after` (see the module docstring)."""
    before = templates.clusters[cluster]
    fields = {name: changed_tokens(before, after, name, max_change) for name in FIELDS}
    known = sum(n for s, n in after.skeletons.items() if s in before.skeletons) / after.calls if after.calls else 0.0
    system_added, system_removed = fields["system"]
    opening_added, opening_removed = fields["opening"]
    tools_added, tools_removed = fields["tools"]
    schemas = _schema_changes(before, after, *fields["schemas"])
    what = []
    if 1.0 - known < max_change:  # every prompt was seen before: only the mix of templates changed
        system_added = system_removed = []
    if system_added or system_removed:
        what.append(f"system prompt: {_count(len(system_added), 'word')} more common, "
                    f"{_count(len(system_removed), 'word')} less common ({known:.0%} of calls use a known prompt)")
    if opening_added or opening_removed:
        what.append(f"opening of the user turn: {_count(len(opening_added), 'word')} more common, "
                    f"{_count(len(opening_removed), 'word')} less common")
    for row in tools_added:
        what.append(f"tool {row['token']} offered in {row['after']:.0%} of calls (before: {row['before']:.0%})")
    for row in tools_removed:
        what.append(f"tool {row['token']} offered in {row['after']:.0%} of calls (before: {row['before']:.0%})")
    for row in schemas:
        parts = [f"+{p}" for p in row["params_added"]] + [f"-{p}" for p in row["params_removed"]]
        parts += [f"~{p}" for p in row["params_changed"]]
        detail = ", ".join(parts) if parts else "descriptions or constraints"
        what.append(f"tool {row['tool']}: parameter schema changed ({detail})")
    return {
        "moved": bool(what),
        "what": what,
        "system_prompt": {"known_prompt_share": round(known, 4), "overlap": templates.prompt_overlap(cluster, after),
                          "words_added": system_added[:SHOWN], "words_removed": system_removed[:SHOWN]},
        "opening": {"words_added": opening_added[:SHOWN], "words_removed": opening_removed[:SHOWN]},
        "tools": {"added": tools_added[:SHOWN], "removed": tools_removed[:SHOWN], "schema_changed": schemas},
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
