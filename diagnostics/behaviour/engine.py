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

Streaming: ``analyse_source`` reads a ``PairSource`` chunk by chunk (``analyse`` wraps a frame in one); each chunk
is measured, in two worker processes for large sources (which read answer files' records themselves, from their
positions), and only compact per-answer metric columns, case-key hashes, sample numbers and segment codes are
kept, never the texts; the ``top_n`` quoted cases are read again from the source at the end. Past ``BOOTSTRAP_MAX_CASES`` cases intervals are normal ones (``options.interval``).

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
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import stats as scistats

from diagnostics.behaviour import stats
from diagnostics.behaviour.metrics import REFUSAL_WINDOW, EmbeddingBackend, InThisThread, paired_metrics

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
CHUNK_PAIRS = 4096  # pairs read at once (and handed to a worker): a few chunks are in flight at a time
MEASURE_PAIRS = 1024  # pairs measured at once
PARALLEL_FROM_PAIRS = 50_000  # from this many pairs, chunks are measured in two worker processes
# Up to this many cases intervals are paired percentile-bootstrap ones (2,000 resamples cost O(resamples x n));
# past it the normal interval of the mean, which the bootstrap's converges to at that size.
BOOTSTRAP_MAX_CASES = 200_000
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
# Input: a stream of chunks of paired answers, measured as it is read


class PairSource(Protocol):
    """Paired answers in stream order: ``chunks()`` yields frames of the engine's columns (case_id, sample,
    output_a, output_b, segment fields, optional schema, latency_a/b, cost_a/b); ``rows(positions)`` gives the
    rows at those positions of the stream again (the few cases the report quotes in full). ``size`` is the number
    of pairs when known before reading (progress, and whether to measure in worker processes).

    A source may also offer ``tasks()``: None, or its chunks as small picklable tasks whose ``read()`` gives the
    chunk's frame in a worker process (answer files: positions in the files, see ``answer_stream.ChunkTask``);
    it then gets each chunk's frame back without its texts (``seen(chunk)``) and ``tasks_done()`` at the end."""

    size: int | None

    def chunks(self) -> Iterator[pd.DataFrame]: ...

    def rows(self, positions: Sequence[int]) -> pd.DataFrame: ...


class FrameSource:
    """A frame already in memory, read in chunks like any other source."""

    def __init__(self, frame: pd.DataFrame, chunk: int = CHUNK_PAIRS):
        self.frame = frame.reset_index(drop=True)
        self.size = len(self.frame)
        self._chunk = chunk

    def chunks(self) -> Iterator[pd.DataFrame]:
        for start in range(0, len(self.frame), self._chunk):
            yield self.frame.iloc[start : start + self._chunk]

    def rows(self, positions: Sequence[int]) -> pd.DataFrame:
        return self.frame.iloc[list(positions)]


def _validate_options(options: AnalysisOptions) -> None:
    if not 0 < options.alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {options.alpha}")
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


def _compact(values: np.ndarray) -> np.ndarray:
    """The narrowest type that holds every value exactly: int8 (flags, small counts), float32 (counts, rates
    of few samples), else float64 as given (latency, cost)."""
    if values.dtype == np.int8:
        return values
    if values.size and not np.isnan(values).any() and values.min() >= -128 and values.max() <= 127:
        small = values.astype(np.int8)
        if np.array_equal(small, values):
            return small
    narrow = values.astype(np.float32)
    return narrow if np.array_equal(narrow.astype(np.float64), values, equal_nan=True) else values


