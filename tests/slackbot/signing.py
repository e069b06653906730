"""Sign requests exactly as Slack does: v0=HMAC-SHA256(secret, "v0:{timestamp}:{raw body}")."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def signature(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, *, timestamp: int | None = None, secret: str = SECRET) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts, "HTTP_X_SLACK_SIGNATURE": signature(body, ts, secret)}


def command_body(
    command: str,
    text: str,
    *,
    user_id: str,
    channel_id: str = "CGENERAL",
    fake_url: str = "",
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
) -> bytes:
    """A slash-command body, field for field as Slack sends it (application/x-www-form-urlencoded)."""
    return urlencode(
        {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": "T0001",
            "team_domain": "example",
            "enterprise_id": "",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": "someone",
            "command": command,
            "text": text,
            "api_app_id": "A123456",
            "is_enterprise_install": "false",
            "response_url": f"{fake_url}/hooks/commands/T0001/1/abc",
            "trigger_id": trigger_id,
        }
    ).encode()


def payload_body(payload: dict) -> bytes:
    """Interactivity: one form field `payload` holding JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()
