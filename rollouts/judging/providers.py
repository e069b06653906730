"""Metric providers for the canary judge: a metric may come from Prometheus instead of Rewind's observations.

A metric row (in a run's ``config["metrics"]``, or the feature's defaults in ``REWIND_FEATURE_METRICS``) names its
source::

    {"name": "error_rate", "kind": "binary", "bad_direction": "increase", "critical": true, "allowed_change": 0.005,
     "source": {"type": "prometheus", "address": "http://prometheus:9090", "timeout_seconds": 5,
                "events": 'sum(increase(llm_requests_total{release="{{release}}",env="{{environment}}",code=~"5.."}[{{window}}]))',
                "trials": 'sum(increase(llm_requests_total{release="{{release}}",env="{{environment}}"}[{{window}}]))'}}

    {"name": "latency_ms", "kind": "continuous", "bad_direction": "increase", "allowed_change": 0.1,
     "source": {"type": "prometheus", "address": "http://prometheus:9090", "scale": 1000,
                "buckets": 'sum by (le) (increase(llm_latency_seconds_bucket{release="{{release}}",env="{{environment}}"}[{{window}}]))'}}

Placeholders, as in Flagger's MetricTemplate and Argo's AnalysisTemplate: ``{{release}}`` (the arm's release
number), ``{{environment}}`` (the environment's name), ``{{window}}`` (the judged window as a PromQL duration in
whole seconds, e.g. ``300s``). Each query is an instant query evaluated at the window's end.

* A binary metric gives per-arm counts: ``events`` and ``trials`` (rounded; ``increase()`` extrapolates).
* A continuous metric gives per-arm histogram buckets (a vector with an ``le`` label, cumulative as Prometheus
  keeps them). The judge tests distributions, not a quantile: the bucket counts become binned data (each
  request at its bucket's midpoint, the open last bucket at the last finite bound) for the same rank test
  (Mann-Whitney with tie correction, Hodges-Lehmann shift) the judge runs on raw values. ``scale`` converts the
  bucket bounds to the metric's unit (seconds to milliseconds: 1000).

Any failure to get an answer -- a timeout, a refused connection, an HTTP or PromQL error, a malformed answer -- is a
:class:`ProviderError`; the judge makes that metric Inconclusive, never Pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

import httpx
import numpy as np

PLACEHOLDER = re.compile(r"{{\s*([a-z_]+)\s*}}")
KNOWN_PLACEHOLDERS = {"release", "environment", "window"}
MAX_BINNED_VALUES = 50_000  # per arm; the judge subsamples further (max_continuous_samples)
OBSERVATIONS = "observations"


class ProviderError(Exception):
    """The provider gave no usable answer; the metric is Inconclusive."""


@dataclass(frozen=True)
class PrometheusSource:
    address: str
    events: str = ""
    trials: str = ""
    buckets: str = ""
    timeout_seconds: float = 5.0
    scale: float = 1.0

    @property
    def label(self) -> str:
        return f"prometheus {self.address}"

    def queries(self) -> dict[str, str]:
        return {k: v for k, v in (("events", self.events), ("trials", self.trials), ("buckets", self.buckets)) if v}


def source_problems(name: str, kind: str, source) -> list[str]:
    """What is wrong with a metric row's ``source`` block, as messages ([] when usable)."""
    if source is None:
        return []
    if not isinstance(source, dict) or source.get("type") != "prometheus":
        return [f"metric {name}: source must be an object with type 'prometheus'."]
    problems = []
    address = source.get("address")
    if not isinstance(address, str) or not re.match(r"^https?://[^\s/]+", address):
        problems.append(f"metric {name}: source.address must be an http(s) URL of a Prometheus server.")
    allowed = {"type", "address", "timeout_seconds", "scale"} | (
        {"events", "trials"} if kind == "binary" else {"buckets"}
    )
    for key in sorted(set(source) - allowed):
        problems.append(f"metric {name}: source.{key} is not a field of a {kind} Prometheus source.")
    needed = ("events", "trials") if kind == "binary" else ("buckets",)
    for key in needed:
        template = source.get(key)
        if not isinstance(template, str) or not template.strip():
            problems.append(f"metric {name}: source.{key} must be a PromQL template.")
            continue
        unknown = set(PLACEHOLDER.findall(template)) - KNOWN_PLACEHOLDERS
        if unknown:
            problems.append(
                f"metric {name}: source.{key} has unknown placeholder(s) {', '.join(sorted(unknown))} "
                f"(known: release, environment, window)."
            )
    for key, low in (("timeout_seconds", 0.1), ("scale", 0)):
        value = source.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= low):
            problems.append(f"metric {name}: source.{key} must be a number above {low:g}.")
    return problems


