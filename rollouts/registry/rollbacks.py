"""The one rule for moving an environment's traffic to an older release, whichever door asks: a rollback
(API, web, Slack), a rollout run whose candidate is older than what is live, or a recorded deployment of an
older release. In production it needs the approver role and an open user-impact gate.

The gate reads dependent workflows (`rollouts.impact`), which sit above the registry; `RolloutsConfig.ready`
registers it here. While no gate is registered every production rollback is refused: a missing gate never
lets traffic through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.permissions import require
from rollouts.registry.models import Environment, Release


@dataclass
class GateResult:
    blocked: bool = False
    reason: str = ""
    pending: list = field(default_factory=list)


class ImpactBlocked(Exception):
    def __init__(self, gate: GateResult):
        super().__init__(gate.reason or "Dependent workflows have not been reviewed.")
        self.gate = gate


_impact_gate: Callable[..., GateResult] | None = None


def impact_gate_register(gate: Callable[..., GateResult]) -> None:
    global _impact_gate
    _impact_gate = gate


def impact_gate(*, environment: Environment, from_release: Release) -> GateResult:
    if _impact_gate is None:
        return GateResult(blocked=True, reason="The user-impact gate is not available, so no production rollback.")
    return _impact_gate(environment=environment, from_release=from_release)


def is_older(target: Release, than: Release | None) -> bool:
    return than is not None and target.number < than.number


def rollback_permission(environment: Environment) -> str:
    return "rollback.production" if environment.is_production else "rollback.staging"


def rollback_require(*, actor, environment: Environment, current: Release | None, target: Release) -> None:
    """Refuse unless ``actor`` may move ``environment`` from ``current`` back to ``target`` now."""
    require(actor, rollback_permission(environment))
    if environment.is_production and current is not None:
        gate = impact_gate(environment=environment, from_release=current)
        if gate.blocked:
            raise ImpactBlocked(gate)
