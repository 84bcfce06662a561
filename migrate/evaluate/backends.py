"""Generation backends: who answers the test prompts. A plain registry, `BACKENDS`.

- `local`: transformers on this machine. The base model is loaded once and every specialist over
  it is added as a named peft adapter (`load_adapter(..., adapter_name=cluster)`) and switched with
  `set_adapter`; base-model answers come from the same weights inside `disable_adapter()`. So N
  specialists cost one base in memory, like a multi-LoRA server. Prompts are rendered with the
  tokenizer saved beside the adapter (the chat template the specialist was trained with) and the
  same message cleaning as training; the base model is shown the very same text, so the three
  answers differ only by the weights (and the few-shot turns). Greedy, batched with left padding;
  batches are formed from prompts of similar length to waste little on padding.
- `openai`: any OpenAI-compatible endpoint (`--base-url`), e.g. `vllm serve BASE --enable-lora
  --lora-modules c00=DIR/specialists/c00/adapter ...`, where the model name selects the adapter:
  the specialist is asked as `served_adapter_name` (default: the cluster id), the base as
  `served_base_name` (default: the recipe's base model). Requests run `batch_size` at a time.

Latency is what a caller waits: per call for `openai`; for `local`, the wall time of the batch the
call was in. Throughput is generated tokens over generation wall time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from migrate.evaluate.client import EndpointError, chat_completion, first_message
from migrate.evaluate.parse import message_from_openai, parse_generation
from migrate.progress import ProgressFn, no_progress


@dataclass(frozen=True)
class Target:
    """Which model answers: the specialist of `cluster`, or (`use_adapter=False`) the base under it."""

    cluster: str
    adapter: Path
    base_path: str
    base_model: str
    use_adapter: bool = True
    precision: str | None = None  # what the specialist trained in ("bf16"/"fp32"); None: bf16 where native


@dataclass
class Chat:
    """One request: OpenAI-shaped messages (tool-call arguments as JSON strings) and tools."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None


@dataclass
class Generation:
    message: dict[str, Any]  # parse.parse_generation's shape
    text: str = ""  # what the model wrote (local), or the content (openai)
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None  # the request failed; `message` is then empty


@dataclass
class BackendOptions:
    base_url: str | None = None
    api_key_env: str | None = None
    served_adapter_name: str = "{cluster}"
    served_base_name: str | None = None
    timeout: float = 120.0
    device: str | None = None  # local: None = cuda when available, else cpu


class Backend(Protocol):
    def prepare(self, target: Target) -> None:
        """Load what `target` needs (a base, an adapter), so that timing `generate` measures answering."""

    def generate(self, target: Target, chats: list[Chat], *, max_new_tokens: int, batch_size: int,
                 progress: ProgressFn = no_progress) -> list[Generation]: ...

    def close(self) -> None: ...


class LocalBackend:
    """transformers + peft; see the module docstring."""

    def __init__(self, options: BackendOptions):
        self.options = options
        self.model: Any = None
        self.base_key: tuple[str, bool] | None = None  # (base path, bf16) of the loaded model
        self.adapters: set[str] = set()
        self.tokenizers: dict[str, Any] = {}

    def close(self) -> None:
        self.model, self.base_key, self.adapters, self.tokenizers = None, None, set(), {}

    def prepare(self, target: Target) -> Any:
        """Load the base if it changed, add the cluster's adapter if new; the tokenizer to use."""
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from migrate.finetune.hardware import native_bf16
        from migrate.finetune.quiet import quiet_libraries

        with quiet_libraries():
            device = self.options.device or ("cuda" if torch.cuda.is_available() else "cpu")
            # the precision the specialist trained in, so that answers match training; else as `auto`
            bf16 = target.precision == "bf16" if target.precision else native_bf16(device)
            if self.base_key != (target.base_path, bf16):
                self.close()
                base = AutoModelForCausalLM.from_pretrained(target.base_path, dtype=torch.bfloat16 if bf16 else torch.float32)
                self.model, self.base_key = base.to(device).eval(), (target.base_path, bf16)
            if target.cluster not in self.adapters:
                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(str(target.adapter), adapter_name=target.cluster)
                else:
                    self.model = PeftModel.from_pretrained(self.model, str(target.adapter), adapter_name=target.cluster)
                self.model.eval()
                self.adapters.add(target.cluster)
                own = (target.adapter / "tokenizer_config.json").exists()
                tokenizer = AutoTokenizer.from_pretrained(str(target.adapter if own else target.base_path))
                if tokenizer.pad_token_id is None:
                    tokenizer.pad_token = tokenizer.eos_token
                self.tokenizers[target.cluster] = tokenizer
        self.model.set_adapter(target.cluster)
        return self.tokenizers[target.cluster]

    def generate(self, target: Target, chats: list[Chat], *, max_new_tokens: int, batch_size: int,
                 progress: ProgressFn = no_progress) -> list[Generation]:
        import torch
        from transformers import GenerationConfig

        tokenizer = self.prepare(target)
        out: list[Generation] = [Generation(message=parse_generation("")) for _ in chats]
        prompts: dict[int, list[int]] = {}
        room = getattr(self.model.config, "max_position_embeddings", None)
        for index, chat in enumerate(chats):
            try:
                prompts[index] = _prompt_ids(tokenizer, chat)
            except Exception as exc:  # one row the template cannot render must not sink the cluster
                out[index].error = f"unrenderable: {type(exc).__name__}: {exc}"
                continue
            if room and len(prompts[index]) + max_new_tokens > room:
                out[index].error = f"prompt of {len(prompts[index])} tokens leaves no room in a {room}-token context"
                del prompts[index]
        stops = _stop_ids(tokenizer)
        # a fresh config: greedy, without the sampling defaults a model ships (and warnings about them)
        config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                                  pad_token_id=tokenizer.pad_token_id)
        order = sorted(prompts, key=lambda i: len(prompts[i]))
        context = contextlib.nullcontext() if target.use_adapter else self.model.disable_adapter()
        with context, torch.no_grad():
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                ids, mask = _left_pad([prompts[i] for i in batch], tokenizer.pad_token_id)
                device = self.model.device
                began = time.perf_counter()
                generated = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                                generation_config=config)
                elapsed = (time.perf_counter() - began) * 1000
                for row, index in enumerate(batch):
                    new = generated[row, ids.shape[1]:].tolist()
                    cut = next((n for n, token in enumerate(new) if token in stops), None)
                    text = _decode(tokenizer, new[:cut] if cut is not None else new)
                    out[index] = Generation(
                        message=parse_generation(text, tools_offered=bool(chats[index].tools)), text=text,
                        latency_ms=round(elapsed, 2), prompt_tokens=len(prompts[index]),
                        completion_tokens=(cut + 1) if cut is not None else len(new),
                    )
                progress(f"{target.cluster} generate", min(start + batch_size, len(order)), len(order))
        return out


