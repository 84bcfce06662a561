"""Evaluate one cluster: three models answer the same test cases, then scores, speed, cost and
the pass/fail decision are gathered into the record written as `DIR/eval/<cluster>.json`.

The three models are the specialist (base + the cluster's LoRA adapter), the base zero-shot
(same prompt, adapter off) and the base few-shot (k training conversations inserted after the
system prompt): what fine-tuning bought over prompting alone. Only the specialist decides
pass/fail; the baselines are evidence. `decide` is separate so that a skipped cluster can be
re-decided under new thresholds without generating again.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from migrate import __version__
from migrate.errors import MigrateError
from migrate.evaluate import metrics
from migrate.evaluate.backends import Backend, Generation, Target
from migrate.evaluate.cases import Case, load_cases, pick_shots, with_shots
from migrate.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from migrate.evaluate import EvaluateParams, Thresholds
    from migrate.evaluate.judge import Judge

MODELS = ("specialist", "base_zero_shot", "base_few_shot")
PER_EXAMPLE_ROWS = 50


def evaluate_cluster(info: dict[str, Any], target: Target, dataset_dir: Any, backend: Backend,
                     params: EvaluateParams, *, judge: Judge | None = None,
                     progress: ProgressFn = no_progress) -> dict[str, Any]:
    """The eval record of one cluster (see `migrate.evaluate` for the contract)."""
    from migrate.finetune.examples import load_splits

    kind = (info.get("output") or {}).get("kind")
    splits = load_splits(dataset_dir)
    cases, total = load_cases(splits, params.limit, params.seed)
    if not cases:
        raise MigrateError(f"{dataset_dir}: no test examples to evaluate on",
                           hint="rebuild the dataset with a test split (`slm-migrate datasets --force`)")
    shots = pick_shots(splits, params.few_shot, params.seed)
    plain = [case.chat for case in cases]
    runs = {
        "specialist": (target, plain),
        "base_zero_shot": (replace(target, use_adapter=False), plain),
        "base_few_shot": (replace(target, use_adapter=False), [with_shots(chat, shots) for chat in plain]),
    }
    models: dict[str, dict[str, Any]] = {}
    scores: dict[str, list[dict[str, Any]]] = {}
    answers: dict[str, list[Generation]] = {}
    for name, (model_target, chats) in runs.items():
        backend.prepare(model_target)
        began = time.perf_counter()
        generations = backend.generate(model_target, chats, max_new_tokens=params.max_new_tokens,
                                       batch_size=params.batch_size, progress=progress)
        seconds = time.perf_counter() - began
        answers[name] = generations
        scores[name] = [metrics.score_example(kind, case.reference, g.message, tools=case.chat.tools, schema=case.schema)
                        for case, g in zip(cases, generations)]
        models[name] = {**metrics.aggregate(kind, [c.reference for c in cases], [g.message for g in generations],
                                            scores[name]),
                        **speed(generations, seconds)}
    judged = None
    if judge is not None:
        judged = judge.judge(cases, [g.message for g in answers["specialist"]], params.judge_limit)
        models["specialist"]["judge_score"] = judged["score_mean"]
        models["specialist"]["judge_win_rate"] = judged["win_rate"]
    record: dict[str, Any] = {
        "cluster": target.cluster,
        "name": info.get("name"),
        "kind": kind,
        "passed": False, "metric": None, "value": None, "threshold": None,
        "models": models,
        "specialist": {"adapter": str(target.adapter), "base_model": target.base_model, "base_path": target.base_path},
        "examples": len(cases),
        "test_examples": total,
        "few_shot": len(shots),
        "cost": cost(info, models["specialist"], params.slm_cost_per_1k_tokens),
        "judge": {k: v for k, v in judged.items() if k != "per_example"} if judged else None,
        "params": {"backend": params.backend, "limit": params.limit, "few_shot": params.few_shot,
                   "max_new_tokens": params.max_new_tokens, "batch_size": params.batch_size, "seed": params.seed},
        "tool_version": __version__,
        "per_example": per_example(cases, answers, scores, (judged or {}).get("per_example") or {}),
    }
    return decide(record, params.thresholds)


def decide(record: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """`record` with `passed`, `metric`, `value` and `threshold` set from the specialist's
    metrics and the threshold of the cluster's kind; a missing value fails."""
    rule = thresholds.for_kind(record.get("kind"))
    value = ((record.get("models") or {}).get("specialist") or {}).get(rule.metric)
    return {**record, "passed": value is not None and value >= rule.min, "metric": rule.metric,
            "value": value, "threshold": rule.min}


