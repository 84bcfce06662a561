"""Artifacts are never half-written, and the manifest records what each stage read and wrote."""

from __future__ import annotations

import json
import os

import pytest

from migrate.workspace import JsonlWriter, Workspace, atomic_open, write_json


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "artifact.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write('{"v": 2, "half')
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["artifact.json"]


def test_artifacts_get_ordinary_permissions(tmp_path):
    target = write_json(tmp_path / "a.json", {})
    assert target.stat().st_mode & 0o044  # readable by group/others as with a plain open()


def test_jsonl_writer_is_invisible_until_committed(tmp_path):
    path = tmp_path / "rows.jsonl"
    writer = JsonlWriter(path)
    assert not any(tmp_path.iterdir())  # unused writer: nothing on disk
    writer.write({"a": 1})
    assert not path.exists()
    writer.commit()
    assert path.read_text() == '{"a":1}\n'


def test_aborted_jsonl_writer_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        with JsonlWriter(tmp_path / "rows.jsonl") as writer:
            writer.write({"a": 1})
            raise ValueError
    assert not any(tmp_path.iterdir())


def test_manifest_records_inputs_params_outputs(tmp_path):
    workspace = Workspace(tmp_path)
    out = write_json(tmp_path / "analysis" / "x.json", {"k": 1})
    workspace.record_stage("analyze", inputs={"logs.jsonl": "sha256:abc"}, params={"seed": 0}, outputs=[out])
    stage = workspace.read_manifest()["stages"]["analyze"]
    assert stage["inputs"] == {"logs.jsonl": "sha256:abc"} and stage["params"] == {"seed": 0}
    assert stage["outputs"]["analysis/x.json"].startswith("sha256:")
