"""The default chat template, and rendering a chat through any template the way a tokenizer does.

The default is ChatML with tools in the Hermes/Qwen2.5 style: the offered function schemas go into
the system turn inside `<tools></tools>`, each tool call of an assistant turn is a
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` block, and tool results come back in
`tool` turns. It is used when a dataset is validated without a base model's own template, and it is
the template of the `tiny-local` base model, so the tiny specialist is trained on exactly what it
is shown at inference.

Tool-call arguments may be JSON strings (OpenAI's wire format, what the logs and our datasets
carry) or objects; the template renders both the same way. `content` may be null.

Rendering goes through transformers' own Jinja environment (`render_jinja_template`), so a
rendered text is byte for byte what `tokenizer.apply_chat_template(..., tokenize=False)` gives for
the same template.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CHAT_TEMPLATE = """\
{%- macro render_call(call) -%}
{%- set function = call.function if call.function is defined else call -%}
<tool_call>
{"name": {{ function.name | tojson }}, "arguments": {% if function.arguments is string %}{{ function.arguments }}{% else %}{{ function.arguments | tojson }}{% endif %}}
</tool_call>
{%- endmacro -%}
{%- set first = 0 -%}
{%- if messages and messages[0].role == 'system' -%}
{%- set system = messages[0].content or '' -%}
{%- set first = 1 -%}
{%- else -%}
{%- set system = '' -%}
{%- endif -%}
{%- if tools -%}
<|im_start|>system
{% if system %}{{ system }}

{% endif %}# Tools

You may call one or more functions. Their signatures are within <tools></tools>:
<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools>

To call a function, answer with a JSON object in <tool_call></tool_call> tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
{% elif first == 1 -%}
<|im_start|>system
{{ system }}<|im_end|>
{% endif -%}
{%- for message in messages[first:] -%}
<|im_start|>{{ message.role }}
{% if message.content %}{{ message.content }}{% endif -%}
{%- if message.tool_calls -%}
{%- for call in message.tool_calls -%}
{% if message.content or not loop.first %}
{% endif %}{{ render_call(call) }}
{%- endfor -%}
{%- endif -%}
<|im_end|>
{% endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}
"""

# The special tokens the default template uses (a tokenizer built for it must know them).
SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>")
END_OF_TURN = "<|im_end|>"


def render(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    template: str = DEFAULT_CHAT_TEMPLATE,
    add_generation_prompt: bool = False,
) -> str:
    """`messages` (and `tools`) as the text a model sees, through `template`."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        conversations=[messages],
        tools=tools or None,
        chat_template=template,
        add_generation_prompt=add_generation_prompt,
    )
    return rendered[0]
