"""The rollback plan: what changes back, whether the target is compatible, who gets hurt and whether the
user-impact gate lets it through. Built once here; the web planner and Slack's `/rollback` render it, and the
rollback itself is decided by `rollback_request` (the same gate, checked again when traffic moves)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from rollouts.impact.services import Gate, workflows_for
from rollouts.impact.services import rollback_gate as impact_rollback_gate
from rollouts.registry.compatibility import Violation, check_manifest
from rollouts.registry.models import Environment, Release
from rollouts.registry.rollbacks import rollback_permission
from rollouts.registry.selectors import ReleaseDiff, live_release_at, release_diff, releases_with_parts
from rollouts.runs.services import last_known_good


@dataclass
class RollbackPlan:
    environment: Environment
    current: Release | None = None
    target: Release | None = None
    # Why no rollback can be planned (nothing live, no such release, target already live); "" when there is one.
    problem: str = ""
    diff: ReleaseDiff | None = None
    violations: list[Violation] = field(default_factory=list)
    gate: Gate | None = None
    # The stored impact plan of the release being rolled back, then workflows seen on it but not in the plan.
    workflows: list = field(default_factory=list)

    @property
    def permission(self) -> str:
        return rollback_permission(self.environment)


def rollback_plan(
    *, environment: Environment, to_number: int | None = None, now: datetime | None = None
) -> RollbackPlan:
    plan = RollbackPlan(environment=environment)
    plan.current = live_release_at(environment, now or timezone.now())
    if plan.current is None:
        plan.problem = f"Nothing is live in {environment}, so there is nothing to roll back."
        return plan
    if to_number is not None:
        target = Release.objects.filter(feature_id=environment.feature_id, number=to_number).first()
        if target is None:
            plan.problem = f"{environment.feature.slug} has no release #{to_number}."
            return plan
    else:
        target = last_known_good(environment, exclude=plan.current)
        if target is None:
            plan.problem = f"{environment} has no earlier good release to roll back to; name the release."
            return plan
    if target.pk == plan.current.pk:
        plan.problem = f"Release #{target.number} is already live in {environment}."
        return plan
    parts = {r.pk: r for r in releases_with_parts().filter(pk__in=[plan.current.pk, target.pk])}
    plan.current, plan.target = parts[plan.current.pk], parts[target.pk]
    plan.diff = release_diff(plan.current, plan.target)
    plan.violations = check_manifest(
        model=plan.target.model,
        adapters=plan.target.ordered_adapters(),
        index=plan.target.index,
        query_encoder=plan.target.query_encoder,
    )
    plan.gate = impact_rollback_gate(environment=environment, from_release=plan.current)
    stored = list(workflows_for(environment, plan.current))
    plan.workflows = [*stored, *(w for w in plan.gate.pending if w.pk is None)]
    return plan