def _measure(
    texts_a: pd.Series,
    texts_b: pd.Series,
    schemas: pd.Series | None,
    patterns: list[str] | None,
    window: int | None,
    backend: EmbeddingBackend | None = None,
    sides_in_threads: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, dict[str, int], dict[str, int]]:
    """One chunk's per-answer metrics as compact columns (the texts are not kept), its similarities and the
    answers each refusal pattern matched. Runs in a worker process when the source is large.

    Measured ``MEASURE_PAIRS`` at a time: a batch whose joined texts and word arrays stay in the processor's
    cache is measured faster than a larger one; per-answer values do not depend on the batch."""
    side_a: dict[str, list[np.ndarray]] = {}
    side_b: dict[str, list[np.ndarray]] = {}
    sims, hits_a, hits_b = [], {}, {}
    for start in range(0, len(texts_a), MEASURE_PAIRS):
        part = slice(start, start + MEASURE_PAIRS)
        metrics_a, metrics_b, sim = paired_metrics(
            texts_a.iloc[part],
            texts_b.iloc[part],
            refusal_patterns=patterns,
            schemas=schemas.iloc[part] if schemas is not None else None,
            refusal_window=window,
            backend=backend,
            sides_in_threads=sides_in_threads,
        )
        for name in metrics_a.columns:
            if name == "refusal_kind":
                continue
            side_a.setdefault(name, []).append(metrics_a[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan))
            side_b.setdefault(name, []).append(metrics_b[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan))
        sims.append(np.asarray(sim, dtype=float))
        for total, hits in (
            (hits_a, metrics_a.attrs["refusal_pattern_hits"]),
            (hits_b, metrics_b.attrs["refusal_pattern_hits"]),
        ):
            for pattern, count in hits.items():
                total[pattern] = total.get(pattern, 0) + count
    compact_a = {name: _compact(np.concatenate(parts)) for name, parts in side_a.items()}
    compact_b = {name: _compact(np.concatenate(parts)) for name, parts in side_b.items()}
    return compact_a, compact_b, np.concatenate(sims), hits_a, hits_b


def _measure_args(chunk: pd.DataFrame, patterns: list[str] | None, window: int | None) -> tuple:
    return (
        chunk["output_a"].astype(str),
        chunk["output_b"].astype(str),
        chunk["schema"] if "schema" in chunk.columns else None,
        patterns,
        window,
    )


def _read_and_measure(
    task, patterns: list[str] | None, window: int | None, fields: list[str], sides_in_threads: bool
) -> tuple:
    """A chunk given as file positions (``answer_stream.ChunkTask``), read and measured where it runs (a worker
    process, or this one when there are none): the chunk's frame without its texts (the keys the report needs), and its measurements. Answers read from
    files always have a text (the index refused records without one), so there are none missing to count."""
    chunk = task.read()
    result = _measure(*_measure_args(chunk, patterns, window), None, sides_in_threads=sides_in_threads)
    texts = [c for c in ("output_a", "output_b", "prompt") if c not in fields]
    return chunk.drop(columns=texts), result


def process_pool(workers: int) -> ProcessPoolExecutor | None:
    """``workers`` processes forked from a fresh server process that imported only the engine: they share
    nothing of this process (its memory, its connections). None where there can be none (a daemonic process
    cannot have children)."""
    try:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["diagnostics.behaviour.engine"])
        return ProcessPoolExecutor(max_workers=workers, mp_context=context)
    except (ValueError, OSError, AssertionError):
        return None


def _executor(workers: int):
    pool = process_pool(workers) if workers > 1 else None
    return InThisThread() if pool is None else pool


class _Columns:
    """Append-only compact columns of the stream, one numpy array per chunk until ``done`` joins them."""

    def __init__(self):
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, values: np.ndarray) -> None:
        self.parts.setdefault(name, []).append(values)

    def take(self, name: str) -> np.ndarray:
        """The whole column (its chunks are released)."""
        parts = self.parts.pop(name, [])
        return np.concatenate(parts) if parts else np.zeros(0)


