"""A minimal client for OpenAI-compatible chat endpoints (OpenAI, vLLM, llama.cpp server, ...).

Only `POST {base_url}/chat/completions` is needed, so this is the standard library's urllib rather
than an SDK: one dependency less and nothing that reads keys from config files behind our back.
The API key comes only from the environment variable the caller names; it is sent as a bearer
token and never logged or written anywhere. Rate limits and server errors (429, 5xx) are retried
with a short backoff; other HTTP errors are returned to the caller as `EndpointError`, so that one
bad request does not sink a whole evaluation; an endpoint that cannot be reached at all is a
`MigrateError`.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from migrate.errors import MigrateError

RETRY_STATUSES = {429, 500, 502, 503, 504}


class EndpointError(Exception):
    """The endpoint answered one request with an error (the message is the server's, shortened)."""


def chat_url(base_url: str) -> str:
    """`.../v1` -> `.../v1/chat/completions`; a full `/chat/completions` URL is kept."""
    base = base_url.rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


def chat_completion(base_url: str, body: dict[str, Any], *, api_key_env: str | None = None,
                    timeout: float = 120.0, retries: int = 2) -> dict[str, Any]:
    """The JSON response of one chat completion request."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = os.environ.get(api_key_env) if api_key_env else None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode("utf-8")
    url = chat_url(base_url)
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            if exc.code in RETRY_STATUSES and attempt < retries:
                time.sleep(0.5 * 2**attempt)
                continue
            if exc.code in (401, 403):
                raise MigrateError(
                    f"{url} refused the request ({exc.code})",
                    hint=f"set the {api_key_env} environment variable to a valid API key" if api_key_env
                    else "this endpoint needs an API key",
                ) from None
            raise EndpointError(f"HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            if attempt < retries:
                time.sleep(0.5 * 2**attempt)
                continue
            reason = getattr(exc, "reason", exc)
            raise MigrateError(f"cannot reach {url} ({reason})",
                               hint="start the server (e.g. `vllm serve BASE --enable-lora ...`) or check --base-url") from None
        except json.JSONDecodeError:
            raise EndpointError(f"{url} did not answer with JSON") from None
    raise AssertionError("unreachable")


def first_message(response: dict[str, Any]) -> dict[str, Any]:
    """`choices[0].message` of a response, or EndpointError when it has none."""
    try:
        message = response["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError("the response has no choices[0].message") from None
    if not isinstance(message, dict):
        raise EndpointError("choices[0].message is not an object")
    return message
