"""The canary judge as the run engine uses it, driven by a real Celery worker and beat: one error budget per
run (pauses and resumes continue it), every step crossed on healthy data, a regression rolled back after a
resume."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from rollouts.models import FINAL_RUN_STATES, Analysis, DeploymentEvent, RolloutRun, RunState
from rollouts.runs import services as runs
from tests.rollouts.runs.engine_support import state_of, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAST = {"lease_seconds": 2, "webhook_backoff_seconds": 0.2, "webhook_max_attempts": 3, "webhook_timeout_seconds": 10}
METRICS = [
    {"name": "error_rate", "kind": "binary", "bad_direction": "increase", "critical": True, "min_samples": 40},
    {"name": "latency_ms", "kind": "continuous", "bad_direction": "increase", "allowed_change": 0.1, "min_samples": 40},
]


def records(release, *, n: int, error_every: int, start: int = 0, at=None) -> list[dict]:
    now = (at or timezone.now()).isoformat()
    return [
        {
            "feature": "support-assistant",
            "environment": "staging",
            "release": release.number,
            "time": now,
            "latency_ms": 100.0 + (i % 13) * 10,
            "error": bool(error_every) and i % error_every == 0,
        }
        for i in range(start, start + n)
    ]


def post(client, batch: list[dict]) -> None:
    response = client.post("/api/v1/observations", {"records": batch}, format="json")
    assert response.status_code in (200, 201, 202), response.content


def test_a_paused_then_resumed_run_with_a_regression_rolls_back(staged, responder, api_as, celery_worker_process, beat):
    staging, stable, candidate = staged
    steps = [
        {"type": "weight", "weight": 50},
        {"type": "analysis", "seconds": 0.4, "looks": 2, "max_wait_looks": 2},
        {"type": "weight", "weight": 100},
    ]
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=steps,
        config={**FAST, "metrics": METRICS},
    )
    # No traffic yet: the step waits its looks for data, then stops for a person (never a pass on no data).
    wait_for(lambda: state_of(run) == RunState.PAUSED, 30, celery_worker_process, beat)
    run.refresh_from_db()
    assert run.step_index == 1 and "too little traffic" in run.state_reason
    waited = list(run.analyses.values_list("look", "verdict"))
    assert [v for _, v in waited] == ["inconclusive"] * 2
    assert run.tested_looks == 0  # nothing was tested, so nothing of the run's alpha was spent

    client = api_as(responder)
    post(client, records(stable, n=300, error_every=100))  # 1 % errors
    post(client, records(candidate, n=300, error_every=4))  # 25 % errors
    assert runs.run_resume(run=run, actor=responder, reason="traffic is flowing now")
    wait_for(lambda: state_of(run) in (RunState.ROLLED_BACK, RunState.PAUSED), 30, celery_worker_process, beat)
    run.refresh_from_db()
    assert run.state == RunState.ROLLED_BACK, run.state_reason
    looks = list(run.analyses.order_by("id").values_list("look", flat=True))
    assert looks == list(range(1, len(looks) + 1))  # numbering continued after the resume: no look skipped
    last = run.analyses.order_by("id").last()
    assert last.verdict == "fail" and last.look > len(waited)
    assert last.result["budget"]["tested_look"] == 1
    assert not DeploymentEvent.objects.filter(environment=staging, release=candidate).exists()


class Gateway(threading.Thread):
    """Posts both arms' traffic at the weight the routing table holds, until stopped (what gateways do)."""

    def __init__(self, client, staging, stable, candidate):
        super().__init__(daemon=True)
        self.client, self.staging, self.stable, self.candidate = client, staging, stable, candidate
        self.stop_event = threading.Event()
        self.error: Exception | None = None
        self.sent = {stable.number: 0, candidate.number: 0}  # per arm, so both arms err on every 50th request

    def run(self):
        try:
            while not self.stop_event.is_set():
                served_at = timezone.now()  # requests are served under the routing read now, and stamped so
                routing = self.client.get("/api/v1/routing/support-assistant/staging").json()
                weights = {r["release"]: r["weight"] for r in routing["releases"]}
                for rel in (self.stable, self.candidate):
                    n = 2 * weights.get(rel.number, 0)  # 200 requests a round, split by the weights
                    if n:
                        post(self.client, records(rel, n=n, error_every=50, start=self.sent[rel.number], at=served_at))
                        self.sent[rel.number] += n
                time.sleep(0.15)
        except Exception as exc:
            self.error = exc
        finally:
            connection.close()


