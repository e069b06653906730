"""What must hold before traffic moves: the user-impact gate of a production rollback, and the behaviour-diff
report a run may be gated on.

Behaviour-diff reports live in `diagnostics`, which sits above `rollouts` in the import order, so diagnostics
registers its report gate here when Django starts (`DiagnosticsConfig.ready`). A run that names a gate report
while no report gate is registered is refused: a missing check is never a pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rollouts.impact.services import rollback_gate as impact_rollback_gate
from rollouts.registry.models import Environment, Release
from rollouts.registry.rollbacks import GateResult
from rollouts.runs.models import RolloutRun


def rollback_gate(*, environment: Environment, from_release: Release) -> GateResult:
    """The user-impact gate before a production rollback, with pending workflows as JSON-ready dicts."""
    gate = impact_rollback_gate(environment=environment, from_release=from_release)
    return GateResult(blocked=gate.blocked, reason=gate.reason, pending=[_pending_row(w) for w in gate.pending])


def _pending_row(workflow) -> dict:
    return {
        "id": workflow.pk,
        "workflow_id": workflow.workflow_id,
        "customer": workflow.customer,
        "status": workflow.status,
    }


@dataclass(frozen=True)
class ReportGate:
    # Why the report does not let the candidate roll out, or "" when it does.
    problem: Callable[..., str]
    # Record on the report that the run was gated by it (audited by the report's app).
    link: Callable[..., None]


_report_gate: ReportGate | None = None


def report_gate_register(gate: ReportGate) -> None:
    global _report_gate
    _report_gate = gate


def report_gate_problem(*, report_id: int, candidate_release: Release) -> str:
    if _report_gate is None:
        return "Behaviour-diff reports are not available here, so no run can be gated on one."
    return _report_gate.problem(report_id=report_id, candidate_release=candidate_release)


def report_gate_link(*, actor, report_id: int, run: RolloutRun) -> None:
    if _report_gate is None:
        raise RuntimeError("No behaviour-diff report gate is registered.")
    _report_gate.link(actor=actor, report_id=report_id, run=run)
