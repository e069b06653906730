"""Writes for incidents, timelines, action items, change events and postmortems.

Every function is keyword-only with ``actor`` first, audits, and puts what it changed on the timeline."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.models import User
from core.permissions import require
from diagnostics.models import DiagnosisLayer, LayerDiagnosis
from diagnostics.services import diagnoses_create_for, model_sole_root_cause_problem
from incidents.models import (
    POSTMORTEM_TEXT_FIELDS,
    ActionItem,
    ActionKind,
    ActionStatus,
    ChangeEvent,
    Incident,
    IncidentSource,
    Postmortem,
    PostmortemRevision,
    PostmortemStatus,
    Priority,
    Severity,
    Status,
    TimelineEvent,
    TimelineKind,
)
from incidents.postmortems import postmortem_markdown, postmortem_snapshot
from incidents.timeline import timeline_record
from rollouts.models import DeploymentEvent, Environment

__all__ = [
    "action_item_create",
    "action_item_update",
    "change_event_record",
    "incident_add_note",
    "incident_open",
    "incident_transition",
    "incident_update",
    "postmortem_publish",
    "postmortem_start",
    "postmortem_submit",
    "postmortem_update",
    "timeline_note_edit",
    "timeline_record",
]


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


def _who(actor) -> str:
    return getattr(actor, "username", None) or "system"


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
        reporter=_user_or_none(actor),
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
    text = f"{incident.get_severity_display()} opened by {_who(actor)} via {incident.get_source_display()}"
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
    text = f"{current.get_status_display()} → {Status(to_status).label} by {_who(actor)}"
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
    before, after = _apply_changes(locked, fields)
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
        text=f"{_who(actor)} changed " + ", ".join(f"{k}: {before[k]} → {after[k]}" for k in after),
        actor=actor,
        data={"changed": after},
    )
    return locked


def _apply_changes(obj, changes: dict) -> tuple[dict, dict]:
    """Set the fields whose value differs; return (before, after) of just those, ready for the audit entry."""
    before, after = {}, {}
    for name, value in changes.items():
        old = getattr(obj, name)
        if old != value:
            before[name], after[name] = _plain(old), _plain(value)
            setattr(obj, name, value)
    return before, after


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, User):
        return value.username
    return value


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


def _action_item_errors(*, title, owner, due_date, layer, priority, kind, tracker_url) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not (title or "").strip():
        errors["title"] = ["Say what will be done."]
    if owner is None:
        errors["owner"] = ["An action item needs exactly one owner."]
    elif not isinstance(owner, User):
        errors["owner"] = ["The owner must be one person (a user), not a team or a list."]
    elif not owner.is_active:
        errors["owner"] = [f"{owner} is deactivated and cannot own an action item."]
    if due_date is None:
        errors["due_date"] = ["An action item needs a due date."]
    elif not isinstance(due_date, dt.date) or isinstance(due_date, dt.datetime):
        errors["due_date"] = ["The due date must be a date (YYYY-MM-DD)."]
    if layer not in DiagnosisLayer.values:
        errors["layer"] = [f"Choose a layer: {', '.join(DiagnosisLayer.values)}."]
    if priority not in Priority.values:
        errors["priority"] = [f"Choose a priority: {', '.join(Priority.values)}."]
    if kind not in ActionKind.values:
        errors["kind"] = [f"Choose a type: {', '.join(ActionKind.values)}."]
    return errors


@transaction.atomic
def action_item_create(
    *,
    actor,
    incident: Incident,
    title: str,
    owner: User,
    due_date: dt.date,
    layer: str,
    priority: str = Priority.P2,
    kind: str = ActionKind.CORRECTIVE,
    tracker_url: str = "",
) -> ActionItem:
    require(actor, "action_item.edit")
    errors = _action_item_errors(
        title=title, owner=owner, due_date=due_date, layer=layer, priority=priority, kind=kind, tracker_url=tracker_url
    )
    if errors:
        raise ValidationError(errors)
    item = ActionItem(
        incident=incident,
        title=title.strip(),
        owner=owner,
        due_date=due_date,
        layer=layer,
        priority=priority,
        kind=kind,
        tracker_url=tracker_url or "",
        created_by=_user_or_none(actor),
    )
    item.full_clean(exclude=["incident", "owner", "created_by"])
    item.save()
    audit_record(
        actor=actor,
        action="action_item.create",
        obj=item,
        after={"title": item.title, "owner": owner.username, "due_date": due_date.isoformat(), "layer": layer},
    )
    timeline_record(
        incident=incident,
        kind=TimelineKind.ACTION_ITEM,
        text=f"Action item ({item.get_layer_display()}, {priority.upper()}): {item.title} — {owner}, due {due_date}",
        actor=actor,
        data={"action_item": item.pk},
    )
    return item


_ACTION_FIELDS = ("title", "owner", "due_date", "layer", "priority", "kind", "tracker_url", "status", "wont_do_reason")


@transaction.atomic
def action_item_update(*, actor, item: ActionItem, **fields) -> ActionItem:
    """Change any field of an action item; status 'won't do' needs a reason, owner and due date stay required."""
    require(actor, "action_item.edit")
    unknown = set(fields) - set(_ACTION_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be edited."] for name in sorted(unknown)})
    locked = ActionItem.objects.select_for_update(of=("self",)).select_related("owner").get(pk=item.pk)
    merged = {name: fields.get(name, getattr(locked, name)) for name in _ACTION_FIELDS}
    errors = _action_item_errors(
        **{k: merged[k] for k in ("title", "owner", "due_date", "layer", "priority", "kind", "tracker_url")}
    )
    if merged["status"] not in ActionStatus.values:
        errors["status"] = [f"Choose a status: {', '.join(ActionStatus.values)}."]
    if merged["status"] == ActionStatus.WONT_DO and not (merged["wont_do_reason"] or "").strip():
        errors["wont_do_reason"] = ["Say why this won't be done."]
    if errors:
        raise ValidationError(errors)
    before, after = _apply_changes(locked, merged)
    if not after:
        return locked
    if "status" in after:
        locked.completed_at = timezone.now() if locked.status in (ActionStatus.DONE, ActionStatus.WONT_DO) else None
    locked.full_clean(exclude=["incident", "owner", "created_by"])
    locked.save()
    reason = merged["wont_do_reason"] if merged["status"] == ActionStatus.WONT_DO else ""
    audit_record(actor=actor, action="action_item.update", obj=locked, before=before, after=after, reason=reason)
    timeline_record(
        incident=locked.incident,
        kind=TimelineKind.ACTION_ITEM,
        text=f"Action item '{locked.title}': " + ", ".join(f"{k} {before[k]} → {after[k]}" for k in after),
        actor=actor,
        data={"action_item": locked.pk, "changed": after},
    )
    return locked


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
        actor=_user_or_none(actor),
    )
    event.full_clean()
    event.save()
    audit_record(actor=actor, action="change_event.record", obj=event, after={"layer": layer, "title": event.title})
    return event


