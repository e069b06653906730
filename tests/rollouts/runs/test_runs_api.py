from __future__ import annotations

import pytest

from core.models import AuditEntry
from rollouts.impact import services as impact
from rollouts.models import RolloutRun, RolloutTransition, RunState
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db

STEPS = [{"type": "weight", "weight": 10}, {"type": "pause"}, {"type": "weight", "weight": 100}]


@pytest.fixture
def env(team, approver):
    feature, staging, production = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)
    deploy(approver, production, stable)
    return staging, production, stable, candidate


def start(client, staging, candidate, **extra):
    return client.post(
        "/api/v1/runs/",
        {"environment": staging.pk, "candidate_release": candidate.pk, "steps": STEPS, **extra},
        format="json",
    )


def test_a_run_starts_with_the_default_steps(env, api_as, responder):
    staging, _, stable, candidate = env
    response = api_as(responder).post(
        "/api/v1/runs/", {"environment": staging.pk, "candidate_release": candidate.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    weights = [s["weight"] for s in body["steps"] if s["type"] == "weight"]
    assert weights == [1, 5, 25, 50, 100]
    assert body["steps"][-1] == {"type": "bake"}
    assert (body["stable_release_number"], body["state"]) == (stable.number, "running")


def test_one_active_run_per_environment(env, api_as, responder):
    staging, _, _, candidate = env
    assert start(api_as(responder), staging, candidate).status_code == 201
    second = start(api_as(responder), staging, candidate)
    assert second.status_code == 409
    assert RolloutRun.objects.count() == 1


def test_the_same_idempotency_key_returns_the_same_run(env, api_as, responder):
    staging, _, _, candidate = env
    a = start(api_as(responder), staging, candidate, idempotency_key="ci-123")
    b = start(api_as(responder), staging, candidate, idempotency_key="ci-123")
    assert a.json()["id"] == b.json()["id"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"environment": 9999}, "environment"),
        ({"candidate_release": 9999}, "candidate_release"),
        ({"steps": []}, "steps"),
        ({"steps": [{"type": "teleport"}]}, "steps"),
        ({"steps": [{"type": "weight", "weight": 150}]}, "steps"),
        ({"steps": [{"type": "weight", "weight": 50}]}, "steps"),
        ({"steps": [{"type": "weight", "weight": 10}, {"type": "bake"}, {"type": "weight", "weight": 100}]}, "steps"),
        ({"steps": [{"type": "pause", "seconds": -1}, {"type": "weight", "weight": 100}]}, "steps"),
        ({"incident_id": 0}, "incident_id"),
        ({"config": {"analysis_seconds": -1}}, "config"),
        ({"config": {"metrics": [{"name": "vibes", "kind": "binary", "bad_direction": "increase"}]}}, "config"),
        ({"config": {"metrics": [{"name": "error_rate", "kind": "binary", "bad_direction": "sideways"}]}}, "config"),
        ({"speed": "fast"}, "speed"),
    ],
)
def test_bad_start_input_is_a_400_and_stores_nothing(env, api_as, responder, patch, field):
    staging, _, _, candidate = env
    payload = {"environment": staging.pk, "candidate_release": candidate.pk, "steps": STEPS, **patch}
    response = api_as(responder).post("/api/v1/runs/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not RolloutRun.objects.exists() and not RolloutTransition.objects.exists()


def test_starting_the_live_release_is_refused(env, api_as, responder):
    staging, _, stable, _ = env
    response = start(api_as(responder), staging, stable)
    assert response.status_code == 400 and "already live" in str(response.json())


def test_pause_resume_promote_abort_are_audited_transitions(env, api_as, responder):
    from rollouts.runs.services import run_advance

    staging, _, _stable, candidate = env
    client = api_as(responder)
    run_id = start(client, staging, candidate).json()["id"]
    run_advance(run_id=run_id)  # 10 %, then the open-ended pause step pauses the run
    assert RolloutRun.objects.get(pk=run_id).state == RunState.PAUSED
    assert client.post(f"/api/v1/runs/{run_id}/resume/", {"reason": "looks fine"}, format="json").status_code == 200
    assert client.post(f"/api/v1/runs/{run_id}/pause/", {}, format="json").status_code == 200
    assert client.post(f"/api/v1/runs/{run_id}/pause/", {}, format="json").status_code == 409
    assert client.post(f"/api/v1/runs/{run_id}/promote/", {}, format="json").status_code == 200
    abort = client.post(f"/api/v1/runs/{run_id}/abort/", {"reason": "changed my mind"}, format="json")
    assert abort.status_code == 200 and abort.json()["state"] == RunState.ROLLING_BACK
    run_advance(run_id=run_id)
    run = RolloutRun.objects.get(pk=run_id)
    assert run.state == RunState.ABORTED and run.candidate_weight == 0
    pairs = list(run.transitions.values_list("old_state", "new_state"))
    assert ("paused", "running") in pairs and ("running", "paused") in pairs
    assert ("running", "rolling_back") in pairs
    assert ("rolling_back", "aborted") in pairs
    actions = list(
        AuditEntry.objects.filter(object_type="rollouts.rolloutrun", object_id=str(run_id)).values_list(
            "action", flat=True
        )
    )
    for action in ("rollout.start", "rollout.resume", "rollout.pause", "rollout.promote", "rollout.abort"):
        assert action in actions
    detail = client.get(f"/api/v1/runs/{run_id}/").json()
    assert len(detail["transitions"]) == run.transitions.count()


@pytest.mark.parametrize(
    ("who", "start_code", "control_code"),
    [(None, 401, 401), ("viewer", 403, 403), ("responder", 201, 200), ("approver", 201, 200), ("admin_user", 201, 200)],
)
def test_run_permissions(env, api_as, request, responder, who, start_code, control_code):
    staging, _, _, candidate = env
    user = request.getfixturevalue(who) if who else None
    assert start(api_as(user), staging, candidate).status_code == start_code
    if start_code != 201:
        assert not RolloutRun.objects.exists()
        run_id = start(api_as(responder), staging, candidate).json()["id"]
    else:
        run_id = RolloutRun.objects.get().pk
    response = api_as(user).post(f"/api/v1/runs/{run_id}/pause/", {}, format="json")
    assert response.status_code == control_code
    assert api_as(user).get("/api/v1/runs/").status_code == (401 if user is None else 200)


def test_runs_list_is_a_constant_number_of_queries(env, api_as, viewer, responder, django_assert_max_num_queries):
    staging, production, _, candidate = env
    start(api_as(responder), staging, candidate)
    start(api_as(responder), production, candidate)
    client = api_as(viewer)
    with django_assert_max_num_queries(3):  # token, count, page
        response = client.get("/api/v1/runs/")
    assert response.json()["count"] == 2


def test_a_production_rollback_waits_for_the_impact_review_unless_waived(env, api_as, approver, team):
    _, production, stable, candidate = env
    deploy(approver, production, candidate)
    impact.dependent_workflow_add(
        actor=approver, environment=production, release=candidate, workflow_id="invoices-parser", customer="Acme"
    )
    payload = {"feature": "support-assistant", "environment": "production", "reason": "errors up"}
    blocked = api_as(approver).post("/api/v1/rollbacks", payload, format="json")
    assert blocked.status_code == 409
    assert [w["workflow_id"] for w in blocked.json()["pending_workflows"]] == ["invoices-parser"]
    assert not RolloutRun.objects.exists()
    impact.impact_waive(actor=approver, environment=production, from_release=candidate, reason="outage, call Acme")
    allowed = api_as(approver).post("/api/v1/rollbacks", payload, format="json")
    assert allowed.status_code == 201, allowed.json()
    assert allowed.json()["candidate_release_number"] == stable.number
