"""Look windows: which rows of the per-minute rollups, and which raw rows, a look's window [start, end) covers.

A window is read as its whole minutes (from the rollups and the per-minute reservoir samples) plus, at either
edge, the part of a minute it covers (from the raw observations, which are kept for the retention window). So
every metric and the sample-ratio counts of both arms cover exactly [start, end): a request made 30 s before
the step started, in the minute the step started, is not in the step's window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)


def minute_floor(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def minute_ceil(t: datetime) -> datetime:
    floor = minute_floor(t)
    return floor if floor == t else floor + MINUTE


@dataclass(frozen=True)
class WindowParts:
    """[start, end) split into whole minutes [full_start, full_end) and partial edges read from raw rows."""

    full_start: datetime | None
    full_end: datetime | None
    edges: tuple[tuple[datetime, datetime], ...]

    @property
    def has_full_minutes(self) -> bool:
        return self.full_start is not None


def window_parts(start: datetime, end: datetime) -> WindowParts:
    if end <= start:
        return WindowParts(None, None, ())
    first, last = minute_ceil(start), minute_floor(end)
    if first >= last:  # no whole minute inside: the window is one or two partial minutes
        return WindowParts(None, None, ((start, end),))
    edges = []
    if start < first:
        edges.append((start, first))
    if last < end:
        edges.append((last, end))
    return WindowParts(first, last, tuple(edges))
