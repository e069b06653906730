from __future__ import annotations

import pytest

from core.models import AuditEntry
from rollouts.models import DeploymentEvent, Release, RolloutRun, RolloutTransition, RunKind, RunState
from rollouts.runs.services import last_known_good
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(team, approver):
    feature, staging, production = feature_with_envs(team)
    r1 = release(approver, feature, prompt="v1")
    r2 = release(approver, feature, prompt="v2")
    r3 = release(approver, feature, prompt="v3")
    for env in (staging, production):
        deploy(approver, env, r1)
        deploy(approver, env, r2)
        deploy(approver, env, r3)
    return feature, staging, production, (r1, r2, r3)


def test_it_rolls_back_to_the_last_known_good_release_by_default(world, api_as, responder):
    feature, _staging, _, (_r1, r2, r3) = world
    response = api_as(responder).post(
        "/api/v1/rollbacks", {"feature": feature.slug, "environment": "staging", "reason": "errors up"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == RunKind.ROLLBACK
    assert body["candidate_release_number"] == r2.number
    assert body["stable_release_number"] == r3.number
    assert body["state"] == RunState.RUNNING
    assert body["steps"] == [{"type": "weight", "weight": 100}]
    run = RolloutRun.objects.get(pk=body["id"])
    assert list(run.transitions.values_list("old_state", "new_state")) == [("pending", "running")]
    actions = set(AuditEntry.objects.filter(object_type="rollouts.rolloutrun").values_list("action", flat=True))
    assert {"rollback.request", "rollback.start"} <= actions


def test_last_known_good_skips_releases_that_were_rolled_back(world, approver):
    _, staging, _, (r1, r2, _r3) = world
    deploy(approver, staging, r2, is_rollback=True)  # r3 was rolled back to r2
    assert last_known_good(staging, exclude=r2) == r1


def test_a_second_request_returns_the_rollback_in_flight(world, api_as, responder):
    feature, *_ = world
    payload = {"feature": feature.slug, "environment": "staging", "reason": "errors up"}
    first = api_as(responder).post("/api/v1/rollbacks", payload, format="json")
    second = api_as(responder).post("/api/v1/rollbacks", payload, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert RolloutRun.objects.count() == 1


def test_partial_rollback_reverts_only_the_prompt_layer(world, api_as, responder, approver):
    feature, staging, _, (r1, _r2, _r3) = world
    r4 = release(approver, feature, prompt="v4", snapshot="gpt-4-1106")
    deploy(approver, staging, r4)
    response = api_as(responder).post(
        "/api/v1/rollbacks",
        {"feature": feature.slug, "environment": "staging", "to_release": r1.number, "layer": "prompt", "reason": "x"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    new = Release.objects.get(pk=response.json()["candidate_release"])
    assert new.number == 5 and new.parent == r4
    assert new.prompt_id == r1.prompt_id and new.model_id == r4.model_id and new.index_id == r4.index_id


def test_an_incompatible_rollback_target_is_refused_unless_an_approver_overrides(team, approver, responder, api_as):
    feature, staging, _ = feature_with_envs(team)
    bad = release(approver, feature, prompt="old", encoder="e5@1")
    # An index whose encoder no longer matches: register a release with a mismatching query encoder by override.
    from rollouts.registry import services

    mismatched, _ = services.release_create(
        actor=approver,
        feature=feature,
        model=bad.model,
        prompt=bad.prompt,
        index=bad.index,
        query_encoder="e5@2",
        override_reason="experiment",
    )
    good = release(approver, feature, prompt="new")
    deploy(approver, staging, mismatched, override_reason="experiment")
    deploy(approver, staging, good)
    payload = {"feature": feature.slug, "environment": "staging", "to_release": mismatched.number, "reason": "x"}
    refused = api_as(responder).post("/api/v1/rollbacks", payload, format="json")
    assert refused.status_code == 400
    assert "different spaces" in str(refused.json()["compatibility"])
    assert not RolloutRun.objects.exists()
    by_responder = api_as(responder).post(
        "/api/v1/rollbacks", {**payload, "override_reason": "known issue"}, format="json"
    )
    assert by_responder.status_code == 400
    assert "Only an approver" in str(by_responder.json())
    accepted = api_as(approver).post("/api/v1/rollbacks", {**payload, "override_reason": "known issue"}, format="json")
    assert accepted.status_code == 201, accepted.json()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"environment": "staging", "reason": "x"}, "feature"),
        ({"feature": "support-assistant", "environment": "nope", "reason": "x"}, "environment"),
        ({"feature": "support-assistant", "environment": "staging"}, "reason"),
        ({"feature": "support-assistant", "environment": "staging", "reason": "x", "mode": "slow"}, "mode"),
        ({"feature": "support-assistant", "environment": "staging", "reason": "x", "layer": "gpu"}, "layer"),
        ({"feature": "support-assistant", "environment": "staging", "reason": "x", "to_release": 99}, "to_release"),
        ({"feature": "support-assistant", "environment": "staging", "reason": "x", "to_release": 3}, "to_release"),
        ({"feature": "support-assistant", "environment": "staging", "reason": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_rollback_input_gets_a_400_and_stores_nothing(world, api_as, responder, payload, field):
    releases, events = Release.objects.count(), DeploymentEvent.objects.count()
    response = api_as(responder).post("/api/v1/rollbacks", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not RolloutRun.objects.exists() and not RolloutTransition.objects.exists()
    assert (Release.objects.count(), DeploymentEvent.objects.count()) == (releases, events)


@pytest.mark.parametrize(
    ("who", "env", "expected"),
    [
        (None, "staging", 401),
        ("viewer", "staging", 403),
        ("responder", "staging", 201),
        ("responder", "production", 403),
        ("approver", "production", 201),
        ("admin_user", "production", 201),
    ],
)
def test_rollback_permissions(world, api_as, request, who, env, expected):
    feature, *_ = world
    user = request.getfixturevalue(who) if who else None
    response = api_as(user).post(
        "/api/v1/rollbacks", {"feature": feature.slug, "environment": env, "reason": "x"}, format="json"
    )
    assert response.status_code == expected, response.content
    assert RolloutRun.objects.exists() == (expected == 201)


def test_a_staged_rollback_uses_the_default_steps(world, api_as, responder):
    feature, *_ = world
    response = api_as(responder).post(
        "/api/v1/rollbacks",
        {"feature": feature.slug, "environment": "staging", "mode": "staged", "reason": "slowly"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert [s["weight"] for s in body["steps"] if s["type"] == "weight"] == [1, 5, 25, 50, 100]
    assert body["candidate_weight"] == 0  # staged: the worker moves traffic step by step


def test_a_rollback_during_a_rollout_rolls_that_rollout_back_in_place(world, api_as, responder, approver):
    from rollouts.runs import services as runs

    feature, staging, _, (_r1, _r2, r3) = world
    r4 = release(approver, feature, prompt="v4")
    rollout = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=r4,
        steps=[{"type": "weight", "weight": 10}, {"type": "pause"}, {"type": "weight", "weight": 100}],
    )
    runs.run_advance(run_id=rollout.pk)
    response = api_as(responder).post(
        "/api/v1/rollbacks",
        {"feature": feature.slug, "environment": "staging", "reason": "canary hurts"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["id"] == rollout.pk and response.json()["state"] == RunState.ROLLING_BACK
    runs.run_advance(run_id=rollout.pk)
    rollout.refresh_from_db()
    assert rollout.state == RunState.ROLLED_BACK and rollout.candidate_weight == 0
    assert rollout.time_to_rollback is not None
    assert RolloutRun.objects.count() == 1
    routing = api_as(responder).get("/api/v1/routing/support-assistant/staging").json()
    assert [(r["release"], r["weight"]) for r in routing["releases"]] == [(r3.number, 100)]