class _Stream:
    """What the report needs from every pair, gathered chunk by chunk: case keys, sample numbers, segment label
    codes, per-answer metric columns of both sides and similarity; never the texts."""

    def __init__(self, options: AnalysisOptions, backend: EmbeddingBackend | None):
        self.options, self.backend = options, backend
        self.rows = 0
        self.columns = _Columns()
        self.labels: list[dict[str, int]] = [{} for _ in options.segment_fields]
        self.values: list[list[str]] = []  # per segment field, its values among the cases, sorted
        self.missing = {"output_a": [0, None], "output_b": [0, None]}
        self.numbers: dict[str, bool] | None = None  # latency/cost: given as both columns in every chunk
        self.pattern_hits: tuple[dict[str, int], dict[str, int]] | None = None
        self.metric_names: list[str] = []

    def take(self, chunk: pd.DataFrame, texts: bool = True) -> tuple | None:
        """Validates and keeps a chunk's keys; returns the measuring job's arguments (None if nothing to measure).
        ``texts=False``: a chunk a worker read and measured itself, handed back without its texts."""
        if "sample" not in chunk.columns:
            chunk = chunk.assign(sample=0)  # one answer per case per side
        outputs = ("output_a", "output_b") if texts else ()
        required = ["case_id", "sample", *outputs, *self.options.segment_fields]
        missing = [c for c in required if c not in chunk.columns]
        if missing:
            raise ValueError(f"frame is missing column(s): {', '.join(missing)}")
        if chunk.empty:
            return None
        self.rows += len(chunk)
        for column in outputs:
            absent = chunk[column].isna()
            if absent.any():
                count = self.missing[column]
                if count[1] is None:
                    count[1] = chunk.loc[absent, "case_id"].iloc[0]
                count[0] += int(absent.sum())
        cols = self.columns
        cols.add("case", pd.util.hash_array(chunk["case_id"].to_numpy()))
        cols.add("sample", pd.to_numeric(chunk["sample"], errors="coerce").to_numpy(dtype=float))
        for f, name in enumerate(self.options.segment_fields):
            values = chunk[name]
            labels = values.astype(object).where(values.notna(), "(missing)").astype(str)
            known = self.labels[f]
            # Codes in order of first appearance across chunks: the chunk's distinct values (in their order of
            # appearance) get the next free codes; a lookup per distinct value, not per pair.
            local, distinct = pd.factorize(labels)
            code = np.array([known.setdefault(v, len(known)) for v in distinct], dtype=np.int32)
            cols.add(f"segment:{f}", code[local])
        for name in ("latency", "cost"):
            present = all(c in chunk.columns for c in (f"{name}_a", f"{name}_b"))
            self.numbers = self.numbers or {}
            self.numbers[name] = self.numbers.get(name, present) and present
            if present:
                try:
                    for side in ("a", "b"):
                        column = pd.to_numeric(chunk[f"{name}_{side}"], errors="raise").to_numpy(dtype=float)
                        cols.add(f"{side}:{name}", column)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"{name}_a/{name}_b must be numbers: {exc}") from exc
        if not texts or self.missing["output_a"][0] or self.missing["output_b"][0]:
            return None  # the input is refused at the end; no point measuring
        return _measure_args(chunk, self.options.refusal_patterns, self.options.refusal_window)

    def measured(self, result) -> None:
        side_a, side_b, sim, hits_a, hits_b = result
        self.metric_names = list(side_a)
        for name in side_a:
            self.columns.add(f"a:{name}", side_a[name])
            self.columns.add(f"b:{name}", side_b[name])
        self.columns.add("similarity", sim)
        if self.pattern_hits is None:
            self.pattern_hits = (dict(hits_a), dict(hits_b))
        else:
            for total, hits in zip(self.pattern_hits, (hits_a, hits_b), strict=True):
                for pattern, count in hits.items():
                    total[pattern] += count


