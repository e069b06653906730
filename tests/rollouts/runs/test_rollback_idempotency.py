"""A nervous responder pressing "roll back" many times, from the API and the web, with a real worker that
finishes the first rollback while the others are still arriving: exactly one run, never a toggle back."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from rest_framework.authtoken.models import Token

from rollouts.models import DeploymentEvent, RolloutRun, RunState
from rollouts.runs.services import run_advance
from tests.rollouts.factories import deploy, feature_with_envs, release
from tests.support.worker import CeleryWorker


def _world(team, approver):
    feature, staging, _ = feature_with_envs(team)
    releases = [release(approver, feature, prompt=p) for p in ("v1", "v2", "v3")]
    for r in releases:
        deploy(approver, staging, r)
    return feature, staging, releases


def _live(environment):
    return DeploymentEvent.objects.filter(environment=environment).order_by("-live_at", "-id").first().release


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_and_three_sequential_requests_make_exactly_one_run(live_server, team, approver):
    feature, staging, (_r1, r2, r3) = _world(team, approver)
    token = Token.objects.create(user=approver).key
    worker = CeleryWorker(name="idem")
    worker.start()
    payload = {"feature": feature.slug, "environment": "staging", "reason": "errors up", "from_release": r3.number}
    barrier = threading.Barrier(20)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def request_rollback(i: int):
        headers = {"Authorization": f"Token {token}"}
        if i % 2:
            headers["Idempotency-Key"] = "pager-alert-4711"  # half of them retry one request
        with httpx.Client(base_url=live_server.url, timeout=60) as client:
            barrier.wait()
            time.sleep(i * 0.05)  # spread over a second: the worker finishes the first run meanwhile
            response = client.post("/api/v1/rollbacks", json=payload, headers=headers)
        with lock:
            results.append((response.status_code, response.json()))

    try:
        threads = [threading.Thread(target=request_rollback, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        run = RolloutRun.objects.get()
        deadline = time.monotonic() + 60
        while RolloutRun.objects.get(pk=run.pk).state != RunState.SUCCEEDED and time.monotonic() < deadline:
            time.sleep(0.2)
        assert RolloutRun.objects.get(pk=run.pk).state == RunState.SUCCEEDED, worker.log()[-3000:]
        sequential = []
        with httpx.Client(base_url=live_server.url, timeout=60) as client:
            for _ in range(3):
                time.sleep(1)
                sequential.append(
                    client.post("/api/v1/rollbacks", json=payload, headers={"Authorization": f"Token {token}"})
                )
    finally:
        worker.stop()
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1 and set(codes) <= {200, 201, 409}, results
    assert {body.get("id", body.get("run")) for code, body in results if code != 409} == {run.pk}
    for response in sequential:
        assert response.status_code == 409
        detail = response.json()["detail"]
        assert f"already rolled back to #{r2.number} by ana at " in detail, detail
    assert RolloutRun.objects.count() == 1
    assert _live(staging) == r2


@pytest.mark.django_db
def test_the_idempotency_key_returns_the_first_run_even_after_it_finished(api_as, team, approver):
    feature, staging, (_r1, r2, _r3) = _world(team, approver)
    client = api_as(approver)
    body = {"feature": feature.slug, "environment": "staging", "reason": "errors up"}
    first = client.post("/api/v1/rollbacks", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201
    run_advance(run_id=first.json()["id"])
    again = client.post("/api/v1/rollbacks", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert RolloutRun.objects.count() == 1 and _live(staging) == r2


@pytest.mark.django_db
def test_the_web_plan_names_the_release_it_expects_and_a_second_submit_is_refused(web_as, team, approver):
    feature, staging, (_r1, r2, r3) = _world(team, approver)
    client = web_as(approver)
    plan = client.get(f"/features/{feature.slug}/staging/rollback/plan").content.decode()
    assert f'name="from_release" value="{r3.number}"' in plan
    form = {"to_release": r2.number, "from_release": r3.number, "mode": "immediate", "reason": "errors up"}
    client.post(f"/features/{feature.slug}/staging/rollback/", form)
    run_advance(run_id=RolloutRun.objects.get().pk)
    page = client.post(f"/features/{feature.slug}/staging/rollback/", form, follow=True).content.decode()
    assert f"already rolled back to #{r2.number} by ana at " in page
    assert RolloutRun.objects.count() == 1 and _live(staging) == r2
