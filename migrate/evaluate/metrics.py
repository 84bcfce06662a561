"""Metrics that fit a cluster's output kind, per example and aggregated.

Every scorer takes the reference and the predicted assistant message in the shape of
`migrate.evaluate.parse` (`content`, `tool_calls` with `name` and `arguments` as a JSON string,
`parse_error`) and returns a flat dict of floats; None means "does not apply to this example" and
is left out of the mean. JSON is always compared parsed (`parse.canonical`), so key order and
whitespace never count as errors.

- tool calls: `name_accuracy` (the same functions called), `exact_match` (names and parsed
  arguments; the order of parallel calls ignored), `arg_f1` (over (function, argument, value)
  triples), `schema_validity` (every call names an offered function and its arguments validate
  against that function's JSON schema), `parse_rate`;
- JSON: `parse_rate`, `schema_validity` (against the request's `response_format` JSON schema when
  it has one, else the reference's top-level keys), `field_f1` (over flattened leaf paths),
  `exact_match`;
- labels: `accuracy` and `macro_f1` (over the reference's classes) after normalising case,
  whitespace, quotes and a final period: `Billing.` is `billing`;
- free text and code: `chrf` (sacrebleu's chrF, 0-100; corpus-level when aggregated), `length_ratio`
  (predicted / reference characters), `exact_match`.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

from migrate.errors import MigrateError
from migrate.evaluate.parse import canonical, loads_arguments, loads_json

METRICS: dict[str, tuple[str, ...]] = {
    "tool_call": ("exact_match", "name_accuracy", "arg_f1", "schema_validity", "parse_rate"),
    "json": ("field_f1", "exact_match", "parse_rate", "schema_validity"),
    "label": ("accuracy", "macro_f1"),
    "text": ("chrf", "length_ratio", "exact_match"),
}


def family(kind: str | None) -> str:
    """Which scorer a cluster's output kind uses: code and every kind of text are scored as text."""
    return kind if kind in ("tool_call", "json", "label") else "text"


