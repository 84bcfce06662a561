"""A Presidio analyzer that runs offline, plus our recognizers for secrets.

Presidio's pattern and checksum recognizers (email, phone via `phonenumbers`, credit card with
Luhn, IBAN, IP, US SSN, URL, crypto wallets, ...) need no NLP model: they run on Presidio's
`NoOpNlpEngine`, with context-word boosting switched off (it needs lemmas that no model gives).
Named entities (PERSON, LOCATION) need a spaCy model; when one is installed and named, it is used.
Two network traps are closed: tldextract (used to validate emails) would fetch the Public Suffix
List on first use, and spaCy would try to download a missing model.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

# Secrets: providers' key formats, bearer headers, PEM blocks, and high-entropy key=value values.
# The registry compiles patterns with IGNORECASE; `(?-i:...)` keeps case-sensitive prefixes exact.
SECRET_PATTERNS: dict[str, list[tuple[str, float]]] = {
    "OPENAI_API_KEY": [(r"(?-i:(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-]))", 0.9)],
    "AWS_ACCESS_KEY_ID": [(r"(?-i:\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b)", 0.9)],
    "GITHUB_TOKEN": [
        (r"(?-i:\bgh[pousr]_[A-Za-z0-9]{36,255}\b)", 0.95),
        (r"(?-i:\bgithub_pat_[A-Za-z0-9_]{22,255}\b)", 0.95),
    ],
    "SLACK_TOKEN": [(r"(?-i:\bxox[baprs]-[A-Za-z0-9-]{10,250})", 0.9), (r"(?-i:\bxapp-\d-[A-Za-z0-9-]{10,250})", 0.9)],
    "JWT": [(r"(?-i:\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,})", 0.9)],
    "BEARER_TOKEN": [(r"\bbearer\s+\K[A-Za-z0-9._~+/-]{12,}=*", 0.8)],
    "PRIVATE_KEY": [(
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----.{0,20000}?"
        r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----", 1.0,
    )],
}
SECRET_ENTITIES = (*SECRET_PATTERNS, "SECRET")

_KEY_NAMES = (
    r"[A-Za-z0-9_.-]*?(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?)"
)
_KEY_VALUE = (
    r"(?<![A-Za-z0-9])" + _KEY_NAMES + r"[\"']?\s{0,3}(?:=|:|=>)\s{0,3}[\"']?"
    r"(?:(?:bearer|basic|token)\s+)?\K[^\s\"'`,;<>()\[\]{}]{6,512}"
)
_NOT_SECRETS = {"none", "null", "true", "false", "changeme", "redacted", "xxxxxxxx", "password",
                "secret", "token", "your_api_key", "<redacted>"}


def shannon_entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


def _make_key_value_recognizer(min_entropy: float = 3.0):
    from presidio_analyzer import Pattern, PatternRecognizer

    class KeyValueSecretRecognizer(PatternRecognizer):
        """`password=...`, `"api_key": "..."`, `TOKEN: ...`: the span is the value only."""

        def validate_result(self, pattern_text: str) -> bool | None:
            value = pattern_text
            if (value.lower() in _NOT_SECRETS or value.startswith(("${", "$(", "%", "{{", "<", "-----"))
                    or set(value) <= set("*xX.-_") or (value.isalpha() and value.islower())):
                return False  # a placeholder, an env reference or a plain word
            return True if shannon_entropy(value) >= min_entropy else None  # None keeps the base score

    return KeyValueSecretRecognizer(
        supported_entity="SECRET", name="KeyValueSecretRecognizer",
        patterns=[Pattern("key_value_secret", _KEY_VALUE, 0.6)],
    )


def _offline_tldextract() -> None:
    """Make tldextract use its bundled suffix list instead of fetching one over the network."""
    import tldextract
    import tldextract.tldextract as module

    module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _nlp_engine(model: str | None) -> tuple[Any, bool]:
    """(Presidio NLP engine, whether it does named-entity recognition)."""
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    if model:
        import spacy

        if spacy.util.is_package(model):
            from presidio_analyzer.nlp_engine import SpacyNlpEngine

            engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
            engine.nlp = {"en": spacy.load(model)}  # set by hand: load() would try to download
            return engine, True
    engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    engine.load()
    return engine, False


def build_analyzer(phone_regions: list[str], nlp_model: str | None = None) -> tuple[Any, bool]:
    """(AnalyzerEngine with predefined + secret recognizers, whether NER is available)."""
    import logging

    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    _offline_tldextract()

    class NoContextEnhancer(ContextAwareEnhancer):
        def __init__(self) -> None:
            super().__init__(0, 0, 0, 0)

        def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
            return raw_results

    nlp, has_ner = _nlp_engine(nlp_model)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(PhoneRecognizer(supported_regions=tuple(phone_regions)))
    for entity, patterns in SECRET_PATTERNS.items():
        registry.add_recognizer(PatternRecognizer(
            supported_entity=entity, name=f"{entity.title().replace('_', '')}Recognizer",
            patterns=[Pattern(f"{entity}_{i}", regex, score) for i, (regex, score) in enumerate(patterns)],
        ))
    registry.add_recognizer(_make_key_value_recognizer())
    analyzer = AnalyzerEngine(
        registry=registry, nlp_engine=nlp, supported_languages=["en"],
        context_aware_enhancer=None if has_ner else NoContextEnhancer(),
    )
    return analyzer, has_ner
