"""Is the work that pages and API answers promise actually being done? One place for /healthz and banners."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from core.models import WorkerHeartbeat


@dataclass(frozen=True)
class WorkerStatus:
    alive: bool
    seen_seconds_ago: float | None
    reason: str  # empty when alive


def heartbeat_period() -> float:
    return float(settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]["schedule"])


def worker_status() -> WorkerStatus:
    """Alive when some worker ran the heartbeat within the last few heartbeat periods (beat sends it)."""
    beat = WorkerHeartbeat.objects.order_by("-seen_at").first()
    allowed = heartbeat_period() * settings.REWIND_HEALTH_MISSED_HEARTBEATS
    if beat is None:
        return WorkerStatus(False, None, "no worker has run yet (is the Celery worker with beat started?)")
    age = max(0.0, (timezone.now() - beat.seen_at).total_seconds())
    if age > allowed:
        return WorkerStatus(
            False,
            age,
            f"no worker has run the heartbeat for {age:.0f} s (allowed {allowed:.0f} s): worker or beat down",
        )
    return WorkerStatus(True, age, "")
