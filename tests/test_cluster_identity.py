"""Cluster identity survives new data: re-analysing into a workspace keeps known subtasks' ids.

The sample logs are analysed once (`analyzed_sample`); copies of that workspace are then
re-analysed with the same logs (same ids, same assignments, byte for byte) and with a different
day of traffic: regenerated with another seed, one subtask gone, a new one added. Known subtasks
are recognised by the ground truth in `sample_logs/labels.jsonl`, which the tool never reads.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_LOGS, analyze_sample, copy_workspace

from migrate.analyze import AnalyzeParams, identity
from migrate.analyze import run as analyze
from migrate.analyze.cluster import OUTLIER
from migrate.analyze.cost import PriceTable
from migrate.analyze.table import CallTable
from migrate.curate import CurateParams
from migrate.errors import MigrateError
from migrate.ingest import Ingestor, IngestParams
from migrate.route.embed import RequestEmbedder

DROPPED = "query_rewrite"  # absent from the second day
ADDED = "catalog_translation"  # a subtask the first day did not have
ADDED_CALLS = 300


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def majority(truth: list[str], rows: list[dict]) -> dict[str, str]:
    """Per true subtask: the cluster id most of its calls were put in."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for subtask, row in zip(truth, rows):
        counts[subtask][row["cluster"]] += 1
    return {subtask: c.most_common(1)[0][0] for subtask, c in counts.items()}


def sample_truth(rows: list[dict]) -> list[str]:
    """The true subtask of each assignment row of the sample (files in sorted order, as analysed)."""
    labels = {(r["file"], r["line"]): r["subtask"] for r in read_jsonl(SAMPLE_LOGS / "labels.jsonl")}
    files = [p.name for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))]
    file_index, prev, truth = 0, 0, []
    for row in rows:
        if row["line"] < prev:
            file_index += 1
        prev = row["line"]
        truth.append(labels.get((files[file_index], row["line"]), "unlabelled"))
    return truth


