"""A worker dies mid-report (SIGKILL): beat's stale-report sweep hands it to another worker, which resumes
live generation after the answers already stored and finishes; a cancel asked of a dead run is honoured."""

from __future__ import annotations

import time

import pytest

from core.models import AuditEntry
from diagnostics.models import BehaviourReport, Output, ReportStatus
from diagnostics.reports.runner import reports_resume_stale
from diagnostics.tasks import reports_resume_stale_task
from tests.diagnostics.reports.conftest import cases
from tests.diagnostics.reports.test_report_worker import configure_endpoints
from tests.support.openai_server import OpenAIServer
from tests.support.worker import CeleryWorker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
SECRET = {"REWIND_SECRET_TEST_LLM_AUTH": "Bearer local"}


def wait_until(predicate, timeout: float, *workers) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out\n" + "\n".join(w.log()[-4000:] for w in workers))


def start_live_report(client, version, releases) -> int:
    response = client.post(
        "/api/v1/reports/",
        {
            "prompt_set_version": version.pk,
            "release_a": releases[0].pk,
            "release_b": releases[1].pk,
            "source": "live",
            "options": {"bootstrap": 200},
        },
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_a_report_whose_worker_died_is_resumed_by_another_worker(api_as, admin_user, releases, prompt_set_version):
    version = prompt_set_version(cases(20))
    client = api_as(admin_user)
    first = CeleryWorker(name="crash1", extra_env=SECRET)
    first.start()
    try:
        with OpenAIServer(delay=0.2) as server:
            configure_endpoints(client, releases, server)
            report_id = start_live_report(client, version, releases)
            wait_until(lambda: Output.objects.filter(report_id=report_id).count() >= 5, 60, first)
            first.kill()
            stored = Output.objects.filter(report_id=report_id).count()
            assert BehaviourReport.objects.get(pk=report_id).status == ReportStatus.RUNNING
            second = CeleryWorker(name="crash2", extra_env=SECRET)
            second.start()
            try:
                time.sleep(1.2)
                reports_resume_stale_task.delay(stale_after=1.0)
                wait_until(lambda: BehaviourReport.objects.get(pk=report_id).is_finished, 90, second)
            finally:
                second.stop()
    finally:
        first.stop()
    report = BehaviourReport.objects.get(pk=report_id)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert Output.objects.filter(report=report).count() == 40
    # Answers stored before the crash were not asked for again (at most the in-flight one was lost).
    assert len(server.requests) <= 40 + 1
    assert stored >= 5
    assert AuditEntry.objects.filter(action="behaviour_report.resume", object_id=str(report_id)).count() == 1


def test_a_cancel_asked_of_a_report_whose_worker_died_is_honoured_by_the_sweep(
    api_as, admin_user, releases, prompt_set_version
):
    version = prompt_set_version(cases(20))
    client = api_as(admin_user)
    worker = CeleryWorker(name="crash3", extra_env=SECRET)
    worker.start()
    try:
        with OpenAIServer(delay=0.2) as server:
            configure_endpoints(client, releases, server)
            report_id = start_live_report(client, version, releases)
            wait_until(lambda: Output.objects.filter(report_id=report_id).exists(), 60, worker)
            worker.kill()
        assert client.post(f"/api/v1/reports/{report_id}/cancel/", {}).json()["cancel_requested"] is True
    finally:
        worker.stop()
    time.sleep(1.2)
    assert reports_resume_stale(stale_after=1.0) == []  # the beat task's service, in-process: nothing to resume
    report = BehaviourReport.objects.get(pk=report_id)
    assert report.status == ReportStatus.CANCELLED and report.finished_at is not None
