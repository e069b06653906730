"""The one percentile every benchmark reports: linear interpolation between the closest ranks (the method
numpy and most papers call "linear", type 7 of Hyndman and Fan). Floor-indexed ranks overstate a small
sample's p50 and understate its p95 by up to one rank, which is a whole request at 20 repeats."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(values: Iterable[float], pct: float) -> float:
    ordered = sorted(float(v) for v in values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is outside 0..100")
    rank = pct / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
