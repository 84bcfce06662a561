"""Masking slot values in text: the one tokenizer that clustering and dedup share.

Agent calls are templates with slots. `words` lower-cases a text, splits it and replaces every
slot value by a typed placeholder (`<email>`, `<url>`, `<id>`, `<num>`, `<date>`, `<time>`,
`<str>` for quoted values), so that two calls of one template compare equal where only their
slot values differ.
"""

from __future__ import annotations

import re

# Text is split on white space; most tokens are plain words (a C-level `isalpha` check). The rest
# are classified one by one: a token holding a digit is a number, date, time or id; `@` makes an
# email; `http`/`www.` a URL. Quoted values are masked first (only when the text has quotes).
_QUOTED = re.compile(r"\"[^\"\n]{1,60}\"|(?<!\w)'[^'\n]{1,60}'(?!\w)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(t[\d:.]+z?)?|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}")
_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2})?(am|pm)?")
_NUMBER = re.compile(r"[$€£#+-]?\d[\d,.]*(%|k|m|x)?")
_WORD = re.compile(r"[a-z][a-z_]+")
_DIGIT = re.compile(r"\d")
_EDGE = "\"'`.,;:!?()[]{}<>*"


_SCRUBBED = re.compile(r"[a-z_]+_[0-9a-f]{8}")  # a curate placeholder, <EMAIL_ADDRESS_a7c7a454>, lower-cased
# A scrubbed value masks like the raw value would where the two are unambiguous, so that a live,
# unscrubbed request (what the router sees) looks like the scrubbed calls it was trained on.
_PLACEHOLDER_AS_RAW = {"email_address": "<email>", "url": "<url>"}


def _mask_token(token: str) -> list[str]:
    """Words of one white-space token that is not a plain word (edges already stripped)."""
    if _SCRUBBED.fullmatch(token):  # its type, not its keyed hash (which depends on the key)
        kind = token.rsplit("_", 1)[0]
        return [_PLACEHOLDER_AS_RAW.get(kind, f"<{kind}>")]
    if token.startswith(("http://", "https://", "www.")):
        return ["<url>"]
    if "@" in token and "." in token.split("@")[-1]:
        return ["<email>"]
    if _DIGIT.search(token):
        if _UUID.fullmatch(token):
            return ["<id>"]
        if _DATE.fullmatch(token):
            return ["<date>"]
        if _TIME.fullmatch(token):
            return ["<time>"]
        if _NUMBER.fullmatch(token):
            return ["<num>"]
        return ["<id>"]  # ORD-48213, a9f3c2e1, 1Z999AA1
    return _WORD.findall(token)


def words(text: str | None) -> list[str]:
    """Lower-cased words of `text` with slot values masked (`<email>`, `<id>`, `<num>`, ...)."""
    if not text:
        return []
    text = text.lower()
    if '"' in text or " '" in text or text[0] == "'":
        text = _QUOTED.sub(" <str> ", text)
    out: list[str] = []
    append = out.append
    for token in text.split():
        if token.isalpha() or token == "<str>":
            append(token)
            continue
        core = token.strip(_EDGE)
        if core.isalpha():
            append(core)
        elif core:
            out.extend(_mask_token(core))
    return out


def mask_text(text: str) -> str:
    """The masked word sequence of `text`, as one string (for display and tests)."""
    return " ".join(words(text))


