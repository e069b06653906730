"""Storing a validated batch on PostgreSQL in two statements, with the work done by the database.

The batch goes to the server as one JSON parameter (msgspec encodes the checked records in C) and
``json_to_recordset`` turns it into rows there, so no Python code touches a record on its way in. Statement one:
the raw rows are inserted in (environment, request id) order with ``ON CONFLICT DO NOTHING`` -- a request id
already stored, by an earlier batch, a racing one or earlier in this batch, is skipped -- and the rows that were
inserted (``RETURNING``) are summed into both rollup tables by additive upserts and kept in a temporary table.
Statement two offers those rows to the minutes' reservoir samples (rollouts.judging.samples), after the rollup
upsert has locked and counted the minutes. Only inserted rows are summed or sampled, so a duplicate never counts
twice; everything is in the caller's transaction.
"""

from __future__ import annotations

import msgspec
from django.db import connection

from rollouts.judging.models import (
    LATENCY_BUCKETS_MS,
    ROLLUP_SUMS,
    WORKFLOW_ROLLUP_SUMS,
    Observation,
    ObservationRollup,
    ObservationSample,
    WorkflowRollup,
)
from rollouts.judging.observation_batch import Record, References, segment_key_of
from rollouts.judging.samples import RESERVOIR_SIZE

_encoder = msgspec.json.Encoder()

FRESH_TABLE = "tmp_observations_fresh"

# What the statement receives per record, each as a JSON array in record order.
_COLUMNS = (
    "environment_id",
    "release_id",
    "time",
    "latency_ms",
    "error",
    "refusal",
    "json_valid",
    "feedback",
    "eval_score",
    "cost",
    "tokens_in",
    "tokens_out",
    "segment",
    "segment_key",
    "workflow_id",
    "request_id",
)
# A segment stays JSON (json_array_elements); every other value arrives as text (json_array_elements_text).
_COLUMN_ARRAYS = ",\n                    ".join(
    f"json_array_elements{'' if c == 'segment' else '_text'}(%({c})s::json)" for c in _COLUMNS
)


def _latency_buckets() -> str:
    out, low = [], None
    for bound in LATENCY_BUCKETS_MS:
        cond = f"latency_ms <= {bound}" if low is None else f"latency_ms > {low} AND latency_ms <= {bound}"
        out.append(f"count(*) FILTER (WHERE {cond})")
        low = bound
    out.append(f"count(*) FILTER (WHERE latency_ms > {low})")
    return ", ".join(out)


def _names(model) -> dict[str, str]:
    return {"table": connection.ops.quote_name(model._meta.db_table)}


def _sum_updates(table: str, columns: list[str]) -> str:
    return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)


_SEGMENT_SUMS = list(ROLLUP_SUMS)
_WORKFLOW_SUMS = list(WORKFLOW_ROLLUP_SUMS)


def _store_sql() -> str:
    obs = _names(Observation)["table"]
    seg = _names(ObservationRollup)["table"]
    wf = _names(WorkflowRollup)["table"]
    return f"""
WITH given AS MATERIALIZED (
    SELECT environment_id::bigint, release_id::bigint, time::timestamptz, latency_ms::float8, error::bool,
           refusal::bool, json_valid::bool, feedback::smallint, eval_score::float8, cost::float8, tokens_in::int,
           tokens_out::int, segment::jsonb, segment_key, workflow_id, request_id, ord
    -- One JSON array per column; ROWS FROM zips them position by position (one parse per column, no keys).
    FROM ROWS FROM ({_COLUMN_ARRAYS}) WITH ORDINALITY
         AS r({", ".join(_COLUMNS)}, ord)
),
inserted AS (
    INSERT INTO {obs} (environment_id, release_id, time, latency_ms, error, refusal, json_valid, feedback,
                       eval_score, cost, tokens_in, tokens_out, segment, segment_key, workflow_id, request_id,
                       received_at)
    SELECT g.environment_id, g.release_id, g.time, g.latency_ms, g.error, g.refusal, g.json_valid, g.feedback,
           g.eval_score, g.cost, g.tokens_in, g.tokens_out, g.segment, g.segment_key, g.workflow_id, g.request_id,
           statement_timestamp()
    FROM given AS g
    -- (environment, request id) order: racing batches with overlapping ids wait on each other, never deadlock;
    -- within a batch the first record with an id is the one kept.
    ORDER BY g.environment_id, g.request_id COLLATE "C", g.ord
    ON CONFLICT (environment_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
    RETURNING environment_id, release_id, date_trunc('minute', time, 'UTC') AS minute, latency_ms, error, refusal,
              json_valid, feedback, eval_score, cost, tokens_in, tokens_out, segment_key, workflow_id,
              coalesce(segment ->> 'tenant', '') AS tenant
),
segment_rollups AS (
    INSERT INTO {seg} (environment_id, release_id, minute, segment_key, {", ".join(_SEGMENT_SUMS)})
    SELECT environment_id, release_id, minute, segment_key, count(*), count(*) FILTER (WHERE error),
           count(*) FILTER (WHERE refusal), count(json_valid), count(*) FILTER (WHERE NOT json_valid),
           count(feedback), count(*) FILTER (WHERE feedback < 0), count(*) FILTER (WHERE feedback > 0),
           count(eval_score), coalesce(sum(eval_score), 0), sum(latency_ms), {_latency_buckets()},
           sum(cost), sum(tokens_in), sum(tokens_out)
    FROM inserted
    GROUP BY environment_id, release_id, minute, segment_key
    ORDER BY environment_id, release_id, minute, segment_key COLLATE "C"  -- the same lock order in every batch
    ON CONFLICT (environment_id, release_id, minute, segment_key) DO UPDATE SET {_sum_updates(seg, _SEGMENT_SUMS)}
    RETURNING 1
),
workflow_rollups AS (
    INSERT INTO {wf} (environment_id, release_id, minute, workflow_id, tenant, {", ".join(_WORKFLOW_SUMS)})
    SELECT environment_id, release_id, minute, workflow_id, tenant, count(*), count(*) FILTER (WHERE error),
           count(feedback), count(*) FILTER (WHERE feedback < 0)
    FROM inserted
    WHERE workflow_id <> ''
    GROUP BY environment_id, release_id, minute, workflow_id, tenant
    ORDER BY environment_id, release_id, minute, workflow_id COLLATE "C", tenant COLLATE "C"
    ON CONFLICT (environment_id, release_id, minute, workflow_id, tenant)
    DO UPDATE SET {_sum_updates(wf, _WORKFLOW_SUMS)}
    RETURNING 1
),
fresh AS (
    INSERT INTO {FRESH_TABLE} (environment_id, release_id, minute, latency_ms, eval_score, cost)
    SELECT environment_id, release_id, minute, latency_ms, eval_score, cost FROM inserted
    RETURNING 1
)
SELECT (SELECT count(*) FROM fresh), (SELECT count(*) FROM segment_rollups) + (SELECT count(*) FROM workflow_rollups)
"""  # noqa: S608 - table names are ours, values are parameters


