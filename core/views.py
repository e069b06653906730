from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from core.broker import broker_answers
from core.health import worker_status


@require_GET
@login_required
def home(request):
    return redirect("rollouts:feature_list")


@require_GET
def healthz(request):
    """For load balancers and people: 200 when the database and broker answer and a worker ran lately; 503 with
    the reasons otherwise (the web alone cannot move a rollout or finish a report)."""
    reasons = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return JsonResponse({"ok": False, "reasons": [f"database does not answer: {exc}"]}, status=503)
    worker = worker_status()
    if not worker.alive:
        reasons.append(worker.reason)
    broker_problem = broker_answers()
    if broker_problem:
        reasons.append(broker_problem)
    body = {"ok": not reasons, "reasons": reasons, "worker_seen_seconds_ago": worker.seen_seconds_ago}
    return JsonResponse(body, status=503 if reasons else 200)
