from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from core.models import WorkerHeartbeat


@shared_task(name="core.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    hostname = worker_heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(worker=hostname, defaults={"seen_at": timezone.now()})
