"""Runs driven by a real Celery worker and beat on the real broker, reading the test database."""

from __future__ import annotations

import pytest
from django.utils import timezone

from rollouts.models import DeploymentEvent, RolloutRun, RunState, WebhookDelivery, WebhookTarget
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy
from tests.rollouts.runs.engine_support import state_of, wait_for
from tests.support.webhook_receiver import WebhookReceiver
from tests.support.worker import CeleryWorker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SECRET = "s3cret-for-the-gateway"
FAST = {"lease_seconds": 2, "webhook_backoff_seconds": 0.2, "webhook_max_attempts": 3, "webhook_timeout_seconds": 10}


@pytest.fixture
def receiver():
    r = WebhookReceiver(SECRET).start()
    yield r
    r.stop()


def test_a_killed_worker_is_replaced_and_each_webhook_lands_once(staged, responder, receiver, beat):
    staging, _stable, candidate = staged
    WebhookTarget.objects.create(environment=staging, url=receiver.url, secret=SECRET)
    receiver.slow["step2-"] = 3.0  # the worker is mid-delivery of the 50 % step when we kill it
    first = CeleryWorker(name="w1")
    first.start()
    steps = [
        {"type": "weight", "weight": 10},
        {"type": "pause", "seconds": 0.2},
        {"type": "weight", "weight": 50},
        {"type": "pause", "seconds": 0.2},
        {"type": "weight", "weight": 100},
    ]
    run = runs.run_start(actor=responder, environment=staging, candidate_release=candidate, steps=steps, config=FAST)
    try:
        wait_for(lambda: any("step2-" in k for k in receiver.arrivals), 30, first, beat)
        first.kill()
        assert state_of(run) == RunState.RUNNING
        second = CeleryWorker(name="w2")
        second.start()
        try:
            wait_for(lambda: state_of(run) == RunState.SUCCEEDED, 40, second, beat)
        finally:
            second.stop()
    finally:
        first.stop()
    applied_keys = [k for k, _ in receiver.applied]
    assert [b["routing"]["releases"][-1]["weight"] for _, b in receiver.applied] == [10, 50, 100]
    assert len(applied_keys) == len(set(applied_keys)) == 3
    assert receiver.bad_signatures == 0
    # The crash interrupted one delivery: the new worker re-sent it with the same key, never a new one.
    assert set(receiver.arrivals) == set(applied_keys)
    assert sorted(receiver.arrivals.values()) == [1, 1, 2]
    assert WebhookDelivery.objects.filter(run=run, status="delivered").count() == 3
    event = DeploymentEvent.objects.filter(environment=staging).order_by("-id").first()
    assert (event.release, event.rollout_run_id, event.via, event.is_rollback) == (candidate, run.pk, "rollout", False)


def test_without_data_the_judge_stays_inconclusive_and_the_run_waits(staged, responder, celery_worker_process, beat):
    staging, _stable, candidate = staged
    steps = [{"type": "weight", "weight": 10}, {"type": "analysis", "seconds": 0.3}, {"type": "weight", "weight": 100}]
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=steps,
        config={**FAST, "max_wait_looks": 3},
    )
    wait_for(lambda: state_of(run) == RunState.PAUSED, 30, celery_worker_process, beat)
    run.refresh_from_db()
    assert run.candidate_weight == 10 and run.step_index == 1
    assert list(run.analyses.values_list("verdict", flat=True)) == ["inconclusive"] * 3
    assert "waiting for data after 3 looks, too little traffic" in run.state_reason
    assert run.tested_looks == 0
    assert not DeploymentEvent.objects.filter(environment=staging, release=candidate).exists()


def test_a_failing_webhook_target_pauses_the_run(staged, responder, receiver, celery_worker_process, beat):
    staging, _stable, candidate = staged
    WebhookTarget.objects.create(environment=staging, url=receiver.url, secret=SECRET)
    receiver.fail_all = True
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=[{"type": "weight", "weight": 10}, {"type": "weight", "weight": 100}],
        config=FAST,
    )
    wait_for(lambda: state_of(run) == RunState.PAUSED, 30, celery_worker_process, beat)
    run.refresh_from_db()
    assert run.step_index == 0 and "failed 3 times" in run.state_reason
    assert sum(receiver.arrivals.values()) == 3


