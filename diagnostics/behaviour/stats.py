"""Paired tests, multiple-comparison corrections and a vectorised bootstrap for the behaviour diff."""

from __future__ import annotations

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

# Below this many discordant pairs McNemar's chi-square approximation is poor: use the exact binomial test.
MCNEMAR_EXACT_BELOW = 25
# One bootstrap block resamples at most this many case indices at once (bounded memory, ~32 MB of int64).
_BOOTSTRAP_BLOCK_CELLS = 4_000_000


def mcnemar(a_only: int, b_only: int) -> float:
    """Two-sided McNemar p-value from the discordant counts (exact binomial when few, else chi-square with
    continuity correction)."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    if discordant < MCNEMAR_EXACT_BELOW:
        return float(min(1.0, 2.0 * stats.binom.cdf(min(a_only, b_only), discordant, 0.5)))
    statistic = max(abs(a_only - b_only) - 1.0, 0.0) ** 2 / discordant
    return float(stats.chi2.sf(statistic, 1))


def wilcoxon(deltas: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired deltas; zero deltas carry no evidence and are dropped.

    Exact distribution for up to 50 untied deltas, else the normal approximation with the tie correction
    (computed here: scipy's automatic choice falls back to slow permutations for small tied samples).
    """
    nonzero = deltas[deltas != 0]
    n = nonzero.size
    if n <= 1:
        return 1.0  # one non-tied pair cannot show anything
    # Average ranks of the magnitudes from one sorted copy (a million deltas need no rank per delta): the positive
    # deltas' rank sum is, per positive magnitude, the mean position of its tie group in the sorted magnitudes.
    ordered = np.sort(np.abs(nonzero))
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    ties = np.diff(np.append(starts, n))
    if n <= 50 and (ties == 1).all():
        return float(stats.wilcoxon(nonzero, method="exact").pvalue)
    positive_magnitudes = np.abs(nonzero[nonzero > 0])
    first = np.searchsorted(ordered, positive_magnitudes, side="left")
    past = np.searchsorted(ordered, positive_magnitudes, side="right")
    positive = float((first + past + 1).sum()) / 2  # ranks are whole or half numbers: the sum is exact
    mean = n * (n + 1) / 4
    variance = n * (n + 1) * (2 * n + 1) / 24 - (ties**3 - ties).sum() / 48
    if variance <= 0:
        return 1.0
    z = (positive - mean) / np.sqrt(variance)
    return float(min(1.0, 2 * stats.norm.sf(abs(z))))


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (controls the family-wise error rate); ``None`` entries are not tests."""
    index = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    m = len(index)
    running = 0.0
    for rank, i in enumerate(sorted(index, key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (controls the false discovery rate); ``None`` entries are not tests."""
    index = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    m = len(index)
    if m == 0:
        return adjusted
    order = sorted(index, key=lambda j: p_values[j])
    ranked = np.array([p_values[i] for i in order], dtype=float) * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    for i, value in zip(order, np.minimum(ranked, 1.0), strict=True):
        adjusted[i] = float(value)
    return adjusted


def bootstrap_group_means(
    values: np.ndarray,
    valid: np.ndarray,
    partitions: list[np.ndarray],
    *,
    resamples: int,
    alpha: float,
    seed: int,
) -> tuple[tuple[np.ndarray, np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """Percentile bootstrap intervals of the mean of ``values`` (cases x metrics), overall and per group.

    ``partitions`` holds one array of group codes (0..G-1) per segment field. Case indices are resampled with
    numpy in blocks; a block's resample counts form a matrix, so every metric's mean in every resample is one
    matrix product. A group's mean in a resample uses the group's cases that the resample drew (a Poisson-like
    bootstrap of the group); cases are sorted by group once per field so each group is a contiguous slice and
    costs only its own columns. Returns ``((lo, hi), [(lo, hi) per field])``: metrics, and groups x metrics.
    NaN where a group has no valid case.
    """
    n, n_metrics = values.shape
    sizes = [int(codes.max()) + 1 if codes.size else 0 for codes in partitions]
    if n == 0 or resamples <= 0:
        return (np.full(n_metrics, np.nan), np.full(n_metrics, np.nan)), [
            (np.full((g, n_metrics), np.nan), np.full((g, n_metrics), np.nan)) for g in sizes
        ]
    if partitions:
        # Cases sorted by the first field's groups: its groups are then slices of the resample counts as drawn.
        first = np.argsort(partitions[0], kind="stable")
        values, valid, partitions = values[first], valid[first], [codes[first] for codes in partitions]
    design = np.concatenate([np.where(valid, values, 0.0), valid], axis=1).astype(np.float32)
    orders = [np.argsort(codes, kind="stable") for codes in partitions]
    sorted_designs = [design[order] for order in orders]
    bounds = [
        np.searchsorted(codes[order], np.arange(g + 1))
        for codes, order, g in zip(partitions, orders, sizes, strict=True)
    ]
    rng = np.random.default_rng(seed)
    per_block = max(1, _BOOTSTRAP_BLOCK_CELLS // n)
    overall = np.empty((resamples, 2 * n_metrics))
    by_group = [np.empty((resamples, g, 2 * n_metrics)) for g in sizes]
    done = 0
    # Hundreds of small products: OpenBLAS's threads spin-wait between them and, on a shared 2-core machine,
    # cost ten times the arithmetic. One BLAS thread is faster here.
    with threadpool_limits(limits=1, user_api="blas"):
        while done < resamples:
            block = min(per_block, resamples - done)
            drawn = rng.integers(0, n, size=(block, n), dtype=np.int32)
            counts = np.empty((block, n), dtype=np.float32)
            for r in range(block):  # row by row: the count vector stays in cache, ~6x faster than one bincount
                counts[r] = np.bincount(drawn[r], minlength=n)
            overall[done : done + block] = counts @ design
            for f, order in enumerate(orders):
                permuted = counts if f == 0 else counts[:, order]
                for g in range(sizes[f]):
                    lo, hi = bounds[f][g], bounds[f][g + 1]
                    by_group[f][done : done + block, g] = permuted[:, lo:hi] @ sorted_designs[f][lo:hi]
            done += block

    def interval(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums[..., :n_metrics] / sums[..., n_metrics:]
        all_nan = np.isnan(means).all(axis=0)
        filled = np.where(all_nan[None, ...], 0.0, means)
        lo, hi = np.nanpercentile(filled, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
        lo[all_nan] = np.nan
        hi[all_nan] = np.nan
        return lo, hi

    return interval(overall), [interval(sums) for sums in by_group]
