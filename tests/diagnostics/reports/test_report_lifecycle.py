from __future__ import annotations

import pytest

from core.models import AuditEntry
from diagnostics.models import BehaviourReport, GenerationEndpoint, ReportLink, ReportStatus
from diagnostics.reports.services import report_gate_passes
from tests.diagnostics.reports.conftest import contract_result

pytestmark = pytest.mark.django_db


def test_a_queued_report_is_cancelled_at_once_and_audited(api_as, responder, finished_report):
    report = finished_report(status=ReportStatus.QUEUED)
    response = api_as(responder).post(f"/api/v1/reports/{report.pk}/cancel/", {"reason": "wrong prompt set"})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    entry = AuditEntry.objects.get(action="behaviour_report.cancelled", object_id=str(report.pk))
    assert entry.before == {"status": "queued"} and entry.reason == "wrong prompt set"


def test_a_running_report_is_flagged_for_its_worker_to_stop(api_as, responder, finished_report):
    report = finished_report(status=ReportStatus.RUNNING)
    response = api_as(responder).post(f"/api/v1/reports/{report.pk}/cancel/", {})
    assert response.status_code == 200
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True
    again = api_as(responder).post(f"/api/v1/reports/{report.pk}/cancel/", {})
    assert again.status_code == 200


def test_a_finished_report_cannot_be_cancelled(api_as, responder, finished_report):
    report = finished_report()
    response = api_as(responder).post(f"/api/v1/reports/{report.pk}/cancel/", {})
    assert response.status_code == 400
    assert response.json() == {"status": ["The report has already succeeded; it cannot be cancelled."]}


def test_the_runner_stops_at_the_next_progress_step_after_a_cancel(finished_report, responder):
    from diagnostics.reports.runner import Progress, ReportCancelled
    from diagnostics.reports.services import report_cancel

    report = finished_report(status=ReportStatus.RUNNING)
    progress = Progress(report.pk, every=0)
    progress(0.5, "halfway")
    report.refresh_from_db()
    assert report.progress == 0.5 and report.progress_message == "halfway"
    report_cancel(actor=responder, report=report)
    with pytest.raises(ReportCancelled):
        progress(0.6, "still going")


def test_a_report_is_a_gate_only_when_it_succeeded_without_regression(finished_report):
    assert report_gate_passes(finished_report(contract_result(verdict="no_significant_change")))
    assert report_gate_passes(finished_report(contract_result(verdict="improvement")))
    assert not report_gate_passes(finished_report(contract_result(verdict="regression")))
    assert not report_gate_passes(finished_report(contract_result(verdict="inconclusive")))
    assert not report_gate_passes(finished_report(status=ReportStatus.RUNNING))


def test_a_report_links_to_any_object_as_evidence_or_gate(api_as, responder, finished_report, releases):
    report = finished_report()
    client = api_as(responder)
    url = f"/api/v1/reports/{report.pk}/link/"
    evidence = {"object_type": "rollouts.release", "object_id": str(releases[1].pk), "purpose": "evidence"}
    response = client.post(url, {**evidence, "layer": "model", "note": "refusals in de"})
    assert response.status_code == 201, response.json()
    assert ReportLink.objects.get().layer == "model"
    assert AuditEntry.objects.filter(action="behaviour_report.link").count() == 1
    assert client.post(url, evidence).json() == {
        "layer": ["Evidence points at a layer: model, data, prompt or product."]
    }
    assert client.post(url, {**evidence, "object_type": "nope.thing", "layer": "model"}).json() == {
        "object_type": ["Unknown object type 'nope.thing' (use app_label.model)."]
    }
    assert client.post(url, {**evidence, "object_id": "999999", "layer": "model"}).json() == {
        "object_id": ["No rollouts.release with id 999999."]
    }
    assert client.post(url, {**evidence, "purpose": "gate", "colour": 1}).status_code == 400
    assert ReportLink.objects.count() == 1


def test_an_unfinished_report_cannot_be_a_gate(api_as, responder, finished_report, releases):
    report = finished_report(status=ReportStatus.RUNNING)
    response = api_as(responder).post(
        f"/api/v1/reports/{report.pk}/link/",
        {"object_type": "rollouts.release", "object_id": str(releases[1].pk), "purpose": "gate"},
    )
    assert response.json() == {"report": ["Only a finished report can be a gate."]}


