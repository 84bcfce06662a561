"""The finetune library: the offline tiny base, base-model resolution, tokenization with the
answer-only loss mask, and a few real LoRA steps (adapter changes, base does not, reload,
generate, metrics, resume, dropped examples, refused hardware, no partial outputs)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
torch.set_num_threads(1)

from migrate.chat_template import DEFAULT_CHAT_TEMPLATE, render  # noqa: E402
from migrate.errors import MigrateError  # noqa: E402
from migrate.finetune.base_model import rendered_texts, resolve_base  # noqa: E402
from migrate.finetune.recipe import Recipe, TinyParams  # noqa: E402

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "lookup_order", "description": "Find an order",
     "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}},
]
CITIES = ["Paris", "Berlin", "Tokyo", "Lima", "Oslo", "Cairo", "Delhi", "Quito"]
TINY = TinyParams(pretrain_steps=40, vocab_size=600)

# peft reads a deprecated transformers property; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


def _message(role, content=None, tool_calls=None, tool_call_id=None, name=None):
    """Every key present, None where unset: what an Arrow column of messages gives back."""
    return {"role": role, "content": content, "tool_calls": tool_calls, "tool_call_id": tool_call_id, "name": name}


def _call(index: int, name: str, arguments: dict) -> dict:
    return {"id": f"call_{index}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}


def make_row(index: int) -> dict:
    """One call in the dataset contract: a tool call, a tool round trip, or a plain label."""
    rng = random.Random(index)
    system = _message("system", "You are a support agent. Answer briefly.")
    if index % 2 == 0:
        city = rng.choice(CITIES)
        messages = [system, _message("user", f"What is the weather in {city}?"),
                    _message("assistant", None, [_call(index, "get_weather", {"city": city})])]
        tools = json.dumps(TOOLS)
    elif index % 4 == 1:
        order = f"A{rng.randint(100, 999)}"
        messages = [system, _message("user", f"Where is order {order}?"),
                    _message("assistant", "", [_call(index, "lookup_order", {"order_id": order})]),
                    _message("tool", '{"status": "shipped"}', tool_call_id=f"call_{index}", name="lookup_order"),
                    _message("assistant", f"Order {order} has shipped.")]
        tools = json.dumps(TOOLS)
    else:
        label = rng.choice(["billing", "shipping", "refund"])
        messages = [system, _message("user", f"Classify this ticket: my {label} question, number {index}"),
                    _message("assistant", label)]
        tools = "[]"
    return {"id": f"r{index}", "group": f"g{index % 7}", "output_class": "x", "represents": 1,
            "messages": messages, "tools": tools}


def save_dataset(path: Path, train: list[dict], validation: list[dict], test: list[dict]) -> Path:
    from datasets import Dataset, DatasetDict

    from migrate.finetune.quiet import quiet_libraries

    with quiet_libraries():
        DatasetDict({name: Dataset.from_list(rows) for name, rows in
                     (("train", train), ("validation", validation), ("test", test))}).save_to_disk(str(path))
    return path


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    """40 short train chats plus one far over max_length, 6 validation, 4 test."""
    train = [make_row(i) for i in range(40)]
    long_row = make_row(1000)
    long_row["messages"][1]["content"] = "please classify " + " ".join(f"word{i}" for i in range(3000))
    train.insert(7, long_row)
    return save_dataset(tmp_path_factory.mktemp("data") / "cluster-1",
                        train, [make_row(i) for i in range(40, 46)], [make_row(i) for i in range(46, 50)])


@pytest.fixture(scope="module")
def tiny_base(dataset_dir, tmp_path_factory) -> Path:
    recipe = Recipe(base_model="tiny-local", tiny=TINY)
    return Path(resolve_base(recipe, lambda: rendered_texts([dataset_dir]), tmp_path_factory.mktemp("cache")))


def tiny_recipe(**changes) -> Recipe:
    settings = {"base_model": "tiny-local", "tiny": TINY, "learning_rate": 3e-3, "max_steps": 4,
                "max_length": 512, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                "logging_steps": 1, "save_steps": 2, "warmup_ratio": 0.0, "lr_scheduler_type": "constant"}
    return Recipe(**{**settings, **changes})


# The tiny base and tokenization ---------------------------------------------------------------

def test_tiny_base_is_a_normal_model_folder(tiny_base):
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    assert AutoConfig.from_pretrained(tiny_base).model_type == "llama"
    assert tokenizer.chat_template == DEFAULT_CHAT_TEMPLATE
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|pad|>"
    row = make_row(1)
    text = tokenizer.apply_chat_template(row["messages"], tools=TOOLS, tokenize=False)
    assert text == render(row["messages"], TOOLS) and "<tool_call>" in text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") in ids  # a single special token


def test_tiny_build_is_deterministic(tmp_path):
    from migrate.finetune.tiny import build_tiny_base

    texts = [render(make_row(i)["messages"], TOOLS) for i in range(20)]
    params = TinyParams(pretrain_steps=3, vocab_size=400, hidden_size=32, intermediate_size=64)
    first = build_tiny_base(texts, tmp_path / "a", params, seed=3)
    second = build_tiny_base(texts, tmp_path / "b", params, seed=3)
    for name in ("model.safetensors", "tokenizer.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary folders left


def test_resolve_base_caches_tiny_and_checks_the_rest(tiny_base, dataset_dir, tmp_path):
    recipe = Recipe(base_model="tiny-local", tiny=TINY)
    again = resolve_base(recipe, lambda: rendered_texts([dataset_dir]), tiny_base.parent)
    assert again == tiny_base  # same texts and parameters: the cached folder
    assert resolve_base(Recipe(base_model=str(tiny_base)), list, tmp_path) == tiny_base.resolve()
    with pytest.raises(MigrateError) as info:
        resolve_base(Recipe(base_model="nobody/not-a-cached-model"), list, tmp_path, allow_download=False)
    assert "HF_HUB_OFFLINE" in info.value.hint and "local model folder" in info.value.hint
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    with pytest.raises(MigrateError, match="cannot read the GGUF file"):
        resolve_base(Recipe(base_model=str(tmp_path / "model.gguf")), list, tmp_path)
    with pytest.raises(MigrateError, match="no such model folder"):
        resolve_base(Recipe(base_model="./missing/model/dir"), list, tmp_path)


def test_loss_mask_covers_the_answer_only(tiny_base, dataset_dir):
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from migrate.finetune.examples import tokenize_split

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    split = load_from_disk(str(dataset_dir))["validation"]
    out = tokenize_split(split, tokenizer, max_length=512)
    assert len(out.input_ids) == len(split) and not out.dropped and out.prompt_not_prefix == 0
    for row, ids, mask in zip(split, out.input_ids, out.completion_mask):
        answer = tokenizer.decode([i for i, m in zip(ids, mask) if m])
        last = row["messages"][-1]
        expected = last["content"] or "<tool_call>"
        assert answer.startswith(expected) and answer.endswith("<|im_end|>\n"), answer
        assert mask == sorted(mask)  # one block at the end: the prompt is never trained on


def test_rows_that_cannot_be_trained_are_counted(tiny_base):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from migrate.finetune.examples import tokenize_split

    no_answer = make_row(3)
    no_answer["messages"] = no_answer["messages"][:-1]  # ends on the user's turn
    too_long = make_row(5)
    too_long["messages"][1]["content"] = "x " * 2000
    split = Dataset.from_list([make_row(1), no_answer, too_long, make_row(2)])
    out = tokenize_split(split, AutoTokenizer.from_pretrained(tiny_base), max_length=512)
    assert len(out.input_ids) == 2 and out.dropped == {"unrenderable": 1, "too_long": 1}
    assert out.first_error.startswith("row 1: ValueError")


def test_messages_are_cleaned_for_any_template():
    from migrate.finetune.examples import clean_messages

    messages = make_row(0)["messages"]
    cleaned = clean_messages(messages)
    assert cleaned[-1]["tool_calls"][0]["function"]["arguments"] == {"city": json.loads(
        messages[-1]["tool_calls"][0]["function"]["arguments"])["city"]}  # an object: Llama/Qwen `tojson` it
    assert "tool_call_id" not in cleaned[0] and "tool_calls" not in cleaned[1]  # Arrow's None keys dropped
    broken = [{**messages[-1], "tool_calls": [_call(0, "get_weather", {})]}]
    broken[0]["tool_calls"][0]["function"]["arguments"] = "{not json"
    assert clean_messages(broken)[0]["tool_calls"][0]["function"]["arguments"] == "{not json"  # kept as sent


# Refusals before any training -----------------------------------------------------------------

def test_cuda_only_options_are_refused_on_cpu(tiny_base, dataset_dir, tmp_path):
    from migrate.finetune.train import train_adapter

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for option in ("load_in_4bit", "gradient_checkpointing"):
        with pytest.raises(MigrateError, match="CUDA") as info:
            train_adapter(dataset_dir, tiny_recipe(**{option: True}), tiny_base, tmp_path / "out")
        assert f"{option}=false" in info.value.hint
    assert list(tmp_path.iterdir()) == []


def test_bf16_is_refused_where_it_is_not_native(monkeypatch):
    from migrate.finetune import hardware

    monkeypatch.setattr(hardware, "native_bf16", lambda device: False)
    with pytest.raises(MigrateError, match="precision: bf16") as info:
        hardware.check_hardware(tiny_recipe(precision="bf16"))
    assert "precision=fp32" in info.value.hint
    assert hardware.check_hardware(tiny_recipe(precision="auto")).precision == "fp32"
    monkeypatch.setattr(hardware, "native_bf16", lambda device: True)
    assert hardware.check_hardware(tiny_recipe(precision="auto")).precision == "bf16"
    assert hardware.check_hardware(tiny_recipe(precision="fp32")).precision == "fp32"


def test_recipe_settings_reach_the_trainer(tmp_path):
    """The step budget and length grouping become SFTConfig's max_steps and sampler."""
    from migrate.finetune.hardware import Hardware
    from migrate.finetune.train import sft_config

    cpu = Hardware(cuda=False, bf16=False)
    grouped = sft_config(tiny_recipe(group_by_length=True), tmp_path, cpu, 91, has_eval=False)
    assert grouped.max_steps == 91 and grouped.train_sampling_strategy == "group_by_length"
    assert sft_config(tiny_recipe(), tmp_path, cpu, 4, has_eval=False).train_sampling_strategy == "random"


