"""Observations: per-request facts posted by gateways, stored raw for a retention window and rolled up per
minute per release, segment and workflow. The canary judge (``arm_data``) and the impact tracker read them.

A batch is checked first, whole: msgspec types (rollouts.judging.observation_batch) pass a good batch in one
C call; a batch they do not pass goes through the detailed checks below, which name every bad record and field
(or accept it after all). References to environments and releases are resolved up front, in two queries.

Rollups are maintained on ingest, in the same transaction as the raw rows, by an additive SQL upsert
(``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``). So a rollup is never behind the raw rows, and
nothing has to remember which rows were already rolled up. On PostgreSQL the database does the whole store
(rollouts.judging.observation_sql: de-duplication by ``ON CONFLICT DO NOTHING``, rollups and reservoir samples
summed in SQL from the inserted rows); elsewhere (the embedded SQLite default) the same steps run here in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.limits import max_text_chars
from core.permissions import require
from rollouts.judging import observation_sql
from rollouts.judging.arms import BINARY_METRICS, CONTINUOUS_METRICS, arm_data  # noqa: F401 - re-exported
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
from rollouts.judging.observation_batch import (
    FUTURE_TOLERANCE,
    LONGEST_TEXT,
    MAX_SEGMENT_KEYS,
    Record,
    References,
    Segments,
    convert,
    decode_body,
    first_of_each_request_id,
    from_checked,
    quick_check,
    references,
    segments_of,
)
from rollouts.judging.samples import samples_add
from rollouts.registry.models import Environment, Release

MAX_BATCH = getattr(settings, "OBSERVATIONS_MAX_BATCH", 5000)
RETENTION_DAYS = getattr(settings, "OBSERVATIONS_RETENTION_DAYS", 14)
ROLLUP_RETENTION_DAYS = getattr(settings, "OBSERVATION_ROLLUPS_RETENTION_DAYS", 180)
MAX_ERRORS_REPORTED = 100


REQUIRED_FIELDS = ("feature", "environment", "time", "latency_ms")
OPTIONAL_FIELDS = (
    "release",
    "release_id",
    "error",
    "refusal",
    "json_valid",
    "feedback",
    "eval_score",
    "cost",
    "tokens_in",
    "tokens_out",
    "segment",
    "workflow_id",
    "request_id",
)
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)


@dataclass
class RecordError:
    index: int | None
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "message": self.message}


class ObservationsInvalid(ValidationError):
    """The batch was refused; ``errors`` name the record index and field of each problem."""

    def __init__(self, errors: list[RecordError]):
        self.errors = errors[:MAX_ERRORS_REPORTED]
        first = self.errors[0]
        where = f"records[{first.index}].{first.field}" if first.index is not None else first.field
        super().__init__(f"{len(errors)} problem(s) in the batch; first: {where}: {first.message}")


@dataclass
class IngestResult:
    received: int
    stored: int
    duplicates: int
    rollup_rows: int = 0


@dataclass(slots=True)
class ObservationRecord:
    """A validated record on its way to the database by the portable path: a plain object, since building 5,000
    model instances per batch cost a quarter of the ingest time."""

    environment_id: int
    release_id: int
    time: datetime
    latency_ms: float
    error: bool
    refusal: bool
    json_valid: bool | None
    feedback: int | None
    eval_score: float | None
    cost: float
    tokens_in: int
    tokens_out: int
    segment: dict
    segment_key: str
    workflow_id: str
    request_id: str | None


# --- validation ---------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def segment_of_key(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split("&") if "=" in part) if key else {}


def _check_record(index: int, rec: Any, errors: list[RecordError], now: datetime) -> dict | None:
    """Type-check one record strictly; returns cleaned values or None (errors appended)."""
    if not isinstance(rec, dict):
        errors.append(RecordError(index, "record", "Each record must be a JSON object."))
        return None
    start = len(errors)

    def bad(name: str, message: str) -> None:
        errors.append(RecordError(index, name, message))

    for name in sorted(set(rec) - KNOWN_FIELDS):
        bad(name, "Unknown field.")
    for name in REQUIRED_FIELDS:
        if rec.get(name) is None:
            bad(name, "This field is required.")
    clean: dict[str, Any] = {}

    for name in ("feature", "environment"):
        value = rec.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 60):
            bad(name, "Must be a non-empty string (slug/name, at most 60 characters).")
    has_number, has_id = rec.get("release") is not None, rec.get("release_id") is not None
    if has_number == has_id:
        bad("release", "Give exactly one of release (number within the feature) or release_id.")
    elif has_number and not (_is_int(rec["release"]) and rec["release"] > 0):
        bad("release", "Must be a positive integer release number.")
    elif has_id and not (_is_int(rec["release_id"]) and rec["release_id"] > 0):
        bad("release_id", "Must be a positive integer release id.")

    raw_time = rec.get("time")
    if raw_time is not None:
        try:
            # RFC 3339 allows a lower-case "t" and "z", as the quick path's parser does.
            parsed = parse_datetime(raw_time.upper()) if isinstance(raw_time, str) else None
        except ValueError:  # well-formed but impossible, e.g. month 13
            parsed = None
        if parsed is None:
            bad("time", "Must be an ISO 8601 date-time string.")
        elif timezone.is_naive(parsed):
            bad("time", "Must include a timezone offset (e.g. Z or +00:00).")
        elif parsed > now + FUTURE_TOLERANCE:
            bad("time", "Is in the future.")
        else:
            clean["time"] = parsed

    latency = rec.get("latency_ms")
    if latency is not None and not (_is_number(latency) and latency >= 0):
        bad("latency_ms", "Must be a non-negative number.")
    for name in ("error", "refusal"):
        if name in rec and not isinstance(rec[name], bool):
            bad(name, "Must be true or false.")
    if rec.get("json_valid") is not None and not isinstance(rec["json_valid"], bool):
        bad("json_valid", "Must be true, false or null.")
    if rec.get("feedback") is not None and not (_is_int(rec["feedback"]) and rec["feedback"] in (-1, 0, 1)):
        bad("feedback", "Must be -1, 0, 1 or null.")
    if rec.get("eval_score") is not None and not _is_number(rec["eval_score"]):
        bad("eval_score", "Must be a number or null.")
    if "cost" in rec and not (_is_number(rec["cost"]) and rec["cost"] >= 0):
        bad("cost", "Must be a non-negative number.")
    for name in ("tokens_in", "tokens_out"):
        if name in rec and not (_is_int(rec[name]) and 0 <= rec[name] < 2**31):
            bad(name, "Must be a non-negative integer.")

    segment = rec.get("segment")
    if segment is not None:
        if not isinstance(segment, dict) or len(segment) > MAX_SEGMENT_KEYS:
            bad("segment", f"Must be an object with at most {MAX_SEGMENT_KEYS} keys.")
        else:
            for key, value in segment.items():
                if not (key.isidentifier() and len(key) <= 40):
                    bad("segment", f"Key {key[:40]!r} must be a short identifier.")
                elif not isinstance(value, str) or not value or len(value) > 80 or "&" in value or "=" in value:
                    bad("segment", f"Value of {key!r} must be a string of 1-80 characters without '&' or '='.")
    for name in ("workflow_id", "request_id"):
        value = rec.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 120):
            bad(name, "Must be a string of 1-120 characters or null.")
    return clean if len(errors) == start else None


def _resolve_releases(
    records: list[dict], errors: list[RecordError]
) -> tuple[dict[tuple[str, str], Environment], dict[tuple, Release]]:
    """Two queries: the environments named in the batch, and the releases named in it."""
    pairs = {(r["feature"], r["environment"]) for r in records}
    env_q = Q()
    for feature, env in pairs:
        env_q |= Q(feature__slug=feature, name=env)
    environments = {(e.feature.slug, e.name): e for e in Environment.objects.filter(env_q).select_related("feature")}
    numbers, ids = defaultdict(set), set()
    for r in records:
        env = environments.get((r["feature"], r["environment"]))
        if env is None:
            continue
        if r.get("release") is not None:
            numbers[env.feature_id].add(r["release"])
        else:
            ids.add(r["release_id"])
    rel_q = Q(pk__in=ids) if ids else Q()
    for feature_id, nums in numbers.items():
        rel_q |= Q(feature_id=feature_id, number__in=nums)
    releases: dict[tuple, Release] = {}
    if rel_q:
        for rel in Release.objects.filter(rel_q).only("id", "feature_id", "number"):
            releases[("number", rel.feature_id, rel.number)] = rel
            releases[("id", rel.pk)] = rel
    for index, r in enumerate(records):
        env = environments.get((r["feature"], r["environment"]))
        if env is None:
            errors.append(
                RecordError(index, "environment", f"No environment {r['environment']!r} for feature {r['feature']!r}.")
            )
            continue
        if r.get("release") is not None:
            if ("number", env.feature_id, r["release"]) not in releases:
                errors.append(RecordError(index, "release", f"No release #{r['release']} of {r['feature']!r}."))
        else:
            rel = releases.get(("id", r["release_id"]))
            if rel is None or rel.feature_id != env.feature_id:
                errors.append(RecordError(index, "release_id", f"No release {r['release_id']} of {r['feature']!r}."))
    return environments, releases


def _validate(records: Any) -> tuple[list[Record], References]:
    """The detailed checks, whole-batch: either every record is good or ObservationsInvalid lists what is wrong."""
    if not isinstance(records, list):
        raise ObservationsInvalid([RecordError(None, "records", "Must be a list of records.")])
    if not records:
        raise ObservationsInvalid([RecordError(None, "records", "Send at least one record.")])
    if len(records) > MAX_BATCH:
        raise ObservationsInvalid(
            [RecordError(None, "records", f"At most {MAX_BATCH} records per batch (got {len(records)}).")]
        )
    now = timezone.now()
    errors: list[RecordError] = []
    cleaned = [_check_record(i, rec, errors, now) for i, rec in enumerate(records)]
    if errors:
        raise ObservationsInvalid(errors)
    checked = [from_checked(rec, clean["time"]) for rec, clean in zip(records, cleaned, strict=True)]
    refs = references(checked)
    if refs is None:
        _resolve_releases(records, errors)
        raise ObservationsInvalid(errors)
    return checked, refs


def _portable_records(
    checked: list[Record], refs: References, segments: Segments
) -> tuple[list[ObservationRecord], int]:
    """Records with their ids resolved, the first of each request id in the batch kept; and how many were not."""
    observations = []
    kept = first_of_each_request_id(checked, refs)
    for environment_id, release_id, r in kept:
        segment = segments[bytes(r.segment)]
        observations.append(
            ObservationRecord(
                environment_id=environment_id,
                release_id=release_id,
                time=r.time,
                latency_ms=r.latency_ms,
                error=r.error,
                refusal=r.refusal,
                json_valid=r.json_valid,
                feedback=r.feedback,
                eval_score=r.eval_score,
                cost=r.cost,
                tokens_in=r.tokens_in,
                tokens_out=r.tokens_out,
                segment=segment.values,
                segment_key=segment.key,
                workflow_id=r.workflow_id or "",
                request_id=r.request_id,
            )
        )
    return observations, len(checked) - len(kept)


# --- rollups ------------------------------------------------------------------------------------------------

_KEY_COLUMNS = ("environment_id", "release_id", "minute", "segment_key")
_LATENCY_COLUMNS = (*(f"latency_le_{b}" for b in LATENCY_BUCKETS_MS), f"latency_gt_{LATENCY_BUCKETS_MS[-1]}")
_SUM_COLUMNS = ROLLUP_SUMS
_WORKFLOW_KEY_COLUMNS = ("environment_id", "release_id", "minute", "workflow_id", "tenant")
_WORKFLOW_SUM_COLUMNS = WORKFLOW_ROLLUP_SUMS


def _latency_bucket(latency: float) -> int:
    for i, bound in enumerate(LATENCY_BUCKETS_MS):
        if latency <= bound:
            return i
    return len(LATENCY_BUCKETS_MS)


def rollup_sums(observations: list[ObservationRecord]) -> dict[tuple, list[float]]:
    """Sum observations per (environment, release, minute, segment), columns in _SUM_COLUMNS order."""
    groups: dict[tuple, list[float]] = {}
    lat0 = _SUM_COLUMNS.index(_LATENCY_COLUMNS[0])
    for o in observations:
        key = (o.environment_id, o.release_id, o.time.replace(second=0, microsecond=0), o.segment_key)
        s = groups.get(key)
        if s is None:
            s = groups[key] = [0] * len(_SUM_COLUMNS)
        s[0] += 1
        s[1] += o.error
        s[2] += o.refusal
        if o.json_valid is not None:
            s[3] += 1
            s[4] += not o.json_valid
        if o.feedback is not None:
            s[5] += 1
            s[6] += o.feedback < 0
            s[7] += o.feedback > 0
        if o.eval_score is not None:
            s[8] += 1
            s[9] += o.eval_score
        s[10] += o.latency_ms
        s[lat0 + _latency_bucket(o.latency_ms)] += 1
        s[-3] += o.cost
        s[-2] += o.tokens_in
        s[-1] += o.tokens_out
    return groups


def workflow_rollup_sums(observations: list[ObservationRecord]) -> dict[tuple, list[int]]:
    """Sum observations that name a workflow per (environment, release, minute, workflow, tenant)."""
    groups: dict[tuple, list[int]] = {}
    for o in observations:
        if not o.workflow_id:
            continue
        tenant = str(o.segment.get("tenant", ""))
        key = (o.environment_id, o.release_id, o.time.replace(second=0, microsecond=0), o.workflow_id, tenant)
        s = groups.get(key)
        if s is None:
            s = groups[key] = [0, 0, 0, 0]
        s[0] += 1
        s[1] += o.error
        if o.feedback is not None:
            s[2] += 1
            s[3] += o.feedback < 0
    return groups


def _upsert(model, key_columns: tuple[str, ...], sum_columns: tuple[str, ...], groups: dict[tuple, list]) -> None:
    """Additive upsert, keys sorted so concurrent batches lock rollup rows in the same order (no deadlocks)."""
    if not groups:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = key_columns + sum_columns
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in sum_columns)
    limit = connection.features.max_query_params or 30000
    per_statement = max(1, min(1000, limit // len(columns)))
    minute_at = key_columns.index("minute")
    rows = []
    for key, sums in sorted(groups.items(), key=lambda kv: kv[0]):
        key = list(key)
        if connection.vendor != "postgresql":
            key[minute_at] = connection.ops.adapt_datetimefield_value(key[minute_at])
        rows.append((*key, *sums))
    if connection.vendor == "postgresql":
        # COPY the sums into a temporary table, then one INSERT … SELECT … ON CONFLICT: far fewer bound
        # parameters than multi-row VALUES, and the conflict handling is one statement.
        temp = qn(f"tmp_{model._meta.db_table}")
        names = ", ".join(qn(c) for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} ON COMMIT DELETE ROWS AS "  # noqa: S608 - names are ours
                f"SELECT {names} FROM {table} WITH NO DATA"
            )
            with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} "  # noqa: S608 - names are ours
                f"ORDER BY {', '.join(qn(c) for c in key_columns)} "
                f"ON CONFLICT ({', '.join(qn(c) for c in key_columns)}) DO UPDATE SET {updates}"
            )
            cursor.execute(f"DELETE FROM {temp}")  # noqa: S608 - names are ours
        return
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = (
                f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608 - names are ours
                f"VALUES {', '.join([placeholders] * len(chunk))} "
                f"ON CONFLICT ({', '.join(qn(c) for c in key_columns)}) DO UPDATE SET {updates}"
            )
            cursor.execute(sql, [v for row in chunk for v in row])


def _upsert_rollups(observations: list[ObservationRecord]) -> int:
    segments = rollup_sums(observations)
    workflows = workflow_rollup_sums(observations)
    _upsert(ObservationRollup, _KEY_COLUMNS, _SUM_COLUMNS, segments)
    _upsert(WorkflowRollup, _WORKFLOW_KEY_COLUMNS, _WORKFLOW_SUM_COLUMNS, workflows)
    return len(segments) + len(workflows)


# --- ingest -------------------------------------------------------------------------------------------------


def _insert(observations: list[ObservationRecord]) -> None:
    fields = ObservationRecord.__slots__
    rows = [Observation(**{f: getattr(o, f) for f in fields}) for o in observations]
    Observation.objects.bulk_create(rows, batch_size=1000)


def _store(observations: list[ObservationRecord]) -> tuple[list[ObservationRecord], int, int]:
    """The portable store: drop records already stored (by request id), insert the rest and roll them up, in
    the caller's transaction."""
    with_ids = [o for o in observations if o.request_id is not None]
    known: set[tuple[int, str]] = set()
    if with_ids:
        known = set(
            Observation.objects.filter(
                environment_id__in={o.environment_id for o in with_ids},
                request_id__in={o.request_id for o in with_ids},
            ).values_list("environment_id", "request_id")
        )
    fresh = [o for o in observations if o.request_id is None or (o.environment_id, o.request_id) not in known]
    # Insert in request-id order so two gateways racing on overlapping ids wait on each other, never deadlock.
    fresh.sort(key=lambda o: (o.environment_id, o.request_id or ""))
    _insert(fresh)
    rollup_rows = _upsert_rollups(fresh)
    samples_add(fresh)
    return fresh, len(observations) - len(fresh), rollup_rows


