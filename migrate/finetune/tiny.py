"""The offline `tiny-local` base model: a small Llama with a byte-level BPE tokenizer, both built
from the workspace's own texts, so tests and the demo exercise the real training code without a
download.

What it does, in order: train a byte-level BPE tokenizer on the texts (rendered chats), wrap it as
a `PreTrainedTokenizerFast` with the ChatML special tokens and `DEFAULT_CHAT_TEMPLATE` (tools
included), build a `LlamaConfig` model (Llama rather than Qwen2: `AutoTokenizer` swaps in its own
tokenizer class for `model_type: qwen2` and the ids change), and pre-train it briefly as a causal
LM on the same texts: a LoRA on random weights learns next to nothing. It is a code-path exerciser,
not a model of any quality.

The result is a normal Hugging Face folder (`save_pretrained` for both), written atomically:
built in a temporary sibling folder and renamed into place. Deterministic for a given seed.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from migrate.chat_template import DEFAULT_CHAT_TEMPLATE, END_OF_TURN
from migrate.errors import MigrateError
from migrate.finetune.quiet import quiet_libraries
from migrate.finetune.recipe import TinyParams
from migrate.progress import ProgressFn, no_progress
from migrate.workspace import atomic_dir

PAD = "<|pad|>"
START = "<|im_start|>"
SPECIAL = (PAD, START, END_OF_TURN)  # ids 0, 1, 2


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `texts`, with ChatML specials and
    the default chat template (eos = <|im_end|>, the end of every turn)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=END_OF_TURN,
        pad_token=PAD,
        additional_special_tokens=[START],
        clean_up_tokenization_spaces=False,
        model_max_length=10**6,
    )
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer: Any, params: TinyParams, seed: int) -> Any:
    """A randomly initialised small Llama sized by `params` (tied embeddings)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=params.hidden_size,
        intermediate_size=params.intermediate_size,
        num_hidden_layers=params.num_layers,
        num_attention_heads=params.num_heads,
        num_key_value_heads=params.num_heads,
        max_position_embeddings=params.context_length,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.convert_tokens_to_ids(START),
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def pretrain(model: Any, tokenizer: Any, texts: list[str], params: TinyParams, seed: int,
             progress: ProgressFn | None = None) -> list[float]:
    """Brief causal-LM training on the concatenated texts (random blocks, seeded); the losses."""
    import torch

    progress = progress or no_progress
    if params.pretrain_steps == 0:
        return []
    stream: list[int] = []
    for text in texts:
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        stream.append(tokenizer.eos_token_id)
    block = min(params.pretrain_block_size, len(stream) - 1)
    if block < 2:
        raise MigrateError("too little text to pre-train the tiny model", hint="curate more records first")
    data = torch.tensor(stream, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.pretrain_learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 10) * max(0.1, 1 - step / params.pretrain_steps)
    )
    model.train()
    losses = []
    for step in range(params.pretrain_steps):
        starts = torch.randint(0, len(data) - block, (params.pretrain_batch_size,), generator=generator)
        batch = torch.stack([data[s : s + block] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
        progress("pretrain tiny-local", step + 1, params.pretrain_steps)
    model.eval()
    return losses


def build_tiny_base(texts: Iterable[str], out_dir: Path, params: TinyParams, *, seed: int = 42,
                    progress: ProgressFn | None = None) -> Path:
    """Build, pre-train and save the tiny base model into `out_dir` (replaced atomically)."""
    texts = [text for text in texts if text]
    if not texts:
        raise MigrateError("no texts to build the tiny-local model from", hint="run the datasets stage first")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        with _deterministic(seed):
            tokenizer = train_tokenizer(texts, params.vocab_size)
            model = build_model(tokenizer, params, seed)
            losses = pretrain(model, tokenizer, texts, params, seed, progress)
        with quiet_libraries():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        info = {"params": params.model_dump(), "seed": seed, "texts": len(texts),
                "parameters": sum(p.numel() for p in model.parameters()),
                "pretrain_loss": losses[:1] + losses[-1:], "seconds": round(time.perf_counter() - started, 2)}
        (tmp / "tiny_local.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out_dir


@contextlib.contextmanager
def _deterministic(seed: int):
    """Seeded RNGs and deterministic kernels for the duration of the build."""
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.random.set_rng_state(state)
