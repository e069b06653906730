"""A real Celery worker, configured with a refusal judge as a deployment would be, runs a report that asks for it.
(Its own module: a live worker would take the other modules' queued reports.)"""

from __future__ import annotations

import json
import time

import pytest
from django.test import override_settings

from diagnostics.models import BehaviourReport, ReportStatus
from tests.diagnostics.reports.test_report_refusal_judge import CASES, ask, judge_settings
from tests.support.openai_server import OpenAIServer
from tests.support.refusal_judge import xstest_judge
from tests.support.worker import CeleryWorker


@pytest.fixture(scope="module")
def judge_server():
    with OpenAIServer(answer=xstest_judge) as server:
        yield server


@pytest.fixture(scope="module")
def judging_worker(judge_server, django_db_setup):
    """A real worker configured as a deployment would be: the judge's address, model and header in its
    environment."""
    env = {
        "REWIND_REFUSAL_JUDGE_URL": judge_server.base_url,
        "REWIND_REFUSAL_JUDGE_MODEL": "judge-1",
        "REWIND_REFUSAL_JUDGE_HEADERS": json.dumps({"Authorization": "REWIND_SECRET_TEST_REFUSAL_JUDGE"}),
        "REWIND_SECRET_TEST_REFUSAL_JUDGE": "Bearer from-the-worker",
    }
    with CeleryWorker(name="refusal-judge", extra_env=env) as worker:
        yield worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_runs_the_judged_report(
    judging_worker, judge_server, api_as, responder, releases, prompt_set_version
):
    before = len(judge_server.requests)
    with override_settings(REWIND_REFUSAL_JUDGE=judge_settings(judge_server)):
        response = ask(api_as, responder, releases, prompt_set_version, {"refusal_judge": True, "bootstrap": 500})
    assert response.status_code == 201, response.json()
    deadline = time.monotonic() + 90
    report = BehaviourReport.objects.get(pk=response.json()["id"])
    while not report.is_finished and time.monotonic() < deadline:
        time.sleep(0.2)
        report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED, f"{report.error}\n{judging_worker.log()}"
    assert len(judge_server.requests) - before == 2 * CASES
    assert judge_server.requests[-1]["headers"]["Authorization"] == "Bearer from-the-worker"
    cells = {s["value"]: s["verdict"] for s in report.result["segments"] if s["metric"] == "refusal"}
    assert cells["people"] == "regression"
