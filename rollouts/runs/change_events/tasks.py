from __future__ import annotations

from celery import shared_task


@shared_task(name="rollouts.change_event_deliver", ignore_result=True, soft_time_limit=60, time_limit=90)
def change_event_deliver(delivery_id: int) -> None:
    from rollouts.runs.change_events.services import delivery_attempt

    wait = delivery_attempt(delivery_id)
    if wait is not None:
        change_event_deliver.apply_async((delivery_id,), countdown=wait)


@shared_task(name="rollouts.change_events_sweep", ignore_result=True, soft_time_limit=30, time_limit=60)
def change_events_sweep() -> None:
    """Beat: send what is due and unclaimed — retries whose task was lost, and deliveries a dead worker held."""
    from rollouts.runs.change_events.services import deliveries_due

    for delivery_id in deliveries_due():
        change_event_deliver.delay(delivery_id)
