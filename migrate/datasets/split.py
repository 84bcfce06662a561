"""Leakage-safe, stratified, deterministic train/validation/test splits.

1. **Groups.** Examples that share a masked prompt (near-duplicates: the same request up to slot
   values) or a trace/conversation are joined into one group (union-find over both keys, so the
   groups are the connected components). A group is never cut: no masked prompt and no trace
   appears in two splits.
2. **Strata.** Each group takes the most common output class of its examples (the tool called, the
   label chosen). Classes with fewer than three groups are pooled into one stratum: a class needs
   a group for each split before it can be balanced.
3. **Quotas.** Test and validation take `fraction x examples`, at least the configured minimum and
   at most the cap; each stratum gets its share of each quota. Within a stratum, groups are taken
   in an order fixed by a keyed hash of the seed and the group's key (not by input order), filling
   test, then validation, without overshooting a quota by more than a quarter; the rest trains. A
   stratum with three or more groups gives at least one group to each split.
4. **Train cap.** When train exceeds its cap, whole groups are dropped from it in the same order.

The result depends only on the examples' keys and the seed, so two runs give the same split.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from migrate.datasets.examples import Example

SPLITS = ("train", "validation", "test")
POOLED = "(rare classes)"


class SplitParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test_fraction: float = Field(0.1, gt=0, lt=0.5, description="share of examples held out for the final test")
    validation_fraction: float = Field(0.1, ge=0, lt=0.5, description="share held out for validation during training")
    min_test: int = Field(10, ge=1, description="fewest test examples (a smaller test set says little)")
    min_validation: int = Field(5, ge=0, description="fewest validation examples (0: none needed)")
    max_test: int = Field(1000, ge=1, description="most test examples (evaluation time grows with it)")
    max_validation: int = Field(500, ge=0, description="most validation examples")
    max_train: int | None = Field(None, ge=1, description="most training examples (whole groups dropped beyond)")
    seed: int = Field(0, description="fixes the order groups are taken in")


class _Groups:
    """Union-find over example indices, joined by shared keys."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def group_examples(examples: Sequence[Example]) -> list[list[int]]:
    """Indices of `examples`, grouped by shared masked prompt or trace (in first-seen order)."""
    groups = _Groups(len(examples))
    first: dict[tuple[str, str], int] = {}
    for index, example in enumerate(examples):
        keys = [("prompt", example.prompt_key)]
        if example.trace_id:
            keys.append(("trace", example.trace_id))
        for key in keys:
            seen = first.setdefault(key, index)
            if seen != index:
                groups.union(seen, index)
    members: dict[int, list[int]] = defaultdict(list)
    for index in range(len(examples)):
        members[groups.find(index)].append(index)
    return list(members.values())


@dataclass(slots=True)
class Split:
    indices: dict[str, list[int]]  # example indices per split, each in input order
    group: list[str]  # each example's group key
    groups: int  # how many groups
    largest_group: int  # examples in the largest group
    strata: int  # how many strata were balanced


def _order(seed: int, key: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()


def split_sizes(n: int, params: SplitParams) -> tuple[int, int]:
    """Target (test, validation) sizes for `n` examples."""
    test = min(max(math.ceil(n * params.test_fraction), params.min_test), params.max_test)
    validation = min(max(math.ceil(n * params.validation_fraction), params.min_validation), params.max_validation)
    return test, validation


def split_examples(examples: Sequence[Example], params: SplitParams) -> Split:
    """`examples` split into `SPLITS` (see the module docstring)."""
    groups = group_examples(examples)
    # a group's key: its smallest prompt key (independent of input order)
    keyed = [(min(examples[i].prompt_key for i in members), members) for members in groups]
    group = [""] * len(examples)
    for key, members in keyed:
        for i in members:
            group[i] = key
    classes: list[str] = []
    for _, members in keyed:
        counts = Counter(examples[i].output_class for i in members)
        classes.append(min(counts, key=lambda c: (-counts[c], c)))
    groups_per_class = Counter(classes)
    strata: dict[str, list[tuple[str, list[int]]]] = defaultdict(list)
    for (key, members), cls in zip(keyed, classes):
        strata[cls if groups_per_class[cls] >= 3 else POOLED].append((key, members))

    n = len(examples)
    test_target, validation_target = split_sizes(n, params)
    chosen: dict[str, list[int]] = {name: [] for name in SPLITS}
    for stratum in sorted(strata):
        members_of = sorted(strata[stratum], key=lambda item: _order(params.seed, item[0]))
        size = sum(len(m) for _, m in members_of)
        quotas = {"test": test_target * size / n, "validation": validation_target * size / n}
        taken: dict[str, list[list[int]]] = {name: [] for name in SPLITS}
        counts = dict.fromkeys(SPLITS, 0)
        for _, members in members_of:
            target = "train"
            for name in ("test", "validation"):
                quota = quotas[name]
                if counts[name] < quota and counts[name] + len(members) <= quota + max(1.0, quota / 4):
                    target = name
                    break
            taken[target].append(members)
            counts[target] += len(members)
        if len(members_of) >= 3:  # every split gets one group of a class that has enough of them
            for name in ("test", "validation"):
                wanted = name == "test" or validation_target > 0
                if wanted and not taken[name] and len(taken["train"]) > 1:
                    smallest = min(range(len(taken["train"])), key=lambda k: (len(taken["train"][k]), k))
                    taken[name].append(taken["train"].pop(smallest))
        for name in SPLITS:
            for members in taken[name]:
                chosen[name].extend(members)

    if params.max_train is not None and len(chosen["train"]) > params.max_train:
        chosen["train"] = _cap(examples, chosen["train"], params)
    return Split(
        indices={name: sorted(indices) for name, indices in chosen.items()},
        group=group,
        groups=len(groups),
        largest_group=max((len(m) for m in groups), default=0),
        strata=len(strata),
    )


def _cap(examples: Sequence[Example], train: list[int], params: SplitParams) -> list[int]:
    """Whole groups of `train`, in seeded order, up to `max_train` examples."""
    groups = group_examples([examples[i] for i in train])
    keyed = sorted(
        ((min(examples[train[i]].prompt_key for i in members), [train[i] for i in members]) for members in groups),
        key=lambda item: _order(params.seed, item[0]),
    )
    kept: list[int] = []
    for _, members in keyed:
        if len(kept) + len(members) <= params.max_train:
            kept.extend(members)
    return kept
