"""Beat-driven upkeep of observations (imported via CELERY_IMPORTS so it does not collide with rollouts.runs.tasks)."""

from __future__ import annotations

from celery import shared_task

from rollouts.judging.observations import observations_prune


@shared_task(name="rollouts.observations_prune", ignore_result=True, time_limit=600)
def prune_observations() -> None:
    observations_prune()
