"""The permission matrix over the registry API: anonymous, viewer, responder, approver, admin."""

from __future__ import annotations

import pytest

from rollouts.models import Release
from tests.rollouts.conftest import T0, index_v, model_v, prompt_v

ROLES = ["anonymous", "viewer", "responder", "approver", "admin_user"]


def _who(request, role):
    return None if role == "anonymous" else request.getfixturevalue(role)


def _body(kind, feature, responder):
    if kind == "model-version":
        return "/api/v1/model-versions/", {"provider": "openai", "requested_alias": "a", "resolved_snapshot": "a-1"}
    if kind == "prompt-version":
        return "/api/v1/prompt-versions/", {"name": "p", "system_prompt": "Hi"}
    if kind == "release":
        index = index_v(responder)
        return "/api/v1/releases/", {
            "feature": feature.slug,
            "model": model_v(responder).pk,
            "prompt": prompt_v(responder).pk,
            "index": index.pk,
            "query_encoder": index.encoder,
        }
    if kind == "override":
        index = index_v(responder)
        return "/api/v1/releases/", {
            "feature": feature.slug,
            "model": model_v(responder).pk,
            "prompt": prompt_v(responder).pk,
            "index": index.pk,
            "query_encoder": "other-encoder",
            "override_reason": "checked by hand",
        }
    if kind == "deployment":
        release = Release.objects.get(number=1)
        return "/api/v1/deployments/", {
            "feature": feature.slug,
            "environment": "staging",
            "release": release.pk,
            "live_at": T0.isoformat(),
        }
    if kind == "feature":
        return "/api/v1/features/", {"slug": "new-feature", "name": "New", "team": "ml-platform"}
    if kind == "environment":
        return "/api/v1/environments/", {"feature": feature.slug, "name": "canary"}
    raise AssertionError(kind)


# expected status per role: anonymous, viewer, responder, approver, admin
WRITE_MATRIX = [
    ("model-version", [401, 403, 201, 201, 201]),
    ("prompt-version", [401, 403, 201, 201, 201]),
    ("release", [401, 403, 201, 201, 201]),
    ("override", [401, 403, 400, 201, 201]),
    ("deployment", [401, 403, 201, 201, 201]),
    ("feature", [401, 403, 403, 403, 201]),
    ("environment", [401, 403, 403, 403, 201]),
]


@pytest.mark.parametrize(("role", "column"), [(r, i) for i, r in enumerate(ROLES)])
def test_write_permission_matrix(request, api_as, responder, release_factory, feature, role, column):
    release_factory(index=index_v(responder, name="seed"))  # release #1 for deployments
    api = api_as(_who(request, role))
    statuses = {}
    for kind, _ in WRITE_MATRIX:
        url, body = _body(kind, feature, responder)
        statuses[kind] = api.post(url, body, format="json").status_code
    assert statuses == {kind: expected[column] for kind, expected in WRITE_MATRIX}


READ_URLS = [
    "/api/v1/features/",
    "/api/v1/features/support-assistant/",
    "/api/v1/environments/",
    "/api/v1/model-versions/",
    "/api/v1/releases/",
    "/api/v1/deployments/",
    "/api/v1/audit/",
    "/api/v1/features/support-assistant/environments/staging/changes?from=2026-01-01T00:00:00Z",
]


@pytest.mark.parametrize("role", ROLES)
def test_read_permission_matrix(request, api_as, feature, role):
    api = api_as(_who(request, role))
    statuses = {url: api.get(url).status_code for url in READ_URLS}
    assert statuses == dict.fromkeys(READ_URLS, 401 if role == "anonymous" else 200)


def test_a_feature_can_be_renamed_by_an_admin_only(api_as, responder, approver, admin_user, feature):
    body = {"name": "Support assistant (EU)"}
    assert api_as(approver).patch("/api/v1/features/support-assistant/", body, format="json").status_code == 403
    response = api_as(admin_user).patch("/api/v1/features/support-assistant/", body, format="json")
    assert response.status_code == 200
    feature.refresh_from_db()
    assert feature.name == "Support assistant (EU)"
