"""The one place rollouts wire in the canary judge (rollouts.judging.judge), observations (rollouts.judging.observations) and
the user-impact tracker (rollouts.impact.services). Each is imported lazily so this branch works before they land;
without a judge there is no evidence, and no evidence is Inconclusive (never a pass, never a rollback)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
            from rollouts.judging.judge import JudgeConfig

            JudgeConfig(**{"max_looks": 6, "expected_canary_share": 0.5, **judge_args})
        except ImportError:
            pass
        except (TypeError, ValueError) as exc:
            problems.append(f"judge: {exc}")
    rows = config.get("metrics")
    if rows is None:
        return problems
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return [*problems, "metrics must be a non-empty list of metric objects."]
    try:
        from rollouts.judging.judge import MetricSpec
        from rollouts.judging.observations import BINARY_METRICS, CONTINUOUS_METRICS
    except ImportError:
        return problems
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
    try:
        from rollouts.judging.judge import JudgeConfig, MetricSpec, judge
        from rollouts.judging.observations import arm_data
    except ImportError:
        return {"verdict": "inconclusive", "reason": "No canary judge is installed.", "metrics": []}
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


@dataclass
class GateResult:
    blocked: bool = False
    reason: str = ""
    pending: list = field(default_factory=list)


def rollback_gate(*, environment, from_release) -> GateResult:
    """The user-impact gate before a production rollback: dependent workflows not yet reviewed block it."""
    try:
        from rollouts.impact.services import rollback_gate as impact_gate
    except ImportError:
        return GateResult()
    gate = impact_gate(environment=environment, from_release=from_release)
    return GateResult(blocked=gate.blocked, reason=gate.reason, pending=_jsonable_pending(gate.pending))


def _jsonable_pending(pending) -> list:
    out = []
    for item in pending or []:
        if isinstance(item, dict):
            out.append(item)
        else:
            out.append(
                {
                    "id": getattr(item, "pk", None),
                    "workflow_id": getattr(item, "workflow_id", str(item)),
                    "customer": getattr(item, "customer", ""),
                    "status": getattr(item, "status", ""),
                }
            )
    return out


def impact_followup_start(*, run: RolloutRun) -> None:
    try:
        from rollouts.impact.services import impact_followup_start as start
    except ImportError:
        return
    start(run=run)


def incident_timeline_record(
    *, incident_id: int | None, text: str, actor=None, data: dict | None = None, kind: str = "rollout"
) -> None:
    """Put a run's transition on its linked incident's timeline (incidents.services lands on another branch)."""
    if not incident_id:
        return
    try:
        from incidents.models import Incident
        from incidents.services import timeline_record
    except ImportError:
        return
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is not None:
        timeline_record(incident=incident, kind=kind, text=text, actor=actor, data=data)


def report_gate_problem(*, report_id: int, candidate_release) -> str:
    """Why a behaviour-diff report does not let ``candidate_release`` roll out, or '' when it does.

    A gate report must answer the prompt set with the candidate as side B, have finished and found no regression
    (diagnostics.reports.services.report_gate_passes is the one rule for "passing")."""
    from diagnostics.models import BehaviourReport
    from diagnostics.reports.services import report_gate_passes

    report = BehaviourReport.objects.filter(pk=report_id).select_related("release_a", "release_b").first()
    if report is None:
        return f"No behaviour-diff report #{report_id}."
    if report.release_b_id != candidate_release.pk:
        return (
            f"Report #{report.pk} compares {report.release_a} with {report.release_b}; the gate needs the "
            f"candidate release #{candidate_release.number} as side B."
        )
    if not report_gate_passes(report):
        verdict = report.verdict or "no verdict"
        return f"Report #{report.pk} does not pass the gate ({report.get_status_display().lower()}, {verdict})."
    return ""


def report_gate_link(*, actor, report_id: int, run: RolloutRun) -> None:
    """Record on the report that this run was gated by it (a ReportLink with purpose "gate", audited)."""
    from diagnostics.models import BehaviourReport, LinkPurpose
    from diagnostics.reports.services import report_link

    report = BehaviourReport.objects.get(pk=report_id)
    report_link(
        actor=actor, report=report, object_type="rollouts.rolloutrun", object_id=str(run.pk), purpose=LinkPurpose.GATE
    )
