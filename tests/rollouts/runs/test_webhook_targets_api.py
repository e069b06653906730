from __future__ import annotations

import pytest

from core.models import AuditEntry
from rollouts.models import WebhookTarget
from tests.rollouts.factories import feature_with_envs

pytestmark = pytest.mark.django_db


@pytest.fixture
def staging(team):
    return feature_with_envs(team)[1]


def payload(staging, **extra):
    return {"environment": staging.pk, "url": "http://127.0.0.1:9/hook", "secret": "x" * 24, **extra}


def test_an_approver_adds_a_target_whose_secret_is_never_shown(staging, api_as, approver):
    response = api_as(approver).post("/api/v1/webhook-targets/", payload(staging), format="json")
    assert response.status_code == 201, response.json()
    assert "secret" not in response.json()
    target = WebhookTarget.objects.get()
    assert target.secret == "x" * 24
    assert AuditEntry.objects.filter(action="webhook_target.create", object_id=str(target.pk)).exists()
    assert "secret" not in api_as(approver).get("/api/v1/webhook-targets/").json()["results"][0]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"url": "not a url"}, "url"),
        ({"secret": "short"}, "secret"),
        ({"environment": 9999}, "environment"),
        ({"retries": 3}, "retries"),
    ],
)
def test_bad_targets_are_refused_and_nothing_is_stored(staging, api_as, approver, extra, field):
    response = api_as(approver).post("/api/v1/webhook-targets/", payload(staging, **extra), format="json")
    assert response.status_code == 400 and field in response.json()
    assert not WebhookTarget.objects.exists()


@pytest.mark.parametrize(
    ("who", "expected"), [(None, 401), ("viewer", 403), ("responder", 403), ("approver", 201), ("admin_user", 201)]
)
def test_managing_targets_needs_an_approver(staging, api_as, request, who, expected):
    user = request.getfixturevalue(who) if who else None
    response = api_as(user).post("/api/v1/webhook-targets/", payload(staging), format="json")
    assert response.status_code == expected
    assert WebhookTarget.objects.exists() == (expected == 201)


def test_deactivating_and_deleting_a_target_are_audited(staging, api_as, approver):
    target_id = api_as(approver).post("/api/v1/webhook-targets/", payload(staging), format="json").json()["id"]
    patch = api_as(approver).patch(f"/api/v1/webhook-targets/{target_id}/", {"active": False}, format="json")
    assert patch.status_code == 200 and patch.json()["active"] is False
    assert api_as(approver).delete(f"/api/v1/webhook-targets/{target_id}/").status_code == 204
    actions = set(AuditEntry.objects.filter(object_type="rollouts.webhooktarget").values_list("action", flat=True))
    assert actions == {"webhook_target.create", "webhook_target.update", "webhook_target.delete"}
