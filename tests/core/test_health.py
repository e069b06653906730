from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from core.models import WorkerHeartbeat
from core.tasks import worker_heartbeat
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release
from tests.support.worker import free_port


def _beat(seconds_ago: float) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker="w1@test", defaults={"seen_at": timezone.now() - timedelta(seconds=seconds_ago)}
    )


def test_healthz_is_503_when_no_worker_has_ever_run(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["worker_seen_seconds_ago"] is None
    assert any("no worker has run yet" in reason for reason in body["reasons"])


def test_healthz_is_503_when_the_worker_missed_a_few_heartbeats(client, db, settings):
    allowed = settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]["schedule"] * settings.REWIND_HEALTH_MISSED_HEARTBEATS
    _beat(allowed + 5)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "worker or beat down" in response.json()["reasons"][0]


def test_healthz_is_200_with_a_fresh_heartbeat_and_an_answering_broker(client, db):
    _beat(1)
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["ok"] is True and response.json()["reasons"] == []


def test_healthz_is_503_when_the_broker_does_not_answer(client, db, monkeypatch):
    _beat(1)
    monkeypatch.setattr(current_app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert any(reason.startswith("broker does not answer") for reason in response.json()["reasons"])


@pytest.mark.worker
def test_a_real_worker_records_its_heartbeat(celery_worker_process, client):
    worker_heartbeat.delay()
    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert WorkerHeartbeat.objects.filter(worker__startswith="w1@").exists(), celery_worker_process.log()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["worker_seen_seconds_ago"] < 30


@pytest.fixture
def running_run(team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    stable, candidate = release(approver, feature, prompt="v1"), release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)
    return runs.run_start(
        actor=responder, environment=staging, candidate_release=candidate, steps=[{"type": "weight", "weight": 100}]
    )


def test_a_run_page_warns_while_no_worker_is_alive(running_run, web_as, viewer):
    client = web_as(viewer)
    page = client.get(f"/rollouts/{running_run.pk}/").content.decode()
    assert 'id="worker-banner"' in page and "This run will not move until a Celery worker is back" in page
    # The polled fragment carries it too, so it appears and disappears without a reload.
    fragment = client.get(f"/rollouts/{running_run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="worker-banner"' in fragment
    _beat(1)
    assert 'id="worker-banner"' not in client.get(f"/rollouts/{running_run.pk}/").content.decode()
