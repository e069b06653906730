from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
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


def _back_url(request) -> str:
    """Where "Back" goes: the page the user came from when it is on this site, else home."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        return referer
    return reverse("home")


def _error_page(request, *, status: int, title: str, reason: str, hint: str = ""):
    if request.headers.get("HX-Request"):
        # htmx shows the reason in place of the control (static/js/rewind.js); no page chrome.
        return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
    ctx = {"status": status, "title": title, "reason": reason, "hint": hint, "back_url": _back_url(request)}
    return render(request, "_error.html", ctx, status=status)


def permission_denied(request, exception=None):
    """403 with the reason the rules gave (PermissionDenied's message names the role needed)."""
    reason = str(exception or "") or "Your role does not allow this."
    if "CSRF" in reason:
        reason = "The form had expired or came from another site. Reload the page and try again."
    return _error_page(
        request,
        status=403,
        title="You cannot do this",
        reason=reason,
        hint="Ask an admin for a higher role if you need it." if request.user.is_authenticated else "",
    )


def page_not_found(request, exception=None):
    message = str(exception or "")
    # Django's resolver puts a dict in the message when no URL matched; that is not for people.
    reason = message if message and not message.startswith("{") else f"There is nothing at {request.path}."
    return _error_page(request, status=404, title="Not found", reason=reason)


def csrf_failure(request, reason: str = ""):
    return permission_denied(request, PermissionDenied("CSRF"))
