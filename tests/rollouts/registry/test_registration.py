from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.immutable import ImmutableRecordError
from core.models import AuditEntry
from rollouts.models import DeploymentEvent, IndexVersion, ModelVersion, Release
from rollouts.registry import services
from tests.rollouts.conftest import T0, index_v, model_v, prompt_v

MODEL = {
    "provider": "openai",
    "requested_alias": "gpt-4o",
    "resolved_snapshot": "gpt-4o-2024-08-06",
    "precision": "unknown",
    "decoding_params": {"temperature": 0, "response_format": "json_schema"},
}


def test_registering_identical_content_twice_returns_the_existing_version(responder):
    first, created = services.model_version_register(actor=responder, **MODEL)
    again, created_again = services.model_version_register(actor=responder, **MODEL)
    assert created and not created_again
    assert again.pk == first.pk
    assert ModelVersion.objects.count() == 1
    assert AuditEntry.objects.filter(action="model_version.register").count() == 1


def test_the_same_build_time_in_another_timezone_is_the_same_index(responder):
    built = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    a = index_v(responder, built_at=built)
    b = index_v(responder, built_at=built.astimezone(timezone(timedelta(hours=2))))
    assert a.pk == b.pk


def test_a_prompt_edit_is_a_new_version_but_a_new_commit_message_alone_is_not(responder):
    a = prompt_v(responder, message="first")
    b = prompt_v(responder, message="reworded message only")
    c = prompt_v(responder, system_prompt="Be brief.")
    assert a.pk == b.pk
    assert c.pk != a.pk


def test_the_orm_refuses_to_update_or_delete_versions_releases_and_deployments(responder, release_factory, staging):
    release = release_factory()
    event = services.deployment_record(actor=responder, environment=staging, release=release, live_at=T0)
    model = release.model
    model.precision = "int4"
    with pytest.raises(ImmutableRecordError):
        model.save()
    with pytest.raises(ImmutableRecordError):
        ModelVersion.objects.filter(pk=model.pk).update(precision="int4")
    with pytest.raises(ImmutableRecordError):
        release.delete()
    with pytest.raises(ImmutableRecordError):
        Release.objects.all().delete()
    with pytest.raises(ImmutableRecordError):
        DeploymentEvent.objects.filter(pk=event.pk).update(live_at=T0 + timedelta(days=1))
    with pytest.raises(ImmutableRecordError):
        AuditEntry.objects.all().delete()
    assert ModelVersion.objects.get(pk=model.pk).precision == "bf16"


@pytest.mark.parametrize(
    "kind,payload",
    [
        ("model-versions", MODEL),
        ("prompt-versions", {"name": "invoice-extract", "template": "Extract: {{ text }}", "variables": ["text"]}),
        (
            "adapter-versions",
            {"name": "ledger-lora", "base_model": "llama-3.1-8b", "rank": 8, "alpha": 16, "digest": "sha256:1"},
        ),
        (
            "index-versions",
            {
                "name": "kb",
                "embedding_model": "text-embedding-3-small",
                "dimension": 1536,
                "corpus_snapshot": "kb-2026-03",
                "document_count": 10,
                "built_at": "2026-03-01T10:00:00Z",
            },
        ),
    ],
)
def test_api_registration_answers_201_then_200_with_the_same_version(api_as, responder, kind, payload):
    api = api_as(responder)
    first = api.post(f"/api/v1/{kind}/", payload, format="json")
    assert first.status_code == 201, first.json()
    second = api.post(f"/api/v1/{kind}/", payload, format="json")
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["content_hash"] == first.json()["content_hash"]
    listed = api.get(f"/api/v1/{kind}/").json()
    assert listed["count"] == 1


def test_api_release_creation_is_idempotent(api_as, responder, feature):
    model, prompt, index = model_v(responder), prompt_v(responder), index_v(responder)
    body = {
        "feature": "support-assistant",
        "model": model.pk,
        "prompt": prompt.pk,
        "index": index.pk,
        "query_encoder": index.encoder,
    }
    api = api_as(responder)
    first = api.post("/api/v1/releases/", body, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["number"] == 1
    assert first.json()["model"]["resolved_snapshot"] == model.resolved_snapshot
    again = api.post("/api/v1/releases/", body, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Release.objects.count() == 1


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_immutable_records_have_no_update_or_delete_endpoints(api_as, responder, release_factory, staging, method):
    from tests.rollouts.conftest import adapter_v

    release = release_factory(adapters=[adapter_v(responder)])
    event = services.deployment_record(actor=responder, environment=staging, release=release, live_at=T0)
    urls = [
        f"/api/v1/model-versions/{release.model_id}/",
        f"/api/v1/prompt-versions/{release.prompt_id}/",
        f"/api/v1/index-versions/{release.index_id}/",
        f"/api/v1/adapter-versions/{release.ordered_adapters()[0].pk}/",
        f"/api/v1/releases/{release.pk}/",
        f"/api/v1/deployments/{event.pk}/",
    ]
    api = api_as(responder)
    statuses = {url: getattr(api, method)(url, {"notes": "x"}, format="json").status_code for url in urls}
    assert statuses == dict.fromkeys(urls, 405)
    assert IndexVersion.objects.count() == 1 and Release.objects.count() == 1 and DeploymentEvent.objects.count() == 1


def test_version_lists_filter_by_content_fields(api_as, viewer, responder):
    services.model_version_register(actor=responder, **MODEL)
    services.model_version_register(actor=responder, **{**MODEL, "resolved_snapshot": "gpt-4o-2024-11-20"})
    model_v(responder)
    api = api_as(viewer)
    listed = api.get("/api/v1/model-versions/", {"requested_alias": "gpt-4o"}).json()
    assert sorted(v["resolved_snapshot"] for v in listed["results"]) == ["gpt-4o-2024-08-06", "gpt-4o-2024-11-20"]
    assert api.get("/api/v1/model-versions/", {"precision": "bf16"}).json()["count"] == 1
    first = listed["results"][0]
    assert api.get(f"/api/v1/model-versions/{first['id']}/").json() == first
