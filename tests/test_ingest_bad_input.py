"""Bad input loses nothing: every unreadable line is quarantined with file, line and reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from migrate.errors import MigrateError
from migrate.ingest import IngestParams, Ingestor

from conftest import FORMATS

GOOD = (FORMATS / "openai.jsonl").read_bytes().splitlines()[0]


def ingest(paths, **params):
    quarantined: list[dict] = []
    ingestor = Ingestor(IngestParams(paths=list(paths), **params), quarantined.append)
    records = list(ingestor.records())
    return records, quarantined, ingestor


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_each_bad_line_is_quarantined_with_its_reason(tmp_path):
    huge = json.dumps({"request": {"messages": [{"role": "user", "content": "x" * 5000}]}}).encode()
    lines = [
        GOOD,
        b'{"request": {"messages": [',  # invalid JSON
        b'{"request": "caf\xe9"}',  # not UTF-8
        huge,  # over the size limit
        json.dumps({"request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "response": None}).encode(),
        b'{"hello": "world"}',  # unknown shape
        b"[1, 2, 3]",  # not an object
        b"",  # blank lines are skipped, not quarantined
        GOOD,
    ]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    records, quarantined, ingestor = ingest([path], max_line_bytes=4096)
    assert [r.line for r in records] == [1, 9]
    reasons = {q["line"]: q["reason"] for q in quarantined}
    assert set(reasons) == {2, 3, 4, 5, 6, 7}
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3].startswith("not valid UTF-8")
    assert "longer than the limit" in reasons[4]
    assert "no response" in reasons[5]
    assert "unknown shape" in reasons[6]
    assert "expected a JSON object" in reasons[7]
    assert all(q["file"] == str(path) for q in quarantined)
    assert ingestor.stats[0].quarantined == 6 and ingestor.stats[0].records == 2
    # the quarantine never holds the raw text of a line
    assert not any("caf" in q["reason"] or "xxxx" in q["reason"] for q in quarantined)


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    data = gzip.compress(b"\n".join([GOOD] * 200) + b"\n")
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    records, quarantined, _ = ingest([path])
    assert 0 < len(records) < 200
    assert len(quarantined) == 1 and "gzip" in quarantined[0]["reason"]
    assert quarantined[0]["line"] == len(records) + 1 or quarantined[0]["line"] > len(records)


def test_gzip_is_read_by_content_not_name(tmp_path):
    path = tmp_path / "logs.jsonl"  # gzipped despite its name
    path.write_bytes(gzip.compress(b"\n".join([GOOD] * 3)))
    records, _, _ = ingest([path])
    assert len(records) == 3


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(MigrateError, match="not found"):
        Ingestor(IngestParams(paths=[tmp_path / "nope.jsonl"]), print)


def test_folder_is_a_clear_error(tmp_path):
    with pytest.raises(MigrateError, match="is a folder") as err:
        Ingestor(IngestParams(paths=[tmp_path]), print)
    assert err.value.hint


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(MigrateError, match="empty"):
        ingest([path])


def test_file_where_every_line_fails_names_path_and_reasons(tmp_path):
    path = write_lines(tmp_path / "junk.jsonl", [b"not json", b'{"a": 1}', b"{"])
    quarantined: list[dict] = []
    ingestor = Ingestor(IngestParams(paths=[path]), quarantined.append)
    with pytest.raises(MigrateError) as err:
        list(ingestor.records())
    assert str(path) in err.value.message and "line 1" in err.value.message
    assert len(quarantined) == 3  # still quarantined: nothing lost


def test_strict_fails_on_any_quarantined_line(tmp_path):
    path = write_lines(tmp_path / "one_bad.jsonl", [GOOD, b"{oops"])
    with pytest.raises(MigrateError, match="--strict") as err:
        ingest([path], strict=True)
    assert err.value.exit_code == 3


def test_unknown_format_name_is_rejected():
    with pytest.raises(MigrateError, match="unknown format"):
        Ingestor(IngestParams(paths=[FORMATS / "openai.jsonl"], format="csv"), print)


def test_glob_patterns_are_expanded():
    records, _, ingestor = ingest([FORMATS / "lang*.jsonl"])
    assert [Path(s.path).name for s in ingestor.stats] == ["langfuse.jsonl", "langsmith.jsonl"]
    assert len(records) == 6
