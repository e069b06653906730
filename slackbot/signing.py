"""Slack request signatures: HMAC-SHA256 over "v0:timestamp:raw body", five-minute window (slack_sdk), and
each signed request accepted once."""

from __future__ import annotations

import datetime as dt
import logging
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from slack_sdk.signature import SignatureVerifier

from slackbot.models import SlackRequestSeen

log = logging.getLogger(__name__)

# slack_sdk accepts a timestamp up to five minutes away from now, in either direction; a mark must outlive
# every moment at which its signature could still pass.
SIGNING_WINDOW = dt.timedelta(minutes=5)


def signature_is_valid(body: bytes, headers) -> bool:
    secret = settings.SLACK_SIGNING_SECRET
    if not secret or not secret.strip():
        # No secret configured: nothing can be verified, so nothing is accepted.
        return False
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    return SignatureVerifier(secret).is_valid(body=body, timestamp=timestamp, signature=signature)


def request_first_seen(headers) -> bool:
    """Record a verified request; False when the same timestamp and signature were accepted before (a replay).
    Call only after signature_is_valid: the timestamp is then a number within the window."""
    timestamp = int(headers["X-Slack-Request-Timestamp"])
    key = f"{timestamp}:{headers['X-Slack-Signature']}"[:120]
    now = timezone.now()
    expires_at = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC) + SIGNING_WINDOW + dt.timedelta(minutes=1)
    SlackRequestSeen.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            SlackRequestSeen.objects.create(key=key, expires_at=expires_at)
    except IntegrityError:
        return False
    return True


def slack_signed(view):
    """Verify the signature over the raw body before the view (or anything else) runs, and refuse a request
    that was accepted before: within the signing window a captured request would otherwise run again.

    CSRF does not apply: Slack cannot send a token, the signature is the proof of origin instead.
    """

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method != "POST":
            return HttpResponse("Method not allowed", status=405, content_type="text/plain")
        # request.body is the raw bytes; read it before anything touches request.POST.
        if not signature_is_valid(request.body, request.headers):
            return HttpResponse("Invalid Slack signature", status=401, content_type="text/plain")
        if not request_first_seen(request.headers):
            if request.headers.get("X-Slack-Retry-Num"):
                # Slack redelivering an Events API request we were slow to answer: acknowledge it so Slack
                # stops retrying; the first delivery is the one that ran.
                return HttpResponse(status=200)
            log.warning("Slack request replayed (timestamp %s); refused", request.headers["X-Slack-Request-Timestamp"])
            return HttpResponse("This Slack request was already received", status=401, content_type="text/plain")
        return view(request, *args, **kwargs)

    return wrapper