def observations_ingest_require(actor) -> None:
    """The rule for storing observations, for every door that stores them (the API and the OTLP intake, which
    asks before it maps spans so that a batch without a GenAI span is refused too)."""
    require(actor, "observation.ingest")


def observations_ingest(*, actor, records: list[dict]) -> IngestResult:
    """Validate a batch strictly (nothing is stored if any record is bad), drop duplicates by request id,
    insert the rest and add them to the per-minute rollups and reservoir samples.

    Not audited per batch: observations are measurements, not state changes, and arrive by the thousand."""
    observations_ingest_require(actor)
    checked = convert(records)
    segments = quick_check(checked, MAX_BATCH) if checked is not None else None
    refs = references(checked) if segments is not None else None
    if refs is None:
        checked, refs = _validate(records)
        segments = segments_of(checked, check=False)
    return _ingest_checked(checked, refs, segments)


def observations_ingest_body(*, actor, body: bytes) -> IngestResult | None:
    """The endpoint's way in: a JSON body ``{"records": [...]}`` that the msgspec types and the quick checks pass
    is stored straight away. None when it needs the endpoint's detailed path (which parses the JSON with
    core.limits and gives every refusal its message) -- malformed JSON, a bad record, an unknown release."""
    if max_text_chars() < LONGEST_TEXT:
        return None
    checked = decode_body(body)
    if checked is None:
        return None
    observations_ingest_require(actor)  # after parsing, as the detailed path: malformed JSON is a 400 for all
    segments = quick_check(checked, MAX_BATCH)
    if segments is None:
        return None
    refs = references(checked)
    if refs is None:
        return None
    return _ingest_checked(checked, refs, segments)