def parse_source(source: dict) -> PrometheusSource:
    return PrometheusSource(
        address=source["address"].rstrip("/"),
        events=source.get("events", ""),
        trials=source.get("trials", ""),
        buckets=source.get("buckets", ""),
        timeout_seconds=float(source.get("timeout_seconds", 5.0)),
        scale=float(source.get("scale", 1.0)),
    )


def render(template: str, *, release: int, environment: str, window_seconds: float) -> str:
    values = {
        "release": str(release),
        "environment": environment,
        "window": f"{max(1, math.ceil(window_seconds))}s",
    }
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _instant(source: PrometheusSource, promql: str, at: datetime) -> list[tuple[dict, float]]:
    try:
        response = httpx.get(
            f"{source.address}/api/v1/query",
            params={"query": promql, "time": f"{at.timestamp():.3f}"},
            timeout=source.timeout_seconds,
        )
    except httpx.TimeoutException as exc:
        raise ProviderError(f"{source.label} timed out after {source.timeout_seconds:g} s") from exc
    except httpx.HTTPError as exc:
        raise ProviderError(f"{source.label} unreachable: {exc}") from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(f"{source.label} answered HTTP {response.status_code} without JSON") from exc
    if response.status_code != 200 or body.get("status") != "success":
        raise ProviderError(f"{source.label} answered {response.status_code}: {body.get('error', body)!s:.300}")
    data = body.get("data") or {}
    if data.get("resultType") == "scalar":
        return [({}, float(data["result"][1]))]
    if data.get("resultType") != "vector":
        raise ProviderError(f"{source.label}: expected an instant vector, got {data.get('resultType')!r}")
    try:
        return [(sample.get("metric", {}), float(sample["value"][1])) for sample in data["result"]]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProviderError(f"{source.label}: malformed vector sample") from exc


def _one_number(source: PrometheusSource, promql: str, at: datetime) -> float:
    samples = _instant(source, promql, at)
    if len(samples) > 1:
        raise ProviderError(f"{source.label}: {len(samples)} series where one was expected (aggregate with sum)")
    value = samples[0][1] if samples else 0.0  # no series: nothing happened in the window
    if not math.isfinite(value) or value < 0:
        raise ProviderError(f"{source.label}: {value} is not a count")
    return value


def binary_counts(
    source: PrometheusSource, *, release: int, environment: str, start: datetime, end: datetime
) -> tuple[int, int]:
    """(events, trials) of one arm over [start, end)."""
    window = (end - start).total_seconds()
    events = _one_number(
        source, render(source.events, release=release, environment=environment, window_seconds=window), end
    )
    trials = _one_number(
        source, render(source.trials, release=release, environment=environment, window_seconds=window), end
    )
    trials_n = round(trials)
    return min(round(events), trials_n), trials_n


def binned_values(counts: list[tuple[float, float]], scale: float = 1.0) -> np.ndarray:
    """Cumulative histogram buckets [(le, count)] -> one value per request at its bucket's midpoint.

    Counts are scaled down proportionally (largest remainders) when they exceed MAX_BINNED_VALUES."""
    buckets = sorted(counts, key=lambda b: b[0])
    if not buckets:
        return np.asarray([], dtype=float)
    finite = [le for le, _ in buckets if math.isfinite(le)]
    per_bucket, previous_count, previous_le = [], 0.0, 0.0
    for le, cumulative in buckets:
        n = max(cumulative - previous_count, 0.0)
        value = (previous_le + le) / 2 if math.isfinite(le) else (finite[-1] if finite else 0.0)
        per_bucket.append((value * scale, n))
        previous_count = max(previous_count, cumulative)
        previous_le = le if math.isfinite(le) else previous_le
    total = sum(n for _, n in per_bucket)
    if total <= 0:
        return np.asarray([], dtype=float)
    target = min(round(total), MAX_BINNED_VALUES)
    exact = [n * target / total for _, n in per_bucket]
    whole = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: exact[i] - whole[i], reverse=True)[: target - sum(whole)]:
        whole[i] += 1
    return np.repeat([v for v, _ in per_bucket], whole).astype(float)


