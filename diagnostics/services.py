"""Writes for the four-layer diagnosis. Keyword-only ``actor`` first; every change audited and on the timeline."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from core.audit import audit_record
from core.models import User
from core.permissions import require
from diagnostics.checklists import CHECKLISTS
from diagnostics.models import (
    IMPLICATING_VERDICTS,
    DiagnosisLayer,
    Evidence,
    EvidenceKind,
    LayerDiagnosis,
    LayerOwner,
    OwnerAssignment,
    Verdict,
)
from diagnostics.signals import layer_changed


def _person(owner, field: str = "owner") -> User:
    if not isinstance(owner, User):
        raise ValidationError({field: ["The owner must be one person (a user), not a team or a list."]})
    if not owner.is_active:
        raise ValidationError({field: [f"{owner} is deactivated and cannot own anything."]})
    return owner


@transaction.atomic
def ownership_map_set(*, actor, feature, layer: str, owner: User, team=None) -> LayerOwner:
    """Set who owns a layer of a feature; new incidents on that feature start with this person."""
    require(actor, "ownership.manage")
    if layer not in DiagnosisLayer.values:
        raise ValidationError({"layer": [f"Unknown layer {layer!r}; use one of {', '.join(DiagnosisLayer.values)}."]})
    _person(owner)
    current = LayerOwner.objects.filter(feature=feature, layer=layer).first()
    before = {"owner": current.owner.username, "team": current.team_id} if current else None
    entry, _ = LayerOwner.objects.update_or_create(
        feature=feature, layer=layer, defaults={"owner": owner, "team": team}
    )
    audit_record(
        actor=actor,
        action="ownership.set",
        obj=entry,
        before=before,
        after={"feature": feature.slug, "layer": layer, "owner": owner.username, "team": team.pk if team else None},
    )
    return entry


def diagnoses_create_for(*, actor, incident, features) -> list[LayerDiagnosis]:
    """Exactly four diagnoses per incident, owners filled from the features' ownership maps (first feature
    that names an owner for the layer wins). Called inside incident_open's transaction."""
    owners: dict[str, LayerOwner] = {}
    feature_ids = [f.pk for f in features]
    entries = LayerOwner.objects.filter(feature_id__in=feature_ids).select_related("owner", "feature")
    order = {pk: i for i, pk in enumerate(feature_ids)}
    for entry in sorted(entries, key=lambda e: order[e.feature_id]):
        if entry.owner.is_active:
            owners.setdefault(entry.layer, entry)
    diagnoses = []
    for layer in DiagnosisLayer.values:
        entry = owners.get(layer)
        diagnosis = LayerDiagnosis.objects.create(incident=incident, layer=layer, owner=entry.owner if entry else None)
        if entry:
            OwnerAssignment.objects.create(
                diagnosis=diagnosis,
                from_owner=None,
                to_owner=entry.owner,
                actor=actor if getattr(actor, "pk", None) else None,
                reason=f"Ownership map of {entry.feature.slug}",
            )
        diagnoses.append(diagnosis)
    return diagnoses


@transaction.atomic
def layer_assign_owner(*, actor, diagnosis: LayerDiagnosis, owner, reason: str) -> LayerDiagnosis:
    """(Re)assign a layer to one person, recording who, from whom, to whom and why."""
    require(actor, "diagnosis.update")
    _person(owner)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the layer changes hands; the reassignment is recorded."]})
    locked = LayerDiagnosis.objects.select_for_update(of=("self",)).select_related("owner").get(pk=diagnosis.pk)
    previous = locked.owner
    if previous is not None and previous.pk == owner.pk:
        raise ValidationError({"owner": [f"{owner} already owns the {locked.get_layer_display()} layer."]})
    LayerDiagnosis.objects.filter(pk=locked.pk).update(owner=owner)
    OwnerAssignment.objects.create(
        diagnosis=locked,
        from_owner=previous,
        to_owner=owner,
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
    )
    audit_record(
        actor=actor,
        action="diagnosis.assign_owner",
        obj=locked,
        before={"owner": previous.username if previous else None},
        after={"owner": owner.username},
        reason=reason,
    )
    who = getattr(actor, "username", None) or "system"
    layer_changed.send(
        sender=LayerDiagnosis,
        diagnosis=locked,
        kind="owner",
        text=f"{locked.get_layer_display()} layer: {previous or 'nobody'} → {owner} (by {who}): {reason}",
        actor=actor,
        data={"layer": locked.layer, "from": previous.pk if previous else None, "to": owner.pk},
    )
    diagnosis.owner = owner
    return diagnosis


