"""Load a base model with a trained adapter and answer one chat greedily: the smoke test of a
specialist (tests, the demo), rendered through the same template and message cleaning as
training so what it sees matches what it learned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrate.finetune.examples import clean_messages, parse_tools
from migrate.finetune.quiet import quiet_libraries


def load_specialist(base: Path | str, adapter_dir: Path | str | None) -> tuple[Any, Any]:
    """(model, tokenizer): the base in fp32 on CPU with the adapter on top (None: base only).

    The tokenizer comes from the adapter folder when it has one (training saves it there, with
    the chat template it used), else from the base.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    has_own = adapter_dir is not None and (Path(adapter_dir) / "tokenizer_config.json").exists()
    with quiet_libraries():
        tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir if has_own else base))
        model = AutoModelForCausalLM.from_pretrained(str(base))
        if adapter_dir is not None:
            model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    return model, tokenizer


def generate(base: Path | str, adapter_dir: Path | str | None, messages: list[dict[str, Any]],
             tools: Any = None, max_new_tokens: int = 64, *, loaded: tuple[Any, Any] | None = None) -> str:
    """The specialist's greedy answer to `messages` (OpenAI shape; tools as a list or JSON string).

    Pass `loaded=load_specialist(...)` to reuse one loaded model across calls.
    """
    import torch

    model, tokenizer = loaded or load_specialist(base, adapter_dir)
    chat = clean_messages(messages)
    encoded = tokenizer.apply_chat_template(
        chat, tools=parse_tools(tools) if tools is not None else None,
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
    )
    with torch.no_grad():
        output = model.generate(
            **encoded, max_new_tokens=max_new_tokens, do_sample=False,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
    return tokenizer.decode(output[0, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