def test_compact_lm_head_gives_the_same_loss_and_gradients(tiny_base):
    """On CPU, TRL's fused head scores only labelled positions inside the block: same numbers."""
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from migrate.finetune.completion_head import compact_lm_head_on_cpu

    model = AutoModelForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    ids = torch.randint(5, 500, (3, 40), generator=torch.Generator().manual_seed(0))
    labels = torch.full_like(ids, -100)
    labels[:, -4:] = ids[:, -4:]  # a 4-token answer after a 36-token prompt

    def loss_and_grad():
        model.zero_grad()
        out = model(input_ids=ids, labels=labels, fused_lm_head=True)
        out.loss.backward()
        return out.loss.item(), out.entropy.sum().item(), model.lm_head.weight.grad.clone()

    full = loss_and_grad()
    with compact_lm_head_on_cpu() as found:
        compact = loss_and_grad()
    assert found, "TRL no longer has the switch: check trl/trainer/utils.py and completion_head.py"
    assert compact[0] == pytest.approx(full[0], rel=1e-5) and compact[1] == pytest.approx(full[1], rel=1e-4)
    assert torch.allclose(compact[2], full[2], atol=1e-6)
    import trl.trainer.utils

    assert trl.trainer.utils._use_triton(torch.device("cpu")) is False  # restored after the block


