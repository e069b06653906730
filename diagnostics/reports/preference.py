"""Pairwise preference: an LLM judge over an OpenAI-compatible endpoint says which of two answers is better.

Each case is judged twice, with the answers in both orders, so a judge that favours the first (or second) position
cancels out: per order B scores 1 (preferred), 0.5 (tie) or 0; the case's score is the mean of its two orders.
The win rate of B is the mean case score, with a percentile bootstrap interval over cases, overall and per segment.
A case whose two orders pick the same position (B in one order, A in the other) is counted as position-inconsistent.
A reply that names neither answer is left out and counted; when no case has a usable verdict the result is
inconclusive, never a win. The endpoint, its model and its headers are configured like a generation endpoint: header
values come from environment variables named in ``EndpointConfig.header_env``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from diagnostics.reports.generation import EndpointConfig, Prompt, generate

SYSTEM = (
    "You are an impartial judge of answer quality. Read the user's request and two answers. Decide which answer "
    "serves the request better: correct, helpful, complete and honest; do not prefer an answer for its length or "
    "for coming first. Reply with exactly one token: 1 if the first answer is better, 2 if the second is, or tie."
)
RESAMPLES = 2000
_VERDICT = re.compile(r"\b(1|2|tie)\b", re.IGNORECASE)


def judge_messages(prompt: str | None, first: str, second: str) -> list[dict]:
    request = prompt if prompt else "(not given: judge the answers on their own)"
    user = (
        f"[Request]\n{request}\n\n[Answer 1]\n{first}\n\n[Answer 2]\n{second}\n\nWhich answer is better: 1, 2 or tie?"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> str | None:
    """ "1", "2", "tie", or None when the reply names neither answer."""
    match = _VERDICT.search(text or "")
    return match.group(1).lower() if match else None


def _score_for_b(verdict: str | None, b_position: int) -> float | None:
    if verdict is None:
        return None
    if verdict == "tie":
        return 0.5
    return 1.0 if int(verdict) == b_position else 0.0


def _interval(scores: np.ndarray, seed: int, alpha: float = 0.05) -> list[float | None]:
    if scores.size == 0:
        return [None, None]
    rng = np.random.default_rng(seed)
    means = scores[rng.integers(0, scores.size, size=(RESAMPLES, scores.size))].mean(axis=1)
    lo, hi = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return [round(float(lo), 4), round(float(hi), 4)]


def _summary(scores: np.ndarray, seed: int) -> dict:
    return {
        "n": int(scores.size),
        "win_rate_b": round(float(scores.mean()), 4) if scores.size else None,
        "ci": _interval(scores, seed),
        "b_better": int((scores > 0.5).sum()),
        "a_better": int((scores < 0.5).sum()),
        "even": int((scores == 0.5).sum()),
    }


def preference_judge(
    frame: pd.DataFrame,
    config: EndpointConfig,
    *,
    segment_fields: Sequence[str] = (),
    labels: tuple[str, str] = ("A", "B"),
    seed: int = 0,
) -> dict:
    """Judge every case of the engine's frame (first sample per case) in both orders; see the module doc.

    Raises ``GenerationError`` when the endpoint fails after its retries.
    """
    cases = frame.drop_duplicates("case_id").reset_index(drop=True)
    prompts = cases["prompt"] if "prompt" in cases.columns else pd.Series([None] * len(cases))
    requests = []
    for i, row in cases.iterrows():
        prompt = prompts.iloc[i] if isinstance(prompts.iloc[i], str) else None
        # Order 0 shows A first (B in position 2), order 1 shows B first (B in position 1).
        requests.append(
            Prompt(key=(i, 0), text=json.dumps(judge_messages(prompt, row.output_a, row.output_b)), sample=0)
        )
        requests.append(
            Prompt(key=(i, 1), text=json.dumps(judge_messages(prompt, row.output_b, row.output_a)), sample=1)
        )
    verdicts: dict[tuple[int, int], str | None] = {}
    for answer in generate(config, requests):
        verdicts[answer.key] = parse_verdict(answer.text)
    per_case = np.full(len(cases), np.nan)
    inconsistent = unparsed = 0
    for i in range(len(cases)):
        first = _score_for_b(verdicts.get((i, 0)), b_position=2)
        second = _score_for_b(verdicts.get((i, 1)), b_position=1)
        unparsed += (first is None) + (second is None)
        if first is None or second is None:
            continue
        per_case[i] = (first + second) / 2
        # The same position won both times: the verdict followed the order, not the answers.
        inconsistent += {first, second} == {0.0, 1.0}
    judged = ~np.isnan(per_case)
    overall = _summary(per_case[judged], seed)
    segments = []
    for name in segment_fields:
        values = cases[name].astype(object).where(cases[name].notna(), "(missing)").astype(str)
        for value in sorted(values.unique()):
            mask = judged & (values == value).to_numpy()
            segments.append({"field": name, "value": value, **_summary(per_case[mask], seed)})
    verdict = "inconclusive" if overall["n"] == 0 else _verdict(overall)
    label_a, label_b = labels
    if overall["n"]:
        lo, hi = overall["ci"]
        summary = (
            f"{label_b} preferred in {overall['win_rate_b']:.1%} of {overall['n']} cases (95% CI {lo:.1%} to {hi:.1%}; "
            f"{label_b} better {overall['b_better']}, {label_a} better {overall['a_better']}, even {overall['even']}); "
            f"{inconsistent} case(s) followed the answer order, {unparsed} reply(ies) unusable."
        )
    else:
        summary = f"inconclusive: no usable verdict ({unparsed} reply(ies) named neither answer)."
    return {
        "judge": config.model,
        "verdict": verdict,
        **overall,
        "position_inconsistent": inconsistent,
        "unparsed": unparsed,
        "segments": segments,
        "summary": summary,
    }


def _verdict(overall: dict) -> str:
    """B better or worse only when the interval excludes an even split."""
    lo, hi = overall["ci"]
    if lo is not None and lo > 0.5:
        return "b_preferred"
    if hi is not None and hi < 0.5:
        return "a_preferred"
    return "no_clear_preference"
