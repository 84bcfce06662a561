"""Clustering principles of DESIGN.md on small synthetic call sites (in-process, no files).

- one "pick a tool" call site is one subtask, whichever tool it picks;
- one generic prompt used both to classify and to summarise is two subtasks;
- differently worded prompts with the same label set are one subtask;
- one-off calls are outliers; results are deterministic for a seed.
"""

from __future__ import annotations

import json
import random

import numpy as np
from sklearn.metrics import adjusted_rand_score

from migrate.analyze.cluster import OUTLIER, ClusterParams, assign_clusters, embed
from migrate.analyze.cost import PriceTable
from migrate.masking import mask_text, words
from migrate.analyze.table import CallTable
from migrate.records import CallRecord

WORDS = ("order refund shipping package late broken wrong size color jacket boots tent invoice account "
         "password email address delivery tracking return exchange price discount coupon warranty").split()
TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
         for n in ("lookup_order", "issue_refund", "track_shipment")]
ODD_VERBS = ["Write a haiku about", "Translate to German:", "Explain this error:", "What is", "List facts on",
             "Draft a limerick about", "Compare", "Give me a recipe with", "Debug:", "Name a song about"]


def one_off(rng: random.Random) -> str:
    """A prompt nobody sends twice: random made-up words after an ad-hoc instruction."""
    made_up = ["".join(rng.choice("bcdfghjklmnpqrstvwxz aeiou") for _ in range(rng.randint(4, 9))) for _ in range(8)]
    return f"{rng.choice(ODD_VERBS)} {' '.join(made_up)}"


def synthetic_calls(n: int, seed: int = 0) -> tuple[list[CallRecord], list[str]]:
    rng = random.Random(seed)

    def text(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k))

    records, truth = [], []
    for i in range(n):
        r = rng.random()
        tools: list = []
        if r < 0.35:
            label = "router"
            messages = [{"role": "system", "content": "You are the Acme support router. Pick the right tool for the customer request."},
                        {"role": "user", "content": f"order ORD-{rng.randint(1000, 9999)}: {text(12)}"}]
            tools = TOOLS
            name = rng.choice(["lookup_order", "issue_refund", "track_shipment"])
            response = {"role": "assistant", "content": None,
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": name, "arguments": "{}"}}]}
        elif r < 0.6:
            label = "intent"
            system = rng.choice([
                "Classify the intent of the customer message into one of: billing, shipping, returns, other. Answer with the label only.",
                "You label support tickets. Possible labels: billing | shipping | returns | other. Reply with exactly one label.",
            ])
            messages = [{"role": "system", "content": system}, {"role": "user", "content": text(15)}]
            response = {"role": "assistant", "content": rng.choice(["billing", "shipping", "returns", "other"])}
        elif r < 0.98:
            generic = [{"role": "system", "content": "You are a helpful assistant."}]
            if rng.random() < 0.5:
                label = "generic_classify"
                messages = generic + [{"role": "user", "content": "Classify the sentiment of this review as positive or negative: " + text(20)}]
                response = {"role": "assistant", "content": rng.choice(["positive", "negative"])}
            else:
                label = "generic_summary"
                messages = generic + [{"role": "user", "content": "Summarize this review in two sentences: " + text(40)}]
                response = {"role": "assistant", "content": f"{text(30)}. {text(25)}."}
        else:
            label = "adhoc"
            messages = [{"role": "user", "content": one_off(rng)}]
            response = {"role": "assistant", "content": one_off(rng)[-40:]}
        records.append(CallRecord(id=f"r{i}", file="synthetic", line=i + 1, messages=messages, tools=tools,
                                  response=response, model="gpt-4o-mini", prompt_tokens=100, completion_tokens=20))
        truth.append(label)
    return records, truth


def cluster(records, **params):
    table = CallTable(PriceTable())
    for record in records:
        table.add(record)
    p = ClusterParams(**params)
    return assign_clusters(table, embed(table, p), p)


def test_masking_hides_slot_values():
    masked = mask_text('Order ORD-48213 for jane@x.com on 2025-10-03 at 10:30 costs $45.99 "blue jacket" https://a.io/x')
    assert masked == "order <id> for <email> on <date> at <time> costs <num> <str> <url>"
    assert words("Hello World") == ["hello", "world"]


def test_principles_on_synthetic_call_sites():
    records, truth = synthetic_calls(2500)
    result = cluster(records)
    labels = result.labels
    truth_arr = np.array(truth)
    for site in ("router", "intent", "generic_classify", "generic_summary"):
        members = labels[truth_arr == site]
        top = np.bincount(members[members >= 0]).argmax()
        assert (members == top).mean() > 0.97, site  # one cluster per subtask, tool choice ignored
    assert labels[truth_arr == "generic_classify"][0] != labels[truth_arr == "generic_summary"][0]
    assert (labels[truth_arr == "adhoc"] == OUTLIER).mean() >= 0.8
    assert adjusted_rand_score(truth, labels) > 0.95


def test_deterministic_for_a_seed():
    records, _ = synthetic_calls(800, seed=3)
    first, second = cluster(records, seed=7), cluster(records, seed=7)
    assert np.array_equal(first.labels, second.labels)


def test_cluster_ids_are_ordered_by_size():
    records, _ = synthetic_calls(800, seed=4)
    labels = cluster(records).labels
    sizes = np.bincount(labels[labels >= 0])
    assert list(sizes) == sorted(sizes, reverse=True)


def test_single_call_site_and_tiny_inputs():
    records, _ = synthetic_calls(300, seed=5)
    only_router = [r for r in records if r.tools][:40]
    labels = cluster(only_router).labels
    assert len(set(labels.tolist()) - {OUTLIER}) == 1
    assert json.dumps(labels.tolist())  # plain ints