def histogram_values(
    source: PrometheusSource, *, release: int, environment: str, start: datetime, end: datetime
) -> np.ndarray:
    promql = render(
        source.buckets, release=release, environment=environment, window_seconds=(end - start).total_seconds()
    )
    samples = _instant(source, promql, end)
    counts = []
    for labels, value in samples:
        le = labels.get("le")
        if le is None:
            raise ProviderError(f"{source.label}: histogram series without an 'le' label (aggregate with sum by (le))")
        try:
            bound = float(le)
        except ValueError as exc:
            raise ProviderError(f"{source.label}: bucket bound {le!r} is not a number") from exc
        if not math.isfinite(value) or value < 0:
            raise ProviderError(f"{source.label}: bucket count {value} is not a count")
        counts.append((bound, value))
    return binned_values(counts, source.scale)


# --- wiring into a judged window -------------------------------------------------------------------------


def spec_fields(row: dict) -> dict:
    """A metric row without its ``source``: the judge's MetricSpec fields."""
    return {k: v for k, v in row.items() if k != "source"}


def overlay(*, rows: list[dict], arm, release: int, environment: str, start: datetime, end: datetime) -> dict[str, str]:
    """Replace one arm's data for every metric whose row has a Prometheus source, over [start, end).

    Returns {metric name: error} for the sources that gave no answer; those metrics get no samples, so the judge
    can only call them Inconclusive. When the arm has no observations at all, its request count (used by the
    sample-ratio check) is the trials of its first Prometheus binary metric."""
    errors: dict[str, str] = {}
    trials_for_requests = None
    for row in rows:
        if not row.get("source"):
            continue
        source, name = parse_source(row["source"]), row["name"]
        try:
            if row["kind"] == "binary":
                arm.binary[name] = binary_counts(source, release=release, environment=environment, start=start, end=end)
                if trials_for_requests is None:
                    trials_for_requests = arm.binary[name][1]
            else:
                arm.continuous[name] = histogram_values(
                    source, release=release, environment=environment, start=start, end=end
                )
        except ProviderError as exc:
            errors[name] = str(exc)
            if row["kind"] == "binary":
                arm.binary[name] = (0, 0)
            else:
                arm.continuous[name] = np.asarray([], dtype=float)
    if not arm.requests and trials_for_requests:
        arm.requests = trials_for_requests
    return errors


def annotate(result: dict, rows: list[dict], errors: dict[str, str]) -> dict:
    """Say where each metric came from (``source``), and turn a metric whose provider failed into Inconclusive
    with the provider's error as its reason (the judge saw no samples for it, so it cannot have passed)."""
    sources = {row["name"]: parse_source(row["source"]).label if row.get("source") else OBSERVATIONS for row in rows}
    for metric in result.get("metrics", []):
        metric["source"] = sources.get(metric["name"], OBSERVATIONS)
        error = errors.get(metric["name"])
        if error:
            stale = metric.get("reason", "")
            metric.update(verdict="inconclusive", reason=f"{metric['name']}: provider error: {error}", level=None)
            if result.get("reason") == stale:
                result["reason"] = metric["reason"]
    if errors and result.get("verdict") == "pass":  # cannot happen (no samples is never a pass); fail closed anyway
        result["verdict"], result["reason"] = "inconclusive", next(iter(errors.values()))
    return result


def feature_metrics(feature_slug: str) -> list[dict] | None:
    """The feature's default metric rows (``REWIND_FEATURE_METRICS``), used when a run names none."""
    from django.conf import settings

    rows = getattr(settings, "REWIND_FEATURE_METRICS", {}).get(feature_slug)
    return rows or None
