"""The two arms of a look, read over exactly the same window (see windows.py and samples.py).

``arm_data`` returns what the judge needs for one release over [start, end): binary metrics as (events, trials)
and the request count from the rollups' whole minutes plus the raw rows of partial edge minutes; continuous
metrics as a time-matched sample -- every minute thinned to the window's common sampling fraction, edge minutes
included -- so busy and quiet minutes weigh as they did in the traffic and both arms are sampled alike.
Three queries at most, for all arms at once: rollups by minute, reservoir rows, raw edge rows (each only when the
window has them).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np
from django.db import connection
from django.db.models import Q, Sum

from rollouts.judging.judge import ArmData
from rollouts.judging.models import Observation, ObservationRollup, ObservationSample
from rollouts.judging.samples import SAMPLE_COLUMNS, time_matched
from rollouts.judging.windows import window_parts

BINARY_METRICS = ("error_rate", "refusal_rate", "json_invalid_rate", "negative_feedback_rate")
CONTINUOUS_METRICS = SAMPLE_COLUMNS
_COUNTS = ("count", "errors", "refusals", "json_checked", "json_invalid", "feedback_count", "feedback_negative")


def _raw(queryset):
    """Rows as the database returns them: minutes stay in the database's own form (grouping keys only), which
    spares converting every reservoir row's minute to a datetime."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def arm_data(*, environment, release, start: datetime, end: datetime, metrics: list[str] | None = None) -> ArmData:
    """One release's arm over [start, end)."""
    return arms_data(environment=environment, releases=[release], start=start, end=end, metrics=metrics)[release.pk]


def arms_data(
    *, environment, releases: list, start: datetime, end: datetime, metrics: list[str] | None = None
) -> dict[int, ArmData]:
    """Every given release's arm over the same [start, end), by release pk: each query reads all arms at once,
    so a look costs the same few queries however many arms it compares."""
    wanted = set(metrics) if metrics is not None else set(BINARY_METRICS + CONTINUOUS_METRICS)
    unknown = wanted - set(BINARY_METRICS + CONTINUOUS_METRICS)
    if unknown:
        raise ValueError(f"Unknown metrics: {sorted(unknown)}")
    parts = window_parts(start, end)
    wanted_continuous = [m for m in CONTINUOUS_METRICS if m in wanted]
    pks = [r.pk for r in releases]
    totals = {pk: dict.fromkeys(_COUNTS, 0) for pk in pks}
    per_minute: dict = {pk: {} for pk in pks}  # minute or edge -> requests, for the time-matched thinning
    samples: dict = {pk: defaultdict(list) for pk in pks}
    if parts.has_full_minutes:
        minutes = ObservationRollup.objects.filter(
            environment=environment, release_id__in=pks, minute__gte=parts.full_start, minute__lt=parts.full_end
        )
        grouped = minutes.values("release_id", "minute").annotate(**{c: Sum(c) for c in _COUNTS})
        for release_id, minute, *sums in _raw(
            grouped.order_by("release_id", "minute").values_list("release_id", "minute", *_COUNTS)
        ):
            arm_totals = totals[release_id]
            for c, v in zip(_COUNTS, sums, strict=True):
                arm_totals[c] += v or 0
            per_minute[release_id][minute] = sums[0] or 0
        sampled = [pk for pk in pks if per_minute[pk]]
        if wanted_continuous and sampled:
            rows = (
                ObservationSample.objects.filter(
                    environment=environment,
                    release_id__in=sampled,
                    minute__gte=parts.full_start,
                    minute__lt=parts.full_end,
                )
                .order_by("release_id", "minute", "slot")
                .values_list("release_id", "minute", *SAMPLE_COLUMNS)
            )
            for release_id, minute, *values in _raw(rows):
                samples[release_id][minute].append(tuple(values))
    if parts.edges:
        edge_filter = Q()
        for lo, hi in parts.edges:
            edge_filter |= Q(time__gte=lo, time__lt=hi)
        raw = Observation.objects.filter(edge_filter, environment=environment, release_id__in=pks).values_list(
            "release_id", "time", "error", "refusal", "json_valid", "feedback", *SAMPLE_COLUMNS
        )
        for release_id, t, error, refusal, json_valid, feedback, *values in raw:
            edge = next(i for i, (lo, hi) in enumerate(parts.edges) if lo <= t < hi)
            key = ("edge", edge)
            arm_totals = totals[release_id]
            arm_totals["count"] += 1
            arm_totals["errors"] += bool(error)
            arm_totals["refusals"] += bool(refusal)
            if json_valid is not None:
                arm_totals["json_checked"] += 1
                arm_totals["json_invalid"] += not json_valid
            if feedback is not None:
                arm_totals["feedback_count"] += 1
                arm_totals["feedback_negative"] += feedback < 0
            per_minute[release_id][key] = per_minute[release_id].get(key, 0) + 1
            samples[release_id][key].append(tuple(values))
    return {pk: _arm(totals[pk], per_minute[pk], samples[pk], wanted, wanted_continuous, pk, start, end) for pk in pks}


def _arm(totals, per_minute, samples, wanted, wanted_continuous, release_pk, start, end) -> ArmData:
    pairs = {
        "error_rate": (totals["errors"], totals["count"]),
        "refusal_rate": (totals["refusals"], totals["count"]),
        "json_invalid_rate": (totals["json_invalid"], totals["json_checked"]),
        "negative_feedback_rate": (totals["feedback_negative"], totals["feedback_count"]),
    }
    binary = {name: pair for name, pair in pairs.items() if name in wanted}
    continuous: dict[str, np.ndarray] = {}
    if wanted_continuous:
        seed = hash((release_pk, start.timestamp(), end.timestamp())) & 0xFFFFFFFF
        continuous = time_matched(samples, per_minute, seed, wanted_continuous)
    return ArmData(requests=totals["count"], binary=binary, continuous=continuous)
