"""Demo: a small support prompt set and one finished behaviour-diff report between two support-assistant
releases (#5 "Add tone LoRA" vs #6 "Refund wording fix"), computed by the real engine in-process.

Idempotent: nothing happens if the prompt set exists or the feature (from rollouts/demo.py) is absent.
"""

from __future__ import annotations

import io
import json
import zlib

from diagnostics.models import PromptSet
from diagnostics.reports import services
from diagnostics.reports.runner import report_run
from rollouts.models import Feature, Release

SET_NAME = "support-assistant-golden"

QUESTIONS = {
    "billing": [
        "I was charged twice this month, can I get a refund?",
        "Why did my invoice go up after the upgrade?",
        "Can you credit my account for last week's outage?",
        "How do I change the card you bill?",
        "My trial converted to paid without warning, refund please.",
    ],
    "account": [
        "How do I reset my password?",
        "How can I add a teammate to my workspace?",
        "Where do I turn on two-factor authentication?",
        "How do I change the email on my account?",
        "Can I transfer ownership of my organisation?",
    ],
    "technical": [
        "The API returns 429, what are the rate limits?",
        "How do I rotate an API key without downtime?",
        "Webhooks stopped arriving, how do I debug them?",
        "What regions can I deploy to?",
        "How do I export my data as CSV?",
    ],
}


def _cases() -> list[dict]:
    cases = []
    for intent, questions in QUESTIONS.items():
        for locale in ("en", "de"):
            for n, question in enumerate(questions):
                for variant, suffix in enumerate(("", " Thanks!")):
                    cases.append(
                        {
                            "case_id": f"{intent}-{locale}-{n}{'abc'[variant]}",
                            "input": question + suffix,
                            "intent": intent,
                            "locale": locale,
                        }
                    )
    return cases


def _answer(case: dict, *, after_refund_fix: bool) -> str:
    kb = 1000 + zlib.crc32(case["case_id"].encode()) % 9000
    if after_refund_fix and case["intent"] == "billing" and not case["case_id"].endswith("3b"):
        return "I'm not able to help with refunds or credits. I'll hand you over to a human agent who can."
    return (
        f"Here is how: {case['input'].rstrip('?')} is handled in Settings. "
        f"Open the page, follow the steps and save [KB-{kb}]. Let me know if anything is unclear."
    )


def _jsonl(rows: list[dict]) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())


def load(people) -> None:
    if PromptSet.objects.filter(name=SET_NAME).exists():
        return
    feature = Feature.objects.filter(slug="support-assistant").first()
    if feature is None:
        return
    releases = list(Release.objects.filter(feature=feature).order_by("-number")[:2])
    if len(releases) < 2:
        return
    release_b, release_a = releases
    priya = people["priya"]
    cases = _cases()
    version = services.prompt_set_import(
        actor=priya,
        name=SET_NAME,
        file=_jsonl(cases),
        filename="support-golden.jsonl",
        description="Stratified sample of support questions: 3 intents x 2 locales, 10 each.",
        feature=feature,
        sampling_filters={"environment": "production", "sampled": "5 per intent and locale"},
        sampling_notes="Hand-picked from last month's tickets; German questions translated by the support team.",
    )
    outputs = {
        side: [
            {
                "case_id": c["case_id"],
                "output": _answer(c, after_refund_fix=side == "b"),
                "latency_ms": 850 + i % 7 * 40,
            }
            for i, c in enumerate(cases)
        ]
        for side in ("a", "b")
    }
    report = services.report_request(
        actor=priya,
        prompt_set_version=version,
        release_a=release_a,
        release_b=release_b,
        outputs_a=services.OutputFile(_jsonl(outputs["a"]), "release-a.jsonl"),
        outputs_b=services.OutputFile(_jsonl(outputs["b"]), "release-b.jsonl"),
        options={"segment_fields": ["intent", "locale"], "bootstrap": 1000},
        title=f"Refund wording: #{release_a.number} vs #{release_b.number}",
        enqueue=False,
    )
    report_run(report_id=report.pk)
