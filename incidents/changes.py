"""What a write changed, in the form the audit log and the timeline record it: shared by the incident, action
item and postmortem services."""

from __future__ import annotations

import datetime as dt

from core.models import User


def user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


def who(actor) -> str:
    return getattr(actor, "username", None) or "system"


def apply_changes(obj, changes: dict) -> tuple[dict, dict]:
    """Set the fields whose value differs; return (before, after) of just those, ready for the audit entry."""
    before, after = {}, {}
    for name, value in changes.items():
        old = getattr(obj, name)
        if old != value:
            before[name], after[name] = _plain(old), _plain(value)
            setattr(obj, name, value)
    return before, after


def _plain(value):
    if isinstance(value, dt.date):  # dates and datetimes: the audit log stores JSON
        return value.isoformat()
    if isinstance(value, User):
        return value.username
    return value
