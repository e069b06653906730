from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
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