def test_an_immediate_rollback_completes_and_records_time_to_rollback(
    staged, approver, responder, celery_worker_process
):
    staging, stable, candidate = staged
    deploy(approver, staging, candidate)
    run, created = runs.rollback_request(actor=responder, environment=staging, reason="errors up")
    assert created
    wait_for(lambda: state_of(run) == RunState.SUCCEEDED, 30, celery_worker_process)
    run.refresh_from_db()
    assert run.time_to_rollback is not None and run.time_to_rollback.total_seconds() < 30
    event = DeploymentEvent.objects.filter(environment=staging).order_by("-id").first()
    assert (event.release, event.is_rollback, event.rollout_run_id) == (stable, True, run.pk)


JUDGED = {
    **FAST,
    "analysis_looks": 2,
    "metrics": [
        {
            "name": "error_rate",
            "kind": "binary",
            "bad_direction": "increase",
            "critical": True,
            "allowed_change": 0.01,
            "min_samples": 200,
        },
    ],
}


def post_observations(client, release, *, n: int, error_every: int) -> None:
    now = timezone.now().isoformat()
    records = [
        {
            "feature": "support-assistant",
            "environment": "staging",
            "release": release.number,
            "time": now,
            "latency_ms": 120.0,
            "error": (i % error_every == 0) if error_every else False,
        }
        for i in range(n)
    ]
    response = client.post("/api/v1/observations", {"records": records}, format="json")
    assert response.status_code in (200, 201, 202), response.content


def judged_run(staging, candidate, responder):
    steps = [{"type": "weight", "weight": 50}, {"type": "analysis", "seconds": 1.0}, {"type": "weight", "weight": 100}]
    run = runs.run_start(actor=responder, environment=staging, candidate_release=candidate, steps=steps, config=JUDGED)
    wait_for(lambda: RolloutRun.objects.get(pk=run.pk).step_index == 1, 20)
    return run


def test_a_rollout_advances_on_healthy_observations(staged, responder, api_as, celery_worker_process, beat):
    staging, stable, candidate = staged
    run = judged_run(staging, candidate, responder)
    client = api_as(responder)
    post_observations(client, stable, n=600, error_every=100)
    post_observations(client, candidate, n=600, error_every=100)
    wait_for(lambda: state_of(run) in (RunState.SUCCEEDED, RunState.PAUSED), 30, celery_worker_process, beat)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.state_reason
    assert run.analyses.last().verdict == "pass"
    assert DeploymentEvent.objects.filter(environment=staging, release=candidate, rollout_run_id=run.pk).exists()


def test_an_injected_regression_rolls_back_automatically(staged, responder, api_as, celery_worker_process, beat):
    staging, stable, candidate = staged
    run = judged_run(staging, candidate, responder)
    client = api_as(responder)
    post_observations(client, stable, n=600, error_every=100)  # 1 % errors
    post_observations(client, candidate, n=600, error_every=4)  # 25 % errors
    wait_for(lambda: state_of(run) in (RunState.ROLLED_BACK, RunState.PAUSED), 30, celery_worker_process, beat)
    run.refresh_from_db()
    assert run.state == RunState.ROLLED_BACK, run.state_reason
    assert run.candidate_weight == 0 and run.time_to_rollback is not None
    assert run.analyses.last().verdict == "fail"
    assert "error_rate" in str(run.analyses.last().result)
    routing = api_as(responder).get("/api/v1/routing/support-assistant/staging").json()
    assert [(r["release"], r["weight"]) for r in routing["releases"]] == [(stable.number, 100)]
    assert not DeploymentEvent.objects.filter(environment=staging, release=candidate).exists()
