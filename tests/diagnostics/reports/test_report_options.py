"""Every report option the docs list is accepted by the API and reaches the engine; bad ones are refused."""

from __future__ import annotations

import json

import pytest

from diagnostics.models import BehaviourReport
from diagnostics.reports.runner import report_run
from diagnostics.reports.services import OPTION_NAMES
from tests.diagnostics.reports.conftest import jsonl, outputs
from tests.diagnostics.reports.test_report_request import assert_nothing_stored, request_report

pytestmark = pytest.mark.django_db


def test_directions_and_refusal_window_reach_the_engine(api_as, responder, releases, prompt_set_version):
    options = {"directions": {"refusal": "neutral"}, "refusal_window": 200, "top_n": 3, "seed": 7}
    response = request_report(
        api_as(responder),
        prompt_set_version(),
        releases,
        jsonl(outputs(6)),
        jsonl(outputs(6, text=lambda i: "I'm sorry, but I can't help with that.")),
        options=json.dumps(options),
    )
    assert response.status_code == 201, response.json()
    report = BehaviourReport.objects.get()
    report_run(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == "succeeded", report.error
    refusal = next(m for m in report.result["metrics"] if m["name"] == "refusal")
    assert refusal["direction"] == "neutral" and refusal["mean_b"] == 1.0
    assert report.result["options"]["refusal_window"] == 200
    assert report.result["options"]["directions"] == {"refusal": "neutral"}
    assert report.result["sides"] == {
        "a": "support-assistant #1 (gpt-4-0314)",
        "b": "support-assistant #2 (gpt-4-0613)",
    }


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"directions": {"politeness": "up_is_worse"}}, "directions", "'politeness': unknown metric."),
        ({"directions": {"refusal": "sideways"}}, "directions", "unknown direction 'sideways'"),
        ({"directions": ["refusal"]}, "directions", "A map of metric"),
        ({"refusal_window": 0}, "refusal_window", "between 50 and 100000"),
        ({"window": 200}, "options", "Unknown options: window"),
    ],
)
def test_bad_options_name_the_option(api_as, responder, releases, prompt_set_version, options, field, message):
    response = request_report(
        api_as(responder),
        prompt_set_version(),
        releases,
        jsonl(outputs(6)),
        jsonl(outputs(6)),
        options=json.dumps(options),
    )
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert_nothing_stored()


def test_the_docs_list_exactly_the_options_the_api_accepts():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "behaviour-diff-reports.md").read_text(encoding="utf-8")
    section = text.split("## Report options", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    assert listed == set(OPTION_NAMES)
