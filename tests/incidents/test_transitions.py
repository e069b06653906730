"""Every valid and invalid transition of the lifecycle table, through the service."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.models import AuditEntry
from incidents.models import TRANSITIONS, Incident, Postmortem, PostmortemRevision, Status, TimelineEvent
from incidents.services import incident_transition

ALL = [s.value for s in Status]
VALID = [(a, b) for a in ALL for b in ALL if b in TRANSITIONS[a]]
INVALID = [(a, b) for a in ALL for b in ALL if b not in TRANSITIONS[a]]


def _put_in(incident: Incident, status: str) -> Incident:
    # Test set-up only: place the incident in a state without walking the path there.
    Incident.objects.filter(pk=incident.pk).update(status=status)
    if status == Status.POSTMORTEM:
        postmortem = Postmortem.objects.create(incident=incident, status="published", revision=2)
        PostmortemRevision.objects.create(postmortem=postmortem, number=1, snapshot={}, markdown="# x")
    return Incident.objects.get(pk=incident.pk)


@pytest.mark.parametrize(("source", "target"), VALID)
def test_every_valid_transition_is_applied_audited_and_on_the_timeline(incident, responder, source, target):
    incident = _put_in(incident, source)
    incident_transition(actor=responder, incident=incident, to_status=target, reason="because")
    assert Incident.objects.get(pk=incident.pk).status == target
    entry = AuditEntry.objects.get(action="incident.transition", object_id=str(incident.pk))
    assert entry.before == {"status": source} and entry.after == {"status": target} and entry.reason == "because"
    assert TimelineEvent.objects.filter(incident=incident, kind="status", data__to=target).exists()


@pytest.mark.parametrize(("source", "target"), INVALID)
def test_every_invalid_transition_is_refused_and_changes_nothing(incident, responder, source, target):
    incident = _put_in(incident, source)
    with pytest.raises(ValidationError) as exc:
        incident_transition(actor=responder, incident=incident, to_status=target, reason="because")
    assert "to_status" in exc.value.message_dict
    assert Incident.objects.get(pk=incident.pk).status == source
    assert not AuditEntry.objects.filter(action="incident.transition").exists()


def test_the_model_knows_its_transitions(incident):
    assert incident.can_transition_to(Status.INVESTIGATING)
    assert not incident.can_transition_to(Status.RESOLVED)


def test_a_stale_copy_loses_the_race(incident, responder):
    stale = Incident.objects.get(pk=incident.pk)
    incident_transition(actor=responder, incident=incident, to_status="investigating")
    incident_transition(actor=responder, incident=incident, to_status="identified")
    # The stale copy still thinks "reported"; the service reloads and judges from the real state.
    with pytest.raises(ValidationError):
        incident_transition(actor=responder, incident=stale, to_status="cancelled", reason="dup")


def test_resolving_stamps_the_times(incident, responder):
    for status in ("investigating", "identified", "mitigating", "monitoring", "resolved"):
        incident_transition(actor=responder, incident=incident, to_status=status)
    incident.refresh_from_db()
    assert incident.mitigated_at and incident.resolved_at and incident.mitigated_at <= incident.resolved_at


def test_entering_postmortem_starts_a_draft(incident, responder):
    incident = _put_in(incident, "resolved")
    incident_transition(actor=responder, incident=incident, to_status="postmortem")
    assert Postmortem.objects.get(incident=incident).status == "draft"


def test_closing_needs_a_published_postmortem(incident, responder):
    Incident.objects.filter(pk=incident.pk).update(status="postmortem")
    with pytest.raises(ValidationError, match="Publish the postmortem"):
        incident_transition(actor=responder, incident=incident, to_status="closed")


def test_cancelling_needs_a_reason(incident, responder):
    with pytest.raises(ValidationError, match="why"):
        incident_transition(actor=responder, incident=incident, to_status="cancelled")


def test_a_viewer_cannot_change_status(incident, viewer):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        incident_transition(actor=viewer, incident=incident, to_status="investigating")
