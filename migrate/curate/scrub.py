"""Scrub PII and secrets out of call records, replacing each value by a consistent placeholder.

Detection is Presidio's (see `migrate.curate.presidio`). Each detected value becomes
`<ENTITY_xxxxxxxx>`, where the suffix is a keyed hash (HMAC-SHA256) of the entity type and the
normalised value: the same value always gets the same placeholder — in a prompt and in the
tool-call arguments of its answer, in every record, in every run with the same key — and nothing
about the value can be recovered without the key. The key comes from `SLM_MIGRATE_PII_KEY`, else
it is generated once per workspace (`DIR/.pii-key`, never part of any artifact).

Speed: Presidio costs a millisecond or more per text. Most text in agent logs holds nothing it
could find, so a single fast regex first finds *candidate* spans (anything with an `@`, a URL, a
run of 7+ digits, a dotted quad, a key prefix such as `sk-`/`AKIA`/`ghp_`, a secret keyword...);
Presidio then analyses only short windows around them, and texts without candidates skip it.
Repeated long texts (system prompts, tool schemas) are scrubbed once and cached.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from migrate.curate.presidio import SECRET_ENTITIES
from migrate.errors import MigrateError
from migrate.records import CallRecord

KEY_ENV = "SLM_MIGRATE_PII_KEY"
KEY_FILE = ".pii-key"
PATTERN_ENTITIES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "URL",
    "CRYPTO", "US_BANK_NUMBER", "US_ITIN", "US_PASSPORT", "MAC_ADDRESS",
)
OFF_BY_DEFAULT = ("DATE_TIME", "UUID", "US_DRIVER_LICENSE", "MEDICAL_LICENSE", "UK_NHS")  # noisy on logs
NER_ENTITIES = ("PERSON", "LOCATION", "NRP")
DENY = "DENY_LIST"

# Candidate spans, by kind, and the entity types worth asking Presidio about for each kind.
# Candidates are found token by token (white-space separated), with C-level string tests: a regex
# per kind over every text cost more than Presidio itself. Each kind names the entity types worth
# asking Presidio about.
_KIND_ENTITIES = {
    "email": ("EMAIL_ADDRESS",),
    "url": ("URL",),
    "digits": ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "US_ITIN", "US_BANK_NUMBER", "US_PASSPORT", "IBAN_CODE"),
    "ip": ("IP_ADDRESS",),
    "mac": ("MAC_ADDRESS",),
    "crypto": ("CRYPTO",),
    "secret": tuple(SECRET_ENTITIES),
}
_TOKEN = re.compile(r"\S+")
_EDGE = "\"'`([{<>}]),;"
_NUMERIC = set("0123456789+-()./")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_SECRET_PREFIXES = ("sk-", "AKIA", "ASIA", "ABIA", "ACCA", "gh", "github_pat_", "xox", "xapp-", "eyJ")
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "credential")
_KEY_WORDS = frozenset({"password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "credentials",
                        "credential", "bearer"})
_MARGIN = {"secret": 48}  # a key=value secret needs its key name; other recognizers match the value itself
_DIGIT_RUN = 7  # digits from which a number may be a phone, card, SSN, bank account or IBAN
_REGEX_FLAGS = re.DOTALL | re.MULTILINE | re.IGNORECASE  # what Presidio's analyzer passes its recognizers


def _token_kind(token: str) -> str | None:
    """The candidate kind of one token that is not a plain word (digit runs are handled apart)."""
    if "@" in token and "." in token:
        return "email"
    if "://" in token or "www." in token:
        return "url"
    if len(token) >= 12 and any(p in token for p in _SECRET_PREFIXES):
        return "secret"
    if ("=" in token or ":" in token) and any(w in token.lower() for w in _SECRET_WORDS):
        return "secret"
    if token.count(".") == 3 or token.count(":") >= 2:
        core = token.strip(_EDGE + ".:")
        if core.count(".") == 3 and core.replace(".", "").isdigit():
            return "ip"
        if core.count(":") >= 5 or core.count("-") >= 5:
            return "mac"
        if core.count(":") >= 2 and all(c in "0123456789abcdefABCDEF:" for c in core):
            return "ip"
    core = token.strip(_EDGE)
    if 26 <= len(core) <= 42 and core[0] in "13b" and core.isalnum():
        return "crypto"
    return None


def candidate_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every stretch of `text` that a recognizer might flag."""
    spans: list[tuple[int, int, str]] = []
    run_start = run_end = run_digits = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token.isalpha():
            if run_digits >= _DIGIT_RUN:
                spans.append((run_start, run_end, "digits"))
            run_digits = 0
            if len(token) >= 3 and token.lower() in _KEY_WORDS:
                spans.append((match.start(), match.end(), "secret"))
            continue
        digits = len(token) - len(token.translate(_NO_DIGITS))
        numeric = digits and (set(token) <= _NUMERIC or (digits >= 2 and token[:2].isalpha()))  # IBAN head
        if numeric:  # phone numbers, cards and IBANs span several tokens: "(212) 555-0143"
            if run_digits == 0:
                run_start = match.start()
            run_end, run_digits = match.end(), run_digits + digits
        else:
            if run_digits >= _DIGIT_RUN:
                spans.append((run_start, run_end, "digits"))
            run_digits = 0
            if digits >= _DIGIT_RUN:
                spans.append((match.start(), match.end(), "digits"))
        kind = _token_kind(token)
        if kind:
            spans.append((match.start(), match.end(), kind))
    if run_digits >= _DIGIT_RUN:
        spans.append((run_start, run_end, "digits"))
    return sorted(spans)


