"""Where a rollout run meets the canary judge: a run's config is checked against the judge's metrics, and each
analysis window of a run is judged from the observations of its two arms. No evidence is Inconclusive (never a
pass, never a rollback)."""

from __future__ import annotations

from datetime import datetime, timedelta

from rollouts.judging.judge import JudgeConfig, MetricSpec, judge
from rollouts.judging.observations import BINARY_METRICS, CONTINUOUS_METRICS, arm_data
from rollouts.runs.models import RolloutRun

# The metric names are the ones rollouts.observations.arm_data serves; a run's config["metrics"] overrides.
DEFAULT_METRICS = [
    {"name": "error_rate", "kind": "binary", "bad_direction": "increase", "critical": True, "allowed_change": 0.005},
    {"name": "latency_ms", "kind": "continuous", "bad_direction": "increase", "allowed_change": 0.1},
]


BAKE_BASELINE = timedelta(minutes=30)


def validate_config(config: dict) -> list[str]:
    """Problems with a run's config (judge metrics and timings), as messages; [] when it is usable."""
    if not isinstance(config, dict):
        return ["Config must be an object."]
    problems = []
    for key in (
        "analysis_seconds",
        "bake_seconds",
        "lease_seconds",
        "webhook_timeout_seconds",
        "webhook_backoff_seconds",
        "max_looks",
        "webhook_max_attempts",
    ):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            problems.append(f"{key} must be a positive number.")
    judge_args = config.get("judge")
    if judge_args is not None:
        try:
            JudgeConfig(**{"max_looks": 6, "expected_canary_share": 0.5, **judge_args})
        except (TypeError, ValueError) as exc:
            problems.append(f"judge: {exc}")
    rows = config.get("metrics")
    if rows is None:
        return problems
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return [*problems, "metrics must be a non-empty list of metric objects."]
    for row in rows:
        try:
            spec = MetricSpec(**row)
        except (TypeError, ValueError) as exc:
            problems.append(f"metric {row.get('name', '?')}: {exc}")
            continue
        known = BINARY_METRICS if spec.kind == "binary" else CONTINUOUS_METRICS
        if spec.name not in known:
            problems.append(f"metric {spec.name}: not a {spec.kind} metric (known: {', '.join(known)}).")
    return problems


def judge_window(*, run: RolloutRun, start: datetime, end: datetime, look: int, max_looks: int) -> dict:
    """Judge canary (candidate) vs baseline (stable) over [start, end). Returns the judge's ``to_dict()``
    (keys include ``verdict`` and per-metric ``reason``)."""
    if run.stable_release_id is None:
        return {"verdict": "inconclusive", "reason": "No baseline release to compare with.", "metrics": []}
    metric_rows = run.config.get("metrics") or DEFAULT_METRICS
    specs = [MetricSpec(**m) for m in metric_rows]
    names = [s.name for s in specs]
    canary = arm_data(environment=run.environment, release=run.candidate_release, start=start, end=end, metrics=names)
    share = run.candidate_weight / 100.0
    if run.candidate_weight >= 100:
        # Baking at 100 %: the stable release serves nothing now, so its arm is its own traffic just before the
        # run started (at least BAKE_BASELINE of it). Not a randomised split, so the sample-ratio check is moot:
        # expect the split that was observed.
        before = run.started_at or run.created_at
        span = max(end - start, BAKE_BASELINE)
        baseline = arm_data(
            environment=run.environment, release=run.stable_release, start=before - span, end=before, metrics=names
        )
        total = canary.requests + baseline.requests
        share = canary.requests / total if total else 1.0
    else:
        baseline = arm_data(
            environment=run.environment, release=run.stable_release, start=start, end=end, metrics=names
        )
    config_args = {"max_looks": max_looks, "expected_canary_share": share}
    config_args.update(run.config.get("judge", {}))
    result = judge(canary=canary, baseline=baseline, specs=specs, config=JudgeConfig(**config_args), look=look)
    return result.to_dict()
