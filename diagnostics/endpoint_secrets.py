"""Which environment variables a generation endpoint may send to a model provider as headers.

Only variables meant for it: named REWIND_SECRET_* (with something after the prefix) or listed in the
REWIND_GENERATION_SECRETS setting. Never the worker's own secrets (SECRET_KEY, DATABASE_URL, SLACK_BOT_TOKEN, ...),
which an approver could otherwise have sent to an endpoint they control. The model's validation (every create
and change, API and web form) and the worker (before it sends a request) both ask here.
"""

from __future__ import annotations

from django.conf import settings

SECRET_PREFIX = "REWIND_SECRET_"  # noqa: S105 - a name prefix, not a secret


def secret_allowed(variable: str) -> bool:
    """Whether an endpoint may send this environment variable to a model provider: only variables meant for
    it (REWIND_SECRET_*, or listed in REWIND_GENERATION_SECRETS), never the worker's own secrets
    (SECRET_KEY, DATABASE_URL, SLACK_BOT_TOKEN, ...)."""
    if variable.startswith(SECRET_PREFIX) and len(variable) > len(SECRET_PREFIX):
        return True
    return variable in getattr(settings, "REWIND_GENERATION_SECRETS", ())


def secrets_refused(header_env: dict[str, str]) -> list[str]:
    return sorted({variable for variable in header_env.values() if not secret_allowed(variable)})


def secrets_refused_message(refused: list[str]) -> str:
    return (
        f"Headers may only read environment variables named {SECRET_PREFIX}* or listed in "
        f"REWIND_GENERATION_SECRETS; not allowed: {', '.join(refused)}."
    )