def speed(generations: list[Generation], seconds: float) -> dict[str, Any]:
    """Latency percentiles per call, throughput, token counts and failed requests."""
    import numpy as np

    latencies = [g.latency_ms for g in generations if g.error is None]
    completion = [g.completion_tokens for g in generations if g.completion_tokens is not None]
    prompt = [g.prompt_tokens for g in generations if g.prompt_tokens is not None]
    return {
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
        "tokens_per_second": round(sum(completion) / seconds, 2) if completion and seconds > 0 else None,
        "prompt_tokens_mean": round(sum(prompt) / len(prompt), 1) if prompt else None,
        "completion_tokens_mean": round(sum(completion) / len(completion), 1) if completion else None,
        "seconds": round(seconds, 3),
        "errors": sum(g.error is not None for g in generations),
    }


def cost(info: dict[str, Any], specialist: dict[str, Any], per_1k: float | None) -> dict[str, Any]:
    """The LLM's cost per call (from the analysis) against serving the SLM: the specialist's
    measured tokens per call at `per_1k` USD per 1,000 tokens, or at the price table's `slm`
    entry when unset."""
    llm = (info.get("cost") or {}).get("per_call_usd")
    prompt, completion = specialist.get("prompt_tokens_mean"), specialist.get("completion_tokens_mean")
    slm = None
    if prompt is not None and completion is not None:
        if per_1k is not None:
            slm = (prompt + completion) * per_1k / 1000
        else:
            from migrate.analyze.cost import PriceTable

            price = PriceTable().slm
            slm = (prompt * price.input + completion * price.output) / 1_000_000
    saving = llm - slm if llm is not None and slm is not None else None
    monthly = (info.get("cost") or {}).get("monthly_llm_usd")
    return {
        "llm_per_call_usd": llm,
        "slm_per_call_usd": round(slm, 10) if slm is not None else None,
        "saving_per_call_usd": round(saving, 10) if saving is not None else None,
        "saving_share": round(saving / llm, 4) if saving is not None and llm else None,
        "monthly_llm_usd": monthly,
        "monthly_savings_usd": round(monthly * saving / llm, 4) if monthly and saving is not None and llm else None,
    }


def per_example(cases: list[Case], answers: dict[str, list[Generation]], scores: dict[str, list[dict[str, Any]]],
                judged: dict[str, Any]) -> list[dict[str, Any]]:
    """The first rows, for reading and for the report: reference, each model's answer, scores."""
    rows = []
    for index, case in enumerate(cases[:PER_EXAMPLE_ROWS]):
        row = {"id": case.id, "reference": compact(case.reference),
               "predictions": {m: compact(answers[m][index].message, answers[m][index].error) for m in answers},
               "scores": {m: scores[m][index] for m in scores}}
        if case.id in judged:
            row["judge"] = judged[case.id]
        rows.append(row)
    return rows


def compact(message: dict[str, Any], error: str | None = None) -> dict[str, Any]:
    """A message without its empty fields: `content`, `tool_calls` (name, arguments), errors."""
    out: dict[str, Any] = {"content": message.get("content")}
    if message.get("tool_calls"):
        out["tool_calls"] = [{"name": c.get("name"), "arguments": c.get("arguments")} for c in message["tool_calls"]]
    if message.get("parse_error"):
        out["parse_error"] = message["parse_error"]
    if error:
        out["error"] = error
    return out
