from __future__ import annotations

import time

import pytest

from core.models import WorkerHeartbeat
from core.tasks import worker_heartbeat


def test_healthz_answers_without_login(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "worker_seen_seconds_ago": None}


@pytest.mark.worker
def test_a_real_worker_records_its_heartbeat(celery_worker_process, client):
    worker_heartbeat.delay()
    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert WorkerHeartbeat.objects.filter(worker__startswith="w1@").exists(), celery_worker_process.log()
    assert client.get("/healthz").json()["worker_seen_seconds_ago"] < 30