def _prompt_ids(tokenizer: Any, chat: Chat) -> list[int]:
    """The prompt's token ids exactly as training made them (same cleaning, same template)."""
    from migrate.finetune.examples import clean_messages, parse_tools

    encoded = tokenizer.apply_chat_template(
        clean_messages(chat.messages), tools=parse_tools(chat.tools) if chat.tools else None,
        add_generation_prompt=True, tokenize=True, return_dict=True)
    return list(encoded["input_ids"])


def _stop_ids(tokenizer: Any) -> list[int]:
    """End-of-sequence ids: the tokenizer's eos and, when known, ChatML's end of turn."""
    from migrate.chat_template import END_OF_TURN

    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    if END_OF_TURN in vocab:
        ids.add(vocab[END_OF_TURN])
    return sorted(ids)


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    return ids, mask


def _decode(tokenizer: Any, ids: list[int]) -> str:
    """The text of `ids` without special tokens, except tool-call markers a template may register
    as special (they carry the answer)."""
    text = tokenizer.decode(ids, skip_special_tokens=False)
    for token in tokenizer.all_special_tokens:
        if "tool_call" not in token:
            text = text.replace(token, "")
    return text


class OpenAIBackend:
    """An OpenAI-compatible endpoint; see the module docstring."""

    def __init__(self, options: BackendOptions):
        if not options.base_url:
            from migrate.errors import MigrateError

            raise MigrateError("the openai backend needs a server URL", hint="pass --base-url http://HOST:PORT/v1")
        self.options = options

    def close(self) -> None:
        return None

    def prepare(self, target: Target) -> None:
        return None

    def model_name(self, target: Target) -> str:
        if target.use_adapter:
            return self.options.served_adapter_name.format(cluster=target.cluster)
        return self.options.served_base_name or target.base_model

    def generate(self, target: Target, chats: list[Chat], *, max_new_tokens: int, batch_size: int,
                 progress: ProgressFn = no_progress) -> list[Generation]:
        model = self.model_name(target)
        done = 0

        def ask(chat: Chat) -> Generation:
            body: dict[str, Any] = {"model": model, "messages": wire_messages(chat.messages),
                                    "temperature": 0, "max_tokens": max_new_tokens}
            if chat.tools:
                body["tools"] = chat.tools
            began = time.perf_counter()
            try:
                response = chat_completion(self.options.base_url or "", body, api_key_env=self.options.api_key_env,
                                           timeout=self.options.timeout)
                message = first_message(response)
            except EndpointError as exc:
                return Generation(message=parse_generation(""), error=str(exc),
                                  latency_ms=round((time.perf_counter() - began) * 1000, 2))
            usage = response.get("usage") or {}
            return Generation(message=message_from_openai(message, tools_offered=bool(chat.tools)),
                              text=message.get("content") or "", latency_ms=round((time.perf_counter() - began) * 1000, 2),
                              prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))

        out: list[Generation] = []
        with ThreadPoolExecutor(max_workers=max(1, batch_size)) as pool:
            futures = [pool.submit(ask, chat) for chat in chats]
            try:
                for future in futures:
                    out.append(future.result())
                    done += 1
                    progress(f"{target.cluster} generate", done, len(chats))
            except BaseException:  # an unreachable server: stop asking rather than fail every request
                for future in futures:
                    future.cancel()
                raise
        return out


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as an OpenAI request wants them: no None-valued keys (Arrow adds them)."""
    out = []
    for message in messages:
        clean = {k: v for k, v in message.items() if v is not None}
        if "tool_calls" in clean:
            clean["tool_calls"] = [{k: v for k, v in call.items() if v is not None} for call in clean["tool_calls"]]
            if not clean["tool_calls"]:
                del clean["tool_calls"]
        clean.setdefault("content", None if clean.get("tool_calls") else "")
        out.append(clean)
    return out


BACKENDS: dict[str, Callable[[BackendOptions], Backend]] = {"local": LocalBackend, "openai": OpenAIBackend}


def make_backend(name: str, options: BackendOptions | None = None) -> Backend:
    """The backend registered as `name`."""
    if name not in BACKENDS:
        from migrate.errors import MigrateError

        raise MigrateError(f"unknown backend {name!r}", hint="backends: " + ", ".join(BACKENDS))
    return BACKENDS[name](options or BackendOptions())


__all__ = ["BACKENDS", "Backend", "BackendOptions", "Chat", "Generation", "LocalBackend", "OpenAIBackend",
           "Target", "make_backend", "wire_messages"]
