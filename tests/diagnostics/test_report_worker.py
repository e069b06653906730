"""End to end through a real Celery worker process: upload or live generation -> worker -> stored result."""

from __future__ import annotations

import time

import pytest

from diagnostics.models import BehaviourReport, Output, ReportStatus
from tests.diagnostics.conftest import cases
from tests.support.openai_server import OpenAIServer
from tests.support.worker import CeleryWorker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(transactional_db, monkeypatch):
    """A real worker whose environment holds the endpoint secret (as a deployment's would)."""
    monkeypatch.setenv("REWIND_TEST_LLM_AUTH", "Bearer local")
    process = CeleryWorker(name="reports", extra_env={"REWIND_TEST_LLM_AUTH": "Bearer local"})
    process.start()
    try:
        yield process
    finally:
        process.stop()


def wait_for(report_id: int, predicate, worker, timeout: float = 90) -> BehaviourReport:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = BehaviourReport.objects.get(pk=report_id)
        if predicate(report):
            return report
        time.sleep(0.2)
    raise AssertionError(f"report {report_id} is {report.status} ({report.error}); worker log:\n{worker.log()}")


def configure_endpoints(client, releases, server):
    for release, model in zip(releases, ("gpt-4-0314", "gpt-4-0613"), strict=True):
        response = client.post(
            "/api/v1/generation-endpoints/",
            {
                "release": release.pk,
                "base_url": server.base_url,
                "model": model,
                "header_env": {"Authorization": "REWIND_TEST_LLM_AUTH"},
                "timeout_seconds": 5,
                "concurrency": 1,
            },
        )
        assert response.status_code == 201, response.json()


def test_a_running_live_report_stops_when_cancelled(worker, api_as, admin_user, releases, prompt_set_version):
    client = api_as(admin_user)
    version = prompt_set_version(cases(40))
    with OpenAIServer(delay=0.25) as server:
        configure_endpoints(client, releases, server)
        response = client.post(
            "/api/v1/reports/",
            {
                "prompt_set_version": version.pk,
                "release_a": releases[0].pk,
                "release_b": releases[1].pk,
                "source": "live",
            },
        )
        assert response.status_code == 201, response.json()
        report_id = response.json()["id"]
        wait_for(report_id, lambda r: Output.objects.filter(report_id=r.pk).count() >= 3, worker)
        assert client.post(f"/api/v1/reports/{report_id}/cancel/", {}).status_code == 200
        report = wait_for(report_id, lambda r: r.is_finished, worker, timeout=30)
    assert report.status == ReportStatus.CANCELLED
    assert Output.objects.filter(report=report).count() < 80
    assert server.requests[0]["headers"]["Authorization"] == "Bearer local"