def _read(source: PairSource, options: AnalysisOptions, backend, progress: Progress | None, workers: int) -> _Stream:
    stream = _Stream(options, backend)
    size = source.size
    if workers < 0:
        workers = 2 if backend is None and (size or 0) >= PARALLEL_FROM_PAIRS and (os.cpu_count() or 1) > 1 else 1
    pending: deque = deque()
    done = 0

    def collect(job, read_here: bool = True) -> None:
        nonlocal done
        rows, future = job
        if read_here:
            stream.measured(future.result())
        else:
            chunk, result = future.result()
            stream.take(chunk, texts=False)
            source.seen(chunk)
            stream.measured(result)
        done += rows
        if progress is not None:
            fraction = min(done / size, 1.0) if size else 0.0
            shown = f"{done:,} of {size:,}" if size else f"{done:,}"
            progress(0.05 + 0.6 * fraction, f"measured {shown} pairs")

    # A source that can hand out its chunks as positions in files (``tasks``) has the workers read them: this
    # process then only pairs and keeps the compact columns. Embedding backends measure here, from texts.
    tasks = source.tasks() if backend is None and hasattr(source, "tasks") else None
    with _executor(workers) if backend is None else InThisThread() as pool:
        # In worker processes (one per core) each measures its chunk in one thread; in this process, in two.
        in_here = isinstance(pool, InThisThread)
        if tasks is not None:
            fields = list(options.segment_fields)
            for task in tasks:
                job = pool.submit(
                    _read_and_measure, task, options.refusal_patterns, options.refusal_window, fields, in_here
                )
                pending.append((task.size, job))
                while len(pending) > max(workers, 1):
                    collect(pending.popleft(), read_here=False)
            while pending:
                collect(pending.popleft(), read_here=False)
            source.tasks_done()
            return stream
        for chunk in source.chunks():
            job = stream.take(chunk)
            if job is None:
                continue
            pending.append((len(chunk), pool.submit(_measure, *job, backend, in_here)))
            # Bounded: at most one chunk waits per worker beyond the one being read.
            while len(pending) > max(workers, 1):
                collect(pending.popleft())
        while pending:
            collect(pending.popleft())
    return stream


def _use_judged_refusals(stream: _Stream, judged: tuple[np.ndarray, np.ndarray]) -> None:
    for side, values in zip(("a", "b"), judged, strict=True):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (stream.rows,):
            raise ValueError(f"judged refusals of side {side.upper()}: {values.size} values for {stream.rows} pairs")
        detected = stream.columns.take(f"{side}:refusal").astype(np.float64)
        stream.columns.add(f"{side}:refusal", _compact(np.where(np.isnan(values), detected, values)))


@dataclass
class _Cases:
    """Per-case aggregates: means over the K samples of each side, and within-case variance for the noise floor."""

    n: int
    first_row: np.ndarray
    k: int
    mean_a: dict[str, np.ndarray]
    mean_b: dict[str, np.ndarray]
    within_var: dict[str, float]
    similarity: np.ndarray