_CACHE_SIZE = 16_384  # scrubbed texts remembered (system prompts, tool schemas and other repeats)


class ScrubParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="scrub PII and secrets (turn off only for logs already clean)")
    entities: list[str] = Field(
        default_factory=lambda: [*PATTERN_ENTITIES, *SECRET_ENTITIES, *NER_ENTITIES],
        description="entity types to detect (Presidio names plus our secret types)",
    )
    disable: list[str] = Field(default_factory=list, description="entity types to leave alone")
    allow: list[str] = Field(default_factory=list, description="values never treated as PII; `re:` prefix for a regex")
    deny: list[str] = Field(default_factory=list, description="values always treated as PII; `re:` prefix for a regex")
    score_threshold: float = Field(0.35, ge=0, le=1, description="Presidio score from which a detection counts")
    phone_regions: list[str] = Field(
        default_factory=lambda: ["US", "GB"],
        description="regions whose national phone formats are recognised (+country numbers always are); each adds time",
    )
    nlp_model: str | None = Field(
        "en_core_web_sm", description="installed spaCy model for PERSON/LOCATION; skipped when absent",
    )


def workspace_key(root: Path) -> bytes:
    """The HMAC key: from SLM_MIGRATE_PII_KEY, else generated once per workspace (mode 0600)."""
    if os.environ.get(KEY_ENV):
        return hashlib.sha256(os.environ[KEY_ENV].encode()).digest()
    path = root / KEY_FILE
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _matcher(patterns: list[str]) -> re.Pattern[str] | None:
    parts = [p[3:] if p.startswith("re:") else re.escape(p) for p in patterns]
    for part in parts:
        try:
            re.compile(part)
        except re.error as exc:
            raise MigrateError(f"bad regex in curate.scrub allow/deny list: {exc}") from None
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


_URL_END = re.compile(r"[\s\"'<>)\]}]|$")


def _whole_url(text: str, span: tuple[int, int, str, float]) -> tuple[int, int, str, float]:
    """A URL span reaches to the end of its URL (Presidio may stop at the host)."""
    end = _URL_END.search(text, span[1]).start()
    return (span[0], end, span[2], span[3])


def _normalise(entity: str, value: str) -> str:
    """One spelling per value, so that the same value gets the same placeholder everywhere."""
    value = value.strip()
    if entity in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "US_ITIN", "US_BANK_NUMBER"):
        digits = re.sub(r"\D", "", value)
        return digits[1:] if entity == "PHONE_NUMBER" and len(digits) == 11 and digits[0] == "1" else digits
    if entity in ("EMAIL_ADDRESS", "URL", "IBAN_CODE", "MAC_ADDRESS"):
        return value.lower().replace(" ", "")
    return value