def model_sole_root_cause_problem(diagnoses: list[LayerDiagnosis]) -> str | None:
    """'Model' may be the only root cause only when the other three are ruled out, each with evidence.

    Blaming the model is the easy way out of a review; this makes the other owners show their work."""
    by_layer = {d.layer: d for d in diagnoses}
    model = by_layer.get(DiagnosisLayer.MODEL)
    if model is None or model.status != Verdict.ROOT_CAUSE:
        return None
    others = [by_layer[layer] for layer in DiagnosisLayer.values if layer != DiagnosisLayer.MODEL and layer in by_layer]
    if any(d.status in IMPLICATING_VERDICTS for d in others):
        return None
    with_evidence = set(Evidence.objects.filter(diagnosis__in=others).values_list("diagnosis_id", flat=True).distinct())
    missing = [d.get_layer_display() for d in others if d.status != Verdict.RULED_OUT or d.pk not in with_evidence]
    if not missing:
        return None
    return (
        "The model can be the sole root cause only when the other three layers are ruled out with evidence; "
        f"not yet: {', '.join(missing)}."
    )


@transaction.atomic
def evidence_add(
    *, actor, diagnosis: LayerDiagnosis, text: str = "", url: str = "", kind: str = EvidenceKind.NOTE, data=None
) -> Evidence:
    require(actor, "diagnosis.update")
    if not (text or "").strip() and not (url or "").strip():
        raise ValidationError({"text": ["Evidence needs a note or a link."]})
    evidence = Evidence(
        diagnosis=diagnosis,
        kind=kind,
        text=(text or "").strip(),
        url=(url or "").strip(),
        data=data or {},
        actor=actor if getattr(actor, "pk", None) else None,
    )
    evidence.full_clean(exclude=["diagnosis", "actor"])
    evidence.save()
    audit_record(
        actor=actor, action="diagnosis.evidence", obj=diagnosis, after={"kind": kind, "text": text, "url": url}
    )
    layer_changed.send(
        sender=LayerDiagnosis,
        diagnosis=diagnosis,
        kind="evidence",
        text=f"{diagnosis.get_layer_display()} evidence ({evidence.get_kind_display().lower()}): {text or url}",
        actor=actor,
        data={"layer": diagnosis.layer, "evidence": evidence.pk, "url": url},
    )
    return evidence


@transaction.atomic
def layer_set_verdict(*, actor, diagnosis: LayerDiagnosis, status: str, evidence_note: str = "") -> LayerDiagnosis:
    """Move a layer to a verdict. The optional note is stored as evidence first (so it counts)."""
    require(actor, "diagnosis.update")
    if status not in Verdict.values:
        raise ValidationError({"status": [f"Unknown verdict {status!r}; use one of {', '.join(Verdict.values)}."]})
    locked = LayerDiagnosis.objects.select_for_update().get(pk=diagnosis.pk)
    if locked.owner_id is None:
        raise ValidationError({"owner": [f"Assign an owner to the {locked.get_layer_display()} layer first."]})
    if locked.status == status and not evidence_note.strip():
        return locked
    previous = locked.status
    if evidence_note.strip():
        evidence_add(actor=actor, diagnosis=locked, text=evidence_note)
    locked.status = status
    siblings = list(LayerDiagnosis.objects.filter(incident_id=locked.incident_id).exclude(pk=locked.pk))
    problem = model_sole_root_cause_problem([locked, *siblings])
    if problem:
        raise ValidationError({"status": [problem]})
    LayerDiagnosis.objects.filter(pk=locked.pk).update(status=status)
    if previous != status:
        audit_record(
            actor=actor, action="diagnosis.verdict", obj=locked, before={"status": previous}, after={"status": status}
        )
        layer_changed.send(
            sender=LayerDiagnosis,
            diagnosis=locked,
            kind="verdict",
            text=f"{locked.get_layer_display()} layer: {Verdict(previous).label} → {Verdict(status).label}",
            actor=actor,
            data={"layer": locked.layer, "from": previous, "to": status},
        )
    diagnosis.status = status
    return locked


@transaction.atomic
def checklist_answer(*, actor, diagnosis: LayerDiagnosis, key: str, answer: str) -> LayerDiagnosis:
    require(actor, "diagnosis.update")
    keys = [k for k, _ in CHECKLISTS[diagnosis.layer]]
    if key not in keys:
        raise ValidationError({"key": [f"Unknown question {key!r} for the {diagnosis.get_layer_display()} layer."]})
    answer = (answer or "").strip()
    if not answer:
        raise ValidationError({"answer": ["Write an answer (even 'no, checked X')."]})
    locked = LayerDiagnosis.objects.select_for_update().get(pk=diagnosis.pk)
    before = (locked.checklist or {}).get(key)
    checklist = dict(locked.checklist or {})
    checklist[key] = {"answer": answer, "by": getattr(actor, "username", "system")}
    LayerDiagnosis.objects.filter(pk=locked.pk).update(checklist=checklist)
    audit_record(actor=actor, action="diagnosis.checklist", obj=locked, before=before, after={key: answer})
    diagnosis.checklist = checklist
    return diagnosis
