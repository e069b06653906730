from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from core.broker import embedded_broker_prune
from core.models import WorkerHeartbeat
from core.outbox import outbox_sweep


@shared_task(name="core.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    hostname = worker_heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(worker=hostname, defaults={"seen_at": timezone.now()})


@shared_task(name="core.outbox_sweep", ignore_result=True, soft_time_limit=60, time_limit=90)
def outbox_sweep_task() -> dict:
    result = outbox_sweep()
    result["broker_pruned"] = embedded_broker_prune()
    return result
