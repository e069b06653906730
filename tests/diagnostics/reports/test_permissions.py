"""Who may do what with prompt sets, reports and generation endpoints: anonymous, viewer, responder,
approver, admin."""

from __future__ import annotations

import pytest

from diagnostics.models import BehaviourReport, GenerationEndpoint, PromptSetVersion, ReportStatus
from tests.diagnostics.reports.conftest import cases, jsonl, outputs, upload

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "viewer", "responder", "approver", "admin_user"]


def person(request, role):
    return None if role == "anonymous" else request.getfixturevalue(role)


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, [401, 200, 200, 200, 200], strict=True)))
def test_reading_reports_and_prompt_sets_needs_a_login(request, api_as, role, status, finished_report):
    report = finished_report()
    client = api_as(person(request, role))
    assert client.get("/api/v1/reports/").status_code == status
    assert client.get(f"/api/v1/reports/{report.pk}/").status_code == status
    assert client.get("/api/v1/prompt-sets/").status_code == status
    assert client.get("/api/v1/generation-endpoints/").status_code == status


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, [401, 403, 201, 201, 201], strict=True)))
def test_importing_a_prompt_set_needs_a_responder(request, api_as, role, status):
    response = api_as(person(request, role)).post(
        "/api/v1/prompt-sets/import/", {"name": "s", "file": upload("c.jsonl", jsonl(cases(2)))}, format="multipart"
    )
    assert response.status_code == status
    assert PromptSetVersion.objects.exists() == (status == 201)


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, [401, 403, 201, 201, 201], strict=True)))
def test_requesting_a_report_needs_a_responder(request, api_as, role, status, releases, prompt_set_version):
    version = prompt_set_version()
    response = api_as(person(request, role)).post(
        "/api/v1/reports/",
        {
            "prompt_set_version": version.pk,
            "release_a": releases[0].pk,
            "release_b": releases[1].pk,
            "outputs_a": upload("a.jsonl", jsonl(outputs())),
            "outputs_b": upload("b.jsonl", jsonl(outputs())),
        },
        format="multipart",
    )
    assert response.status_code == status
    assert BehaviourReport.objects.exists() == (status == 201)


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, [401, 403, 200, 200, 200], strict=True)))
def test_cancelling_needs_a_responder(request, api_as, role, status, finished_report):
    report = finished_report(status=ReportStatus.QUEUED)
    response = api_as(person(request, role)).post(f"/api/v1/reports/{report.pk}/cancel/", {"reason": "wrong set"})
    assert response.status_code == status
    report.refresh_from_db()
    assert report.status == (ReportStatus.CANCELLED if status == 200 else ReportStatus.QUEUED)


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, [401, 403, 403, 201, 201], strict=True)))
def test_configuring_a_generation_endpoint_needs_an_approver(request, api_as, role, status, releases):
    response = api_as(person(request, role)).post(
        "/api/v1/generation-endpoints/",
        {
            "release": releases[0].pk,
            "base_url": "http://127.0.0.1:9",
            "model": "m",
            "header_env": {"Authorization": "REWIND_SECRET_X"},
        },
    )
    assert response.status_code == status
    assert GenerationEndpoint.objects.exists() == (status == 201)


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, [302, 200, 200, 200, 200], strict=True)))
def test_report_pages_need_a_login(request, client, role, status, finished_report):
    report = finished_report()
    if role != "anonymous":
        client.force_login(person(request, role))
    for url in (
        "/reports/",
        f"/reports/{report.pk}/",
        "/prompt-sets/",
        f"/reports/{report.pk}/export.md",
        "/reports/endpoints/",
    ):
        assert client.get(url).status_code == status, url


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, [302, 403, 200, 200, 200], strict=True)))
def test_the_new_report_form_needs_a_responder(request, client, role, status):
    if role != "anonymous":
        client.force_login(person(request, role))
    assert client.get("/reports/new/").status_code == status


@pytest.mark.parametrize(("role", "status"), list(zip(ROLES, [302, 403, 302, 302, 302], strict=True)))
def test_the_cancel_button_needs_a_responder(request, client, role, status, finished_report):
    report = finished_report(status=ReportStatus.QUEUED)
    if role != "anonymous":
        client.force_login(person(request, role))
    response = client.post(f"/reports/{report.pk}/cancel/")
    assert response.status_code == status
    report.refresh_from_db()
    assert (report.status == ReportStatus.CANCELLED) == (role not in ("anonymous", "viewer"))