def _per_case(stream: _Stream, source: PairSource) -> tuple[_Cases, list[np.ndarray]]:
    """Cases in order of first appearance, the K samples of each averaged; and per segment field the label code
    of each case (its first sample's row)."""
    cols = stream.columns
    keys = cols.take("case")
    uniques, first_index, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(uniques.size, dtype=np.int64)
    rank[np.argsort(first_index, kind="stable")] = np.arange(uniques.size)
    codes = rank[inverse]
    del keys, inverse, uniques, first_index
    n = int(rank.size)
    sample = cols.take("sample")
    order = np.lexsort((sample, codes))  # first row of a case = its lowest sample number
    repeated = (codes[order][1:] == codes[order][:-1]) & (sample[order][1:] == sample[order][:-1])
    if repeated.any():
        first = source.rows([int(order[1:][repeated].min())])["case_id"].iloc[0]
        raise ValueError(f"case {first!r} has the same sample number more than once")
    first_row = np.full(n, -1, dtype=np.int64)
    first_row[codes[order[::-1]]] = order[::-1]
    del order, repeated, sample
    counts = np.bincount(codes, minlength=n)
    k = int(counts.max())

    def mean_and_var(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if k == 1:  # one sample per case, and row i is case i: the values are the means (no copy at 1M pairs)
            return values, None
        values = values.astype(np.float64)
        valid = ~np.isnan(values)
        count = np.bincount(codes, weights=valid, minlength=n)
        total = np.bincount(codes, weights=np.where(valid, values, 0.0), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            squares = np.bincount(codes, weights=np.where(valid, values * values, 0.0), minlength=n)
            var = (squares - total * total / count) / (count - 1)
        return mean, np.where(count >= 2, np.maximum(var, 0.0), np.nan)

    names = list(stream.metric_names)
    for name in ("latency", "cost"):
        if (stream.numbers or {}).get(name):
            names.append(name)
    mean_a, mean_b, within = {}, {}, {}
    for name in names:
        side_a, side_b = cols.take(f"a:{name}"), cols.take(f"b:{name}")
        if name == "schema_valid" and np.isnan(side_a).all():
            continue
        if name in ("latency", "cost") and np.isnan(side_a).all() and np.isnan(side_b).all():
            continue
        m_a, var_a = mean_and_var(side_a)
        m_b, var_b = mean_and_var(side_b)
        del side_a, side_b
        within[name] = math.nan
        if k > 1:
            pooled = np.concatenate([var_a, var_b])
            within[name] = float(np.nanmean(pooled)) if np.isfinite(pooled).any() else math.nan
        mean_a[name], mean_b[name] = _compact(m_a), _compact(m_b)
    sim_mean, _ = mean_and_var(cols.take("similarity"))
    partitions = []
    for f in range(len(stream.options.segment_fields)):
        of_case = cols.take(f"segment:{f}")[first_row]
        labels = list(stream.labels[f])
        present = sorted(np.unique(of_case).tolist(), key=lambda code: labels[code])  # values of cases, sorted
        sorted_code = np.full(len(labels), -1, dtype=np.int64)
        sorted_code[present] = np.arange(len(present))
        partitions.append(sorted_code[of_case])
        stream.values.append([labels[code] for code in present])
    cases = _Cases(n=n, first_row=first_row, k=k, mean_a=mean_a, mean_b=mean_b, within_var=within, similarity=sim_mean)
    return cases, partitions


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


def _test(kind: str, a: np.ndarray, b: np.ndarray, k: int, delta: np.ndarray) -> float | None:
    """The paired test's p-value (``delta`` is ``b - a``), or None below ``MIN_CASES``."""
    if a.size < MIN_CASES:
        return None
    if kind == "binary" and k == 1:
        flips = _flips(a, b)
        return stats.mcnemar(flips["a_only"], flips["b_only"])
    return stats.wilcoxon(delta)


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


def _groups(cases: _Cases, partitions: list[np.ndarray], fields: list[str], values: list[list[str]]) -> list:
    """The whole set then every (field, value) group, in the order of the bootstrap's rows: each group's cases as
    ascending positions."""
    groups: list[tuple[str | None, Any, np.ndarray]] = [(None, None, np.arange(cases.n))]
    for name, codes, labels in zip(fields, partitions, values, strict=True):
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
        groups.extend((name, label, order[bounds[g] : bounds[g + 1]]) for g, label in enumerate(labels))
    return groups


def _intervals(
    cases: _Cases, names: list[str], partitions: list[np.ndarray], options: AnalysisOptions
) -> tuple[np.ndarray, np.ndarray] | None:
    """Bootstrap intervals (groups x metrics), or None past ``BOOTSTRAP_MAX_CASES`` (normal intervals then)."""
    if cases.n > BOOTSTRAP_MAX_CASES:
        return None
    a_matrix = np.column_stack([cases.mean_a[m].astype(np.float64) for m in names])
    b_matrix = np.column_stack([cases.mean_b[m].astype(np.float64) for m in names])
    valid = ~np.isnan(a_matrix) & ~np.isnan(b_matrix)
    deltas = np.where(valid, b_matrix - a_matrix, 0.0)
    del a_matrix, b_matrix
    (overall_lo, overall_hi), per_field = stats.bootstrap_group_means(
        deltas, valid, partitions, resamples=options.bootstrap, alpha=options.alpha, seed=options.seed
    )
    lo = np.vstack([overall_lo[None, :], *[field_lo for field_lo, _ in per_field]])
    hi = np.vstack([overall_hi[None, :], *[field_hi for _, field_hi in per_field]])
    return lo, hi


def analyse(
    frame: pd.DataFrame,
    options: AnalysisOptions,
    *,
    embedding_backend: EmbeddingBackend | None = None,
    progress: Progress | None = None,
    workers: int = -1,
) -> dict:
    """Compare ``output_a`` with ``output_b`` case by case; returns the JSON-serialisable report (see module doc).

    Raises ``ValueError`` with a readable message for bad input. ``progress(fraction, message)`` is called a
    few times; an exception raised by it (a cancellation) propagates and stops the analysis.
    """
    return analyse_source(
        FrameSource(frame), options, embedding_backend=embedding_backend, progress=progress, workers=workers
    )


def analyse_source(
    source: PairSource,
    options: AnalysisOptions,
    *,
    embedding_backend: EmbeddingBackend | None = None,
    progress: Progress | None = None,
    workers: int = -1,
    judged_refusals: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """``analyse`` over a stream of chunks: each chunk is measured (in ``workers`` processes; -1: two for large
    sources on a multi-core machine, else this one) and only its compact metric columns are kept.

    ``judged_refusals``: refusal verdicts of sides A and B from outside the detector (an LLM judge shown each
    request), one per pair in stream order, 1 or 0, NaN where the detector's verdict stands."""
    _validate_options(options)
    if progress is not None:
        progress(0.0, f"measuring {source.size:,} answer pairs" if source.size else "measuring answer pairs")
    stream = _read(source, options, embedding_backend, progress, workers)
    if stream.rows == 0:
        raise ValueError("frame has no rows: nothing to compare")
    if judged_refusals is not None:
        _use_judged_refusals(stream, judged_refusals)
    for column, (count, first) in stream.missing.items():
        if count:
            raise ValueError(f"{column} is missing in {count} row(s), first for case {first!r}")
    patterns = None
    if options.refusal_patterns is not None and stream.pattern_hits is not None:
        hits_a, hits_b = stream.pattern_hits
        patterns = [
            {"pattern": p, "hits_a": hits_a[p], "hits_b": hits_b[p], "zero_match": hits_a[p] + hits_b[p] == 0}
            for p in hits_a
        ]
    cases, partitions = _per_case(stream, source)
    n_cases, k = cases.n, cases.k
    names = list(cases.mean_a)
    if progress is not None:
        progress(0.7, f"testing {len(names)} metrics over {n_cases:,} cases")

    z = float(scistats.norm.ppf(1 - options.alpha / 2))
    groups = _groups(cases, partitions, options.segment_fields, stream.values)
    bootstrapped = _intervals(cases, names, partitions, options)
    if progress is not None:
        progress(0.85, "per-segment breakdown")

    def floor_for(name: str, n: int) -> float | None:
        var = cases.within_var.get(name, math.nan)
        if k <= 1 or math.isnan(var) or n == 0:
            return None
        return z * math.sqrt(2 * var / (k * n))

    # Each (group, metric) cell: n, effect, interval, p, the two sides' levels (and flips for overall rates).
    by_cell: dict[tuple[int, int], dict] = {}
    for j, name in enumerate(names):
        kind = METRICS.get(name, ("continuous", NEUTRAL))[0]
        a_all, b_all = cases.mean_a[name].astype(np.float64), cases.mean_b[name].astype(np.float64)
        valid = ~np.isnan(a_all) & ~np.isnan(b_all)
        every_case_valid = bool(valid.all())
        for g, (field_name, value, members) in enumerate(groups):
            if g == 0 and every_case_valid:
                a, b = a_all, b_all  # the whole set, without a copy of it
            else:
                chosen = members[valid[members]]
                a, b = a_all[chosen], b_all[chosen]
            delta = b - a
            effect = float(delta.mean()) if a.size else math.nan
            if bootstrapped is not None:
                ci = (float(bootstrapped[0][g, j]), float(bootstrapped[1][g, j]))
            elif a.size >= 2:
                half = z * float(delta.std(ddof=1)) / math.sqrt(a.size)
                ci = (effect - half, effect + half)
            else:
                ci = (math.nan, math.nan)
            by_cell[g, j] = {
                "group": g,
                "field": field_name,
                "value": value,
                "metric": name,
                "kind": kind,
                "n": int(a.size),
                "levels": (float(a.mean()), float(b.mean())) if a.size else (math.nan, math.nan),
                "flips": _flips(a, b) if g == 0 and kind == "binary" else None,
                "effect": effect,
                "ci": ci,
                "p": _test(kind, a, b, k, delta),
            }
            del a, b, delta
        del a_all, b_all, valid
    cells = [by_cell[g, j] for g in range(len(groups)) for j in range(len(names))]
    del by_cell
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
            cell["levels"],
        )

    metrics_out, flip_matrices = [], {}
    for cell in overall:
        name = cell["metric"]
        mean_a, mean_b = cell["levels"]
        entry = {
            "name": name,
            "kind": cell["kind"],
            "direction": _direction(name, options),
            "verdict": cell["verdict"],
            "effect": _round(cell["effect"]),
            "relative_change": _round(cell["effect"] / mean_a)
            if cell["kind"] != "binary" and cell["n"] and mean_a != 0
            else None,
            "ci": [_round(cell["ci"][0]), _round(cell["ci"][1])],
            "p_value": _round(cell["p"]) if cell["p"] is not None else None,
            "p_adjusted": _round(cell["p_adjusted"]) if cell["p_adjusted"] is not None else None,
            "mean_a": _round(mean_a) if cell["n"] else None,
            "mean_b": _round(mean_b) if cell["n"] else None,
            "n": cell["n"],
            "noise_floor": _round(cell["floor"]) if cell["floor"] is not None else None,
            "reason": cell["reason"],
        }
        metrics_out.append(entry)
        if cell["kind"] == "binary":
            flip_matrices[name] = cell["flips"]

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
        "top_changes": _top_changes(source, cases, options),
        "refusal_patterns": patterns,
        "options": {
            "alpha": options.alpha,
            "bootstrap": options.bootstrap,
            "seed": options.seed,
            "segment_fields": list(options.segment_fields),
            "refusal_window": options.refusal_window,
            "custom_refusal_patterns": options.refusal_patterns is not None,
            "directions": dict(options.directions or {}),
            **({} if bootstrapped is not None else {"interval": "normal"}),
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


def _top_changes(source: PairSource, cases: _Cases, options: AnalysisOptions) -> list[dict]:
    order = np.argsort(np.nan_to_num(cases.similarity, nan=1.0), kind="stable")[: options.top_n]
    rows = source.rows([int(cases.first_row[i]) for i in order])
    out = []
    for i, (_, row) in zip(order, rows.iterrows(), strict=True):
        a, b = str(row["output_a"]), str(row["output_b"])
        truncated = len(a) > TEXT_CAP or len(b) > TEXT_CAP
        a, b = a[:TEXT_CAP], b[:TEXT_CAP]
        case_id = row["case_id"]
        out.append(
            {
                "case_id": case_id.item() if hasattr(case_id, "item") else case_id,
                "similarity": _round(float(cases.similarity[i]), 4),
                "segment": {f: (None if pd.isna(row[f]) else str(row[f])) for f in options.segment_fields},
                "output_a": a,
                "output_b": b,
                "truncated": truncated,
                "word_diff": _word_diff(a, b),
            }
        )
    return out
