"""The one place rollouts wire in the canary judge (rollouts.judging.judge), observations (rollouts.judging.observations) and
the user-impact tracker (rollouts.impact.services). Each is imported lazily so this branch works before they land;
without a judge there is no evidence, and no evidence is Inconclusive (never a pass, never a rollback)."""

from __future__ import annotations

from datetime import datetime

from rollouts.judging import providers
from rollouts.judging.arms import BINARY_METRICS, CONTINUOUS_METRICS, arms_data
from rollouts.judging.judge import JudgeConfig, MetricSpec, judge
from rollouts.runs.models import RolloutRun

# The metric names are the ones rollouts.judging.arms serves; a run's config["metrics"] overrides. The error
# rate tolerates no worsening: with one error budget per run that still rolls back a healthy run at most 1 % of
# the time, while any tolerance lets a tripled error rate through at a 5 % canary (docs/rollouts.md, "Judging").
DEFAULT_METRICS = [
    {"name": "error_rate", "kind": "binary", "bad_direction": "increase", "critical": True, "allowed_change": 0.0},
    {"name": "latency_ms", "kind": "continuous", "bad_direction": "increase", "allowed_change": 0.1},
]
_POSITIVE = (
    "analysis_seconds",
    "bake_seconds",
    "lease_seconds",
    "webhook_timeout_seconds",
    "webhook_backoff_seconds",
    "webhook_max_attempts",
    "analysis_looks",
    "bake_looks",
)


def validate_config(config: dict) -> list[str]:
    """Problems with a run's config (judge metrics and timings), as messages; [] when it is usable."""
    if not isinstance(config, dict):
        return ["Config must be an object."]
    problems = []
    for key in _POSITIVE:
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            problems.append(f"{key} must be a positive number.")
    wait = config.get("max_wait_looks")
    if wait is not None and (isinstance(wait, bool) or not isinstance(wait, int) or wait < 0):
        problems.append("max_wait_looks must be a whole number >= 0.")
    holdback = config.get("bake_holdback_percent")
    if holdback is not None and (
        isinstance(holdback, bool) or not isinstance(holdback, int | float) or not 1 <= holdback <= 50
    ):
        problems.append("bake_holdback_percent must be between 1 and 50 (the stable share kept as the bake's control).")
    judge_args = config.get("judge")
    if judge_args is not None:
        if not isinstance(judge_args, dict):
            problems.append("judge must be an object.")
        elif "max_looks" in judge_args or "expected_canary_share" in judge_args:
            problems.append("judge: max_looks and expected_canary_share come from the run's steps, not the config.")
        else:
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
            spec = MetricSpec(**providers.spec_fields(row))
        except (TypeError, ValueError) as exc:
            problems.append(f"metric {row.get('name', '?')}: {exc}")
            continue
        if row.get("source") is not None:
            # A metric from a provider may have any name: it is not read from observations.
            problems.extend(providers.source_problems(spec.name, spec.kind, row["source"]))
            continue
        known = BINARY_METRICS if spec.kind == "binary" else CONTINUOUS_METRICS
        if spec.name not in known:
            problems.append(f"metric {spec.name}: not a {spec.kind} metric (known: {', '.join(known)}).")
    return problems


def judge_window(*, run: RolloutRun, start: datetime, end: datetime, tested_look: int, max_looks: int) -> dict:
    """Judge canary (candidate) vs baseline (stable) over exactly [start, end) at the run's ``tested_look``-th
    use of its error budget of ``max_looks``. Returns the judge's ``to_dict()`` plus ``tested`` (whether any
    metric was tested, i.e. alpha was spent), ``window``, ``budget`` and the ``control`` the baseline is."""
    window = {"start": start.isoformat(), "end": end.isoformat()}
    budget = {"tested_look": tested_look, "of": max_looks}
    if run.stable_release_id is None:
        return {
            "verdict": "inconclusive",
            "reason": "No baseline release to compare with.",
            "metrics": [],
            "tested": False,
            "window": window,
            "budget": budget,
        }
    metric_rows = run_metric_rows(run)
    specs = [MetricSpec(**providers.spec_fields(m)) for m in metric_rows]
    names = [m["name"] for m in metric_rows if not m.get("source")]
    arms = arms_data(
        environment=run.environment,
        releases=[run.candidate_release, run.stable_release],
        start=start,
        end=end,
        metrics=names,
    )
    canary, baseline = arms[run.candidate_release_id], arms[run.stable_release_id]
    errors = {}
    for arm, release in ((canary, run.candidate_release), (baseline, run.stable_release)):
        errors |= providers.overlay(
            rows=metric_rows, arm=arm, release=release.number, environment=run.environment.name, start=start, end=end
        )
    # Both arms share the window and the split: the baseline is the stable share of the same requests (during
    # the bake, the stable holdback), a randomised control, so the sample-ratio check applies at every look.
    share = run.candidate_weight / 100.0
    config = JudgeConfig(**{**run.config.get("judge", {}), "max_looks": max_looks, "expected_canary_share": share})
    result = judge(canary=canary, baseline=baseline, specs=specs, config=config, look=tested_look).to_dict()
    result = providers.annotate(result, metric_rows, errors)
    result["tested"] = bool(
        result["srm"]["ok"] and result["look_alpha"] and any(m["level"] is not None for m in result["metrics"])
    )
    result.update(
        window=window,
        budget=budget,
        expected_canary_share=share,
        control="stable holdback" if (run.current_step or {}).get("type") == "bake" else "stable share",
        requests={"canary": canary.requests, "baseline": baseline.requests},
    )
    return result


def run_metric_rows(run: RolloutRun) -> list[dict]:
    """The run's judge metrics: its own config, else the feature's defaults (REWIND_FEATURE_METRICS), else ours."""
    return run.config.get("metrics") or providers.feature_metrics(run.environment.feature.slug) or DEFAULT_METRICS
