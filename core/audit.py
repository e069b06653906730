"""The one place audit entries are written. Every service that changes state calls ``audit_record``."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.models import AuditEntry


def object_type_of(obj: models.Model) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}"


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> AuditEntry:
    """Append an audit entry. ``actor`` is a user or a ``core.actors.SystemActor`` (workers, beat)."""
    if actor is None:
        raise ValueError("Every audited change names its actor; workers and beat pass a SystemActor.")
    user = actor if getattr(actor, "pk", None) else None
    label = actor.get_username()
    return AuditEntry.objects.create(
        actor=user,
        actor_label=label,
        action=action,
        object_type=object_type_of(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
        reason=reason,
    )


def audit_trail(obj: models.Model):
    return AuditEntry.objects.filter(object_type=object_type_of(obj), object_id=str(obj.pk))
