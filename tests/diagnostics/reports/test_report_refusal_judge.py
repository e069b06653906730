"""A report that asks for the server's refusal judge: validated at the door, judged with each case's input by the
report runner, cancelled part-way, shown on the page (a real Celery worker: test_report_refusal_judge_worker.py)."""

from __future__ import annotations

import json
import time

import pytest
from django.test import override_settings

from diagnostics.models import BehaviourReport, ReportStatus
from diagnostics.reports.runner import report_run
from tests.diagnostics.reports.conftest import jsonl, report_form
from tests.diagnostics.reports.test_report_request import assert_nothing_stored, request_report
from tests.support.openai_server import OpenAIServer
from tests.support.refusal_judge import PREMISE, premise_answer, premise_question, xstest_judge

NO_JUDGE = {"base_url": "", "model": "", "header_env": {}}
MISCONFIGURED = {"base_url": "http://127.0.0.1:9", "model": "", "header_env": {}}  # a URL without a model
CASES = 80


def premise_cases() -> list[dict]:
    return [
        {"case_id": f"c{i}", "input": premise_question(i)[1], "about": premise_question(i)[0]} for i in range(CASES)
    ]


def premise_outputs(side: str) -> list[dict]:
    return [{"case_id": f"c{i}", "output": premise_answer(i, side)} for i in range(CASES)]


def judge_settings(server: OpenAIServer, **extra) -> dict:
    return {
        "base_url": server.base_url,
        "model": "judge-1",
        "header_env": {"Authorization": "REWIND_SECRET_TEST_REFUSAL_JUDGE"},
        **extra,
    }


def ask(api_as, responder, releases, prompt_set_version, options: dict):
    version = prompt_set_version(premise_cases())
    return request_report(
        api_as(responder),
        version,
        releases,
        jsonl(premise_outputs("a")),
        jsonl(premise_outputs("b")),
        options=json.dumps(options),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("judge", "options", "message"),
    [
        (NO_JUDGE, {"refusal_judge": True}, "No refusal judge is configured on this server"),
        (MISCONFIGURED, {"refusal_judge": True}, "REWIND_REFUSAL_JUDGE_MODEL is not"),
        (
            {"base_url": "http://127.0.0.1:9", "model": "m", "header_env": {"Authorization": "SECRET_KEY"}},
            {"refusal_judge": True},
            "not allowed: SECRET_KEY",
        ),
        (NO_JUDGE, {"refusal_judge": "yes"}, "true or false"),
    ],
)
def test_a_report_asking_for_a_judge_the_server_cannot_give_is_refused_with_a_field_error(
    api_as, responder, releases, prompt_set_version, judge, options, message
):
    with override_settings(REWIND_REFUSAL_JUDGE=judge):
        response = ask(api_as, responder, releases, prompt_set_version, options)
    assert response.status_code == 400
    assert message in " ".join(response.json()["refusal_judge"])
    assert_nothing_stored()


@pytest.mark.django_db
def test_the_judge_shown_each_cases_input_finds_the_refusal_regression_the_detector_cannot_see(
    api_as, web_as, responder, viewer, releases, prompt_set_version, monkeypatch
):
    monkeypatch.setenv("REWIND_SECRET_TEST_REFUSAL_JUDGE", "Bearer local")
    with OpenAIServer(answer=xstest_judge) as server, override_settings(REWIND_REFUSAL_JUDGE=judge_settings(server)):
        response = ask(api_as, responder, releases, prompt_set_version, {"refusal_judge": True, "bootstrap": 500})
        assert response.status_code == 201, response.json()
        report = BehaviourReport.objects.get()
        report_run(report_id=report.pk)
        asked = list(server.requests)
    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert len(asked) == 2 * CASES and asked[0]["headers"]["Authorization"] == "Bearer local"
    assert any("Why should non-binary people" in r["prompt"] for r in asked)  # the case's input is shown
    cells = {s["value"]: s["verdict"] for s in report.result["segments"] if s["metric"] == "refusal"}
    assert cells["people"] == "regression" and cells["vegetables"] != "regression"
    assert report.result["refusal_judge"]["pairs"] == CASES and report.result["refusal_judge"]["unjudged_b"] == 0
    assert report.progress == 1.0
    page = web_as(viewer).get(report.get_absolute_url())
    assert "Refusal verdicts: refusal judged by judge-1" in page.content.decode()


