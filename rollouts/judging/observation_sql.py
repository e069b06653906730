"""Storing a validated batch on PostgreSQL: one COPY and one statement, with the work done by the database.

The batch's rows are written with ``COPY … (FORMAT BINARY)`` into a session temporary table (no text for the
server to parse, no WAL), in the (environment, request id) order Python has put them in, later repeats of a
request id within the batch dropped. One statement then inserts them into the raw table in that order -- batches
racing on overlapping ids wait on each other and never deadlock -- and sums the inserted rows (``RETURNING``)
into both rollup tables by additive upserts, adds them to their minutes' reservoir counts, and offers them to the
minutes' reservoir samples (rollouts.judging.samples) at the positions those locked counts give them. Only
inserted rows are summed or sampled, so a duplicate never counts twice; everything is in the caller's
transaction.

A plain insert is tried first: without ``ON CONFLICT`` PostgreSQL probes the request-id index once per row, not
twice. A request id stored already (a gateway's retry, a racing batch) makes it fail with a unique violation and
roll back to its savepoint, and the same statement runs again with ``ON CONFLICT DO NOTHING``, which skips the
stored ids.
"""

from __future__ import annotations

from operator import itemgetter

from django.db import IntegrityError, connection, transaction

from rollouts.judging.models import (
    LATENCY_BUCKETS_MS,
    ROLLUP_SUMS,
    WORKFLOW_ROLLUP_SUMS,
    Observation,
    ObservationReservoir,
    ObservationRollup,
    ObservationSample,
    WorkflowRollup,
)
from rollouts.judging.observation_batch import Record, References, Segments, first_of_each_request_id
from rollouts.judging.samples import RESERVOIR_SIZE

BATCH_TABLE = "tmp_observation_batch"
# The batch's rows as COPY writes them in PostgreSQL's binary format: each value is sent as the bytes of its
# type (no text to parse on the server), except the segment, which goes as JSON text and becomes jsonb on insert.
_BATCH_COLUMNS = (
    ("environment_id", "int8"),
    ("release_id", "int8"),
    ("time", "timestamptz"),
    ("latency_ms", "float8"),
    ("error", "bool"),
    ("refusal", "bool"),
    ("json_valid", "bool"),
    ("feedback", "int2"),
    ("eval_score", "float8"),
    ("cost", "float8"),
    ("tokens_in", "int4"),
    ("tokens_out", "int4"),
    ("segment", "text"),
    ("segment_key", "text"),
    ("workflow_id", "text"),
    ("request_id", "text"),
)
_BATCH_NAMES = ", ".join(name for name, _ in _BATCH_COLUMNS)
_BATCH_TYPES = [kind for _, kind in _BATCH_COLUMNS]


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