def test_an_aa_run_crosses_every_step_and_promotes(staged, responder, api_as, web_as, celery_worker_process, beat):
    staging, stable, candidate = staged
    steps = [
        {"type": "weight", "weight": 10},
        {"type": "analysis", "seconds": 0.6, "looks": 2},
        {"type": "weight", "weight": 50},
        {"type": "analysis", "seconds": 0.6, "looks": 2},
        {"type": "weight", "weight": 100},
        {"type": "bake", "seconds": 1.5, "looks": 2},
    ]
    gateway = Gateway(api_as(responder), staging, stable, candidate)
    gateway.start()
    try:
        run = runs.run_start(
            actor=responder,
            environment=staging,
            candidate_release=candidate,
            steps=steps,
            config={**FAST, "metrics": METRICS, "bake_holdback_percent": 10},
        )
        wait_for(
            lambda: state_of(run) in FINAL_RUN_STATES or state_of(run) == RunState.PAUSED,
            90,
            celery_worker_process,
            beat,
        )
    finally:
        gateway.stop_event.set()
        gateway.join(10)
    assert gateway.error is None, gateway.error
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.state_reason
    judged = Analysis.objects.filter(run=run)
    assert {a.step_index for a in judged} == {1, 3, 5}  # every judged step, the bake included
    tested = [a for a in judged if a.result.get("tested")]
    assert {a.step_index for a in tested} == {1, 3, 5}
    assert not any(a.verdict == "fail" for a in judged)
    budget = {a.result["budget"]["of"] for a in tested}
    assert budget == {6}  # one run-wide plan: 2 + 2 analysis looks and 2 bake looks
    assert [a.result["budget"]["tested_look"] for a in sorted(tested, key=lambda a: a.look)] == list(
        range(1, len(tested) + 1)
    )
    bake = [a for a in tested if a.step_index == 5]
    assert all(a.result["control"] == "stable holdback" and a.result["expected_canary_share"] == 0.9 for a in bake)
    assert DeploymentEvent.objects.filter(environment=staging, release=candidate, rollout_run_id=run.pk).exists()
    page = web_as(responder).get(f"/rollouts/{run.pk}/").content.decode()
    assert "Control: the stable holdback kept during the bake (candidate share 0.90" in page
    last = max(judged, key=lambda a: a.look)
    if last.result["tested"]:
        assert f"tested look {last.result['budget']['tested_look']} of 6" in page
    else:
        assert "this look tested nothing and spent none" in page


def _step_started(run, index: int):
    wait_for(lambda: RolloutRun.objects.get(pk=run.pk).step_index == index, 30)
    return RolloutRun.objects.values_list("step_started_at", flat=True).get(pk=run.pk)


def _one_analysis_at(weight: int, *, looks: int, environment, candidate, actor):
    """A run of weight -> one 3-second analysis -> 100 %, and the time its analysis step began."""
    steps = [
        {"type": "weight", "weight": weight},
        {"type": "analysis", "seconds": 3, "looks": looks, "max_wait_looks": 3},
        {"type": "weight", "weight": 100},
    ]
    run = runs.run_start(
        actor=actor,
        environment=environment,
        candidate_release=candidate,
        steps=steps,
        config={**FAST, "metrics": METRICS},
    )
    return run, _step_started(run, 1)


def _settled(run, *processes) -> RolloutRun:
    wait_for(lambda: state_of(run) in FINAL_RUN_STATES or state_of(run) == RunState.PAUSED, 30, *processes)
    run.refresh_from_db()
    return run


def test_a_look_at_minute_boundaries_counts_exactly_the_requests_inside_its_window(
    staged, responder, api_as, celery_worker_process, beat
):
    staging, stable, candidate = staged
    run, start = _one_analysis_at(50, looks=1, environment=staging, candidate=candidate, actor=responder)
    client = api_as(responder)
    minute = start.replace(second=0, microsecond=0)  # the step's first minute, before the step began
    for rel in (stable, candidate):
        post(client, records(rel, n=100, error_every=1, at=start - timedelta(seconds=30)))  # the previous step
        if minute < start:
            post(client, records(rel, n=50, error_every=1, at=minute))
        post(client, records(rel, n=60, error_every=30, at=start))  # at the window's start: inside
    run = _settled(run, celery_worker_process, beat)
    assert run.state == RunState.SUCCEEDED, run.state_reason
    look = run.analyses.get(step_index=1)
    assert look.result["tested"] and look.result["requests"] == {"canary": 60, "baseline": 60}
    error = next(m for m in look.result["metrics"] if m["name"] == "error_rate")
    assert (error["n_canary"], error["n_baseline"]) == (60, 60)
    assert error["estimate"] == 0  # 2 errors in each arm: the 150 errors just before the window stayed out


def test_a_doubled_canary_share_pauses_the_run_for_a_person(staged, responder, api_as, celery_worker_process, beat):
    staging, stable, candidate = staged
    run, start = _one_analysis_at(10, looks=2, environment=staging, candidate=candidate, actor=responder)
    client = api_as(responder)
    post(client, records(stable, n=600, error_every=100, at=start))
    post(client, records(candidate, n=150, error_every=100, at=start))  # 20 % of the requests at a 10 % weight
    run = _settled(run, celery_worker_process, beat)
    assert run.state == RunState.PAUSED and "the traffic split is off" in run.state_reason, run.state_reason
    assert "exact binomial" in run.state_reason and "20.00% vs expected 10.00%" in run.state_reason
    look = run.analyses.get(step_index=1)
    assert look.result["srm"]["ok"] is False and not look.result["tested"]
