"""The one place rollouts wire in the canary judge (rollouts.judge), observations (rollouts.observations) and
the user-impact tracker (rollouts.impact). Each is imported lazily so this branch works before they land;
without a judge there is no evidence, and no evidence is Inconclusive (never a pass, never a rollback)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rollouts.models import RolloutRun

# The metric names are the ones rollouts.observations.arm_data serves; a run's config["metrics"] overrides.
DEFAULT_METRICS = [
    {"name": "error_rate", "kind": "binary", "bad_direction": "increase", "critical": True, "allowed_change": 0.005},
    {"name": "latency_ms", "kind": "continuous", "bad_direction": "increase", "allowed_change": 0.1},
]


def judge_window(*, run: RolloutRun, start: datetime, end: datetime, look: int, max_looks: int) -> dict:
    """Judge canary (candidate) vs baseline (stable) over [start, end). Returns the judge's ``to_dict()``
    (keys include ``verdict`` and per-metric ``reason``)."""
    try:
        from rollouts.judge import JudgeConfig, MetricSpec, judge
        from rollouts.observations import arm_data
    except ImportError:
        return {"verdict": "inconclusive", "reason": "No canary judge is installed.", "metrics": []}
    if run.stable_release_id is None:
        return {"verdict": "inconclusive", "reason": "No baseline release to compare with.", "metrics": []}
    metric_rows = run.config.get("metrics") or DEFAULT_METRICS
    specs = [MetricSpec(**m) for m in metric_rows]
    names = [s.name for s in specs]
    canary = arm_data(environment=run.environment, release=run.candidate_release, start=start, end=end, metrics=names)
    baseline = arm_data(environment=run.environment, release=run.stable_release, start=start, end=end, metrics=names)
    config_args = {"max_looks": max_looks, "expected_canary_share": run.candidate_weight / 100.0}
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
        from rollouts.impact import rollback_gate as impact_gate
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
        from rollouts.impact import impact_followup_start as start
    except ImportError:
        return
    start(run=run)


def incident_timeline_record(*, incident_id: int | None, text: str, actor=None, data: dict | None = None) -> None:
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
        timeline_record(incident=incident, kind="rollout", text=text, actor=actor, data=data)
