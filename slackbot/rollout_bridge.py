"""The bot's view of rollout orchestration (rollouts.runs.services): runs in flight and starting a rollback.
One module, so the bot reads one contract; the rollback plan is rollouts.runs.plan."""

from __future__ import annotations

from rollouts.models import ACTIVE_RUN_STATES, FINAL_RUN_STATES, RolloutRun
from rollouts.registry.rollbacks import ImpactBlocked
from rollouts.runs import services as runs


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
REFUSALS = (runs.RunConflict, ImpactBlocked)
