"""`slm-migrate datasets`: per-cluster datasets from the analysed sample logs, and their splits."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import copy_workspace
from typer.testing import CliRunner

from migrate.cli import app
from migrate.datasets import DatasetsParams, run
from migrate.datasets.examples import Example, prompt_key
from migrate.datasets.split import SPLITS, SplitParams, split_examples
from migrate.errors import MigrateError
from migrate.records import CallRecord

datasets = pytest.importorskip("datasets")


def build(out: Path, *args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(app, ["datasets", "--out", str(out), "--json", *args])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}


@pytest.fixture(scope="module")
def built(analyzed_sample, tmp_path_factory):
    out = copy_workspace(analyzed_sample[0], tmp_path_factory.mktemp("datasets") / "ws")
    return out, build(out)


def recommended(out: Path) -> set[str]:
    clusters = json.loads((out / "analysis" / "clusters.json").read_text())["clusters"]
    return {c["id"] for c in clusters if c["suitability"]["recommendation"] == "specialize"}


def masked_prompt(row: dict) -> str:
    """The masked request of a dataset row, recomputed from its messages and tools."""
    record = CallRecord(id=row["id"], file="", line=0, messages=row["messages"][:-1], tools=json.loads(row["tools"]))
    return prompt_key(record)


def test_every_recommended_cluster_is_built_with_the_schema(built):
    out, summary = built
    assert {c["id"] for c in summary["clusters"] if c["status"] == "built"} == recommended(out)
    for cluster in summary["clusters"]:
        dd = datasets.load_from_disk(str(out / "datasets" / cluster["id"]))
        assert set(dd) == set(SPLITS)
        for name in SPLITS:
            split = dd[name]
            assert len(split) == cluster["sizes"][name] > 0
            assert {"messages", "tools", "id", "group", "output_class", "represents"} <= set(split.column_names)
            row = split[0]
            assert row["messages"][-1]["role"] == "assistant"  # the target
            assert row["messages"][0]["role"] in ("system", "user")
            assert isinstance(json.loads(row["tools"]), list)
        assert (out / "datasets" / cluster["id"] / "README.md").read_text().startswith("---\n")
        for name in SPLITS:  # the OpenAI files hold the same examples
            lines = (out / "datasets" / cluster["id"] / "openai" / f"{name}.jsonl").read_text().splitlines()
            assert len(lines) == cluster["sizes"][name]
            assert json.loads(lines[0])["messages"][-1]["role"] == "assistant"


def test_tool_call_targets_keep_their_calls_and_schemas(built):
    out, summary = built
    tool_cluster = next(c for c in summary["clusters"] if c["kind"] == "tool_call")
    train = datasets.load_from_disk(str(out / "datasets" / tool_cluster["id"]))["train"]
    with_calls = [row for row in train if row["messages"][-1]["tool_calls"]]
    assert len(with_calls) > len(train) / 2
    call = with_calls[0]["messages"][-1]["tool_calls"][0]
    offered = {tool["function"]["name"] for tool in json.loads(with_calls[0]["tools"])}
    assert call["function"]["name"] in offered
    json.loads(call["function"]["arguments"])  # arguments stay a valid JSON string


def test_no_masked_prompt_appears_in_two_splits(built):
    out, summary = built
    for cluster in summary["clusters"]:
        dd = datasets.load_from_disk(str(out / "datasets" / cluster["id"]))
        seen: dict[str, str] = {}
        for name in SPLITS:
            for row in dd[name]:
                key = masked_prompt(row)
                assert seen.setdefault(key, name) == name, f"{cluster['id']}: a masked prompt is in {seen[key]} and {name}"


def test_rare_tool_calls_reach_every_split(built):
    out, summary = built
    tool_cluster = next(c for c in summary["clusters"] if c["kind"] == "tool_call")
    stats = json.loads((out / "datasets" / tool_cluster["id"] / "dataset.json").read_text())
    for cls, n in stats["classes"]["train"].items():
        total = n + stats["classes"]["validation"].get(cls, 0) + stats["classes"]["test"].get(cls, 0)
        if total >= 10:
            assert stats["classes"]["test"].get(cls, 0) > 0 and stats["classes"]["validation"].get(cls, 0) > 0, cls


def test_split_is_identical_across_runs_and_reruns_skip(built, tmp_path, analyzed_sample):
    out, summary = built
    again = copy_workspace(analyzed_sample[0], tmp_path / "again")
    build(again)
    for cluster in summary["clusters"]:
        for name in SPLITS:
            first = (out / "datasets" / cluster["id"] / "openai" / f"{name}.jsonl").read_bytes()
            assert first == (again / "datasets" / cluster["id"] / "openai" / f"{name}.jsonl").read_bytes()
    rerun = build(again)
    assert {c["status"] for c in rerun["clusters"]} == {"unchanged"}
    manifest = json.loads((again / "manifest.json").read_text())["stages"]["datasets"]
    assert any(path.endswith("dataset.json") for path in manifest["outputs"])
    assert all(h.startswith("sha256:") or len(h) == 64 for h in manifest["inputs"].values())
    forced = build(again, "--force", "--clusters", summary["clusters"][0]["id"])
    assert [c["status"] for c in forced["clusters"]] == ["built"]


def test_changed_settings_rebuild(built, tmp_path, analyzed_sample):
    out = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    first = build(out, "--clusters", "c01")
    second = build(out, "--clusters", "c01", "--seed", "7")
    assert second["clusters"][0]["status"] == "built"
    assert second["clusters"][0]["key"] != first["clusters"][0]["key"]


def test_too_long_examples_are_dropped_not_truncated(analyzed_sample, tmp_path):
    out = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    summary = build(out, "--clusters", "c00", "--max-length", "2000")
    cluster = summary["clusters"][0]
    assert cluster["dropped"]["too_long"] > 0
    train = datasets.load_from_disk(str(out / "datasets" / "c00"))["train"]
    assert max(train["total_tokens"]) <= 2000


# -- bad input ----------------------------------------------------------------------------------
def test_without_an_analysis_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["datasets", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "no analysis" in result.output and "slm-migrate analyze" in result.output


def test_unknown_cluster_is_named(analyzed_sample, tmp_path):
    out = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    result = CliRunner().invoke(app, ["datasets", "--out", str(out), "--clusters", "c01,c99"])
    assert result.exit_code == 2
    assert "'c99'" in result.output and "c01" in result.output
    assert not any((out / "datasets").glob("*")) if (out / "datasets").exists() else True
    with pytest.raises(MigrateError, match="outlier"):
        run(DatasetsParams(out=out, clusters=["outlier"]))


def test_too_small_cluster_is_skipped_with_a_message(analyzed_sample, tmp_path):
    out = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    result = CliRunner().invoke(app, ["datasets", "--out", str(out), "--clusters", "c01,c07", "--min-examples", "300"])
    assert result.exit_code == 0, result.output  # c01 is built, c07 skipped: the others go on
    assert "c07" in result.output and "--min-examples" in result.output
    assert (out / "datasets" / "c01").is_dir() and not (out / "datasets" / "c07").exists()
    result = CliRunner().invoke(app, ["datasets", "--out", str(out), "--clusters", "c07", "--min-examples", "300"])
    assert result.exit_code == 3  # nothing could be built


def test_a_failed_build_leaves_nothing_half_written(analyzed_sample, tmp_path, monkeypatch):
    out = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    build(out, "--clusters", "c01")
    before = (out / "datasets" / "c01" / "openai" / "train.jsonl").read_bytes()

    def broken(example):
        raise OSError("disk full")

    monkeypatch.setattr("migrate.datasets.write.openai_row", broken)
    with pytest.raises(OSError):
        run(DatasetsParams(out=out, clusters=["c01", "c02"], force=True))
    assert sorted(p.name for p in (out / "datasets").iterdir()) == ["c01"]  # no temp folder, no c02
    assert (out / "datasets" / "c01" / "openai" / "train.jsonl").read_bytes() == before


# -- the split on its own -----------------------------------------------------------------------
def example(i: int, prompt: str, cls: str, trace: str | None = None) -> Example:
    return Example(id=str(i), messages=[], tools=[], prompt_key=prompt, trace_id=trace, output_class=cls, represents=1)


def test_groups_never_straddle_and_rare_classes_reach_every_split():
    examples = [example(i, f"p{i // 2}", "common") for i in range(400)]  # pairs share a masked prompt
    examples += [example(400 + i, f"rare{i}", "rare") for i in range(3)]  # a class with 3 groups
    examples += [example(500 + i, f"t{i}", "common", trace="conv-1") for i in range(5)]  # one trace
    split = split_examples(examples, SplitParams(test_fraction=0.1, validation_fraction=0.1, seed=3))
    where = {i: name for name in SPLITS for i in split.indices[name]}
    assert len(where) == len(examples)
    for i in range(0, 400, 2):
        assert where[i] == where[i + 1]
    assert len({where[i] for i in range(403, 408)}) == 1
    assert {where[400], where[401], where[402]} == set(SPLITS)
    sizes = Counter(where.values())
    assert 30 <= sizes["test"] <= 52 and 30 <= sizes["validation"] <= 52


def test_split_depends_on_keys_and_seed_not_input_order():
    examples = [example(i, f"p{i}", "a" if i % 3 else "b") for i in range(200)]
    one = split_examples(examples, SplitParams(seed=1))
    reordered = list(reversed(examples))
    two = split_examples(reordered, SplitParams(seed=1))
    ids = lambda s, ex: {name: sorted(ex[i].id for i in s.indices[name]) for name in SPLITS}
    assert ids(one, examples) == ids(two, reordered)
    assert ids(one, examples) != ids(split_examples(examples, SplitParams(seed=2)), examples)


def test_train_cap_drops_whole_groups():
    examples = [example(i, f"p{i // 4}", "") for i in range(400)]
    split = split_examples(examples, SplitParams(max_train=101))
    assert len(split.indices["train"]) <= 101 and len(split.indices["train"]) % 4 == 0


def test_validation_follows_the_recipe_and_a_real_tokenizer(analyzed_sample, tmp_path):
    from migrate.finetune.recipe import load_recipe
    from migrate.finetune.tiny import train_tokenizer

    out = copy_workspace(analyzed_sample[0], tmp_path / "ws")
    summary = build(out, "--clusters", "c01", "--recipe", "tiny-local")
    stats = json.loads((out / "datasets" / "c01" / "dataset.json").read_text())
    assert stats["max_length"] == load_recipe("tiny-local").max_length
    assert "estimated" in summary["renderer"]

    tokenizer = train_tokenizer(["billing shipping returns order refund"] * 50, 300)
    tokenizer.save_pretrained(tmp_path / "tok")
    summary = build(out, "--clusters", "c01", "--tokenizer", str(tmp_path / "tok"), "--max-length", "100000")
    assert "exact token counts" in summary["renderer"] and summary["clusters"][0]["status"] == "built"
    train = datasets.load_from_disk(str(out / "datasets" / "c01"))["train"]
    text = train[0]["messages"][-1]["content"]
    assert train[0]["total_tokens"] > len(text) / 4  # a 300-token vocabulary splits words finely
