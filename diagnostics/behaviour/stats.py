"""Paired tests, multiple-comparison corrections and a vectorised bootstrap for the behaviour diff."""

from __future__ import annotations

import numpy as np
from scipy import stats

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
    """Two-sided Wilcoxon signed-rank p-value of paired deltas; zero deltas carry no evidence and are dropped."""
    nonzero = deltas[deltas != 0]
    if nonzero.size == 0:
        return 1.0
    if nonzero.size == 1:
        return 1.0  # one non-tied pair cannot show anything
    return float(stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided").pvalue)


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
    values: np.ndarray, valid: np.ndarray, groups: np.ndarray, *, resamples: int, alpha: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap intervals of the mean of ``values`` (cases x metrics) within each group.

    ``groups`` is a boolean cases x groups membership matrix (a case may be in several groups: the whole set
    and one segment per field). Case indices are resampled with numpy in blocks; each block's resample counts
    become a matrix, so every group x metric mean of every resample is one matrix product. A group's mean in a
    resample uses the group's cases that the resample drew (a Poisson-like bootstrap of the group). Returns
    ``(lo, hi)``, each groups x metrics; NaN where a group has no valid case.
    """
    n, n_metrics = values.shape
    n_groups = groups.shape[1]
    if n == 0 or resamples <= 0:
        empty = np.full((n_groups, n_metrics), np.nan)
        return empty, empty.copy()
    filled = np.where(valid, values, 0.0)
    member = groups.astype(np.float64)
    # Columns: sums of values and counts of valid cases, for each (group, metric).
    numerators = (member[:, :, None] * filled[:, None, :]).reshape(n, n_groups * n_metrics)
    denominators = (member[:, :, None] * valid[:, None, :]).reshape(n, n_groups * n_metrics)
    design = np.concatenate([numerators, denominators], axis=1).astype(np.float32)
    rng = np.random.default_rng(seed)
    per_block = max(1, _BOOTSTRAP_BLOCK_CELLS // n)
    means = np.empty((resamples, n_groups * n_metrics), dtype=np.float64)
    done = 0
    while done < resamples:
        block = min(per_block, resamples - done)
        drawn = rng.integers(0, n, size=(block, n))
        drawn += (np.arange(block) * n)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=block * n).reshape(block, n).astype(np.float32)
        sums = (counts @ design).astype(np.float64)
        half = n_groups * n_metrics
        with np.errstate(invalid="ignore", divide="ignore"):
            means[done : done + block] = sums[:, :half] / sums[:, half:]
        done += block
    with np.errstate(invalid="ignore"):
        all_nan = np.isnan(means).all(axis=0)
        safe = np.where(all_nan[None, :], 0.0, means)
        lo, hi = np.nanpercentile(safe, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    lo[all_nan] = np.nan
    hi[all_nan] = np.nan
    return lo.reshape(n_groups, n_metrics), hi.reshape(n_groups, n_metrics)