def _samples_sql() -> str:
    """Algorithm R per minute, as samples.reservoir_slots runs it: the minute's rollups (already counting this
    batch) say how many requests came before it; the batch's requests of the minute, in random order, take
    positions after those; position p < K takes slot p, later ones slot j for a uniform j in 0..p when j < K; of
    several taking the same slot, the last one stays."""
    seg = _names(ObservationRollup)["table"]
    sample = _names(ObservationSample)["table"]
    k = RESERVOIR_SIZE
    return f"""
WITH arriving AS (
    SELECT environment_id, release_id, minute, latency_ms, eval_score, cost,
           row_number() OVER (PARTITION BY environment_id, release_id, minute ORDER BY random()) - 1 AS i,
           count(*) OVER (PARTITION BY environment_id, release_id, minute) AS batch
    FROM {FRESH_TABLE}
),
counted AS (
    SELECT r.environment_id, r.release_id, r.minute, sum(r.count) AS requests
    FROM {seg} AS r
    WHERE (r.environment_id, r.release_id, r.minute) IN (SELECT DISTINCT environment_id, release_id, minute
                                                         FROM {FRESH_TABLE})
    GROUP BY r.environment_id, r.release_id, r.minute
),
placed AS (
    SELECT a.*, greatest(coalesce(c.requests, a.batch) - a.batch, 0) + a.i AS position
    FROM arriving AS a LEFT JOIN counted AS c USING (environment_id, release_id, minute)
),
slotted AS (
    SELECT *, CASE WHEN position < {k} THEN position ELSE floor(random() * (position + 1))::int END AS slot
    FROM placed
)
INSERT INTO {sample} (environment_id, release_id, minute, slot, latency_ms, eval_score, cost)
SELECT DISTINCT ON (environment_id, release_id, minute, slot)
       environment_id, release_id, minute, slot, latency_ms, eval_score, cost
FROM slotted
WHERE slot < {k}
ORDER BY environment_id, release_id, minute, slot, i DESC
ON CONFLICT (environment_id, release_id, minute, slot)
DO UPDATE SET latency_ms = excluded.latency_ms, eval_score = excluded.eval_score, cost = excluded.cost
"""  # noqa: S608 - table names are ours


_STATEMENTS: dict[str, str] = {}


def store(records: list[Record], refs: References) -> tuple[int, int]:
    """Insert the new records of a checked batch, roll them up and sample them. Returns (stored, rollup rows)."""
    if not _STATEMENTS:
        _STATEMENTS["store"] = _store_sql()
        _STATEMENTS["samples"] = _samples_sql()
    ids = [refs[(r.feature, r.environment, r.release or 0, r.release_id or 0)] for r in records]
    keys: dict[tuple, str] = {}
    segment_keys = []
    for r in records:
        items = tuple(r.segment.items()) if r.segment else ()
        key = keys.get(items)
        if key is None:
            key = keys[items] = segment_key_of(r.segment or {})
        segment_keys.append(key)
    encode = _encoder.encode
    params = {
        "environment_id": encode([i[0] for i in ids]),
        "release_id": encode([i[1] for i in ids]),
        "time": encode([r.time for r in records]),
        "latency_ms": encode([r.latency_ms for r in records]),
        "error": encode([r.error for r in records]),
        "refusal": encode([r.refusal for r in records]),
        "json_valid": encode([r.json_valid for r in records]),
        "feedback": encode([r.feedback for r in records]),
        "eval_score": encode([r.eval_score for r in records]),
        "cost": encode([r.cost for r in records]),
        "tokens_in": encode([r.tokens_in for r in records]),
        "tokens_out": encode([r.tokens_out for r in records]),
        "segment": encode([r.segment or {} for r in records]),
        "segment_key": encode(segment_keys),
        "workflow_id": encode([r.workflow_id or "" for r in records]),
        "request_id": encode([r.request_id for r in records]),
    }
    params = {name: value.decode() for name, value in params.items()}
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {FRESH_TABLE} "
            "(environment_id bigint, release_id bigint, minute timestamptz, latency_ms float8, eval_score float8, "
            "cost float8) ON COMMIT DELETE ROWS"
        )
        cursor.execute(_STATEMENTS["store"], params)
        stored, rollup_rows = cursor.fetchone()
        if stored:
            cursor.execute(_STATEMENTS["samples"])
        cursor.execute(f"DELETE FROM {FRESH_TABLE}")  # noqa: S608 - our own table
    return stored, rollup_rows