def test_template_that_drops_tools_is_refused(tiny_base, dataset_dir, tmp_path):
    from migrate.finetune.train import train_adapter

    plain = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
             "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    with pytest.raises(MigrateError, match="ignores the `tools`"):
        train_adapter(dataset_dir, tiny_recipe(chat_template=plain), tiny_base, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_missing_dataset_is_a_clear_error(tiny_base, tmp_path):
    from migrate.finetune.train import train_adapter

    with pytest.raises(MigrateError, match="no dataset at") as info:
        train_adapter(tmp_path / "nope", tiny_recipe(), tiny_base, tmp_path / "out")
    assert "slm-migrate datasets" in info.value.hint
    assert not (tmp_path / "out").exists()


# Training ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tiny_base, dataset_dir, tmp_path_factory):
    from migrate.finetune.train import train_adapter

    out = tmp_path_factory.mktemp("specialists") / "cluster-1"
    steps = []
    base_bytes = (tiny_base / "model.safetensors").read_bytes()
    metrics = train_adapter(dataset_dir, tiny_recipe(max_steps=6), tiny_base, out,
                            progress=lambda task, done, total: steps.append((task, done, total)))
    assert (tiny_base / "model.safetensors").read_bytes() == base_bytes  # the base folder is untouched
    return out, metrics, steps


@pytest.mark.train
def test_training_writes_adapter_metrics_and_card(trained, dataset_dir):
    out, metrics, steps = trained
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "adapter", "loss.json", "loss.png", "metrics.json"]
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert not (out.parent / "cluster-1.work").exists() and len(list(out.parent.iterdir())) == 1
    assert steps[-1] == ("train", 6, 6)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("train_loss", "eval_loss", "steps", "examples", "dropped", "tokens_per_second",
                "wall_seconds", "base_model", "recipe_hash", "dataset_fingerprint"):
        assert saved[key] is not None, key
    assert saved["steps"] == 6 and saved["examples"] == {"train": 40, "validation": 6}
    assert saved["dropped"]["train"] == {"too_long": 1}  # the 3000-word example, not truncated
    logged = json.loads((out / "loss.json").read_text())
    assert [row["step"] for row in logged if "loss" in row] == [1, 2, 3, 4, 5, 6]
    assert (out / "loss.png").read_bytes().startswith(b"\x89PNG")
    card = (out / "README.md").read_text()
    assert "tiny-local" in card and saved["recipe_hash"] in card and saved["dataset_fingerprint"] in card


