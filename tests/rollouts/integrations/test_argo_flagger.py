"""Rewind as Argo Rollouts' web metric provider and Flagger's webhook gate, per their documented contracts.

Argo's web provider GETs a URL, reads JSON and evaluates ``successCondition`` on ``jsonPath`` (``{$.data}``);
Flagger POSTs ``{"name", "namespace", "phase", "metadata"}`` and reads only the status: 2xx allows, anything else
halts (and for a ``rollback`` hook, 2xx means roll back)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from rollouts.impact.services import dependent_workflow_add
from rollouts.models import Analysis
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db

JUDGE = "/api/v1/judge/support-assistant/{env}"
FLAGGER = "/api/v1/flagger/support-assistant/{env}/{hook}"
STEPS = [{"type": "weight", "weight": 10}, {"type": "pause"}, {"type": "weight", "weight": 100}]


def payload(**metadata) -> dict:
    return {"name": "support-assistant", "namespace": "llm", "phase": "Progressing", "metadata": metadata}


@pytest.fixture
def world(team, approver):
    feature, staging, production = feature_with_envs(team)
    v1 = release(approver, feature, prompt="v1")
    v2 = release(approver, feature, prompt="v2")
    deploy(approver, staging, v1)
    deploy(approver, production, v1)
    deploy(approver, production, v2)
    return staging, production, v1, v2


def judged(run, verdict: str, *, look: int = 1, reason: str = "") -> Analysis:
    """A judged window as the run engine stores it."""
    now = timezone.now()
    reason = reason or f"error_rate {verdict}"
    return Analysis.objects.create(
        run=run,
        step_index=run.step_index,
        look=look,
        window_start=now,
        window_end=now,
        verdict=verdict,
        result={
            "verdict": verdict,
            "reason": reason,
            "metrics": [{"name": "error_rate", "verdict": verdict, "reason": reason, "estimate": 0.01}],
        },
    )


@pytest.fixture
def canary(world, responder):
    staging, _production, _v1, v2 = world
    run = runs.run_start(actor=responder, environment=staging, candidate_release=v2, steps=STEPS)
    runs.run_advance(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_with_nothing_judged_the_judge_answers_no_data_with_200(world, api_as, viewer):
    response = api_as(viewer).get(JUDGE.format(env="staging"))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["ok"] is False and data["verdict"] == "no_data" and data["reasons"]


def test_the_judge_answers_the_latest_window_of_the_run_in_flight(canary, api_as, viewer):
    judged(canary, "inconclusive", look=1)
    judged(canary, "pass", look=2, reason="all 2 metrics within the allowed change")
    data = api_as(viewer).get(JUDGE.format(env="staging")).json()["data"]
    assert data == data | {"ok": True, "verdict": "pass", "run": canary.pk, "in_flight": True, "look": 2}
    assert data["reasons"][0] == "all 2 metrics within the allowed change"


def test_after_the_run_the_judge_answers_its_last_verdict(canary, api_as, viewer, responder):
    judged(canary, "fail", reason="error_rate regressed: 1.00% -> 3.00%")
    runs.run_abort(run=canary, actor=responder, reason="stop")
    runs.run_advance(run_id=canary.pk)  # the worker moves the traffic back
    data = api_as(viewer).get(JUDGE.format(env="staging")).json()["data"]
    assert data["ok"] is False and data["verdict"] == "fail" and data["in_flight"] is False
    assert "error_rate regressed" in data["reasons"][0]


def test_the_judge_needs_a_token_and_a_known_environment(world, api_as, viewer):
    assert api_as(None).get(JUDGE.format(env="staging")).status_code == 401
    assert api_as(viewer).get(JUDGE.format(env="nowhere")).status_code == 404


@pytest.mark.parametrize(
    ("verdict", "rollout", "promotion", "rollback"),
    [
        (None, 200, 403, 403),
        ("pass", 200, 200, 403),
        ("marginal", 200, 403, 403),
        ("inconclusive", 200, 403, 403),
        ("fail", 403, 403, 200),
    ],
)
def test_flagger_hooks_answer_from_the_judge(canary, api_as, viewer, verdict, rollout, promotion, rollback):
    if verdict:
        judged(canary, verdict)
    client = api_as(viewer)
    for hook, expected in (("confirm-rollout", rollout), ("confirm-promotion", promotion), ("rollback", rollback)):
        response = client.post(FLAGGER.format(env="staging", hook=hook), payload(), format="json")
        assert response.status_code == expected, (hook, response.json())
        body = response.json()
        assert body["allowed"] is (expected == 200) and body["reasons"] and body["canary"] == "llm/support-assistant"


def test_flagger_may_send_the_token_in_the_webhook_metadata(canary, client, viewer):
    judged(canary, "pass")
    token = Token.objects.create(user=viewer).key
    url = FLAGGER.format(env="staging", hook="confirm-promotion")
    assert client.post(url, payload(), content_type="application/json").status_code == 401
    response = client.post(url, payload(token=token), content_type="application/json")
    assert response.status_code == 200
    assert client.post(url, payload(token="wrong"), content_type="application/json").status_code == 401


def test_moving_production_to_an_older_release_waits_for_the_impact_review(world, api_as, viewer, approver):
    _staging, production, v1, v2 = world
    url = FLAGGER.format(env="production", hook="confirm-rollout")
    # Forward moves are not rollbacks: nothing to review.
    assert api_as(viewer).post(url, payload(release="3"), format="json").status_code == 200
    assert api_as(viewer).post(url, payload(release="99"), format="json").status_code == 200
    # A customer's workflow relies on the live release (v2); nobody has reviewed what a rollback does to it.
    dependent_workflow_add(
        actor=approver, environment=production, release=v2, workflow_id="invoice-extraction", name="Invoices"
    )
    refused = api_as(viewer).post(url, payload(release=str(v1.number)), format="json")
    assert refused.status_code == 403
    assert "older than the live" in refused.json()["reasons"][0]


def test_flagger_payloads_are_validated(canary, api_as, viewer):
    client = api_as(viewer)
    url = FLAGGER.format(env="staging", hook="confirm-rollout")
    missing = client.post(url, {"phase": "Progressing"}, format="json")
    assert missing.status_code == 400 and set(missing.json()) >= {"name", "namespace"}
    bad_release = client.post(url, payload(release="two"), format="json")
    assert bad_release.status_code == 400 and "metadata" in bad_release.json()
    assert client.post(FLAGGER.format(env="staging", hook="pre-rollout"), payload(), format="json").status_code == 404
