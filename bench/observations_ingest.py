"""Observations ingestion throughput: 5,000-record batches through POST /api/v1/observations on PostgreSQL.

Uses its own database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/rewind_bench_observations),
created and migrated here, emptied of observations before each run. Each batch: 3 releases, 50 workflows of 20 tenants,
4 locales, 5 intents, times spread over SPREAD_S seconds (so ~ a few thousand rollup rows are upserted
per batch), every record with a unique request id. The request goes through DRF (JSON parsing, auth,
permission) via APIRequestFactory, without a network hop.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench._stats import percentile

BATCHES = 20
BATCH_SIZE = 5_000
SPREAD_S = 60  # a gateway flushing a busy feature: one batch ~ one minute of traffic
TARGET_RECORDS_PER_S = 5_000  # a full batch answered within a second
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rewind_bench_observations"


def _fresh_database(url: str) -> None:
    """Recreate the benchmark's own database (only ever one named rewind_bench_*), so every run starts equal."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    if not name.startswith("rewind_bench_"):
        raise SystemExit(f"refusing to recreate {name!r}: the benchmark only recreates rewind_bench_* databases")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _setup():
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    if os.environ["DATABASE_URL"].startswith("postgres"):
        _fresh_database(os.environ["DATABASE_URL"])
    from bench._django import django_setup

    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from core.models import Role, Team, User
    from rollouts.models import Environment, Feature, Observation, ObservationRollup
    from rollouts.registry.services import model_version_register, prompt_version_register, release_create

    Observation.objects.all().delete()
    ObservationRollup.objects.all().delete()
    user, _ = User.objects.get_or_create(username="bench-gateway", defaults={"role": Role.RESPONDER})
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    feature, _ = Feature.objects.get_or_create(slug="bench-ingest", defaults={"name": "Bench", "team": team})
    Environment.objects.get_or_create(feature=feature, name="production", defaults={"is_production": True})
    model, _ = model_version_register(actor=user, provider="p", requested_alias="m", resolved_snapshot="m-1")
    for i in range(3):
        prompt, _ = prompt_version_register(actor=user, name="bench", template=f"v{i}")
        release_create(actor=user, feature=feature, model=model, prompt=prompt)
    return user, feature


def _batch(rng: random.Random, feature_slug: str, batch_no: int, start: datetime) -> list[dict]:
    records = []
    for i in range(BATCH_SIZE):
        workflow = rng.randint(1, 50)  # each workflow belongs to one tenant, as in life
        records.append(
            {
                "feature": feature_slug,
                "environment": "production",
                "release": rng.choice((1, 1, 1, 2, 3)),
                "time": (start + timedelta(seconds=rng.uniform(0, SPREAD_S))).isoformat(),
                "latency_ms": rng.lognormvariate(6, 0.6),
                "error": rng.random() < 0.01,
                "refusal": rng.random() < 0.005,
                "json_valid": rng.random() > 0.02,
                "feedback": rng.choice((None, None, None, -1, 0, 1)),
                "eval_score": rng.random() if rng.random() < 0.1 else None,
                "cost": 0.0004,
                "tokens_in": rng.randint(100, 2000),
                "tokens_out": rng.randint(10, 600),
                "segment": {
                    "tenant": f"t{workflow % 20 + 1}",
                    "locale": rng.choice(("en", "de", "fr", "ja")),
                    "intent": f"i{rng.randint(1, 5)}",
                },
                "workflow_id": f"wf-{workflow}",
                "request_id": f"b{batch_no}-{i}",
            }
        )
    return records


def run() -> dict:
    user, feature = _setup()
    from django.db import connection
    from rest_framework.test import APIRequestFactory, force_authenticate

    from rollouts.judging.api.views import ObservationIngestView
    from rollouts.models import Observation, ObservationRollup, WorkflowRollup

    view = ObservationIngestView.as_view()
    factory = APIRequestFactory()
    rng = random.Random(20261129)
    start = datetime.now(UTC) - timedelta(hours=2)
    payloads = [json.dumps({"records": _batch(rng, feature.slug, n, start)}) for n in range(BATCHES)]

    def post(body: str):
        request = factory.post("/api/v1/observations", body, content_type="application/json")
        force_authenticate(request, user=user)
        return view(request)

    seconds = []
    rollup_rows = 0
    for body in payloads:
        t = time.perf_counter()
        response = post(body)
        seconds.append(time.perf_counter() - t)
        assert response.status_code == 201, response.data
        rollup_rows += response.data["rollup_rows"]
    t = time.perf_counter()
    replay = post(payloads[0])
    replay_s = time.perf_counter() - t
    assert replay.data["duplicates"] == BATCH_SIZE

    stored = Observation.objects.count()
    rollups = ObservationRollup.objects.count()
    workflow_rollups = WorkflowRollup.objects.count()
    total = sum(seconds)
    p50 = statistics.median(seconds)
    p95 = percentile(seconds, 95)
    rate = BATCHES * BATCH_SIZE / total
    return {
        "name": "observations_ingest",
        "target": f">= {TARGET_RECORDS_PER_S:,} records/s in {BATCH_SIZE:,}-record batches",
        "ok": rate >= TARGET_RECORDS_PER_S and stored == BATCHES * BATCH_SIZE,
        "metrics": {
            "records_per_s": round(rate),
            "batch_p50_s": round(p50, 3),
            "batch_p95_s": round(p95, 3),
            "duplicate_batch_s": round(replay_s, 3),
            "rollup_upserts_per_batch": round(rollup_rows / BATCHES),
            "segment_rollup_rows": rollups,
            "workflow_rollup_rows": workflow_rollups,
            "observations_stored": stored,
        },
        "notes": f"{connection.vendor}; {BATCHES} batches of {BATCH_SIZE} via DRF view (no network)",
    }
