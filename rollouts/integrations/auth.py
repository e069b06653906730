"""Who is calling: API tokens sent the way each integration can send them."""

from __future__ import annotations

import hmac

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, TokenAuthentication

_tokens = TokenAuthentication()


def token_user(header: str):
    """The active user of ``Authorization: Token <key>`` or ``Bearer <key>`` (OTel exporters and Prometheus
    send Bearer), or None."""
    scheme, _, key = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not key.strip():
        return None
    try:
        user, _ = _tokens.authenticate_credentials(key.strip())
    except exceptions.AuthenticationFailed:
        return None
    return user


def is_metrics_token(header: str) -> bool:
    """``Authorization: Bearer $REWIND_METRICS_TOKEN`` (compared in constant time; never when unset)."""
    expected = settings.REWIND_METRICS_TOKEN
    scheme, _, value = header.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), expected)


class FlaggerMetadataTokenAuthentication(BaseAuthentication):
    """Flagger webhooks send no custom headers; the Canary's webhook ``metadata.token`` carries the API token."""

    def authenticate(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        metadata = data.get("metadata")
        token = metadata.get("token") if isinstance(metadata, dict) else None
        if not isinstance(token, str) or not token:
            return None
        return _tokens.authenticate_credentials(token)


class FlaggerMetadataTokenScheme(OpenApiAuthenticationExtension):
    target_class = FlaggerMetadataTokenAuthentication
    name = "flaggerMetadataToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Or the API token as the webhook's metadata.token (Flagger sends no custom headers).",
        }
