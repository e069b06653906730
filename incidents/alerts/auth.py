"""Checking that a notification comes from the configured sender: a bearer secret, or an HMAC signature."""

from __future__ import annotations

import hashlib
import hmac

from incidents.models import AlertSource


def secret_hash(secret: str) -> str:
    # Bearer secrets are long random strings, not passwords: a plain SHA-256 cannot be brute-forced back and keeps
    # the check cheap at alert-storm rates (a password hasher would cost ~100 ms per notification).
    return hashlib.sha256(secret.encode()).hexdigest()


def pagerduty_signature(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def refusal_reason(source: AlertSource, *, headers, body: bytes) -> str:
    """Why the request is not from the source's sender ('' when it is)."""
    if source.signs:
        header = headers.get("X-PagerDuty-Signature", "")
        if not header:
            return "Missing X-PagerDuty-Signature header."
        expected = pagerduty_signature(source.signing_secret, body)
        # PagerDuty sends several comma-separated signatures while a secret is being rotated.
        if not any(hmac.compare_digest(expected, s.strip()) for s in header.split(",")):
            return "X-PagerDuty-Signature does not match the body signed with this source's secret."
        return ""
    auth = headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "Missing Authorization: Bearer <secret> header."
    if not hmac.compare_digest(secret_hash(token.strip()), source.secret_hash):
        return "The bearer secret does not match this source's."
    return ""