def _store_sql(conflict: str) -> str:
    obs = _names(Observation)["table"]
    seg = _names(ObservationRollup)["table"]
    wf = _names(WorkflowRollup)["table"]
    counts = _names(ObservationReservoir)["table"]
    sample = _names(ObservationSample)["table"]
    k = RESERVOIR_SIZE
    return f"""
WITH inserted AS (
    INSERT INTO {obs} (environment_id, release_id, time, latency_ms, error, refusal, json_valid, feedback,
                       eval_score, cost, tokens_in, tokens_out, segment, segment_key, workflow_id, request_id,
                       received_at)
    -- The rows go in as they were copied: in (environment, request id) order.
    SELECT environment_id, release_id, time, latency_ms, error, refusal, json_valid, feedback, eval_score, cost,
           tokens_in, tokens_out, segment::jsonb, segment_key, workflow_id, request_id, statement_timestamp()
    FROM {BATCH_TABLE}
    {conflict}
    -- date_bin: the UTC minute by arithmetic, without date_trunc's time-zone lookup per row
    RETURNING environment_id, release_id, date_bin('1 minute', time, '2000-01-01T00:00:00Z') AS minute, latency_ms,
              error, refusal, json_valid, feedback, eval_score, cost, tokens_in, tokens_out, segment_key,
              workflow_id, coalesce(segment ->> 'tenant', '') AS tenant
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
-- Algorithm R per minute, as samples.reservoir_slots runs it. The minute's count row, locked by this upsert,
-- says how many requests the minute's reservoir was offered before this batch (a racing batch of the minute
-- waits here for the one before it); the batch's requests of the minute take the positions after those;
-- position p < K takes slot p, a later one slot j for a uniform j in 0..p when j < K; of several taking the same
-- slot, the last one stays. The order within the batch is immaterial: algorithm R samples uniformly in any order.
minutes AS (
    INSERT INTO {counts} (environment_id, release_id, minute, seen)
    SELECT environment_id, release_id, minute, count(*)
    FROM inserted
    GROUP BY environment_id, release_id, minute
    ORDER BY environment_id, release_id, minute
    ON CONFLICT (environment_id, release_id, minute) DO UPDATE SET seen = {counts}.seen + excluded.seen
    RETURNING environment_id, release_id, minute, seen
),
slotted AS (
    SELECT p.*, CASE WHEN position < {k} THEN position ELSE floor(random() * (position + 1))::int END AS slot
    FROM (
        SELECT a.environment_id, a.release_id, a.minute, a.latency_ms, a.eval_score, a.cost, a.i,
               m.seen - a.batch + a.i AS position
        FROM (
            SELECT environment_id, release_id, minute, latency_ms, eval_score, cost,
                   row_number() OVER w - 1 AS i, count(*) OVER w AS batch
            FROM inserted
            WINDOW w AS (PARTITION BY environment_id, release_id, minute)
        ) AS a
        JOIN minutes AS m USING (environment_id, release_id, minute)
    ) AS p
),
samples AS (
    INSERT INTO {sample} (environment_id, release_id, minute, slot, latency_ms, eval_score, cost)
    SELECT DISTINCT ON (environment_id, release_id, minute, slot)
           environment_id, release_id, minute, slot, latency_ms, eval_score, cost
    FROM slotted
    WHERE slot < {k}
    ORDER BY environment_id, release_id, minute, slot, i DESC
    ON CONFLICT (environment_id, release_id, minute, slot)
    DO UPDATE SET latency_ms = excluded.latency_ms, eval_score = excluded.eval_score, cost = excluded.cost
    RETURNING 1
)
-- Evaluated in this order, so every batch takes its locks table by table in the same order.
SELECT (SELECT count(*) FROM inserted),
       (SELECT count(*) FROM segment_rollups) + (SELECT count(*) FROM workflow_rollups),
       (SELECT count(*) FROM minutes),
       (SELECT count(*) FROM samples)
"""  # noqa: S608 - table names are ours, values are parameters


_STATEMENTS: dict[str, str] = {}
_ON_CONFLICT = "ON CONFLICT (environment_id, request_id) WHERE request_id IS NOT NULL DO NOTHING"


def _copy_rows(records: list[Record], refs: References, segments: Segments) -> list[tuple]:
    """The batch's rows as COPY tuples (columns as _BATCH_COLUMNS), the first of each request id kept, in
    (environment, request id) order; records without an id keep their places among themselves."""
    rows = []
    for environment_id, release_id, r in first_of_each_request_id(records, refs):
        segment = segments[bytes(r.segment)]
        rows.append(
            (
                environment_id,
                release_id,
                r.time,
                r.latency_ms,
                r.error,
                r.refusal,
                r.json_valid,
                r.feedback,
                r.eval_score,
                r.cost,
                r.tokens_in,
                r.tokens_out,
                segment.text,
                segment.key,
                r.workflow_id or "",
                r.request_id,
            )
        )
    # (environment, request id) order by two stable sorts, cheaper than one on pairs.
    rows.sort(key=lambda row: row[-1] or "")
    rows.sort(key=itemgetter(0))
    return rows


def store(records: list[Record], refs: References, segments: Segments) -> tuple[int, int]:
    """Insert the new records of a checked batch, roll them up and sample them, in the caller's transaction.
    Returns (stored, rollup rows)."""
    if not _STATEMENTS:
        _STATEMENTS["plain"] = _store_sql("")
        _STATEMENTS["skipping"] = _store_sql(_ON_CONFLICT)
    rows = _copy_rows(records, refs, segments)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH_TABLE} "
            f"({', '.join(f'{name} {kind}' for name, kind in _BATCH_COLUMNS)}) ON COMMIT DELETE ROWS"
        )
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {BATCH_TABLE} ({_BATCH_NAMES}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(_BATCH_TYPES)
            for row in rows:
                copy.write_row(row)
        try:
            with transaction.atomic():
                cursor.execute(_STATEMENTS["plain"])
        except IntegrityError:  # a request id is stored already: skip the stored ones
            cursor.execute(_STATEMENTS["skipping"])
        stored, rollup_rows, _, _ = cursor.fetchone()
        if len(connection.atomic_blocks) > 1:
            # Committing empties the table (ON COMMIT DELETE ROWS); inside an enclosing transaction another batch
            # may be stored before any commit.
            cursor.execute(f"DELETE FROM {BATCH_TABLE}")  # noqa: S608 - our own table
    return stored, rollup_rows
