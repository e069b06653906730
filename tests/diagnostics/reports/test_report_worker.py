"""End to end through a real Celery worker process: upload or live generation -> worker -> stored result."""

from __future__ import annotations

import time

import pytest

from diagnostics.models import BehaviourReport, GenerationEndpoint, Output, ReportStatus
from tests.diagnostics.reports.conftest import cases, jsonl, upload
from tests.support.openai_server import OpenAIServer
from tests.support.worker import CeleryWorker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def module_worker(django_db_setup, django_db_blocker):
    """One real worker for this module (starting one costs ~10 s); its environment holds the endpoint secret,
    as a deployment's would. Each test still gets its own transactional database state."""
    with django_db_blocker.unblock():
        process = CeleryWorker(name="reports", extra_env={"REWIND_SECRET_TEST_LLM_AUTH": "Bearer local"})
        process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def worker(module_worker, transactional_db):
    return module_worker


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
                "header_env": {"Authorization": "REWIND_SECRET_TEST_LLM_AUTH"},
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


def known_cases(n: int = 60) -> list[dict]:
    return [
        {"case_id": f"c{i}", "input": f"How do I reset password number {i}?", "locale": "de" if i % 3 == 0 else "en"}
        for i in range(n)
    ]


def helpful(i: int) -> str:
    return f"To reset password {i}, open Settings, choose Security and follow the link we email you."


def test_uploaded_outputs_with_refusals_in_one_segment_come_back_as_a_regression_there(
    worker, api_as, responder, viewer, releases, prompt_set_version
):
    version = prompt_set_version(known_cases())
    a = [{"case_id": f"c{i}", "output": helpful(i), "latency_ms": 200} for i in range(60)]
    b = [
        {
            "case_id": f"c{i}",
            "output": "I'm sorry, but I can't help with that request." if i % 3 == 0 else helpful(i),
            "latency_ms": 200,
        }
        for i in range(60)
    ]
    response = api_as(responder).post(
        "/api/v1/reports/",
        {
            "prompt_set_version": version.pk,
            "release_a": releases[0].pk,
            "release_b": releases[1].pk,
            "outputs_a": upload("a.jsonl", jsonl(a)),
            "outputs_b": upload(
                "b.csv",
                b"case_id,output,latency_ms\n"
                + b"".join(f'{r["case_id"]},"{r["output"]}",{r["latency_ms"]}\n'.encode() for r in b),
            ),
            "options": '{"segment_fields": ["locale"], "bootstrap": 500}',
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    report = wait_for(response.json()["id"], lambda r: r.is_finished, worker)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert report.verdict == "regression" and report.progress == 1.0
    metrics = {m["name"]: m for m in report.result["metrics"]}
    assert metrics["refusal"]["verdict"] == "regression"
    assert report.result["flip_matrices"]["refusal"] == {"both_false": 40, "a_only": 0, "b_only": 20, "both_true": 0}
    refusal_cells = {s["value"]: s["verdict"] for s in report.result["segments"] if s["metric"] == "refusal"}
    assert refusal_cells["de"] == "regression" and refusal_cells["en"] != "regression"
    html = api_as(viewer).get(f"/api/v1/reports/{report.pk}/").json()
    assert html["status"] == "succeeded" and html["gate_passes"] is False


def test_identical_uploads_come_back_quiet(worker, api_as, responder, releases, prompt_set_version):
    version = prompt_set_version(known_cases(30))
    same = jsonl([{"case_id": f"c{i}", "output": helpful(i)} for i in range(30)])
    response = api_as(responder).post(
        "/api/v1/reports/",
        {
            "prompt_set_version": version.pk,
            "release_a": releases[0].pk,
            "release_b": releases[1].pk,
            "outputs_a": upload("a.jsonl", same),
            "outputs_b": upload("b.jsonl", same),
            "options": '{"bootstrap": 200}',
        },
        format="multipart",
    )
    report = wait_for(response.json()["id"], lambda r: r.is_finished, worker)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert report.verdict == "no_significant_change"


def test_a_live_report_generates_k_samples_from_each_endpoint_and_completes(
    worker, api_as, admin_user, releases, prompt_set_version
):
    version = prompt_set_version(known_cases(12))

    def answer(model: str, prompt: str) -> str:
        number = int(prompt.rsplit(" ", 1)[1].rstrip("?"))
        if model == "gpt-4-0613" and number % 3 == 0:  # cases 0, 3, 6, 9
            return "I'm sorry, but I can't help with that."
        return f"Open Settings to fix: {prompt}"

    client = api_as(admin_user)
    with OpenAIServer(answer, retry_after="1") as server:
        server.script["How do I reset password number 4?"] = ["429", "ok"]
        configure_endpoints(client, releases, server)
        response = client.post(
            "/api/v1/reports/",
            {
                "prompt_set_version": version.pk,
                "release_a": releases[0].pk,
                "release_b": releases[1].pk,
                "source": "live",
                "samples": 2,
                "options": {"bootstrap": 200},
            },
        )
        assert response.status_code == 201, response.json()
        report = wait_for(response.json()["id"], lambda r: r.is_finished, worker)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert Output.objects.filter(report=report).count() == 12 * 2 * 2
    assert report.result["k_samples"] == 2 and report.result["n_cases"] == 12
    assert report.result["flip_matrices"]["refusal"]["b_only"] == 4
    assert len(server.requests_for("How do I reset password number 4?")) == 5  # 1 rate-limited + 2 samples x 2
    assert {r["body"]["model"] for r in server.requests} == {"gpt-4-0314", "gpt-4-0613"}
    assert all(r["headers"]["Authorization"] == "Bearer local" for r in server.requests)


def test_a_live_report_whose_endpoint_keeps_failing_ends_failed_with_the_reason(
    worker, api_as, admin_user, releases, prompt_set_version
):
    version = prompt_set_version(known_cases(2))
    client = api_as(admin_user)
    with OpenAIServer() as server:
        for i in range(2):
            server.script[f"How do I reset password number {i}?"] = ["500"] * 20
        configure_endpoints(client, releases, server)
        client.patch(f"/api/v1/generation-endpoints/{releases[0].generation_endpoint.pk}/", {"max_retries": 1})
        response = client.post(
            "/api/v1/reports/",
            {
                "prompt_set_version": version.pk,
                "release_a": releases[0].pk,
                "release_b": releases[1].pk,
                "source": "live",
            },
        )
        report = wait_for(response.json()["id"], lambda r: r.is_finished, worker)
    assert report.status == ReportStatus.FAILED
    assert "gpt-4-0314: request for sample 0 failed: HTTP 500" in report.error


def test_the_worker_refuses_to_send_a_secret_outside_the_allow_list(
    worker, api_as, admin_user, releases, prompt_set_version
):
    """An endpoint row that names the worker's own SECRET_KEY (written around the service, or stored before the
    rule) fails the report in the worker before any request carries it."""
    client = api_as(admin_user)
    version = prompt_set_version(cases(3))
    with OpenAIServer() as server:
        configure_endpoints(client, releases, server)
        GenerationEndpoint.objects.filter(release=releases[1]).update(header_env={"Authorization": "SECRET_KEY"})
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
        report = wait_for(response.json()["id"], lambda r: r.is_finished, worker)
    assert report.status == ReportStatus.FAILED
    assert "not allowed: SECRET_KEY" in report.error
    assert all(r["headers"].get("Authorization") == "Bearer local" for r in server.requests)
