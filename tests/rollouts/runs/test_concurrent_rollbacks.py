from __future__ import annotations

import threading

import httpx
import pytest
from rest_framework.authtoken.models import Token

from rollouts.models import RolloutRun, RolloutTransition
from tests.rollouts.factories import deploy, feature_with_envs, release


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_rollback_requests_create_exactly_one_run(live_server, team, approver):
    feature, staging, _ = feature_with_envs(team)
    for prompt in ("v1", "v2"):
        deploy(approver, staging, release(approver, feature, prompt=prompt))
    token = Token.objects.create(user=approver).key
    barrier = threading.Barrier(20)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def request_rollback():
        with httpx.Client(base_url=live_server.url, timeout=30) as client:
            barrier.wait()
            response = client.post(
                "/api/v1/rollbacks",
                json={"feature": feature.slug, "environment": "staging", "reason": "errors up"},
                headers={"Authorization": f"Token {token}"},
            )
        with lock:
            results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=request_rollback) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert RolloutRun.objects.count() == 1
    run = RolloutRun.objects.get()
    assert sorted(code for code, _ in results) == [200] * 19 + [201]
    assert {body["id"] for _, body in results} == {run.pk}
    assert RolloutTransition.objects.filter(run=run, new_state="running").count() == 1
