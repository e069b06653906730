"""Writes for postmortems: drafting, review and publishing revisions."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.permissions import require
from diagnostics.models import LayerDiagnosis, layer_sorted
from diagnostics.services import model_sole_root_cause_problem
from incidents.changes import apply_changes, user_or_none, who
from incidents.models import (
    POSTMORTEM_TEXT_FIELDS,
    ActionItem,
    Incident,
    Postmortem,
    PostmortemRevision,
    PostmortemStatus,
    TimelineKind,
)
from incidents.postmortems import postmortem_markdown, postmortem_snapshot
from incidents.timeline import timeline_record


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
    before, after = apply_changes(locked, {name: value or "" for name, value in fields.items()})
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
    diagnoses = layer_sorted(LayerDiagnosis.objects.filter(incident_id=postmortem.incident_id))
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
        published_by=user_or_none(actor),
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
        text=f"Postmortem revision {revision.number} published by {who(actor)}",
        actor=actor,
        data={"revision": revision.number},
    )
    postmortem.status, postmortem.revision = PostmortemStatus.PUBLISHED, locked.revision + 1
    return revision
