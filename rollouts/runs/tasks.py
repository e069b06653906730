"""Thin tasks: ids in, one service call. Late acks (settings) are safe because every step is idempotent."""

from __future__ import annotations

from celery import shared_task

from rollouts.runs import services as runs


@shared_task(name="rollouts.run_advance", ignore_result=True, soft_time_limit=120, time_limit=180)
def run_advance_task(run_id: int) -> None:
    runs.run_advance(run_id=run_id, worker=run_advance_task.request.hostname or "worker")


@shared_task(name="rollouts.tick", ignore_result=True, soft_time_limit=30, time_limit=60)
def tick() -> None:
    """Beat drives waiting steps and reclaims runs whose worker died (expired lease)."""
    for run_id in runs.runs_due():
        run_advance_task.delay(run_id)
