"""One rule for moving production traffic to an older release, whichever door asks: the approver role and an
open user-impact gate. Each refusal leaves runs, deployments, the routing table and the audit log as they were."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from rollouts.impact import services as impact
from rollouts.models import DeploymentEvent, RolloutRun, RolloutTransition, RoutingTable
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db

STAGED = [{"type": "weight", "weight": 10}, {"type": "pause"}, {"type": "weight", "weight": 100}]


@pytest.fixture
def prod(team, approver):
    """Production runs release #2; release #1 is older; one dependent workflow on #2 is not reviewed yet."""
    feature, _staging, production = feature_with_envs(team)
    r1 = release(approver, feature, prompt="v1")
    r2 = release(approver, feature, prompt="v2")
    deploy(approver, production, r1)
    deploy(approver, production, r2)
    workflow = impact.dependent_workflow_add(
        actor=approver, environment=production, release=r2, workflow_id="invoices-parser", customer="Acme"
    )
    return production, r1, r2, workflow


def _state(production) -> tuple:
    table = RoutingTable.objects.filter(environment=production).values_list("version", "body").first()
    return (
        RolloutRun.objects.count(),
        DeploymentEvent.objects.filter(environment=production).count(),
        table,
        AuditEntry.objects.count(),
    )


def _doors(production, r1):
    """Every way to move production to release #1: (name, how to ask as a client)."""
    body_run = {"environment": production.pk, "candidate_release": r1.pk, "steps": [{"type": "weight", "weight": 100}]}
    body_rollback = {
        "feature": "support-assistant",
        "environment": "production",
        "to_release": r1.number,
        "reason": "x",
    }
    body_deploy = {"feature": "support-assistant", "environment": "production", "release": r1.pk}
    return {
        "api-runs": lambda api: api.post("/api/v1/runs/", body_run, format="json"),
        "api-rollbacks": lambda api: api.post("/api/v1/rollbacks", body_rollback, format="json"),
        "api-deployments": lambda api: api.post("/api/v1/deployments/", body_deploy, format="json"),
    }


@pytest.mark.parametrize("door", ["api-runs", "api-rollbacks", "api-deployments"])
def test_a_responder_cannot_move_production_back_through_the_api(prod, api_as, responder, door):
    production, r1, _r2, _ = prod
    before = _state(production)
    response = _doors(production, r1)[door](api_as(responder))
    assert response.status_code == 403, response.json()
    assert "approver" in str(response.json())
    assert _state(production) == before


@pytest.mark.parametrize("door", ["api-runs", "api-rollbacks", "api-deployments"])
def test_an_approver_waits_for_the_impact_gate_through_the_api(prod, api_as, approver, door):
    production, r1, _r2, workflow = prod
    before = _state(production)
    blocked = _doors(production, r1)[door](api_as(approver))
    assert blocked.status_code == 409, blocked.json()
    assert [w["workflow_id"] for w in blocked.json()["pending_workflows"]] == ["invoices-parser"]
    assert _state(production) == before
    impact.impact_review(actor=approver, workflow=workflow, status="accepted", note="Acme moved to the new parser")
    allowed = _doors(production, r1)[door](api_as(approver))
    assert allowed.status_code in (200, 201), allowed.json()


def test_rolling_out_a_newer_release_is_not_a_rollback(prod, api_as, responder, approver):
    production, _r1, r2, _ = prod
    r3 = release(approver, production.feature, prompt="v3")
    response = api_as(responder).post(
        "/api/v1/runs/", {"environment": production.pk, "candidate_release": r3.pk, "steps": STAGED}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["stable_release_number"] == r2.number


def test_a_responder_cannot_roll_production_back_from_the_web(prod, web_as, responder):
    production, r1, _r2, _ = prod
    before = _state(production)
    response = web_as(responder).post(
        "/features/support-assistant/production/rollback/", {"to_release": str(r1.number), "reason": "errors"}
    )
    assert response.status_code == 403
    assert _state(production) == before


def test_an_approver_on_the_web_is_held_by_the_impact_gate(prod, web_as, approver):
    production, r1, _r2, _ = prod
    before = _state(production)
    page = web_as(approver).post(
        "/features/support-assistant/production/rollback/",
        {"to_release": str(r1.number), "reason": "errors"},
        follow=True,
    )
    assert "Rollback refused" in page.content.decode() and "invoices-parser" in page.content.decode()
    assert _state(production) == before


def test_the_web_deployment_form_applies_the_same_rule(prod, web_as, responder, approver):
    production, r1, _r2, _ = prod
    before = _state(production)
    body = {"environment": production.pk, "release": r1.pk}
    refused = web_as(responder).post("/features/support-assistant/deployments/new/", body)
    assert refused.status_code == 403 and "approver role" in refused.content.decode()
    held = web_as(approver).post("/features/support-assistant/deployments/new/", body)
    assert "invoices-parser" in held.content.decode()
    assert _state(production) == before


@pytest.fixture
def production_rollback(prod, approver):
    """An approver's staged production rollback to #1, started after the workflow was reviewed; paused."""
    production, r1, _r2, workflow = prod
    impact.impact_review(actor=approver, workflow=workflow, status="accepted")
    run, _ = runs.rollback_request(
        actor=approver, environment=production, to_release=r1, mode="staged", reason="errors up"
    )
    assert runs.run_pause(run=run, actor=approver, reason="looking")
    return RolloutRun.objects.get(pk=run.pk)


def _run_state(run) -> tuple:
    fresh = RolloutRun.objects.get(pk=run.pk)
    return fresh.state, fresh.step_index, fresh.candidate_weight, RolloutTransition.objects.filter(run=run).count()


@pytest.mark.parametrize("action", ["pause", "resume", "promote", "abort"])
def test_a_responder_cannot_steer_a_production_rollback_from_the_web(production_rollback, web_as, responder, action):
    before = _run_state(production_rollback)
    response = web_as(responder).post(f"/rollouts/{production_rollback.pk}/{action}/", {"reason": "mine now"})
    assert response.status_code == 403
    assert _run_state(production_rollback) == before


@pytest.mark.parametrize("action", ["pause", "resume", "promote", "abort"])
def test_a_responder_cannot_steer_a_production_rollback_through_the_api(production_rollback, api_as, responder, action):
    before = _run_state(production_rollback)
    response = api_as(responder).post(f"/api/v1/runs/{production_rollback.pk}/{action}/", {}, format="json")
    assert response.status_code == 403
    assert _run_state(production_rollback) == before


def test_the_run_page_hides_the_controls_of_a_production_rollback_from_a_responder(
    production_rollback, web_as, responder, approver
):
    url = f"/rollouts/{production_rollback.pk}/"
    assert f"/rollouts/{production_rollback.pk}/resume/" not in web_as(responder).get(url).content.decode()
    assert f"/rollouts/{production_rollback.pk}/resume/" in web_as(approver).get(url).content.decode()


def test_an_approver_steers_a_production_rollback(production_rollback, api_as, approver):
    response = api_as(approver).post(f"/api/v1/runs/{production_rollback.pk}/resume/", {}, format="json")
    assert response.status_code == 200, response.json()