@pytest.mark.train
def test_adapter_changed_and_base_did_not(trained, tiny_base, dataset_dir):
    from datasets import load_from_disk
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from migrate.finetune.examples import tokenize_split

    out, _, _ = trained
    assert all("lora_" in key for key in load_file(str(out / "adapter" / "adapter_model.safetensors")))
    original = load_file(str(tiny_base / "model.safetensors"))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base), str(out / "adapter"))
    lora_b = {name: p for name, p in model.named_parameters() if "lora_B" in name}
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b.values())  # B starts at zero
    base = model.get_base_model().state_dict()
    for name, weight in original.items():
        key = name if name in base else name.replace(".weight", ".base_layer.weight")
        assert torch.equal(base[key], weight), name

    # The adapter moved the answers' loss on held-out chats down from the base's.
    tokenized = tokenize_split(load_from_disk(str(dataset_dir))["validation"],
                               AutoTokenizer.from_pretrained(tiny_base), max_length=512)

    def answer_loss() -> float:
        losses = []
        for ids, mask in zip(tokenized.input_ids, tokenized.completion_mask):
            labels = torch.tensor([i if m else -100 for i, m in zip(ids, mask)])[None]
            with torch.no_grad():
                losses.append(model(input_ids=torch.tensor(ids)[None], labels=labels).loss.item())
        return sum(losses) / len(losses)

    tuned = answer_loss()
    with model.disable_adapter():
        untuned = answer_loss()
    assert tuned < untuned


@pytest.mark.train
def test_specialist_generates(trained, tiny_base):
    from migrate.finetune.generate import generate

    out, _, _ = trained
    row = make_row(60)
    text = generate(tiny_base, out / "adapter", row["messages"][:-1], row["tools"], max_new_tokens=8)
    assert isinstance(text, str) and text


@pytest.mark.train
def test_resume_after_interruption(tiny_base, dataset_dir, tmp_path):
    from migrate.finetune.train import train_adapter, work_dir_for

    out = tmp_path / "cluster-1"
    recipe = tiny_recipe(save_steps=1)

    def interrupt(task, done, total):
        if task == "train" and done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_adapter(dataset_dir, recipe, tiny_base, out, progress=interrupt)
    assert not out.exists()  # nothing half-written
    assert (work_dir_for(out) / "checkpoints" / "checkpoint-2").is_dir()
    with pytest.raises(MigrateError, match="another recipe"):
        train_adapter(dataset_dir, tiny_recipe(save_steps=1, r=4), tiny_base, out, resume=True)
    metrics = train_adapter(dataset_dir, recipe, tiny_base, out, resume=True)
    assert metrics["resumed_from"] == "checkpoint-2" and metrics["steps"] == 4
    assert (out / "adapter" / "adapter_config.json").exists() and not work_dir_for(out).exists()

    # A rerun that fails leaves the finished adapter as it was.
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(KeyboardInterrupt):
        train_adapter(dataset_dir, tiny_recipe(save_steps=1, seed=7), tiny_base, out, progress=interrupt)
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster-1", "cluster-1.work"]
