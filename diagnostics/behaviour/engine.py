"""Compare two releases' answers to the same cases: paired statistics per metric and per segment.

Directions (which way is a regression) are explicit per metric in ``METRICS``:
- ``refusal``, ``non_answer``, ``disclaimer``, ``hedging``, ``flattery``, ``latency``, ``cost``: up is a regression;
- ``json_valid``, ``schema_valid``: down is a regression;
- ``chars``, ``words``, ``headings``, ``list_items``, ``code_blocks``: neutral — a significant move is reported as
  ``changed`` (length or formatting changed), never as a regression on its own, because longer or shorter is
  not worse without a task-specific judgement. ``AnalysisOptions.directions`` overrides any of these.

Per case the K samples of each side are averaged first; the per-case delta is ``b - a``. Binary metrics with
K=1 use McNemar's test and a flip matrix; with K>1 the per-case rates are compared with the Wilcoxon signed-rank
test (the flip matrix then uses each case's majority, ties counting as true). Continuous metrics use Wilcoxon.
Every effect is the mean delta with a paired percentile-bootstrap interval. Overall metrics are Holm-corrected;
segment x metric tests are Benjamini-Hochberg-corrected together. When K>1, a metric's noise floor is the
smallest mean delta that resampling the same release could produce (z * sqrt(2 s^2 / (K n)), with s^2 the
pooled within-case variance of samples of one side); a significant change inside the floor is reported as
no significant change.

Report (``analyse`` returns it; JSON-serialisable, NaN/inf become null):
- ``verdict`` (overall): regression | improvement | no_significant_change | inconclusive. Regression when any
  overall metric or any segment x metric cell (after correction) regressed; else improvement when any improved;
  inconclusive when there are fewer than ``MIN_CASES`` cases. ``reason`` names the cells behind it.
- ``sides``: {"a": label, "b": label}: what the two sides are (releases, generators, files).
- ``metrics[]``: name, kind, direction, verdict (the four above plus ``changed`` for neutral metrics), effect
  (mean delta b - a; rates for binary metrics, whose change is read in percentage points), relative_change
  (continuous metrics only; null for rates), ci, p_value, p_adjusted (Holm), mean_a, mean_b,
  n, noise_floor, reason. Metrics without data are left out (schema_valid without schemas, latency/cost unless
  both ``latency_a``/``latency_b`` or ``cost_a``/``cost_b`` columns are given).
- ``flip_matrices``: per binary metric, counts of cases both_false / a_only / b_only / both_true.
- ``segments[]``: field, value (string; "(missing)" for null), n, metric, delta, ci, p_value, p_adjusted (BH over
  all segment cells), verdict, reason. Cells with fewer than ``MIN_CASES`` cases are "inconclusive", untested.
- ``noise_floor``: {metric: value} when K>1, else null. ``distributions``: per continuous metric, per-case
  values of a fixed random subset of at most ``DISTRIBUTION_CAP`` cases ({"a": [...], "b": [...]}).
- ``similarity``: backend, mean, p10, median of per-case similarity, and a 20-bin histogram on [0, 1].
- ``top_changes[]``: the ``top_n`` least similar cases: case_id, similarity, segment, output_a/output_b (first
  sample, capped at ``TEXT_CAP`` characters, ``truncated``), word_diff [[op, text], ...] with op in
  equal/delete/insert (equal+delete rebuild output_a, equal+insert rebuild output_b).
- ``refusal_patterns``: with custom ``refusal_patterns``, one entry per pattern: pattern, hits_a, hits_b (answers
  matched on each side) and zero_match (true when it matched nothing on either side: probably a typo); else null.
- ``options``: what the report was computed with.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scistats

from diagnostics.behaviour import stats
from diagnostics.behaviour.metrics import REFUSAL_WINDOW, EmbeddingBackend, paired_metrics

UP_IS_WORSE = "up_is_worse"
DOWN_IS_WORSE = "down_is_worse"
NEUTRAL = "neutral"

# name -> (kind, direction)
METRICS: dict[str, tuple[str, str]] = {
    "refusal": ("binary", UP_IS_WORSE),
    "non_answer": ("binary", UP_IS_WORSE),
    "disclaimer": ("binary", UP_IS_WORSE),
    "json_valid": ("binary", DOWN_IS_WORSE),
    "schema_valid": ("binary", DOWN_IS_WORSE),
    "chars": ("continuous", NEUTRAL),
    "words": ("continuous", NEUTRAL),
    "headings": ("continuous", NEUTRAL),
    "list_items": ("continuous", NEUTRAL),
    "code_blocks": ("continuous", NEUTRAL),
    "hedging": ("continuous", UP_IS_WORSE),
    "flattery": ("continuous", UP_IS_WORSE),
    "latency": ("continuous", UP_IS_WORSE),
    "cost": ("continuous", UP_IS_WORSE),
}
VERDICTS = ("regression", "improvement", "no_significant_change", "inconclusive")
METRIC_VERDICTS = (*VERDICTS, "changed")  # "changed": a neutral metric moved significantly
MIN_CASES = 5  # fewer paired cases than this cannot reach significance with these tests: inconclusive
DISTRIBUTION_CAP = 1000
TEXT_CAP = 20_000
DIFF_PRECISE_PAIRS = 1_500_000
_WORDS = re.compile(r"\s+|\S+")

Progress = Callable[[float, str], None]


@dataclass
class AnalysisOptions:
    segment_fields: list[str] = field(default_factory=list)
    alpha: float = 0.05
    bootstrap: int = 2000
    top_n: int = 20
    refusal_patterns: list[str] | None = None
    seed: int = 0
    refusal_window: int | None = REFUSAL_WINDOW
    directions: dict[str, str] | None = None  # metric -> up_is_worse | down_is_worse | neutral
    label_a: str = "A"
    label_b: str = "B"


# ---------------------------------------------------------------------------------------------------------
# Input


def _validate(frame: pd.DataFrame, options: AnalysisOptions) -> None:
    required = ["case_id", "sample", "output_a", "output_b", *options.segment_fields]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing column(s): {', '.join(missing)}")
    if frame.empty:
        raise ValueError("frame has no rows: nothing to compare")
    if not 0 < options.alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {options.alpha}")
    for column in ("output_a", "output_b"):
        absent = frame[column].isna()
        if absent.any():
            first = frame.loc[absent, "case_id"].iloc[0]
            raise ValueError(f"{column} is missing in {int(absent.sum())} row(s), first for case {first!r}")
    if frame.duplicated(["case_id", "sample"]).any():
        first = frame.loc[frame.duplicated(["case_id", "sample"]), "case_id"].iloc[0]
        raise ValueError(f"case {first!r} has the same sample number more than once")
    if options.directions:
        unknown = {d for d in options.directions.values() if d not in (UP_IS_WORSE, DOWN_IS_WORSE, NEUTRAL)}
        if unknown:
            raise ValueError(f"unknown direction(s) {sorted(unknown)}; use up_is_worse, down_is_worse or neutral")
        metrics = sorted(set(options.directions) - set(METRICS))
        if metrics:
            raise ValueError(f"directions name unknown metric(s) {metrics}; metrics are {', '.join(METRICS)}")
    window = options.refusal_window
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise ValueError(f"refusal_window must be a positive number of characters or None, got {window!r}")


def _row_metrics(
    frame: pd.DataFrame, options: AnalysisOptions, backend: EmbeddingBackend | None, progress: Progress | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, list[dict] | None]:
    def measured(fraction: float, message: str) -> None:
        if progress is not None:
            progress(0.05 + 0.6 * fraction, message)

    metrics_a, metrics_b, sim = paired_metrics(
        frame["output_a"].astype(str),
        frame["output_b"].astype(str),
        refusal_patterns=options.refusal_patterns,
        schemas=frame["schema"] if "schema" in frame.columns else None,
        refusal_window=options.refusal_window,
        backend=backend,
        progress=measured,
    )
    patterns = None
    if options.refusal_patterns is not None:
        hits_a, hits_b = metrics_a.attrs["refusal_pattern_hits"], metrics_b.attrs["refusal_pattern_hits"]
        patterns = [
            {"pattern": p, "hits_a": hits_a[p], "hits_b": hits_b[p], "zero_match": hits_a[p] + hits_b[p] == 0}
            for p in hits_a
        ]
    side_a: dict[str, np.ndarray] = {}
    side_b: dict[str, np.ndarray] = {}
    for name in metrics_a.columns:
        if name == "schema_valid" and metrics_a[name].isna().all():
            continue
        side_a[name] = metrics_a[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        side_b[name] = metrics_b[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    for name in ("latency", "cost"):
        columns = (f"{name}_a", f"{name}_b")
        if all(c in frame.columns for c in columns):
            try:
                values = [pd.to_numeric(frame[c], errors="raise").to_numpy(dtype=float) for c in columns]
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{name}_a/{name}_b must be numbers: {exc}") from exc
            if not (np.isnan(values[0]).all() and np.isnan(values[1]).all()):
                side_a[name], side_b[name] = values
    return side_a, side_b, sim, patterns


@dataclass
class _Cases:
    """Per-case aggregates: means over the K samples of each side, and within-case variance for the noise floor."""

    ids: np.ndarray
    first_row: np.ndarray
    k: int
    mean_a: dict[str, np.ndarray]
    mean_b: dict[str, np.ndarray]
    within_var: dict[str, float]
    similarity: np.ndarray


def _per_case(frame: pd.DataFrame, side_a: dict, side_b: dict, sim: np.ndarray) -> _Cases:
    codes, ids = pd.factorize(frame["case_id"], sort=False)
    n = len(ids)
    first_row = np.full(n, -1, dtype=np.int64)
    sample = pd.to_numeric(frame["sample"], errors="coerce").to_numpy(dtype=float)
    order = np.lexsort((sample, codes))  # first row of a case = its lowest sample number
    first_row[codes[order[::-1]]] = order[::-1]
    k = int(np.bincount(codes).max())

    def mean_and_var(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        valid = ~np.isnan(values)
        count = np.bincount(codes, weights=valid, minlength=n)
        total = np.bincount(codes, weights=np.where(valid, values, 0.0), minlength=n)
        squares = np.bincount(codes, weights=np.where(valid, values * values, 0.0), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            var = (squares - total * total / count) / (count - 1)
        return mean, np.where(count >= 2, np.maximum(var, 0.0), np.nan), count

    mean_a, mean_b, within = {}, {}, {}
    for name in side_a:
        mean_a[name], var_a, _ = mean_and_var(side_a[name])
        mean_b[name], var_b, _ = mean_and_var(side_b[name])
        pooled = np.concatenate([var_a, var_b])
        within[name] = float(np.nanmean(pooled)) if k > 1 and np.isfinite(pooled).any() else math.nan
    sim_mean, _, _ = mean_and_var(sim.astype(float))
    return _Cases(
        ids=np.asarray(ids),
        first_row=first_row,
        k=k,
        mean_a=mean_a,
        mean_b=mean_b,
        within_var=within,
        similarity=sim_mean,
    )


# ---------------------------------------------------------------------------------------------------------
# Tests and verdicts


def _direction(name: str, options: AnalysisOptions) -> str:
    return (options.directions or {}).get(name, METRICS.get(name, ("continuous", NEUTRAL))[1])


def _flips(a: np.ndarray, b: np.ndarray) -> dict[str, int]:
    # Per-case rates when K>1: a case counts as true on a side when at least half its samples are.
    ta, tb = a >= 0.5, b >= 0.5
    return {
        "both_false": int((~ta & ~tb).sum()),
        "a_only": int((ta & ~tb).sum()),
        "b_only": int((~ta & tb).sum()),
        "both_true": int((ta & tb).sum()),
    }


def _test(kind: str, a: np.ndarray, b: np.ndarray, k: int) -> float | None:
    if a.size < MIN_CASES:
        return None
    if kind == "binary" and k == 1:
        flips = _flips(a, b)
        return stats.mcnemar(flips["a_only"], flips["b_only"])
    return stats.wilcoxon(b - a)


def _fmt(name: str, kind: str, value: float) -> str:
    """A change: percentage points for rates (a rate going 0.25 % -> 0.99 % moved +0.7 pp, not "+300 %")."""
    if kind == "binary":
        return f"{value * 100:+.1f} pp"
    return f"{value:+.3g}"


def _level(kind: str, value: float) -> str:
    """A level on one side: a rate in percent, else the mean."""
    if math.isnan(value):
        return "-"
    return f"{value * 100:.1f} %" if kind == "binary" else f"{value:.3g}"


def _verdict(
    name: str,
    kind: str,
    direction: str,
    effect: float,
    ci: tuple[float, float],
    p_adjusted: float | None,
    n: int,
    floor: float | None,
    alpha: float,
    levels: tuple[float, float] = (math.nan, math.nan),
) -> tuple[str, str]:
    """One verdict and one line of reason for a metric (or a segment x metric cell)."""
    label = name.replace("_", " ")
    if p_adjusted is None or n < MIN_CASES:
        return "inconclusive", f"{label}: only {n} paired case(s), too few to test"
    moved = f"{_level(kind, levels[0])} → {_level(kind, levels[1])}, " if not math.isnan(levels[0]) else ""
    shown = (
        f"{label} {moved}{_fmt(name, kind, effect)} (CI {_fmt(name, kind, ci[0])} to {_fmt(name, kind, ci[1])}, "
        f"p_adj {p_adjusted:.2g})"
    )
    if p_adjusted >= alpha:
        return "no_significant_change", f"{shown}: not significant"
    if floor is not None and not math.isnan(floor) and abs(effect) <= floor:
        return "no_significant_change", f"{shown}: within the noise floor {_fmt(name, kind, floor).lstrip('+')}"
    if effect == 0 or (ci[0] <= 0 <= ci[1] and not (math.isnan(ci[0]) or math.isnan(ci[1]))):
        return "inconclusive", f"{shown}: the rank test and the interval of the mean disagree"
    if direction == NEUTRAL:
        return "changed", f"{shown}: changed (no direction is worse for this metric)"
    worse = (effect > 0) == (direction == UP_IS_WORSE)
    return ("regression", f"{shown}: worse") if worse else ("improvement", f"{shown}: better")


# ---------------------------------------------------------------------------------------------------------
# Report parts


def _segment_groups(
    frame: pd.DataFrame, cases: _Cases, fields: list[str]
) -> tuple[list[tuple[str | None, Any, np.ndarray]], list[np.ndarray]]:
    """The whole set then every (field, value) group, in the order of the bootstrap's rows; and per field the
    group code of each case."""
    groups: list[tuple[str | None, Any, np.ndarray]] = [(None, None, np.ones(len(cases.ids), dtype=bool))]
    partitions = []
    for name in fields:
        values = frame[name].iloc[cases.first_row].reset_index(drop=True)
        labels = values.astype(object).where(values.notna(), "(missing)").astype(str)
        codes, uniques = pd.factorize(labels, sort=True)
        partitions.append(codes.astype(np.int64))
        groups.extend((name, str(value), codes == g) for g, value in enumerate(uniques))
    return groups, partitions


def _word_diff(a: str, b: str) -> list[list[str]]:
    """Word-level diff: ops equal/delete/insert whose texts rebuild ``a`` (equal+delete) and ``b`` (equal+insert)."""
    left, right = _WORDS.findall(a), _WORDS.findall(b)
    ops: list[list[str]] = []

    def add(op: str, words: list[str]) -> None:
        if not words:
            return
        text = "".join(words)
        if ops and ops[-1][0] == op:
            ops[-1][1] += text
        else:
            ops.append([op, text])

    # Exact alignment costs up to quadratic time; past ~1.5M token pairs (two ~4 KB answers) let difflib skip
    # very common tokens, which keeps a report fast at the price of a coarser diff for long answers.
    precise = len(left) * len(right) <= DIFF_PRECISE_PAIRS
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=not precise).get_opcodes():
        if tag == "equal":
            add("equal", left[i1:i2])
        else:
            add("delete", left[i1:i2])
            add("insert", right[j1:j2])
    return ops


def _histogram(values: np.ndarray, bins: int = 20) -> dict[str, list]:
    counts, edges = np.histogram(values[~np.isnan(values)], bins=bins, range=(0.0, 1.0))
    return {"edges": [round(float(e), 3) for e in edges], "counts": [int(c) for c in counts]}


def _round(value: float, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(f"{float(value):.{digits}g}")


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


# ---------------------------------------------------------------------------------------------------------


def analyse(
    frame: pd.DataFrame,
    options: AnalysisOptions,
    *,
    embedding_backend: EmbeddingBackend | None = None,
    progress: Progress | None = None,
) -> dict:
    """Compare ``output_a`` with ``output_b`` case by case; returns the JSON-serialisable report (see module doc).

    Raises ``ValueError`` with a readable message for bad input. ``progress(fraction, message)`` is called a
    few times; an exception raised by it (a cancellation) propagates and stops the analysis.
    """
    if "sample" not in frame.columns:
        frame = frame.assign(sample=0)  # one answer per case per side
    _validate(frame, options)
    frame = frame.reset_index(drop=True)
    if progress is not None:
        progress(0.0, f"measuring {len(frame):,} answer pairs")
    side_a, side_b, sim, patterns = _row_metrics(frame, options, embedding_backend, progress)
    cases = _per_case(frame, side_a, side_b, sim)
    n_cases, k = len(cases.ids), cases.k
    if progress is not None:
        progress(0.7, f"testing {len(side_a)} metrics over {n_cases:,} cases")

    names = list(side_a)
    z = float(scistats.norm.ppf(1 - options.alpha / 2))
    groups, partitions = _segment_groups(frame, cases, options.segment_fields)
    a_matrix = np.column_stack([cases.mean_a[m] for m in names])
    b_matrix = np.column_stack([cases.mean_b[m] for m in names])
    valid = ~np.isnan(a_matrix) & ~np.isnan(b_matrix)
    deltas = np.where(valid, b_matrix - a_matrix, 0.0)
    (overall_lo, overall_hi), per_field = stats.bootstrap_group_means(
        deltas, valid, partitions, resamples=options.bootstrap, alpha=options.alpha, seed=options.seed
    )
    lo = np.vstack([overall_lo[None, :], *[field_lo for field_lo, _ in per_field]])
    hi = np.vstack([overall_hi[None, :], *[field_hi for _, field_hi in per_field]])
    if progress is not None:
        progress(0.85, "per-segment breakdown")

    def floor_for(name: str, n: int) -> float | None:
        var = cases.within_var.get(name, math.nan)
        if k <= 1 or math.isnan(var) or n == 0:
            return None
        return z * math.sqrt(2 * var / (k * n))

    # Each (group, metric) cell: n, effect, p.
    cells = []
    for g, (field_name, value, members) in enumerate(groups):
        for j, name in enumerate(names):
            kind = METRICS.get(name, ("continuous", NEUTRAL))[0]
            mask = members & valid[:, j]
            a, b = a_matrix[mask, j], b_matrix[mask, j]
            effect = float((b - a).mean()) if a.size else math.nan
            cells.append(
                {
                    "group": g,
                    "field": field_name,
                    "value": value,
                    "metric": name,
                    "kind": kind,
                    "n": int(a.size),
                    "a": a,
                    "b": b,
                    "effect": effect,
                    "ci": (float(lo[g, j]), float(hi[g, j])),
                    "p": _test(kind, a, b, k),
                }
            )
    overall = [c for c in cells if c["group"] == 0]
    segment_cells = [c for c in cells if c["group"] != 0]
    for cell, adjusted in zip(overall, stats.holm([c["p"] for c in overall]), strict=True):
        cell["p_adjusted"] = adjusted
    for cell, adjusted in zip(segment_cells, stats.benjamini_hochberg([c["p"] for c in segment_cells]), strict=True):
        cell["p_adjusted"] = adjusted
    for cell in cells:
        cell["floor"] = floor_for(cell["metric"], cell["n"])
        cell["verdict"], cell["reason"] = _verdict(
            cell["metric"],
            cell["kind"],
            _direction(cell["metric"], options),
            cell["effect"],
            cell["ci"],
            cell["p_adjusted"],
            cell["n"],
            cell["floor"],
            options.alpha,
            (float(cell["a"].mean()), float(cell["b"].mean())) if cell["n"] else (math.nan, math.nan),
        )

    metrics_out, flip_matrices = [], {}
    for cell in overall:
        name = cell["metric"]
        entry = {
            "name": name,
            "kind": cell["kind"],
            "direction": _direction(name, options),
            "verdict": cell["verdict"],
            "effect": _round(cell["effect"]),
            "relative_change": _round(cell["effect"] / np.mean(cell["a"]))
            if cell["kind"] != "binary" and cell["n"] and np.mean(cell["a"]) != 0
            else None,
            "ci": [_round(cell["ci"][0]), _round(cell["ci"][1])],
            "p_value": _round(cell["p"]) if cell["p"] is not None else None,
            "p_adjusted": _round(cell["p_adjusted"]) if cell["p_adjusted"] is not None else None,
            "mean_a": _round(float(np.mean(cell["a"]))) if cell["n"] else None,
            "mean_b": _round(float(np.mean(cell["b"]))) if cell["n"] else None,
            "n": cell["n"],
            "noise_floor": _round(cell["floor"]) if cell["floor"] is not None else None,
            "reason": cell["reason"],
        }
        metrics_out.append(entry)
        if cell["kind"] == "binary":
            flip_matrices[name] = _flips(cell["a"], cell["b"])

    segments_out = [
        {
            "field": c["field"],
            "value": c["value"],
            "n": c["n"],
            "metric": c["metric"],
            "delta": _round(c["effect"]),
            "ci": [_round(c["ci"][0]), _round(c["ci"][1])],
            "p_value": _round(c["p"]) if c["p"] is not None else None,
            "p_adjusted": _round(c["p_adjusted"]) if c["p_adjusted"] is not None else None,
            "verdict": c["verdict"],
            "reason": c["reason"],
        }
        for c in segment_cells
    ]

    verdict, reason = _overall(n_cases, overall, segment_cells)
    rng = np.random.default_rng(options.seed)
    shown = np.sort(rng.choice(n_cases, size=min(n_cases, DISTRIBUTION_CAP), replace=False))
    distributions = {
        name: {
            "a": [_round(v, 4) for v in cases.mean_a[name][shown] if not math.isnan(v)],
            "b": [_round(v, 4) for v in cases.mean_b[name][shown] if not math.isnan(v)],
        }
        for name in names
        if METRICS.get(name, ("continuous",))[0] == "continuous"
    }
    report = {
        "sides": {"a": options.label_a, "b": options.label_b},
        "n_cases": n_cases,
        "k_samples": k,
        "verdict": verdict,
        "reason": reason,
        "metrics": metrics_out,
        "flip_matrices": flip_matrices,
        "segments": segments_out,
        "noise_floor": {c["metric"]: _round(c["floor"]) for c in overall if c["floor"] is not None} if k > 1 else None,
        "distributions": distributions,
        "similarity": {
            "backend": "embedding" if embedding_backend is not None else "word_jaccard",
            "mean": _round(float(np.nanmean(cases.similarity))),
            "p10": _round(float(np.nanpercentile(cases.similarity, 10))),
            "median": _round(float(np.nanmedian(cases.similarity))),
            "histogram": _histogram(cases.similarity),
        },
        "top_changes": _top_changes(frame, cases, options),
        "refusal_patterns": patterns,
        "options": {
            "alpha": options.alpha,
            "bootstrap": options.bootstrap,
            "seed": options.seed,
            "segment_fields": list(options.segment_fields),
            "refusal_window": options.refusal_window,
            "custom_refusal_patterns": options.refusal_patterns is not None,
            "directions": dict(options.directions or {}),
        },
    }
    report = _json_ready(report)
    json.dumps(report)  # fail here, not in the caller's storage layer, if anything slipped through
    if progress is not None:
        progress(1.0, f"report ready: {verdict}")
    return report


def _overall(n_cases: int, overall: list[dict], segment_cells: list[dict]) -> tuple[str, str]:
    if n_cases < MIN_CASES:
        return "inconclusive", f"only {n_cases} case(s): too few to compare"

    def where(c: dict) -> str:
        return f"{c['field']}={c['value']}: " if c["field"] else ""

    regressions = [c for c in overall + segment_cells if c["verdict"] == "regression"]
    improvements = [c for c in overall + segment_cells if c["verdict"] == "improvement"]
    changed = [c for c in overall if c["verdict"] == "changed"]
    if regressions:
        return "regression", "; ".join(where(c) + c["reason"] for c in regressions[:5])
    if improvements:
        return "improvement", "; ".join(where(c) + c["reason"] for c in improvements[:5])
    tail = (" Neutral changes: " + "; ".join(c["reason"] for c in changed[:5])) if changed else ""
    return "no_significant_change", f"no metric with a worse direction moved significantly.{tail}"


def _top_changes(frame: pd.DataFrame, cases: _Cases, options: AnalysisOptions) -> list[dict]:
    order = np.argsort(np.nan_to_num(cases.similarity, nan=1.0), kind="stable")[: options.top_n]
    out = []
    for i in order:
        row = frame.iloc[int(cases.first_row[i])]
        a, b = str(row["output_a"]), str(row["output_b"])
        truncated = len(a) > TEXT_CAP or len(b) > TEXT_CAP
        a, b = a[:TEXT_CAP], b[:TEXT_CAP]
        out.append(
            {
                "case_id": cases.ids[i].item() if hasattr(cases.ids[i], "item") else cases.ids[i],
                "similarity": _round(float(cases.similarity[i]), 4),
                "segment": {f: (None if pd.isna(row[f]) else str(row[f])) for f in options.segment_fields},
                "output_a": a,
                "output_b": b,
                "truncated": truncated,
                "word_diff": _word_diff(a, b),
            }
        )
    return out
