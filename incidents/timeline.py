"""The one way anything (incidents, diagnosis, rollouts, Slack) puts an event on an incident's timeline."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from incidents.models import Incident, IncidentSource, TimelineEvent


def timeline_record(
    *,
    incident: Incident,
    kind: str,
    text: str,
    actor,
    data: dict | None = None,
    occurred_at: dt.datetime | None = None,
    source: str = IncidentSource.WEB,
    external_ref: str = "",
) -> TimelineEvent:
    """Append an event. With ``external_ref`` it is idempotent: the same ref on the same incident returns the
    event already recorded (a retried Slack task never doubles a message). ``actor`` is required: a person, or
    the ``core.actors.system_actor`` of the job (named on the event; it stores no user for it)."""
    if actor is None:
        raise ValueError("timeline_record needs an actor: a user or core.actors.system_actor(job)")
    if external_ref:
        existing = TimelineEvent.objects.filter(incident=incident, external_ref=external_ref).first()
        if existing:
            return existing
    event = TimelineEvent(
        incident=incident,
        kind=kind,
        text=text,
        actor=actor if getattr(actor, "pk", None) else None,
        data=data or {},
        source=source,
        external_ref=external_ref,
    )
    if occurred_at is not None:
        event.occurred_at = occurred_at
    event.full_clean(exclude=["incident", "actor"])
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        if not external_ref:
            raise
        return TimelineEvent.objects.get(incident=incident, external_ref=external_ref)
    return event