def _ingest_checked(checked: list[Record], refs: References, segments: Segments) -> IngestResult:
    if connection.vendor == "postgresql":
        with transaction.atomic():
            stored, rollup_rows = observation_sql.store(checked, refs, segments)
        return IngestResult(
            received=len(checked), stored=stored, duplicates=len(checked) - stored, rollup_rows=rollup_rows
        )
    observations, in_batch_duplicates = _portable_records(checked, refs, segments)
    for attempt in range(3):
        try:
            with transaction.atomic():
                stored_rows, already, rollup_rows = _store(observations)
            break
        except IntegrityError:
            # A concurrent batch stored one of our request ids between our check and our insert: retry,
            # the check will now see it. Our transaction rolled back, so the rollups were not touched.
            if attempt == 2:
                raise
    return IngestResult(
        received=len(checked),
        stored=len(stored_rows),
        duplicates=in_batch_duplicates + already,
        rollup_rows=rollup_rows,
    )


def observations_prune(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete raw observations past the retention window, and the per-minute rows (rollups, reservoir samples
    and counts) past theirs. Returns the counts of raw rows and of rollup rows deleted."""
    now = now or timezone.now()
    raw, _ = Observation.objects.filter(time__lt=now - timedelta(days=RETENTION_DAYS)).delete()
    cutoff = now - timedelta(days=ROLLUP_RETENTION_DAYS)
    rolled, _ = ObservationRollup.objects.filter(minute__lt=cutoff).delete()
    rolled_wf, _ = WorkflowRollup.objects.filter(minute__lt=cutoff).delete()
    ObservationSample.objects.filter(minute__lt=cutoff).delete()
    ObservationReservoir.objects.filter(minute__lt=cutoff).delete()
    return raw, rolled + rolled_wf


# --- reads for the judge ------------------------------------------------------------------------------------
# rollouts.judging.arms reads a look's window (whole minutes from the rollups and reservoirs, raw edge rows).
