"""Slack request signatures: HMAC-SHA256 over "v0:timestamp:raw body", five-minute window (slack_sdk)."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from slack_sdk.signature import SignatureVerifier


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


def slack_signed(view):
    """Verify the signature over the raw body before the view (or anything else) runs.

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
        return view(request, *args, **kwargs)

    return wrapper
