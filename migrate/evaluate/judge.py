"""An optional LLM judge through any OpenAI-compatible endpoint, for answers that string metrics
grade poorly (free text, where a correct paraphrase scores a low chrF).

- pointwise: the judge sees the request, the reference (the LLM's answer in the logs) and one
  answer, and gives a 1-10 score;
- pairwise: the judge sees the request and two answers labelled A and B and names the better one
  or a tie. Which answer is A is drawn per example from a seeded generator, so position bias
  averages out and a rerun asks the same questions; the verdict is mapped back to
  "candidate" / "reference" / "tie".

The judge answers in JSON; a reply it cannot read counts as unjudged, never as a score. The API
key comes only from the environment variable named by `api_key_env`.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

from migrate.evaluate.client import EndpointError, chat_completion, first_message

MESSAGE_CHARS = 4000  # per message shown to the judge

POINTWISE = """You grade an AI assistant's answer to a request. The reference answer is known to be good.
Score the candidate from 1 (wrong or useless) to 10 (as good as the reference: same meaning, same
tool calls and arguments, same format). Reply with JSON only: {"score": <1-10>, "reason": "<one sentence>"}"""

PAIRWISE = """You compare two AI assistant answers, A and B, to the same request. Decide which one
answers it better (correct content, right tool calls and arguments, requested format), or "tie"
when they are equally good. Reply with JSON only: {"winner": "A" | "B" | "tie", "reason": "<one sentence>"}"""


@dataclass
class Judge:
    url: str
    model: str = "gpt-4o-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    seed: int = 0
    timeout: float = 60.0

    def _ask(self, system: str, user: str) -> dict[str, Any] | None:
        body = {"model": self.model, "temperature": 0,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
        try:
            content = first_message(chat_completion(self.url, body, api_key_env=self.api_key_env,
                                                    timeout=self.timeout)).get("content") or ""
        except EndpointError:
            return None
        return _json_object(content)

    def pointwise(self, request: list[dict[str, Any]], reference: dict[str, Any], answer: dict[str, Any]) -> int | None:
        """1-10, or None when the judge's reply could not be read."""
        reply = self._ask(POINTWISE, f"{render_request(request)}\n\n## Reference answer\n{render_answer(reference)}"
                                     f"\n\n## Candidate answer\n{render_answer(answer)}")
        try:
            score = int((reply or {}).get("score"))
        except (TypeError, ValueError):
            return None
        return score if 1 <= score <= 10 else None

    def pairwise(self, example_id: str, request: list[dict[str, Any]], candidate: dict[str, Any],
                 reference: dict[str, Any]) -> str | None:
        """"candidate", "reference" or "tie" (None: unreadable); the order shown is seeded per example."""
        swap = random.Random(f"{self.seed}:{example_id}").random() < 0.5
        first, second = (reference, candidate) if swap else (candidate, reference)
        reply = self._ask(PAIRWISE, f"{render_request(request)}\n\n## Answer A\n{render_answer(first)}"
                                    f"\n\n## Answer B\n{render_answer(second)}")
        winner = str((reply or {}).get("winner", "")).strip().upper()
        if winner == "TIE":
            return "tie"
        if winner not in ("A", "B"):
            return None
        return "candidate" if (winner == "A") != swap else "reference"

    def judge(self, cases: list[Any], answers: list[dict[str, Any]], limit: int) -> dict[str, Any]:
        """Pointwise scores and pairwise verdicts (candidate vs the reference) on the first `limit`
        cases; aggregated, with the per-example verdicts keyed by case id."""
        scores, verdicts, rows = [], [], {}
        for case, answer in list(zip(cases, answers))[:limit]:
            score = self.pointwise(case.chat.messages, case.reference, answer)
            verdict = self.pairwise(case.id, case.chat.messages, answer, case.reference)
            rows[case.id] = {"judge_score": score, "judge_verdict": verdict}
            scores += [score] if score is not None else []
            verdicts += [verdict] if verdict is not None else []
        n = len(verdicts)
        return {
            "model": self.model,
            "judged": len(rows),
            "score_mean": round(sum(scores) / len(scores), 3) if scores else None,
            "win_rate": round(verdicts.count("candidate") / n, 4) if n else None,
            "tie_rate": round(verdicts.count("tie") / n, 4) if n else None,
            "loss_rate": round(verdicts.count("reference") / n, 4) if n else None,
            "unreadable": 2 * len(rows) - len(scores) - n,
            "per_example": rows,
        }


def render_request(messages: list[dict[str, Any]]) -> str:
    parts = ["## Request"]
    for message in messages:
        parts.append(f"### {message.get('role', '?')}\n{render_answer(message)}")
    return "\n".join(parts)


def render_answer(message: dict[str, Any]) -> str:
    """An assistant message (or any message) as text: its content and one line per tool call."""
    lines = [str(message.get("content") or "")[:MESSAGE_CHARS]] if message.get("content") else []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or call
        lines.append(f"[tool call] {function.get('name')}({str(function.get('arguments'))[:MESSAGE_CHARS]})")
    return "\n".join(lines) or "(empty)"


def _json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in the judge's reply (models like to wrap it in prose or fences)."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if not match:
        return None
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
