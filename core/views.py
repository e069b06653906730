from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.models import WorkerHeartbeat


@require_GET
@login_required
def home(request):
    return redirect("rollouts:feature_list")


@require_GET
def healthz(request):
    """Liveness for load balancers: the database answers; the newest worker heartbeat, if any."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    beat = WorkerHeartbeat.objects.order_by("-seen_at").first()
    age = (timezone.now() - beat.seen_at).total_seconds() if beat else None
    return JsonResponse({"ok": True, "worker_seen_seconds_ago": age})
