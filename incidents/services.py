"""Writes for incidents, their timelines and change events (action items: ``action_item_services``;
postmortems: ``postmortem_services``).

Every function is keyword-only with ``actor`` first, audits, and puts what it changed on the timeline."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.models import User
from core.permissions import require
from diagnostics.models import LayerDiagnosis
from diagnostics.services import diagnoses_create_for
from incidents.changes import apply_changes, user_or_none, who
from incidents.models import (
    ChangeEvent,
    Incident,
    IncidentSource,
    Postmortem,
    Severity,
    Status,
    TimelineEvent,
    TimelineKind,
)
from incidents.postmortem_services import postmortem_start
from incidents.timeline import timeline_record
from rollouts.models import DeploymentEvent, Environment

__all__ = [
    "change_event_record",
    "incident_add_note",
    "incident_open",
    "incident_transition",
    "incident_update",
    "timeline_note_edit",
    "timeline_record",
]


def linked_releases_for(environments, start: dt.datetime, end: dt.datetime):
    """Releases live in the environments at any moment of [start, end]: the one in force at start plus every
    deployment inside the window. One query per environment for the first, one in total for the rest."""
    release_ids: set[int] = set()
    for env in environments:
        first = (
            DeploymentEvent.objects.filter(environment=env, live_at__lte=start)
            .order_by("-live_at", "-id")
            .values_list("release_id", flat=True)
            .first()
        )
        if first:
            release_ids.add(first)
    release_ids.update(
        DeploymentEvent.objects.filter(environment__in=environments, live_at__gt=start, live_at__lte=end).values_list(
            "release_id", flat=True
        )
    )
    return release_ids


@transaction.atomic
def incident_open(
    *,
    actor,
    title: str,
    severity: str,
    summary: str = "",
    feature_environments: list[Environment],
    impact_started_at: dt.datetime | None = None,
    detected_at: dt.datetime | None = None,
    commander: User | None = None,
    source: str = IncidentSource.WEB,
) -> Incident:
    """File an incident: four layer owners from the features' ownership maps, releases live during the impact
    window linked, and the first timeline entry."""
    require(actor, "incident.create")
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = ["Give the incident a short title (what users see going wrong)."]
    if severity not in Severity.values:
        errors["severity"] = [f"Choose a severity: {', '.join(Severity.labels)}."]
    environments = list(feature_environments or [])
    if not environments:
        errors["feature_environments"] = ["Name at least one affected feature environment."]
    if source not in IncidentSource.values:
        errors["source"] = [f"Unknown source {source!r}."]
    now = timezone.now()
    detected_at = detected_at or now
    impact_started_at = impact_started_at or detected_at
    if detected_at > now + dt.timedelta(minutes=5):
        errors["detected_at"] = ["Detection time is in the future."]
    if impact_started_at > detected_at:
        errors["impact_started_at"] = ["Impact cannot start after it was detected."]
    if commander is not None and (not isinstance(commander, User) or not commander.is_active):
        errors["commander"] = ["The commander must be an active person."]
    if errors:
        raise ValidationError(errors)

    incident = Incident.objects.create(
        title=title[:200],
        summary=summary or "",
        severity=severity,
        impact_started_at=impact_started_at,
        detected_at=detected_at,
        commander=commander,
        reporter=user_or_none(actor),
        source=source,
    )
    features = []
    for env in environments:
        if env.feature not in features:
            features.append(env.feature)
    incident.feature_environments.set(environments)
    incident.features.set(features)
    incident.linked_releases.set(linked_releases_for(environments, impact_started_at, now))
    diagnoses = diagnoses_create_for(actor=actor, incident=incident, features=features)
    audit_record(
        actor=actor,
        action="incident.open",
        obj=incident,
        after={
            "title": incident.title,
            "severity": severity,
            "environments": [str(e) for e in environments],
            "owners": {d.layer: d.owner.username if d.owner else None for d in diagnoses},
        },
    )
    unowned = [d.get_layer_display() for d in diagnoses if d.owner is None]
    text = f"{incident.get_severity_display()} opened by {who(actor)} via {incident.get_source_display()}"
    if unowned:
        text += f"; no owner in the ownership map for: {', '.join(unowned)}"
    timeline_record(
        incident=incident,
        kind=TimelineKind.OPENED,
        text=text,
        actor=actor,
        source=source,
        data={"severity": severity},
    )
    return incident


def _transition_problems(incident: Incident, to_status: str, reason: str) -> list[str]:
    problems = []
    if incident.status == Status.INVESTIGATING and to_status != Status.CANCELLED:
        unowned = [d.get_layer_display() for d in LayerDiagnosis.objects.filter(incident=incident, owner__isnull=True)]
        if unowned:
            problems.append(f"Every layer needs an owner before leaving investigating; unowned: {', '.join(unowned)}.")
    if to_status == Status.CANCELLED and not reason.strip():
        problems.append("Say why the incident is cancelled.")
    if to_status == Status.CLOSED:
        postmortem = Postmortem.objects.filter(incident=incident).first()
        if postmortem is None or not postmortem.revisions.exists():
            problems.append("Publish the postmortem before closing the incident.")
    return problems


_TIMESTAMP_ON_ENTRY = {
    Status.MONITORING: "mitigated_at",
    Status.RESOLVED: "resolved_at",
    Status.CLOSED: "closed_at",
    Status.CANCELLED: "closed_at",
}


@transaction.atomic
def incident_transition(*, actor, incident: Incident, to_status: str, reason: str = "") -> Incident:
    require(actor, "incident.update")
    if to_status not in Status.values:
        raise ValidationError({"to_status": [f"Unknown status {to_status!r}."]})
    current = Incident.objects.get(pk=incident.pk)
    if not current.can_transition_to(to_status):
        allowed = ", ".join(Status(s).label for s in current.allowed_transitions) or "none (final)"
        raise ValidationError(
            {
                "to_status": [
                    f"An incident cannot go from {current.get_status_display()} to {Status(to_status).label}; "
                    f"allowed: {allowed}."
                ]
            }
        )
    problems = _transition_problems(current, to_status, reason)
    if problems:
        raise ValidationError({"to_status": problems})
    changes: dict = {"status": to_status}
    stamp = _TIMESTAMP_ON_ENTRY.get(to_status)
    now = timezone.now()
    if stamp and getattr(current, stamp) is None:
        changes[stamp] = now
    if to_status == Status.RESOLVED and current.mitigated_at is None:
        changes["mitigated_at"] = now
    # Conditional update: if someone moved it meanwhile, this one loses and says so.
    won = Incident.objects.filter(pk=current.pk, status=current.status).update(**changes, updated_at=now)
    if won != 1:
        raise ValidationError({"to_status": ["Someone else changed the status a moment ago; reload and retry."]})
    audit_record(
        actor=actor,
        action="incident.transition",
        obj=current,
        before={"status": current.status},
        after={"status": to_status},
        reason=reason,
    )
    text = f"{current.get_status_display()} → {Status(to_status).label} by {who(actor)}"
    timeline_record(
        incident=current,
        kind=TimelineKind.STATUS,
        text=text + (f": {reason}" if reason else ""),
        actor=actor,
        data={"from": current.status, "to": to_status},
    )
    if to_status == Status.POSTMORTEM:
        postmortem_start(actor=actor, incident=current)
    for name, value in changes.items():
        setattr(incident, name, value)
    return incident


_EDITABLE_FIELDS = ("title", "summary", "severity", "commander", "impact_started_at", "detected_at")


@transaction.atomic
def incident_update(*, actor, incident: Incident, **fields) -> Incident:
    """Edit the descriptive fields (not the status: that goes through incident_transition)."""
    require(actor, "incident.update")
    unknown = set(fields) - set(_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be edited here."] for name in sorted(unknown)})
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    before, after = apply_changes(locked, fields)
    if not after:
        return locked
    if "title" in after and not locked.title.strip():
        raise ValidationError({"title": ["The title cannot be empty."]})
    if locked.impact_started_at > locked.detected_at:
        raise ValidationError({"impact_started_at": ["Impact cannot start after it was detected."]})
    if locked.commander is not None and not locked.commander.is_active:
        raise ValidationError({"commander": ["The commander must be an active person."]})
    locked.full_clean()
    locked.save()
    audit_record(actor=actor, action="incident.update", obj=locked, before=before, after=after)
    timeline_record(
        incident=locked,
        kind=TimelineKind.EDIT,
        text=f"{who(actor)} changed " + ", ".join(f"{k}: {before[k]} → {after[k]}" for k in after),
        actor=actor,
        data={"changed": after},
    )
    return locked


@transaction.atomic
def incident_add_note(
    *, actor, incident: Incident, text: str, source: str = IncidentSource.WEB, external_ref: str = ""
) -> TimelineEvent:
    require(actor, "incident.update")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ["A note cannot be empty."]})
    event = timeline_record(
        incident=incident, kind=TimelineKind.NOTE, text=text, actor=actor, source=source, external_ref=external_ref
    )
    audit_record(actor=actor, action="incident.note", obj=incident, after={"event": event.pk, "text": text[:500]})
    return event


@transaction.atomic
def timeline_note_edit(*, actor, event: TimelineEvent, text: str) -> TimelineEvent:
    """Notes are editable (typos, corrections); everything else on the timeline is a record of fact."""
    require(actor, "incident.update")
    if not event.is_editable:
        raise ValidationError({"kind": [f"Only notes can be edited; this is a {event.get_kind_display().lower()}."]})
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": ["A note cannot be empty."]})
    before = event.text
    event.text, event.edited_at = text, timezone.now()
    event.save(update_fields=["text", "edited_at"])
    audit_record(actor=actor, action="timeline.note_edit", obj=event, before={"text": before}, after={"text": text})
    return event


@transaction.atomic
def change_event_record(
    *,
    actor,
    layer: str,
    title: str,
    occurred_at: dt.datetime,
    description: str = "",
    system: str = "",
    url: str = "",
    feature=None,
    environment=None,
) -> ChangeEvent:
    """A change Rewind does not version, posted from outside (CI, a dashboard, a pipeline)."""
    require(actor, "change_event.create")
    if environment is not None and feature is not None and environment.feature_id != feature.pk:
        raise ValidationError({"environment": [f"{environment} is not an environment of {feature}."]})
    event = ChangeEvent(
        layer=layer,
        title=(title or "").strip(),
        description=description,
        system=system,
        url=url,
        feature=feature or (environment.feature if environment else None),
        environment=environment,
        occurred_at=occurred_at,
        actor=user_or_none(actor),
    )
    event.full_clean()
    event.save()
    audit_record(actor=actor, action="change_event.record", obj=event, after={"layer": layer, "title": event.title})
    return event
