"""Per-minute reservoir samples of the continuous metrics, so both arms of a look are sampled uniformly over
the same minutes (never "the most recent N", which at a 5 % split would compare the baseline's last minutes
with the canary's whole window).

Representation (one SQL table, ``ObservationSample``): for every (environment, release, minute) at most
``RESERVOIR_SIZE`` rows keyed by ``slot`` 0..K-1, each one request's continuous values (latency, eval score,
cost). Ingest keeps each minute's slots a uniform random sample of that minute's requests (Vitter's algorithm
R: the i-th request of the minute, counted by the minute's ``ObservationReservoir`` row, takes a slot with
probability K/i). The minute's request count is also in ``ObservationRollup``, so a reader knows what share of
each minute it holds.

Reading a window thins every minute to the same sampling fraction -- the smallest kept/count of its minutes
-- so the values are a uniform sample of the arm's requests over the window: busy minutes weigh as much as
they did in the traffic, and both arms cover the same minutes in the same proportions. An ingestion path
that computes rollups in SQL only has to maintain the same rows (e.g. a per-minute ``ORDER BY random() LIMIT
K`` over the raw rows gives the same distribution).
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
from django.db import connection

RESERVOIR_SIZE = 64
SAMPLE_COLUMNS = ("latency_ms", "eval_score", "cost")
_KEY_COLUMNS = ("environment_id", "release_id", "minute", "slot")

_rng = random.Random()


def _models():
    from rollouts.judging.models import ObservationReservoir, ObservationSample

    return ObservationReservoir, ObservationSample


def reservoir_slots(seen_before: int, arriving: int, rng: random.Random = _rng) -> list[tuple[int, int]]:
    """Algorithm R for one minute: (slot, index of the arriving request) for each request that takes a slot,
    given ``seen_before`` requests of the minute already counted. A later request may overwrite an earlier
    one's slot in the same batch; only the last writer of a slot is returned."""
    taken: dict[int, int] = {}
    for i in range(arriving):
        position = seen_before + i  # 0-based position of this request in the minute
        if position < RESERVOIR_SIZE:
            taken[position] = i
        else:
            j = rng.randrange(position + 1)
            if j < RESERVOIR_SIZE:
                taken[j] = i
    return sorted(taken.items())


def samples_add(observations) -> int:
    """Offer a stored batch to the minutes' reservoirs, in the caller's transaction: each minute's count row
    is raised by the batch's requests of the minute (and locked), and the requests take the positions after the
    ones counted before."""
    if not observations:
        return 0
    groups: dict[tuple, list] = defaultdict(list)
    for o in observations:
        groups[(o.environment_id, o.release_id, o.time.replace(second=0, microsecond=0))].append(o)
    seen = _reservoir_counts_add({key: len(batch) for key, batch in groups.items()})
    rows = []
    for key in sorted(groups):
        batch = groups[key]
        for slot, i in reservoir_slots(seen[key] - len(batch), len(batch)):
            o = batch[i]
            rows.append((*key, slot, o.latency_ms, o.eval_score, o.cost))
    samples_upsert(rows)
    return len(rows)


def _reservoir_counts_add(arriving: dict[tuple, int]) -> dict[tuple, int]:
    """Add each minute's arriving requests to its reservoir count; returns the counts after, per minute."""
    reservoir_model, _ = _models()
    keys = sorted(arriving)  # the same lock order in every batch
    table = connection.ops.quote_name(reservoir_model._meta.db_table)
    _upsert_minutes(
        reservoir_model,
        ("environment_id", "release_id", "minute", "seen"),
        ("environment_id", "release_id", "minute"),
        f"seen = {table}.seen + excluded.seen",
        [(*key, arriving[key]) for key in keys],
    )
    minutes = [key[2] for key in keys]
    return {
        (r.environment_id, r.release_id, r.minute): r.seen
        for r in reservoir_model.objects.filter(
            environment_id__in={key[0] for key in keys},
            release_id__in={key[1] for key in keys},
            minute__gte=min(minutes),
            minute__lte=max(minutes),
        ).only("environment_id", "release_id", "minute", "seen")
    }


def samples_upsert(rows: list[tuple]) -> None:
    """Write reservoir rows (environment_id, release_id, minute, slot, latency_ms, eval_score, cost); a row
    for a taken slot replaces it."""
    _, sample_model = _models()
    qn = connection.ops.quote_name
    _upsert_minutes(
        sample_model,
        (*_KEY_COLUMNS, *SAMPLE_COLUMNS),
        _KEY_COLUMNS,
        ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in SAMPLE_COLUMNS),
        rows,
    )


def _upsert_minutes(model, columns: tuple[str, ...], key_columns: tuple[str, ...], updates: str, rows) -> None:
    """Multi-row ``INSERT … ON CONFLICT (key) DO UPDATE SET updates`` of per-minute rows (the minute third in each
    row), as many rows per statement as the database takes parameters."""
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    limit = connection.features.max_query_params or 30000
    per_statement = max(1, min(1000, limit // len(columns)))
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    adapted: dict = {}
    adapt = connection.vendor != "postgresql"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = []
            for row in chunk:
                row = list(row)
                if adapt:
                    minute = row[2]
                    if minute not in adapted:
                        adapted[minute] = connection.ops.adapt_datetimefield_value(minute)
                    row[2] = adapted[minute]
                params.extend(row)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608 - names are ours
                f"VALUES {', '.join([placeholders] * len(chunk))} "
                f"ON CONFLICT ({', '.join(qn(c) for c in key_columns)}) DO UPDATE SET {updates}",
                params,
            )


def time_matched(samples: dict, counts: dict, seed: int, columns: list[str]) -> dict[str, np.ndarray]:
    """Thin each minute's reservoir to the window's common sampling fraction and return the values per metric.

    ``samples``: minute -> list of (latency_ms, eval_score, cost); ``counts``: minute -> requests in the minute.
    """
    fraction = 1.0
    for minute, n in counts.items():
        if n > 0:
            fraction = min(fraction, len(samples.get(minute, ())) / n)
    rng = np.random.default_rng(seed)
    picked: list[tuple] = []
    for minute in counts:  # the caller's order (by minute), so the same data gives the same sample
        rows = samples.get(minute)
        if not rows:
            continue
        exact = fraction * counts[minute]
        take = min(len(rows), int(exact) + (rng.random() < exact - int(exact)))
        if take == len(rows):
            picked.extend(rows)
        else:
            picked.extend(rows[i] for i in rng.permutation(len(rows))[:take])
    out = {}
    for name in columns:
        at = SAMPLE_COLUMNS.index(name)
        values = [r[at] for r in picked]
        out[name] = np.asarray([v for v in values if v is not None] if None in values else values, dtype=float)
    return out
