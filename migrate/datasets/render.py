"""Check that an example renders through the chat template the model will see, and fits.

With a tokenizer (a local Hugging Face folder: the recipe's base model when it is available
offline, or `--tokenizer`), its own chat template renders the example and its tokenizer counts the
tokens. Without one, the default ChatML-with-tools template (`migrate.chat_template`) renders it
and the length is *estimated* as UTF-8 bytes / 3, on the high side of real BPE tokenizers (about 4
bytes a token on English, 3 on JSON and code), so an estimate that fits very likely fits. The card
says which was used.

An example that does not render, or whose prompt and answer do not fit `max_length`, is reported
and dropped: never truncated, because a truncated target teaches the model to stop mid-answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from migrate.chat_template import DEFAULT_CHAT_TEMPLATE, render
from migrate.datasets.examples import Example
from migrate.errors import MigrateError

BYTES_PER_TOKEN = 3  # the estimate without a tokenizer


@dataclass(slots=True)
class Lengths:
    prompt: int  # tokens of the request as rendered for generation
    total: int  # tokens of the request and the answer


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them: tool-call arguments as objects (Llama's and others'
    templates call `tojson` on them), absent keys left out."""
    out = []
    for message in messages:
        item = {k: v for k, v in message.items() if v is not None}
        if item.get("tool_calls"):
            item["tool_calls"] = [
                {**call, "function": {**call["function"], "arguments": _arguments(call["function"]["arguments"])}}
                for call in item["tool_calls"]
            ]
        out.append(item)
    return out


def _arguments(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments  # rendered as sent; curation drops invalid arguments before this anyway


class Renderer:
    """Renders examples through one chat template and measures them in one tokenizer's tokens."""

    def __init__(self, tokenizer: str | None = None, template: str | None = None):
        """`tokenizer`: a local model folder or cached hub id (None: estimate lengths);
        `template`: a chat template overriding the tokenizer's own (a recipe's `chat_template`)."""
        self._tokenizer = None
        self.template = template or DEFAULT_CHAT_TEMPLATE
        which = "the recipe's chat template" if template else "default ChatML-with-tools template"
        self.description = f"{which}; lengths estimated as UTF-8 bytes / {BYTES_PER_TOKEN}"
        if tokenizer:
            self._tokenizer = _load_tokenizer(tokenizer)
            if template:
                own = "the recipe's chat template"
            elif self._tokenizer.chat_template:
                own, self.template = "its own chat template", self._tokenizer.chat_template
            else:
                own = "the default ChatML template"
            self.description = f"tokenizer of {tokenizer}, {own}; exact token counts"

    def count(self, text: str) -> int:
        if self._tokenizer is None:
            return math.ceil(len(text.encode()) / BYTES_PER_TOKEN)
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def lengths(self, example: Example) -> Lengths:
        """Token lengths of `example`; raises ValueError (with the template's message) if it does
        not render."""
        messages = template_messages(example.messages)
        tools = example.tools or None
        try:
            prompt = render(messages[:-1], tools, template=self.template, add_generation_prompt=True)
            total = render(messages, tools, template=self.template)
        except Exception as exc:  # a Jinja error or the template's own raise_exception
            raise ValueError(f"{type(exc).__name__}: {exc}") from None
        return Lengths(prompt=self.count(prompt), total=self.count(total))


def _load_tokenizer(name: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise MigrateError(
            f"cannot load a tokenizer from {name!r} offline: {exc}",
            hint="give a local Hugging Face model folder (with tokenizer files), or leave the tokenizer "
            "out to use the default template with estimated lengths",
        ) from None
