"""Observations ingestion throughput: 5,000-record batches through POST /api/v1/observations on PostgreSQL,
against a raw psycopg COPY of the same rows into an equivalent table, measured in the same run.

Uses its own database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/rewind_bench_observations),
created and migrated here, emptied of observations before each run. Each batch: 3 releases, 50 workflows of 20 tenants,
4 locales, 5 intents, times spread over SPREAD_S seconds (so ~ a few thousand rollup rows are upserted
per batch), every record with a unique request id. The request goes through DRF (JSON parsing, auth,
permission) via APIRequestFactory, without a network hop.

The reference is what storing the rows costs at the least: the same records, already as row tuples (environment
and release ids resolved, segment text and key computed, all before the clock starts), written with one psycopg
``COPY`` into a table with the observation table's columns and only a primary key, and committed, on a
connection of its own. Each batch is posted and then copied, alternately, so load on the machine hits both
alike; the ratio is the reference's time over the endpoint's, i.e. the endpoint's records/s as a share of COPY's.
The garbage collector is frozen after the inputs are built (they are the benchmark's heap, not a server's).
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from bench._stats import percentile

BATCHES = 20
BATCH_SIZE = 5_000
SPREAD_S = 60  # a gateway flushing a busy feature: one batch ~ one minute of traffic
TARGET_RECORDS_PER_S = 5_000  # a full batch answered within a second
TARGET_RATIO = 0.5  # of a raw COPY of the same rows
REFERENCE_TABLE = "bench_raw_observation_copy"
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


def _reference_rows(batches: list[list[dict]], feature) -> list[list[tuple]]:
    """The batches as the tuples a raw COPY writes, built before any timing."""
    from rollouts.judging.observation_batch import segment_key_of
    from rollouts.models import Environment, Release

    env = Environment.objects.get(feature=feature, name="production")
    release_ids = dict(Release.objects.filter(feature=feature).values_list("number", "id"))
    now = datetime.now(UTC)
    out = []
    for records in batches:
        rows = []
        for r in records:
            segment = r.get("segment") or {}
            rows.append(
                (
                    env.pk,
                    release_ids[r["release"]],
                    datetime.fromisoformat(r["time"]),
                    r["latency_ms"],
                    r["error"],
                    r["refusal"],
                    r["json_valid"],
                    r["feedback"],
                    r["eval_score"],
                    r["cost"],
                    r["tokens_in"],
                    r["tokens_out"],
                    json.dumps(segment),
                    segment_key_of(segment),
                    r["workflow_id"],
                    r["request_id"],
                    now,
                )
            )
        out.append(rows)
    return out


_REFERENCE_COLUMNS = (
    "environment_id, release_id, time, latency_ms, error, refusal, json_valid, feedback, eval_score, cost, "
    "tokens_in, tokens_out, segment, segment_key, workflow_id, request_id, received_at"
)


def _reference_connection():
    """A plain psycopg connection to the same database, with a table shaped like the observations table
    (same columns and types) that has only its primary key."""
    import psycopg
    from django.db import connection

    from rollouts.models import Observation

    conn = psycopg.connect(**connection.get_connection_params())
    table = Observation._meta.db_table
    conn.execute(f"DROP TABLE IF EXISTS {REFERENCE_TABLE}")
    conn.execute(f"CREATE TABLE {REFERENCE_TABLE} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY)")
    conn.execute(f"ALTER TABLE {REFERENCE_TABLE} ADD PRIMARY KEY (id)")
    conn.commit()
    return conn


def _reference_copy(conn, rows: list[tuple]) -> float:
    t = time.perf_counter()
    with conn.cursor() as cursor, cursor.copy(f"COPY {REFERENCE_TABLE} ({_REFERENCE_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()
    return time.perf_counter() - t


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
    batches = [_batch(rng, feature.slug, n, start) for n in range(BATCHES)]
    payloads = [json.dumps({"records": records}) for records in batches]
    reference_rows = _reference_rows(batches, feature)
    reference = _reference_connection()
    # The inputs above (100,000 record dicts, their JSON and tuples) are the benchmark's own heap, not the
    # server's: frozen, so the collector's full passes do not walk them inside a timed request.
    gc.collect()
    gc.freeze()

    def post(body: str):
        request = factory.post("/api/v1/observations", body, content_type="application/json")
        force_authenticate(request, user=user)
        return view(request)

    seconds, copy_seconds = [], []
    rollup_rows = 0
    for body, rows in zip(payloads, reference_rows, strict=True):
        t = time.perf_counter()
        response = post(body)
        seconds.append(time.perf_counter() - t)
        assert response.status_code == 201, response.data
        rollup_rows += response.data["rollup_rows"]
        copy_seconds.append(_reference_copy(reference, rows))
    reference.execute(f"DROP TABLE {REFERENCE_TABLE}")
    reference.commit()
    reference.close()
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
    copy_rate = BATCHES * BATCH_SIZE / sum(copy_seconds)
    ratio = rate / copy_rate
    print(
        f"observations_ingest: endpoint {rate:,.0f} records/s, raw COPY {copy_rate:,.0f} records/s, ratio {ratio:.3f}",
        file=sys.stderr,
    )
    return {
        "name": "observations_ingest",
        "target": f">= {TARGET_RATIO} x a raw COPY of the same rows, and >= {TARGET_RECORDS_PER_S:,} records/s",
        "ok": ratio >= TARGET_RATIO and rate >= TARGET_RECORDS_PER_S and stored == BATCHES * BATCH_SIZE,
        "metrics": {
            "ratio_to_raw_copy": round(ratio, 3),
            "records_per_s": round(rate),
            "raw_copy_records_per_s": round(copy_rate),
            "batch_p50_s": round(p50, 3),
            "batch_p95_s": round(p95, 3),
            "raw_copy_batch_p50_s": round(statistics.median(copy_seconds), 3),
            "duplicate_batch_s": round(replay_s, 3),
            "rollup_upserts_per_batch": round(rollup_rows / BATCHES),
            "segment_rollup_rows": rollups,
            "workflow_rollup_rows": workflow_rollups,
            "observations_stored": stored,
        },
        "notes": f"{connection.vendor}; {BATCHES} batches of {BATCH_SIZE} via DRF view (no network), each followed by "
        "a raw COPY of the same rows",
    }