def translation_call(rng: random.Random, number: int) -> dict:
    """One call of a catalog-localisation step the sample's agents never had."""
    product = rng.choice(["trail runner", "down sleeping bag", "2-person tent", "rain shell", "headlamp", "camp stove"])
    lang = rng.choice(["French", "German", "Spanish", "Italian"])
    text = (f"The {product} is {rng.choice(['waterproof', 'ultralight', 'breathable'])} and weighs "
            f"{rng.randint(100, 2000)} g. Item {rng.randint(10000, 99999)}.")
    return {
        "request": {"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "You are the Acme Outfitters catalog localizer. Translate product "
             "descriptions for the storefront, keep measurements and item numbers unchanged, keep the brand "
             "voice, and output only the translated text."},
            {"role": "user", "content": f"Target language: {lang}\nProduct description:\n{text}"},
        ]},
        "response": {"id": f"chatcmpl-loc{number}", "object": "chat.completion", "created": 1761000000 + 60 * number,
                     "model": "gpt-4o-mini", "usage": {"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120},
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": f"[{lang}] {text}"}}]},
    }


@pytest.fixture(scope="module")
def next_day(tmp_path_factory) -> tuple[Path, list[str]]:
    """Another day of traffic: regenerated with another seed, `DROPPED` gone, `ADDED` new, shuffled.
    (log file, true subtask per line)."""
    folder = tmp_path_factory.mktemp("next-day")
    generated = folder / "generated.openai.jsonl"
    subprocess.run([sys.executable, str(SAMPLE_LOGS / "generate.py"), "--single-format", "openai", "--file",
                    str(generated), "--calls", "3000", "--seed", "7"], check=True, capture_output=True)
    labels = read_jsonl(Path(f"{generated}.labels.jsonl"))
    lines = [(line, label["subtask"]) for line, label in zip(generated.read_text().splitlines(), labels)
             if label["subtask"] != DROPPED]
    rng = random.Random(7)
    lines += [(json.dumps(translation_call(rng, i)), ADDED) for i in range(ADDED_CALLS)]
    rng.shuffle(lines)
    logs = folder / "next-day.openai.jsonl"
    logs.write_text("".join(line + "\n" for line, _ in lines))
    return logs, [subtask for _, subtask in lines]


def test_same_logs_keep_ids_and_assignments(analyzed_sample, tmp_path):
    first, _ = analyzed_sample
    out = copy_workspace(first, tmp_path / "ws")
    summary = analyze_sample(out)
    before, after = (json.loads((w / "analysis" / "clusters.json").read_text()) for w in (first, out))
    ids = [c["id"] for c in before["clusters"]]
    assert [c["id"] for c in after["clusters"]] == ids
    assert (out / "analysis" / "assignments.jsonl").read_bytes() == (first / "analysis" / "assignments.jsonl").read_bytes()
    known = [i for i in ids if i != "outlier"]
    assert after["identity"]["previous"] and sorted(after["identity"]["kept"]) == known
    assert min(after["identity"]["kept"].values()) >= 0.95  # nearly every call places where it was
    assert after["identity"]["new"] == [] and after["vanished"] == []
    assert after["id_history"] == before["id_history"] == {"next_id": len(known), "retired": []}
    assert summary["identity"] == {"previous": True, "new": [], "kept": known, "vanished": []}
    assert not before["identity"]["previous"] and before["identity"]["new"] == known


def test_new_day_keeps_known_ids_and_reports_new_and_vanished(analyzed_sample, next_day, tmp_path):
    first, _ = analyzed_sample
    out = copy_workspace(first, tmp_path / "ws")
    logs, truth = next_day
    summary = analyze(AnalyzeParams(ingest=IngestParams(paths=[logs]), out=out)).summary

    before = json.loads((first / "analysis" / "clusters.json").read_text())
    after = json.loads((out / "analysis" / "clusters.json").read_text())
    old_rows = read_jsonl(first / "analysis" / "assignments.jsonl")
    new_rows = read_jsonl(out / "analysis" / "assignments.jsonl")
    assert [r["line"] for r in new_rows] == list(range(1, len(truth) + 1))
    was, now = majority(sample_truth(old_rows), old_rows), majority(truth, new_rows)
    for subtask in set(was) & set(now) - {"adhoc", "unlabelled"}:
        assert now[subtask] == was[subtask] != "outlier", subtask

    old_ids = {c["id"] for c in before["clusters"]} - {"outlier"}
    assert [v["id"] for v in after["vanished"]] == [was[DROPPED]]
    assert after["id_history"] == {"next_id": len(old_ids) + 1, "retired": [was[DROPPED]]}
    added = now[ADDED]
    assert added not in old_ids and added == f"c{len(old_ids):02d}" and after["identity"]["new"] == [added]
    assert set(after["identity"]["kept"]) == old_ids - {was[DROPPED]}
    assert summary["identity"]["vanished"][0]["id"] == was[DROPPED] and summary["identity"]["new"] == [added]

    # every artifact speaks the new ids
    ids = {c["id"] for c in after["clusters"]}
    assert {r["cluster"] for r in new_rows} == ids
    with np.load(out / "analysis" / "embedding.npz") as npz:
        micro = {identity.cluster_id(int(m)) for m in npz["micro_cluster"]}
    assert micro <= ids and added in micro
    assert set(json.loads((out / "curate" / "audit.json").read_text())["per_cluster"]) == ids
    report = (out / "analysis" / "report.md").read_text()
    assert "Since the previous analysis" in report and was[DROPPED] in report


def test_fresh_ids_ignore_the_previous_analysis(analyzed_sample, next_day, tmp_path):
    first, _ = analyzed_sample
    out = copy_workspace(first, tmp_path / "ws")
    logs, _ = next_day
    analyze(AnalyzeParams(ingest=IngestParams(paths=[logs]), out=out, keep_ids=False,
                          curate=CurateParams(enabled=False)))  # curation plays no part in the ids: faster
    after = json.loads((out / "analysis" / "clusters.json").read_text())
    n = after["totals"]["clusters"]
    assert [c["id"] for c in after["clusters"] if c["id"] != "outlier"] == [f"c{i:02d}" for i in range(n)]
    assert not after["identity"]["previous"] and after["vanished"] == []
    assert after["id_history"] == {"next_id": n, "retired": []}


def test_old_embedding_places_calls_as_the_router_embeds_them(analyzed_sample):
    """`place_calls` embeds the whole table with the previous basis; `RequestEmbedder` (the router)
    embeds one request: the same vectors."""
    first, _ = analyzed_sample
    previous = identity.load_previous(first / "analysis")
    log = min(SAMPLE_LOGS.glob("*.jsonl.gz"))
    records = [r for _, r in zip(range(200), Ingestor(IngestParams(paths=[log]), lambda reject: None).records())]
    table = CallTable(PriceTable(None))
    for record in records:
        table.add(record)
    vectors, captured = identity.OldEmbedding(previous).embed(table)
    router = RequestEmbedder(previous.used_features, previous.idf, previous.components, previous.unseen_idf)
    expected = [router.embed(record) for record in records]
    np.testing.assert_allclose(vectors, np.array([v for v, _ in expected]), atol=1e-5)
    np.testing.assert_allclose(captured, [c for _, c in expected], atol=1e-5)
    assert (identity.place_calls(table, previous) >= 0).mean() > 0.9


def _previous(clusters: dict[int, int], next_id: int | None = None, retired: list[str] | None = None):
    """A previous analysis with clusters {id number: size} and nothing else the matching reads."""
    return identity.Previous(
        used_features=np.zeros(0, dtype=np.int64), idf=np.zeros(0), components=np.zeros((2, 0)),
        micro_centroids=np.zeros((0, 2), dtype=np.float32), micro_cluster=np.zeros(0, dtype=np.int64), unseen_idf=1.0,
        clusters={n: {"id": identity.cluster_id(n), "name": f"old {n}", "size": s} for n, s in clusters.items()},
        next_id=next_id if next_id is not None else max(clusters) + 1, retired=retired or [],
        min_similarity=0.25, min_captured=0.35,
    )


def _calls(*groups: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, placed) from (new cluster index, old id number placed in, how many calls)."""
    labels = np.concatenate([np.full(k, new) for new, _, k in groups])
    placed = np.concatenate([np.full(k, old) for _, old, k in groups])
    return labels, placed


def test_matching_rules():
    # a split: the larger part keeps the id, the other is new; a merge: the larger source's id wins
    labels, placed = _calls((0, 3, 600), (1, 3, 400), (2, 5, 300), (2, 7, 200), (3, OUTLIER, 50))
    ids = identity.match_clusters(labels, placed, _previous({3: 1000, 5: 300, 7: 200, 9: 40}, next_id=12,
                                                            retired=["c10", "c11"]))
    assert [ids.name(i) for i in range(4)] == ["c03", "c12", "c05", "c13"]
    assert ids.kept == {"c03": 1.0, "c05": 0.6} and ids.new == ["c12", "c13"]
    assert [(v["id"], v["calls_placed"], v["mostly_in"]) for v in ids.vanished] == [("c07", 200, "c05"), ("c09", 0, None)]
    assert ids.history() == {"next_id": 14, "retired": ["c07", "c09", "c10", "c11"]}
    assert ids.name(OUTLIER) == "outlier"
    assert ids.renumber(np.array([1, OUTLIER, 0])).tolist() == [12, OUTLIER, 3]
    # below the minimum agreement: a new id, even when nothing else claims the old one
    labels, placed = _calls((0, 1, 49), (0, OUTLIER, 51))
    ids = identity.match_clusters(labels, placed, _previous({1: 100}))
    assert ids.name(0) == "c02" and [v["id"] for v in ids.vanished] == ["c01"]
    # deterministic
    labels, placed = _calls((0, 0, 10), (1, 0, 10), (2, 1, 10))
    names = {tuple(identity.match_clusters(labels, placed, _previous({0: 20, 1: 10})).numbers) for _ in range(5)}
    assert len(names) == 1


def test_unreadable_previous_analysis_is_an_error(analyzed_sample, tmp_path):
    first, _ = analyzed_sample
    out = copy_workspace(first, tmp_path / "ws")
    assert identity.load_previous(tmp_path / "nothing") is None
    (out / "analysis" / "clusters.json").write_text("{not json")
    with pytest.raises(MigrateError) as caught:
        identity.load_previous(out / "analysis")
    assert "keep_ids" in caught.value.hint