def score_example(kind: str | None, reference: dict[str, Any], prediction: dict[str, Any], *,
                  tools: list[dict[str, Any]] | None = None, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The per-example scores of `prediction` against `reference` for a cluster of `kind`."""
    fam = family(kind)
    if fam == "tool_call":
        return score_tool_calls(reference, prediction, tools)
    if fam == "json":
        return score_json(reference, prediction, schema)
    if fam == "label":
        return score_label(reference, prediction)
    return score_text(reference, prediction)


def aggregate(kind: str | None, references: list[dict[str, Any]], predictions: list[dict[str, Any]],
              scores: list[dict[str, Any]]) -> dict[str, float | None]:
    """The cluster-level metrics of `METRICS[family(kind)]`: means of the per-example scores,
    except macro-F1, corpus chrF and the length ratio, which need all examples at once."""
    fam = family(kind)
    out = {name: _mean(row.get(name) for row in scores) for name in METRICS[fam]}
    if fam == "label":
        out["macro_f1"] = macro_f1([normalise_label(r.get("content")) for r in references],
                                   [normalise_label(p.get("content")) for p in predictions])
    elif fam == "text":
        refs = [r.get("content") or "" for r in references]
        preds = [p.get("content") or "" for p in predictions]
        out["chrf"] = round(_chrf().corpus_score(preds, [refs]).score, 2) if refs else None
        total = sum(len(r) for r in refs)
        out["length_ratio"] = round(sum(len(p) for p in preds) / total, 4) if total else None
    return out


# -- tool calls ---------------------------------------------------------------------------------
def score_tool_calls(reference: dict[str, Any], prediction: dict[str, Any],
                     tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    ref_calls, pred_calls = reference.get("tool_calls") or [], prediction.get("tool_calls") or []
    ref_names = sorted(str(c.get("name")) for c in ref_calls)
    names_match = ref_names == sorted(str(c.get("name")) for c in pred_calls)
    ref_pairs, pred_pairs = Counter(map(_call_key, ref_calls)), Counter(map(_call_key, pred_calls))
    exact = names_match and None not in pred_pairs and ref_pairs == pred_pairs
    ref_triples, pred_triples = _triples(ref_calls), _triples(pred_calls)
    if not ref_triples and not pred_triples:
        arg_f1 = 1.0 if exact else 0.0
    else:
        arg_f1 = _f1(ref_triples, pred_triples)
    if pred_calls:
        validity: float | None = float(all(call_is_valid(c, tools) for c in pred_calls))
    else:
        validity = 0.0 if ref_calls else None  # a missing call is not a valid one
    return {"name_accuracy": float(names_match), "exact_match": float(exact), "arg_f1": arg_f1,
            "schema_validity": validity, "parse_rate": float(not prediction.get("parse_error"))}


def call_is_valid(call: dict[str, Any], tools: list[dict[str, Any]] | None) -> bool:
    """The call names an offered function and its arguments are an object that satisfies the
    function's `parameters` JSON schema (required keys present, types right)."""
    schemas = {}
    for tool in tools or []:
        function = tool.get("function") or tool
        schemas[function.get("name")] = function.get("parameters") or {"type": "object"}
    arguments, ok = loads_arguments(call.get("arguments"))
    if not ok or call.get("name") not in schemas:
        return False
    return validates(arguments, schemas[call["name"]])


def validates(value: Any, schema: dict[str, Any]) -> bool:
    """Whether `value` satisfies the JSON `schema` (its own draft, else 2020-12); a schema that
    is itself broken counts as satisfied rather than blaming the model for it."""
    jsonschema = _jsonschema()
    try:
        cls = jsonschema.validators.validator_for(schema)
        return cls(schema).is_valid(value)
    except (jsonschema.exceptions.SchemaError, TypeError, ValueError):
        return True


def _call_key(call: dict[str, Any]) -> tuple[str, str] | None:
    arguments, ok = loads_arguments(call.get("arguments"))
    return (str(call.get("name")), canonical(arguments)) if ok else None


def _triples(calls: list[dict[str, Any]]) -> Counter:
    triples: Counter = Counter()
    for call in calls:
        arguments, ok = loads_arguments(call.get("arguments"))
        if ok:
            triples.update((str(call.get("name")), key, canonical(value)) for key, value in arguments.items())
    return triples


# -- JSON ---------------------------------------------------------------------------------------
def score_json(reference: dict[str, Any], prediction: dict[str, Any],
               schema: dict[str, Any] | None = None) -> dict[str, Any]:
    ref, ref_ok = loads_json(reference.get("content"))
    pred, pred_ok = loads_json(prediction.get("content"))
    if not ref_ok:  # a reference that is not JSON: only an identical answer is right
        same = (reference.get("content") or "").strip() == (prediction.get("content") or "").strip()
        return {"parse_rate": float(pred_ok), "schema_validity": None, "field_f1": float(same), "exact_match": float(same)}
    if not pred_ok:
        return {"parse_rate": 0.0, "schema_validity": 0.0, "field_f1": 0.0, "exact_match": 0.0}
    if schema is not None:
        valid = validates(pred, schema)
    elif isinstance(ref, dict):
        valid = isinstance(pred, dict) and set(pred) == set(ref)
    else:
        valid = type(pred) is type(ref)
    return {"parse_rate": 1.0, "schema_validity": float(valid),
            "field_f1": _f1(Counter(flatten(ref)), Counter(flatten(pred))),
            "exact_match": float(canonical(ref) == canonical(pred))}


def flatten(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, canonical leaf) pairs: objects by key, lists of objects or lists by index, other
    lists (tags, ids) as one leaf."""
    if isinstance(value, dict):
        if not value:
            return [(path, "{}")]
        return [pair for key, item in value.items() for pair in flatten(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        return [pair for index, item in enumerate(value) for pair in flatten(item, f"{path}[{index}]")]
    return [(path, canonical(value))]


# -- labels -------------------------------------------------------------------------------------
def normalise_label(text: str | None) -> str:
    label = " ".join((text or "").split()).strip().strip("`'\"").strip()
    return label.rstrip(".").strip().casefold()


def score_label(reference: dict[str, Any], prediction: dict[str, Any]) -> dict[str, Any]:
    same = normalise_label(reference.get("content")) == normalise_label(prediction.get("content"))
    return {"accuracy": float(same), "macro_f1": None}


def macro_f1(truth: list[str], predicted: list[str]) -> float | None:
    """Mean F1 over the classes of `truth`: a predicted label no reference has costs recall of
    the true class, without adding classes that would dilute the mean."""
    classes = sorted(set(truth))
    if not classes:
        return None
    scores = []
    for label in classes:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return round(sum(scores) / len(scores), 4)


# -- free text ----------------------------------------------------------------------------------
def score_text(reference: dict[str, Any], prediction: dict[str, Any]) -> dict[str, Any]:
    ref, pred = reference.get("content") or "", prediction.get("content") or ""
    return {"chrf": round(_chrf().sentence_score(pred, [ref]).score, 2),
            "length_ratio": round(len(pred) / len(ref), 4) if ref else None,
            "exact_match": float(ref.strip() == pred.strip())}


@lru_cache(maxsize=1)
def _chrf() -> Any:
    try:
        from sacrebleu.metrics import CHRF
    except ImportError:
        raise MigrateError("scoring free text needs sacrebleu (chrF)", hint="pip install sacrebleu") from None
    return CHRF()


def _jsonschema() -> Any:
    try:
        import jsonschema
    except ImportError:
        raise MigrateError("checking tool calls against their schema needs jsonschema",
                           hint="pip install jsonschema") from None
    return jsonschema


# -- helpers ------------------------------------------------------------------------------------
def _f1(reference: Counter, predicted: Counter) -> float:
    if not reference and not predicted:
        return 1.0
    hits = sum((reference & predicted).values())
    if not hits:
        return 0.0
    precision, recall = hits / sum(predicted.values()), hits / sum(reference.values())
    return round(2 * precision * recall / (precision + recall), 4)


def _mean(values: Any) -> float | None:
    known = [float(v) for v in values if v is not None]
    return round(sum(known) / len(known), 4) if known else None
