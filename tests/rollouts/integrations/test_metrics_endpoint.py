"""/metrics: Rewind's state in the Prometheus exposition format, for an admin's token or the metrics token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from core.models import WorkerHeartbeat
from rollouts.judging.observations import observations_ingest
from rollouts.models import Analysis, DeliveryStatus, WebhookDelivery, WebhookTarget
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db


def samples(body: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def busy(team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    v1 = release(approver, feature, prompt="v1")
    v2 = release(approver, feature, prompt="v2")
    deploy(approver, staging, v1)
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=v2,
        steps=[{"type": "weight", "weight": 10}, {"type": "pause"}, {"type": "weight", "weight": 100}],
    )
    runs.run_advance(run_id=run.pk)
    now = timezone.now()
    Analysis.objects.create(
        run=run, step_index=0, look=1, window_start=now, window_end=now, verdict="pass", result={"verdict": "pass"}
    )
    minute = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
    records = [
        {
            "feature": feature.slug,
            "environment": "staging",
            "release": v1.number,
            "time": (minute + timedelta(seconds=i % 60)).isoformat(),
            "latency_ms": 100.0,
        }
        for i in range(300)
    ]
    observations_ingest(actor=responder, records=records)
    target = WebhookTarget.objects.create(environment=staging, url="http://127.0.0.1:9/hook", secret="s")
    WebhookDelivery.objects.create(
        idempotency_key="k1", target=target, run=run, payload={}, status=DeliveryStatus.FAILED, attempts=5
    )
    WorkerHeartbeat.objects.create(worker="celery@w1", seen_at=now - timedelta(seconds=30))
    return run


def test_an_admin_token_reads_runs_verdicts_ingestion_webhooks_and_heartbeats(busy, api_as, admin_user):
    response = api_as(admin_user).get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(response.content.decode())
    assert got[("rewind_runs", (("kind", "rollout"), ("state", "paused")))] == 1
    assert got[("rewind_runs", (("kind", "rollback"), ("state", "succeeded")))] == 0
    where = (("environment", "staging"), ("feature", "support-assistant"))
    assert got[("rewind_canary_candidate_weight_percent", where)] == 10
    assert got[("rewind_judge_verdicts_total", (("verdict", "pass"),))] == 1
    assert got[("rewind_judge_latest_verdict", tuple(sorted((*where, ("verdict", "pass")))))] == 1
    assert got[("rewind_observations_per_second", ())] == pytest.approx(300 / 300)
    assert got[("rewind_observation_ingest_lag_seconds", (("stat", "max"),))] >= 60
    assert got[("rewind_webhook_delivery_failures", ())] == 1
    assert got[("rewind_webhook_deliveries", (("status", "failed"),))] == 1
    assert 25 <= got[("rewind_worker_heartbeat_age_seconds", (("worker", "celery@w1"),))] < 120


def test_the_metrics_token_is_a_bearer_token(busy, client, settings):
    settings.REWIND_METRICS_TOKEN = "scrape-me-0123456789"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token scrape-me-0123456789").status_code == 401


@pytest.mark.parametrize(("who", "expected"), [(None, 401), ("viewer", 403), ("approver", 403), ("admin_user", 200)])
def test_only_admins_and_the_metrics_token_may_scrape(busy, client, request, settings, who, expected):
    settings.REWIND_METRICS_TOKEN = ""  # unset: no bearer token is accepted, not even an empty one
    headers = {"HTTP_AUTHORIZATION": "Bearer "}
    if who:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {Token.objects.create(user=request.getfixturevalue(who)).key}"
    response = client.get("/metrics", **headers)
    assert response.status_code == expected
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