@pytest.mark.django_db
def test_a_report_whose_judge_is_gone_by_the_time_it_runs_fails_saying_so(
    api_as, responder, releases, prompt_set_version
):
    """Accepted while the server had a judge, run after it was removed: the report fails with the same sentence
    the door gives, and no statistics are stored."""
    with OpenAIServer(answer=xstest_judge) as server, override_settings(REWIND_REFUSAL_JUDGE=judge_settings(server)):
        response = ask(api_as, responder, releases, prompt_set_version, {"refusal_judge": True})
        assert response.status_code == 201, response.json()
    report = BehaviourReport.objects.get()
    with override_settings(REWIND_REFUSAL_JUDGE=NO_JUDGE):
        report_run(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert report.error == "The report asks for the refusal judge. No refusal judge is configured on this server" + (
        " (REWIND_REFUSAL_JUDGE_URL and REWIND_REFUSAL_JUDGE_MODEL)."
    )
    assert not report.result


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("judge", "said"),
    [
        (NO_JUDGE, "No refusal judge is configured on this server"),
        (MISCONFIGURED, "The server's refusal judge is misconfigured: REWIND_REFUSAL_JUDGE_URL is set but"),
        ("server", "Let judge-1 decide"),
    ],
)
def test_the_web_form_asks_for_the_judge_and_says_when_the_server_has_none(
    web_as, responder, releases, prompt_set_version, judge, said
):
    """The box's help says which model would judge, or the same sentence the form's error and the API give."""
    version = prompt_set_version(premise_cases())
    client = web_as(responder)
    with OpenAIServer(answer=xstest_judge) as server:
        configured = judge_settings(server) if judge == "server" else judge
        with override_settings(REWIND_REFUSAL_JUDGE=configured):
            page = client.get("/reports/new/").content.decode()
            assert 'name="refusal_judge"' in page
            assert said in page
            form = report_form(
                version, releases, jsonl(premise_outputs("a")), jsonl(premise_outputs("b")), refusal_judge="on"
            )
            response = client.post("/reports/new/", form)
    if judge == "server":
        assert response.status_code == 302
        assert BehaviourReport.objects.get().options["refusal_judge"] is True
    else:
        assert response.status_code == 400  # the form comes back with the field's error
        assert said in " ".join(response.context["form"].errors["refusal_judge"])
        assert_nothing_stored()


@pytest.mark.django_db
def test_without_the_option_the_detector_reads_the_premise_answers_as_answers(
    api_as, responder, releases, prompt_set_version
):
    response = ask(api_as, responder, releases, prompt_set_version, {"bootstrap": 500})
    assert response.status_code == 201, response.json()
    report = BehaviourReport.objects.get()
    report_run(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED, report.error
    refusal = next(m for m in report.result["metrics"] if m["name"] == "refusal")
    assert refusal["mean_b"] == 0.0 and "refusal_judge" not in report.result
    assert PREMISE in json.dumps(report.result["top_changes"])  # the answers did change; the detector saw no refusal


@pytest.mark.django_db(transaction=True)
def test_a_cancel_stops_the_judge_between_replies(api_as, responder, releases, prompt_set_version, monkeypatch):
    import threading

    from diagnostics.reports.services import report_cancel

    monkeypatch.setenv("REWIND_SECRET_TEST_REFUSAL_JUDGE", "Bearer local")
    with (
        OpenAIServer(answer=xstest_judge, delay=0.05) as server,
        override_settings(REWIND_REFUSAL_JUDGE=judge_settings(server, concurrency=1)),
    ):
        response = ask(api_as, responder, releases, prompt_set_version, {"refusal_judge": True})
        assert response.status_code == 201, response.json()
        report = BehaviourReport.objects.get()
        runner = threading.Thread(target=report_run, kwargs={"report_id": report.pk})
        runner.start()
        deadline = time.monotonic() + 30
        while len(server.requests) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        report_cancel(actor=responder, report=BehaviourReport.objects.get(pk=report.pk))
        runner.join(timeout=30)
        asked = len(server.requests)
    report.refresh_from_db()
    assert report.status == ReportStatus.CANCELLED
    assert 5 <= asked < 2 * CASES  # stopped part-way, not after every answer was judged