def test_endpoints_store_environment_variable_names_never_secret_values(api_as, approver, releases):
    client = api_as(approver)
    body = {"release": releases[0].pk, "base_url": "http://127.0.0.1:8081", "model": "gpt-4-0613"}
    refused = client.post("/api/v1/generation-endpoints/", {**body, "header_env": {"Authorization": "Bearer sk-123"}})
    assert refused.status_code == 400 and "header_env" in refused.json()
    assert not GenerationEndpoint.objects.exists()
    created = client.post(
        "/api/v1/generation-endpoints/", {**body, "header_env": {"Authorization": "REWIND_SECRET_LLM_AUTH"}}
    )
    assert created.status_code == 201, created.json()
    endpoint_id = created.json()["id"]
    changed = client.patch(f"/api/v1/generation-endpoints/{endpoint_id}/", {"concurrency": 8})
    assert changed.status_code == 200 and changed.json()["concurrency"] == 8
    assert client.patch(f"/api/v1/generation-endpoints/{endpoint_id}/", {"concurrency": 0}).status_code == 400
    actions = list(
        AuditEntry.objects.filter(object_type="diagnostics.generationendpoint").values_list("action", flat=True)
    )
    assert actions.count("generation_endpoint.configure") == 2
    assert client.delete(f"/api/v1/generation-endpoints/{endpoint_id}/").status_code == 204
    assert AuditEntry.objects.filter(action="generation_endpoint.remove").exists()


def test_the_report_page_attaches_the_report_with_a_plain_form(web_as, responder, viewer, finished_report, releases):
    report = finished_report()
    client = web_as(responder)
    body = {"purpose": "evidence", "object_type": "rollouts.release", "object_id": str(releases[1].pk)}
    refused = client.post(f"/reports/{report.pk}/links/", body, follow=True)
    assert "Not linked. layer: Evidence points at a layer" in refused.content.decode()
    response = client.post(f"/reports/{report.pk}/links/", {**body, "layer": "model"}, follow=True)
    html = response.content.decode()
    assert "Linked." in html and f"rollouts.release#{releases[1].pk}" in html
    assert ReportLink.objects.count() == 1
    assert web_as(viewer).post(f"/reports/{report.pk}/links/", {**body, "layer": "prompt"}).status_code == 403


def test_the_web_form_requests_a_report_and_the_htmx_cancel_redirects_back(
    web_as, responder, releases, prompt_set_version, django_capture_on_commit_callbacks
):
    from tests.diagnostics.reports.conftest import jsonl, outputs, report_form

    version = prompt_set_version()
    client = web_as(responder)
    assert "Request report" in client.get("/reports/new/").content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        b = b"case_id,output\n" + b"".join(f"c{i},x{i}\n".encode() for i in range(6))
        form = report_form(
            version,
            releases,
            jsonl(outputs()),
            b,
            names=("a.jsonl", "b.csv"),
            title="from the form",
            segment_fields="locale",
            refusal_patterns="cannot help\n\n(?i)not allowed",
        )
        response = client.post("/reports/new/", form)
    report = BehaviourReport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reports/{report.pk}/"
    assert report.options["segment_fields"] == ["locale"] and len(callbacks) == 1
    assert report.options["refusal_patterns"] == ["cannot help", "(?i)not allowed"]
    page = client.get(response["Location"]).content.decode()
    assert 'id="report-progress"' in page and "Cancel" in page
    cancel = client.post(f"/reports/{report.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert cancel["HX-Redirect"] == f"/reports/{report.pk}/"
    report.refresh_from_db()
    assert report.status == ReportStatus.CANCELLED


def test_the_endpoint_service_refuses_secret_values_whatever_the_caller(approver, releases):
    from django.core.exceptions import ValidationError

    from diagnostics.reports.services import generation_endpoint_configure

    with pytest.raises(ValidationError) as error:
        generation_endpoint_configure(
            actor=approver,
            release=releases[0],
            base_url="http://127.0.0.1:9",
            model="m",
            header_env={"Authorization": "Bearer sk-live-123"},
        )
    assert "header_env" in error.value.message_dict
    assert not GenerationEndpoint.objects.exists()


def test_approvers_configure_endpoints_on_a_page_and_others_only_read_it(web_as, client, approver, responder, releases):
    page = web_as(approver)
    body = {
        "release": releases[0].pk,
        "base_url": "http://127.0.0.1:8081",
        "model": "gpt-4-0613",
        "header_env": '{"Authorization": "REWIND_SECRET_LLM_AUTH"}',
        "temperature": 0,
        "timeout_seconds": 30,
        "max_retries": 3,
        "concurrency": 2,
    }
    secret = page.post("/reports/endpoints/", {**body, "header_env": '{"Authorization": "Bearer sk-1"}'})
    assert secret.status_code == 400 and "Never paste the secret" in secret.content.decode()
    assert page.post("/reports/endpoints/", body).status_code == 302
    assert page.post("/reports/endpoints/", {**body, "concurrency": 5}).status_code == 302
    endpoint = GenerationEndpoint.objects.get()
    assert endpoint.concurrency == 5 and endpoint.header_env == {"Authorization": "REWIND_SECRET_LLM_AUTH"}
    html = page.get("/reports/endpoints/").content.decode()
    assert "$REWIND_SECRET_LLM_AUTH" in html and 'id="endpoint-form"' in html
    client.force_login(responder)
    assert 'id="endpoint-form"' not in client.get("/reports/endpoints/").content.decode()
    assert client.post("/reports/endpoints/", body).status_code == 403
