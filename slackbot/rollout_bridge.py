"""The bot's view of rollout orchestration (rollouts.runs.services, rollouts.runs.analysis): default rollback target, the
user-impact gate, runs in flight, starting a rollback. One module, so the bot reads one contract."""

from __future__ import annotations

from rollouts.impact import services as impact
from rollouts.models import ACTIVE_RUN_STATES, FINAL_RUN_STATES, RolloutRun
from rollouts.runs import services as runs


def rollback_default_target(*, environment, current):
    return runs.last_known_good(environment, exclude=current)


def _workflow_line(w) -> str:
    who = " · ".join(x for x in (w.customer, w.name) if x)
    status = w.get_status_display().lower() if w.pk else "detected, not in the plan yet"
    return (
        f"`{w.workflow_id}`{' (' + who + ')' if who else ''} — relies on {w.get_behaviour_display().lower()}; {status}"
    )


def rollback_impact(*, environment, current) -> tuple[list[str], str]:
    """(dependent workflows of the release being rolled back, with review status; a note on the impact gate)."""
    if not environment.is_production:
        return [], ""
    gate = impact.rollback_gate(environment=environment, from_release=current)
    stored = list(impact.workflows_for(environment, current))
    unplanned = [w for w in gate.pending if w.pk is None]
    lines = [_workflow_line(w) for w in [*stored, *unplanned]]
    if gate.blocked:
        note = f":no_entry: *Impact gate:* {gate.reason}"
    elif gate.waived:
        note = f":warning: *Impact gate:* {gate.reason}"
    else:
        note = ""
    return lines, note


def runs_in_flight() -> list[RolloutRun]:
    return list(
        RolloutRun.objects.filter(state__in=ACTIVE_RUN_STATES)
        .select_related("environment__feature", "stable_release", "candidate_release")
        .order_by("created_at", "id")[:25]
    )


def run_line(run: RolloutRun) -> str:
    stable = f"#{run.stable_release.number}" if run.stable_release else "nothing"
    return (
        f"{run.get_kind_display()} #{run.pk} {run.environment}: {stable} → #{run.candidate_release.number}, "
        f"{run.get_state_display().lower()}, {run.candidate_weight}% on #{run.candidate_release.number}"
    )


def rollback_start(
    *, actor, environment, target, slack_user_id: str = "", incident_id: int | None = None
) -> RolloutRun:
    """Start the rollback; confirmed in an incident's channel, the run is linked to that incident (its
    transitions go on the incident timeline)."""
    run, _created = runs.rollback_request(
        actor=actor,
        environment=environment,
        to_release=target,
        incident_id=incident_id,
        reason=f"Confirmed in Slack by {actor.get_username()}" + (f" (<@{slack_user_id}>)" if slack_user_id else ""),
    )
    return run


def run_progress(run_id: int) -> tuple[str, bool, str] | None:
    run = (
        RolloutRun.objects.select_related("environment__feature", "stable_release", "candidate_release")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        return None
    return run.state, run.state in FINAL_RUN_STATES, run_line(run)


# Refusals the rollback service raises besides PermissionDenied / ValidationError.
REFUSALS = (runs.RunConflict, runs.ImpactBlocked)
