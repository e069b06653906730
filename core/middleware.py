"""Request-body size limit, enforced in one place for every view.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when ``request.body`` or ``request.POST`` is read. DRF 3.18 goes
through ``request.body`` for its JSON and form parsers (and then the error escapes DRF as a bare HTML 400 with no
message), but its other parsers (multipart, file upload, third-party ones) read the raw stream with no limit. Checking
Content-Length here refuses every oversized body the same way, with a JSON message, before any view or parser runs.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.middleware.common import CommonMiddleware

from core.outbox import QUEUED_NOTICE, outbox_refused_since, outbox_watch


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit, setting = settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "REWIND_MAX_BODY_BYTES"
        # A few endpoints take bigger bodies by design (gateways' observation batches); they read the raw stream
        # themselves, since request.body stays capped at DATA_UPLOAD_MAX_MEMORY_SIZE.
        for prefix, path_limit in getattr(settings, "BODY_SIZE_LIMITS_BY_PATH", {}).items():
            if request.path.startswith(prefix):
                limit = path_limit
                setting = settings.BODY_SIZE_LIMIT_SETTINGS.get(prefix, setting)
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
        if limit is not None and length > limit:
            return JsonResponse(
                {"detail": f"Request body is {length} bytes; the limit is {limit} bytes ({setting})."},
                status=400,
            )
        return self.get_response(request)


class OutboxNoticeMiddleware:
    """A committed change whose task the broker refused still succeeds; the answer says its work is queued:
    an ``X-Rewind-Queued`` header on every answer, and a message on the next page for people in the browser."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = outbox_watch()
        try:
            response = self.get_response(request)
        finally:
            refused = outbox_refused_since(token)
        if refused:
            response["X-Rewind-Queued"] = f"{len(refused)} task(s) queued; {QUEUED_NOTICE}"
            if hasattr(request, "_messages") and not request.path.startswith("/api/"):
                messages.warning(request, QUEUED_NOTICE)
        return response


class SlashHintCommonMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, except that a POST/PUT/PATCH/DELETE to a URL that exists only with a trailing
    slash gets a 404 naming that URL: a redirect would turn it into a GET and drop the body (and under DEBUG
    Django raises instead)."""

    def process_response(self, request, response):
        if (
            response.status_code == 404
            and request.method not in ("GET", "HEAD", "OPTIONS")
            and self.should_redirect_with_slash(request)
        ):
            hint = request.path + "/"
            return JsonResponse(
                {"detail": f"No such URL. Did you mean {hint} (with a trailing slash)?", "hint": hint}, status=404
            )
        return super().process_response(request, response)
