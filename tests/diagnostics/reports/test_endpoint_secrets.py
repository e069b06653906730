"""A generation endpoint sends environment variables to a model provider as headers: only variables meant for
that (REWIND_SECRET_*, or listed in REWIND_GENERATION_SECRETS), never the worker's own secrets."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from diagnostics.models import GenerationEndpoint

pytestmark = pytest.mark.django_db

WORKER_SECRETS = ["SECRET_KEY", "DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]


def _body(release, variable: str) -> dict:
    return {
        "release": release.pk,
        "base_url": "http://127.0.0.1:8081",
        "model": "gpt-4-0613",
        "header_env": {"Authorization": variable},
    }


def _audit_count() -> int:
    return AuditEntry.objects.filter(object_type="diagnostics.generationendpoint").count()


@pytest.mark.parametrize("variable", WORKER_SECRETS)
def test_the_api_refuses_an_endpoint_that_reads_a_worker_secret(api_as, approver, releases, variable):
    response = api_as(approver).post("/api/v1/generation-endpoints/", _body(releases[0], variable))
    assert response.status_code == 400
    (message,) = response.json()["header_env"]
    assert "REWIND_SECRET_*" in message and variable in message
    assert not GenerationEndpoint.objects.exists() and _audit_count() == 0


def test_the_api_refuses_changing_an_endpoint_to_read_a_worker_secret(api_as, approver, releases):
    client = api_as(approver)
    created = client.post("/api/v1/generation-endpoints/", _body(releases[0], "REWIND_SECRET_LLM"))
    assert created.status_code == 201, created.json()
    audit = _audit_count()
    url = f"/api/v1/generation-endpoints/{created.json()['id']}/"
    for variable in WORKER_SECRETS:
        response = client.patch(url, {"header_env": {"Authorization": "REWIND_SECRET_LLM", "X-Extra": variable}})
        assert response.status_code == 400 and variable in response.json()["header_env"][0]
    assert GenerationEndpoint.objects.get().header_env == {"Authorization": "REWIND_SECRET_LLM"}
    assert _audit_count() == audit


def test_the_web_form_refuses_a_worker_secret_on_create_and_on_change(web_as, approver, releases):
    page = web_as(approver)
    form = {
        "release": releases[0].pk,
        "base_url": "http://127.0.0.1:8081",
        "model": "gpt-4-0613",
        "temperature": 0,
        "timeout_seconds": 30,
        "max_retries": 3,
        "concurrency": 2,
    }
    refused = page.post("/reports/endpoints/", {**form, "header_env": '{"Authorization": "DATABASE_URL"}'})
    assert refused.status_code == 400 and "not allowed: DATABASE_URL" in refused.content.decode()
    assert not GenerationEndpoint.objects.exists() and _audit_count() == 0
    assert (
        page.post("/reports/endpoints/", {**form, "header_env": '{"Authorization": "REWIND_SECRET_A"}'}).status_code
        == 302
    )
    audit = _audit_count()
    changed = page.post("/reports/endpoints/", {**form, "header_env": '{"Authorization": "SLACK_BOT_TOKEN"}'})
    assert changed.status_code == 400 and "not allowed: SLACK_BOT_TOKEN" in changed.content.decode()
    assert GenerationEndpoint.objects.get().header_env == {"Authorization": "REWIND_SECRET_A"}
    assert _audit_count() == audit


def test_variables_listed_in_settings_are_allowed_besides_the_prefix(api_as, approver, releases, settings):
    settings.REWIND_GENERATION_SECRETS = ["OPENAI_API_KEY"]
    client = api_as(approver)
    assert client.post("/api/v1/generation-endpoints/", _body(releases[0], "OPENAI_API_KEY")).status_code == 201
    assert client.post("/api/v1/generation-endpoints/", _body(releases[1], "REWIND_SECRET_")).status_code == 400