# ----- postmortems ---------------------------------------------------------------------------------------------


@transaction.atomic
def postmortem_start(*, actor, incident: Incident) -> Postmortem:
    require(actor, "postmortem.edit")
    postmortem, created = Postmortem.objects.get_or_create(incident=incident, defaults={"summary": incident.summary})
    if created:
        audit_record(actor=actor, action="postmortem.start", obj=postmortem)
        timeline_record(incident=incident, kind=TimelineKind.POSTMORTEM, text="Postmortem draft started", actor=actor)
    return postmortem


@transaction.atomic
def postmortem_update(*, actor, postmortem: Postmortem, **fields) -> Postmortem:
    """Edit the working copy. Editing a published postmortem starts the next revision (back to draft); the
    published revision stays as it was."""
    require(actor, "postmortem.edit")
    unknown = set(fields) - set(POSTMORTEM_TEXT_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown postmortem field."] for name in sorted(unknown)})
    locked = Postmortem.objects.select_for_update().get(pk=postmortem.pk)
    before, after = _apply_changes(locked, {name: value or "" for name, value in fields.items()})
    if not after:
        return locked
    if locked.status == PostmortemStatus.PUBLISHED:
        locked.status = PostmortemStatus.DRAFT
        after["status"] = PostmortemStatus.DRAFT
    locked.save()
    audit_record(actor=actor, action="postmortem.update", obj=locked, before=before, after=after)
    return locked


@transaction.atomic
def postmortem_submit(*, actor, postmortem: Postmortem) -> Postmortem:
    require(actor, "postmortem.edit")
    won = Postmortem.objects.filter(pk=postmortem.pk, status=PostmortemStatus.DRAFT).update(
        status=PostmortemStatus.IN_REVIEW, updated_at=timezone.now()
    )
    if won != 1:
        raise ValidationError({"status": ["Only a draft can be sent to review."]})
    audit_record(
        actor=actor,
        action="postmortem.submit",
        obj=postmortem,
        before={"status": "draft"},
        after={"status": "in_review"},
    )
    timeline_record(
        incident=postmortem.incident, kind=TimelineKind.POSTMORTEM, text="Postmortem sent to review", actor=actor
    )
    postmortem.status = PostmortemStatus.IN_REVIEW
    return postmortem


def postmortem_publish_problems(postmortem: Postmortem) -> list[str]:
    """Why this postmortem cannot be published yet (empty when it can)."""
    problems = []
    diagnoses = list(LayerDiagnosis.objects.filter(incident_id=postmortem.incident_id))
    for d in diagnoses:
        if d.owner_id is None:
            problems.append(f"The {d.get_layer_display()} layer has no owner.")
        if not d.has_verdict:
            problems.append(
                f"The {d.get_layer_display()} layer has no verdict (ruled out, contributing or root cause)."
            )
    sole = model_sole_root_cause_problem(diagnoses)
    if sole:
        problems.append(sole)
    for item in ActionItem.objects.filter(incident_id=postmortem.incident_id):
        if item.owner_id is None or item.due_date is None:
            problems.append(f"Action item '{item.title}' lacks an owner or a due date.")
    if not postmortem.summary.strip() or not postmortem.root_cause.strip():
        problems.append("Write the summary and the root cause.")
    return problems


@transaction.atomic
def postmortem_publish(*, actor, postmortem: Postmortem) -> PostmortemRevision:
    require(actor, "postmortem.publish")
    locked = Postmortem.objects.select_for_update().get(pk=postmortem.pk)
    if locked.status != PostmortemStatus.IN_REVIEW:
        raise ValidationError({"status": ["Only a postmortem in review can be published."]})
    problems = postmortem_publish_problems(locked)
    if problems:
        raise ValidationError({"postmortem": problems})
    snapshot = postmortem_snapshot(locked)
    snapshot["revision"] = locked.revision
    revision = PostmortemRevision.objects.create(
        postmortem=locked,
        number=locked.revision,
        snapshot=snapshot,
        markdown=postmortem_markdown(snapshot),
        published_by=_user_or_none(actor),
    )
    Postmortem.objects.filter(pk=locked.pk).update(
        status=PostmortemStatus.PUBLISHED, revision=locked.revision + 1, updated_at=timezone.now()
    )
    audit_record(
        actor=actor,
        action="postmortem.publish",
        obj=locked,
        before={"status": "in_review"},
        after={"status": "published", "revision": revision.number},
    )
    timeline_record(
        incident=locked.incident,
        kind=TimelineKind.POSTMORTEM,
        text=f"Postmortem revision {revision.number} published by {_who(actor)}",
        actor=actor,
        data={"revision": revision.number},
    )
    postmortem.status, postmortem.revision = PostmortemStatus.PUBLISHED, locked.revision + 1
    return revision
