"""Builders for behaviour-diff tests: two releases of a feature, prompt sets and output files."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from diagnostics.reports import services
from diagnostics.reports.runner import RUNNER
from rollouts.models import Feature
from rollouts.registry import services as rollouts_services


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def cases(n: int = 6) -> list[dict]:
    return [
        {"case_id": f"c{i}", "input": f"question {i}", "locale": "en" if i % 2 else "de", "tier": "free"}
        for i in range(n)
    ]


def outputs(n: int = 6, text=lambda i: f"answer {i}", **extra) -> list[dict]:
    return [{"case_id": f"c{i}", "output": text(i), **extra} for i in range(n)]


def report_form(version, releases, a: bytes, b: bytes, *, names=("a.jsonl", "b.jsonl"), **extra) -> dict:
    """What the "request a report" form posts for two uploaded output files (extra fields as given)."""
    return {
        "prompt_set_version": version.pk,
        "release_a": releases[0].pk,
        "release_b": releases[1].pk,
        "source": "upload",
        "samples": 1,
        "alpha": 0.05,
        "outputs_a": upload(names[0], a),
        "outputs_b": upload(names[1], b),
        **extra,
    }


@pytest.fixture
def releases(admin_user, team):
    feature = Feature.objects.create(slug="support-assistant", name="Support assistant", team=team)
    prompt, _ = rollouts_services.prompt_version_register(actor=admin_user, name="support", system_prompt="Be kind.")
    found = []
    for snapshot in ("gpt-4-0314", "gpt-4-0613"):
        model, _ = rollouts_services.model_version_register(
            actor=admin_user, provider="openai", requested_alias="gpt-4", resolved_snapshot=snapshot
        )
        release, _ = rollouts_services.release_create(actor=admin_user, feature=feature, model=model, prompt=prompt)
        found.append(release)
    return found


@pytest.fixture
def prompt_set_version(responder):
    def make(rows: list[dict] | None = None, name: str = "support-golden"):
        return services.prompt_set_import(
            actor=responder, name=name, file=io.BytesIO(jsonl(rows or cases())), filename="cases.jsonl"
        )

    return make


def contract_result(n_cases: int = 6, verdict: str = "regression") -> dict:
    """A report shaped like the engine's (diagnostics.behaviour.engine.analyse) output, with known content."""
    return {
        "n_cases": n_cases,
        "k_samples": 1,
        "verdict": verdict,
        "reason": "refusal rose in locale=de",
        "metrics": [
            {
                "name": "refusal",
                "kind": "binary",
                "direction": "up_is_worse",
                "verdict": "regression",
                "effect": 0.5,
                "ci": [0.2, 0.8],
                "p_value": 0.01,
                "p_adjusted": 0.02,
                "mean_a": 0.0,
                "mean_b": 0.5,
                "reason": "3 answers became refusals, none stopped",
            },
            {
                "name": "length_chars",
                "kind": "continuous",
                "verdict": "no_significant_change",
                "effect": 1.5,
                "ci": [-2.0, 4.0],
                "p_value": 0.6,
                "p_adjusted": 0.6,
                "mean_a": 8.0,
                "mean_b": 9.5,
                "reason": "within noise",
            },
        ],
        "flip_matrices": {"refusal": {"both_false": 3, "a_only": 0, "b_only": 3, "both_true": 0}},
        "segments": [
            {
                "field": "locale",
                "value": "de",
                "n": 3,
                "metric": "refusal",
                "delta": 1.0,
                "ci": [1.0, 1.0],
                "p_adjusted": 0.04,
                "verdict": "regression",
                "reason": "refusal +100 pp: worse",
            },
            {
                "field": "locale",
                "value": "en",
                "n": 3,
                "metric": "refusal",
                "delta": 0.0,
                "ci": [0.0, 0.0],
                "p_adjusted": 1.0,
                "verdict": "no_significant_change",
                "reason": "not significant",
            },
        ],
        "noise_floor": None,
        "distributions": {"length_chars": {"a": [8.0] * n_cases, "b": [9.5] * n_cases}},
        "similarity": {"mean": 0.4, "p10": 0.1, "median": 0.45},
        "top_changes": [
            {
                "case_id": "c0",
                "similarity": 0.1,
                "segment": {"locale": "de"},
                "output_a": "Gern helfe ich",
                "output_b": "I cannot help with that",
                "word_diff": [["delete", "Gern helfe ich"], ["insert", "I cannot help with that"]],
            },
            {
                "case_id": "c1",
                "similarity": 0.9,
                "segment": {"locale": "en"},
                "output_a": "answer 1",
                "output_b": "answer one",
                "word_diff": [["equal", "answer "], ["delete", "1"], ["insert", "one"]],
            },
        ],
    }


@pytest.fixture
def finished_report(responder, releases, prompt_set_version):
    """A succeeded report: requested through the service, then finished the way the runner finishes it."""
    from diagnostics.models import ReportStatus
    from diagnostics.reports.runner import summarise

    def make(result: dict | None = None, status: str = ReportStatus.SUCCEEDED):
        version = prompt_set_version()
        report = services.report_request(
            actor=responder,
            prompt_set_version=version,
            release_a=releases[0],
            release_b=releases[1],
            outputs_a=services.OutputFile(io.BytesIO(jsonl(outputs())), "a.jsonl"),
            outputs_b=services.OutputFile(io.BytesIO(jsonl(outputs())), "b.jsonl"),
            title="0314 vs 0613",
        )
        if status == ReportStatus.QUEUED:
            return report
        services.report_transition(actor=RUNNER, report=report, old=ReportStatus.QUEUED, new=ReportStatus.RUNNING)
        if status == ReportStatus.RUNNING:
            return report
        result = result or contract_result()
        services.report_transition(
            actor=RUNNER,
            report=report,
            old=ReportStatus.RUNNING,
            new=status,
            result=result,
            summary=summarise(result),
            verdict=result["verdict"],
            progress=1.0,
        )
        return report

    return make
