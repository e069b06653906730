"""Bad input gets a 400 with messages and stores nothing."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from core.models import AuditEntry
from rollouts.models import DeploymentEvent, ModelVersion, PromptVersion, Release
from tests.rollouts.conftest import index_v, model_v, prompt_v


def _nothing_stored():
    return (
        ModelVersion.objects.count() == 0
        and PromptVersion.objects.count() == 0
        and not AuditEntry.objects.filter(action__endswith="register").exists()
    )


def test_malformed_json_is_a_400(api_as, responder):
    response = api_as(responder).post(
        "/api/v1/model-versions/", data='{"provider": "openai",', content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert _nothing_stored()


def test_unknown_fields_are_named(api_as, responder):
    response = api_as(responder).post(
        "/api/v1/model-versions/",
        {"provider": "openai", "requested_alias": "gpt-4o", "resolved_snapshot": "x", "temprature": 0.1},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"temprature": ["Unknown field."]}
    assert _nothing_stored()


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (
            "/api/v1/model-versions/",
            {"provider": "o", "requested_alias": "a", "resolved_snapshot": "s", "precision": "int3"},
            "precision",
        ),
        (
            "/api/v1/model-versions/",
            {"provider": "o", "requested_alias": "a", "resolved_snapshot": "s", "decoding_params": [1]},
            "decoding_params",
        ),
        ("/api/v1/model-versions/", {"provider": ["o"], "requested_alias": "a", "resolved_snapshot": "s"}, "provider"),
        ("/api/v1/prompt-versions/", {"name": "p", "variables": "text"}, "variables"),
        (
            "/api/v1/adapter-versions/",
            {"name": "a", "base_model": "b", "rank": "sixteen", "alpha": 1, "digest": "d"},
            "rank",
        ),
        (
            "/api/v1/index-versions/",
            {
                "name": "i",
                "embedding_model": "e",
                "dimension": -3,
                "corpus_snapshot": "c",
                "document_count": 1,
                "built_at": "2026-01-01T00:00:00Z",
            },
            "dimension",
        ),
        (
            "/api/v1/index-versions/",
            {
                "name": "i",
                "embedding_model": "e",
                "dimension": 3,
                "corpus_snapshot": "c",
                "document_count": 1,
                "built_at": "last week",
            },
            "built_at",
        ),
        ("/api/v1/model-versions/", {"requested_alias": "a", "resolved_snapshot": "s"}, "provider"),
    ],
)
def test_wrong_types_and_missing_fields_get_field_messages(api_as, responder, url, body, field):
    response = api_as(responder).post(url, body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert _nothing_stored()


def test_a_json_array_instead_of_an_object_is_a_400(api_as, responder):
    response = api_as(responder).post("/api/v1/model-versions/", [1, 2], format="json")
    assert response.status_code == 400
    assert _nothing_stored()


def test_a_release_with_unknown_parts_names_each(api_as, responder, feature):
    response = api_as(responder).post(
        "/api/v1/releases/", {"feature": "nope", "model": 999, "prompt": "x", "adapters": [998]}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"feature", "model", "prompt", "adapters"}
    assert Release.objects.count() == 0


def test_a_deployment_to_an_unknown_environment_or_of_another_features_release_is_refused(
    api_as, responder, admin_user, team, release_factory, feature
):
    release = release_factory()
    api = api_as(responder)
    body = {"feature": feature.slug, "environment": "canary", "release": release.pk}
    assert api.post("/api/v1/deployments/", body, format="json").json() == {
        "environment": ["support-assistant has no environment of that name."]
    }
    api_as(admin_user).post("/api/v1/features/", {"slug": "other", "name": "Other", "team": team.slug}, format="json")
    api_as(admin_user).post("/api/v1/environments/", {"feature": "other", "name": "staging"}, format="json")
    response = api.post(
        "/api/v1/deployments/", {"feature": "other", "environment": "staging", "release": release.pk}, format="json"
    )
    assert response.status_code == 400
    assert "belongs to another feature" in response.json()["release"][0]
    assert DeploymentEvent.objects.count() == 0


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_an_oversized_body_is_refused_before_parsing(api_as, responder):
    body = json.dumps({"name": "p", "system_prompt": "x" * 20_000})
    response = api_as(responder).post("/api/v1/prompt-versions/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "limit is 10000 bytes" in response.json()["detail"]
    assert _nothing_stored()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_a_body_just_under_the_limit_is_accepted(api_as, responder):
    body = json.dumps({"name": "p", "system_prompt": "x" * 9_000})
    response = api_as(responder).post("/api/v1/prompt-versions/", data=body, content_type="application/json")
    assert response.status_code == 201


def test_registration_and_release_writes_are_audited(api_as, responder, feature):
    api = api_as(responder)
    model, prompt, index = model_v(responder), prompt_v(responder), index_v(responder)
    release = api.post(
        "/api/v1/releases/",
        {
            "feature": feature.slug,
            "model": model.pk,
            "prompt": prompt.pk,
            "index": index.pk,
            "query_encoder": index.encoder,
        },
        format="json",
    ).json()
    api.post(
        "/api/v1/deployments/",
        {"feature": feature.slug, "environment": "staging", "release": release["id"]},
        format="json",
    )
    actions = set(AuditEntry.objects.filter(actor=responder).values_list("action", flat=True))
    assert actions >= {
        "model_version.register",
        "prompt_version.register",
        "index_version.register",
        "release.create",
        "deployment.record",
    }
    trail = api.get("/api/v1/audit/", {"object_type": "rollouts.release", "object_id": release["id"]}).json()
    assert [e["action"] for e in trail["results"]] == ["release.create"]
    assert trail["results"][0]["after"]["number"] == 1


def test_a_parent_from_another_feature_is_refused(api_as, responder, admin_user, team, release_factory, feature):
    from rollouts.registry import services
    from tests.rollouts.conftest import make_release

    other = services.feature_create(actor=admin_user, slug="other", name="Other", team=team)
    foreign = make_release(responder, other)
    mine = release_factory()
    body = {
        "feature": feature.slug,
        "model": mine.model_id,
        "prompt": prompt_v(responder, system_prompt="v2").pk,
        "index": mine.index_id,
        "query_encoder": mine.query_encoder,
        "parent": foreign.pk,
    }
    response = api_as(responder).post("/api/v1/releases/", body, format="json")
    assert response.status_code == 400
    assert "belongs to another feature" in response.json()["parent"][0]