class Scrubber:
    """Scrubs texts and whole records; counts what it found (`found`, per entity type)."""

    def __init__(self, params: ScrubParams, key: bytes):
        from migrate.curate.presidio import build_analyzer

        self.params = params
        self.key = key
        wanted = [e for e in dict.fromkeys(params.entities) if e not in params.disable]
        self.analyzer, has_ner = build_analyzer(params.phone_regions, params.nlp_model)
        supported = set(self.analyzer.get_supported_entities("en"))
        self.entities = [e for e in wanted if e in supported]
        self.not_covered = sorted(e for e in wanted if e not in supported and e != DENY)
        self.has_ner = has_ner and any(e in self.entities for e in NER_ENTITIES)
        self.allow = _matcher(params.allow)
        self.deny = _matcher(params.deny)
        self._kind_entities = {
            kind: [e for e in entities if e in self.entities] for kind, entities in _KIND_ENTITIES.items()
        }
        self._recognizers: dict[str, list[Any]] = {}
        for recognizer in self.analyzer.registry.recognizers:
            for entity in recognizer.supported_entities:
                self._recognizers.setdefault(entity, []).append(recognizer)
        self.found: Counter[str] = Counter()
        self._record_found: Counter[str] = Counter()
        self._cache: OrderedDict[str, tuple[str, tuple[str, ...]]] = OrderedDict()
        self._tools_cache: dict[bytes, tuple[list[Any], tuple[str, ...]]] = {}

    # -- text -----------------------------------------------------------------------------------
    def placeholder(self, entity: str, value: str) -> str:
        digest = hmac.new(self.key, f"{entity}\0{_normalise(entity, value)}".encode(), hashlib.sha256)
        return f"<{entity}_{digest.hexdigest()[:8]}>"

    def _spans(self, text: str) -> list[tuple[int, int, str, float]]:
        """(start, end, entity, score) of every detection in `text`."""
        spans: list[tuple[int, int, str, float]] = []
        if self.deny is not None:
            spans += [(m.start(), m.end(), DENY, 1.0) for m in self.deny.finditer(text) if m.end() > m.start()]
        threshold = self.params.score_threshold
        for start, end, entities in self._windows(text):
            spans += [
                (start + r.start, start + r.end, r.entity_type, r.score)
                for r in self._detect(text[start:end], entities)
                if r.score >= threshold and r.entity_type in entities
            ]
        if self.allow is not None:
            spans = [s for s in spans if not self.allow.fullmatch(text[s[0]:s[1]])]
        return [_whole_url(text, span) if span[2] == "URL" else span for span in spans]

    def _detect(self, window: str, entities: list[str]) -> list[Any]:
        """Presidio's recognizers for `entities` run on `window`. Called directly rather than through
        `AnalyzerEngine.analyze`, whose per-call overhead (registry lookup, NLP pass, result
        bookkeeping) costs more than the recognizers themselves on short windows."""
        from presidio_analyzer import PatternRecognizer

        results: list[Any] = []
        seen: set[int] = set()
        for entity in entities:
            for recognizer in self._recognizers.get(entity, ()):
                if id(recognizer) in seen:
                    continue
                seen.add(id(recognizer))
                if isinstance(recognizer, PatternRecognizer):
                    found = recognizer.analyze(window, entities, None, _REGEX_FLAGS)
                else:
                    found = recognizer.analyze(window, entities, self._nlp_artifacts(window))
                results += found or []
        return results

    def _nlp_artifacts(self, window: str) -> Any:
        return self.analyzer.nlp_engine.process_text(window, "en")

    def _windows(self, text: str) -> list[tuple[int, int, list[str]]]:
        """Short stretches of `text` around candidate spans, with the entity types to look for."""
        if self.has_ner or "-----BEGIN" in text:
            return [(0, len(text), self.entities)]  # names need whole sentences; a PEM block spans lines
        windows: list[tuple[int, int, set[str]]] = []
        for first, last, kind in candidate_spans(text):
            kinds = set(self._kind_entities[kind])
            if not kinds:
                continue
            margin = _MARGIN.get(kind, 2)
            start, end = max(0, first - margin), min(len(text), last + margin)
            while start > 0 and not text[start - 1].isspace():
                start -= 1
            while end < len(text) and not text[end].isspace():
                end += 1
            if windows and start <= windows[-1][1]:
                last = windows[-1]
                windows[-1] = (last[0], max(last[1], end), last[2] | kinds)
            else:
                windows.append((start, end, kinds))
        return [(s, e, sorted(kinds)) for s, e, kinds in windows]

    def scrub_text(self, text: str) -> str:
        """`text` with every detected value replaced by its placeholder."""
        if not text or not self.params.enabled:
            return text
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            scrubbed, kinds = cached
        else:
            scrubbed, kinds = self._replace(text)
            self._cache[text] = (scrubbed, kinds)
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        self._record_found.update(kinds)
        return scrubbed

    def _replace(self, text: str) -> tuple[str, tuple[str, ...]]:
        spans = self._spans(text)
        if not spans:
            return text, ()
        chosen: list[tuple[int, int, str, float]] = []  # longest first, then highest score
        for span in sorted(spans, key=lambda s: (-(s[1] - s[0]), -s[3], s[0])):
            if all(span[1] <= c[0] or span[0] >= c[1] for c in chosen):
                chosen.append(span)
        pieces, last = [], 0
        for start, end, entity, _ in sorted(chosen):
            pieces += [text[last:start], self.placeholder(entity, text[start:end])]
            last = end
        pieces.append(text[last:])
        return "".join(pieces), tuple(c[2] for c in chosen)

    # -- structures -----------------------------------------------------------------------------
    def scrub_value(self, value: Any) -> Any:
        """Every string inside a JSON-like value (dict keys are names, not data: kept)."""
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, list):
            return [self.scrub_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub_value(v) for k, v in value.items()}
        return value

    def scrub_json_text(self, text: str) -> str:
        """A JSON document with its string values scrubbed, still valid JSON (else scrubbed as text)."""
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self.scrub_text(text)
        if not isinstance(parsed, (dict, list)):
            return self.scrub_text(text)
        return orjson.dumps(self.scrub_value(parsed)).decode()

    def _scrub_message(self, message: dict[str, Any]) -> dict[str, Any]:
        out = dict(message)
        if isinstance(out.get("content"), str):
            out["content"] = self.scrub_text(out["content"])
        if out.get("name"):
            out["name"] = self.scrub_text(out["name"])
        if out.get("tool_calls"):
            out["tool_calls"] = [
                {**call, "function": {**call["function"], "arguments": self.scrub_json_text(call["function"]["arguments"])}}
                for call in out["tool_calls"]
            ]
        return out

    def scrub_record(self, record: CallRecord) -> Counter[str]:
        """Scrub every text of `record` in place; returns the entity types found in it."""
        self._record_found = Counter()
        if not self.params.enabled:
            return self._record_found
        record.messages = [self._scrub_message(m) for m in record.messages]
        if record.response is not None:
            record.response = self._scrub_message(record.response)
        if record.tools:
            record.tools = self._scrub_tools(record.tools)
        record.params = self.scrub_value(record.params)
        record.metadata = self.scrub_value(record.metadata)
        for name in ("id", "agent", "trace_id", "error", "model"):
            value = getattr(record, name)
            if isinstance(value, str):
                setattr(record, name, self.scrub_text(value))
        self.found.update(self._record_found)
        return self._record_found

    def _scrub_tools(self, tools: list[Any]) -> list[Any]:
        """Tool schemas come with every call of a call site: scrub each distinct set once."""
        raw = orjson.dumps(tools)
        if raw not in self._tools_cache:
            if len(self._tools_cache) >= _CACHE_SIZE:
                self._tools_cache.clear()
            outer, self._record_found = self._record_found, Counter()
            scrubbed = self.scrub_value(tools)
            self._tools_cache[raw] = (scrubbed, tuple(self._record_found.elements()))
            self._record_found = outer
        scrubbed, kinds = self._tools_cache[raw]
        self._record_found.update(kinds)
        return scrubbed

    def coverage(self) -> dict[str, Any]:
        """What this scrubber detects, and what it cannot (no NLP model for names and addresses)."""
        covered = [e for e in self.entities if e not in NER_ENTITIES or self.has_ner]
        return {
            "entities": covered,
            "not_covered": self.not_covered,
            "ner": self.has_ner,
            "note": None if self.has_ner else (
                "no spaCy model is installed, so person names and street addresses are NOT detected; "
                "install one (e.g. en_core_web_sm) and set curate.scrub.nlp_model"
            ),
        }


def check_entities(params: ScrubParams) -> None:
    known = {*PATTERN_ENTITIES, *SECRET_ENTITIES, *NER_ENTITIES, *OFF_BY_DEFAULT, DENY}
    unknown = sorted((set(params.entities) | set(params.disable)) - known)
    if unknown:
        raise MigrateError(
            f"unknown entity type(s): {', '.join(unknown)}",
            hint=f"known types: {', '.join(sorted(known))}",
        )
