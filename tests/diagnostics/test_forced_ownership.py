"""Forced owner assignment, rule by rule."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.models import AuditEntry, Team
from diagnostics.models import Evidence, LayerDiagnosis, OwnerAssignment
from diagnostics.services import evidence_add, layer_assign_owner, layer_set_verdict
from incidents.action_item_services import action_item_create
from incidents.models import ActionItem, Incident, PostmortemRevision, TimelineEvent
from incidents.postmortem_services import postmortem_publish, postmortem_start, postmortem_submit, postmortem_update
from incidents.services import incident_transition


def layer(incident, name) -> LayerDiagnosis:
    return LayerDiagnosis.objects.get(incident=incident, layer=name)


# Rule 1: every feature has an ownership map; a new incident fills the four owners from it.
def test_rule1_new_incident_has_exactly_four_layers_owned_from_the_map(incident, layer_owners):
    assert sorted(d.layer for d in incident.layer_diagnoses.all()) == ["data", "model", "product", "prompt"]
    assert all(d.owner == layer_owners[d.layer] for d in incident.layer_diagnoses.all())


def test_rule1_a_fifth_diagnosis_cannot_exist(incident):
    with pytest.raises(IntegrityError), transaction.atomic():
        LayerDiagnosis.objects.create(incident=incident, layer="model")


# Rule 2: an incident cannot leave "investigating" while any layer has no owner.
def test_rule2_cannot_leave_investigating_with_an_unowned_layer(incident, responder):
    incident_transition(actor=responder, incident=incident, to_status="investigating")
    LayerDiagnosis.objects.filter(incident=incident, layer="data").update(owner=None)
    for target in ("identified", "mitigating"):
        with pytest.raises(ValidationError, match="unowned: Data / retrieval"):
            incident_transition(actor=responder, incident=incident, to_status=target)
    assert Incident.objects.get(pk=incident.pk).status == "investigating"


def test_rule2_once_owned_it_may_leave(incident, responder, layer_owners):
    incident_transition(actor=responder, incident=incident, to_status="investigating")
    LayerDiagnosis.objects.filter(incident=incident, layer="data").update(owner=None)
    layer_assign_owner(
        actor=responder, diagnosis=layer(incident, "data"), owner=layer_owners["data"], reason="back from leave"
    )
    incident_transition(actor=responder, incident=incident, to_status="identified")
    assert Incident.objects.get(pk=incident.pk).status == "identified"


# Rule 3: an action item cannot exist without exactly one owner (a person) and a due date.
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner": None}, "owner"),
        ({"due_date": None}, "due_date"),
        ({"owner": "team"}, "owner"),
        ({"owner": "two"}, "owner"),
    ],
)
def test_rule3_action_item_needs_one_person_and_a_due_date(incident, responder, layer_owners, change, field):
    args = {
        "title": "Add the failing case to the regression eval set",
        "owner": layer_owners["product"],
        "due_date": timezone.localdate() + dt.timedelta(days=7),
        "layer": "product",
    }
    args.update(change)
    if args["owner"] == "team":
        args["owner"] = Team.objects.first()
    elif args["owner"] == "two":
        args["owner"] = [layer_owners["product"], layer_owners["model"]]
    with pytest.raises(ValidationError) as exc:
        action_item_create(actor=responder, incident=incident, **args)
    assert field in exc.value.message_dict
    assert not ActionItem.objects.exists()


def test_rule3_the_database_refuses_an_ownerless_action_item_too(incident):
    with pytest.raises(IntegrityError), transaction.atomic():
        ActionItem.objects.create(incident=incident, title="x", layer="model", due_date=timezone.localdate())


# Rule 4: a postmortem cannot be published while any layer lacks an owner and a verdict, or any action item
# lacks an owner and due date.
def _ready_postmortem(incident, responder, approver, layer_owners):
    for name in ("model", "data", "prompt"):
        layer_set_verdict(actor=responder, diagnosis=layer(incident, name), status="ruled_out", evidence_note="checked")
    layer_set_verdict(actor=responder, diagnosis=layer(incident, "product"), status="root_cause", evidence_note="x")
    postmortem = postmortem_start(actor=responder, incident=incident)
    postmortem_update(actor=responder, postmortem=postmortem, summary="S", root_cause="R")
    postmortem_submit(actor=responder, postmortem=postmortem)
    return postmortem


def test_rule4_publishing_with_a_layer_without_verdict_is_refused(incident, responder, approver, layer_owners):
    postmortem = _ready_postmortem(incident, responder, approver, layer_owners)
    LayerDiagnosis.objects.filter(incident=incident, layer="data").update(status="investigating")
    with pytest.raises(ValidationError, match="Data / retrieval layer has no verdict"):
        postmortem_publish(actor=approver, postmortem=postmortem)
    assert not PostmortemRevision.objects.exists()


def test_rule4_publishing_with_an_unowned_layer_is_refused(incident, responder, approver, layer_owners):
    postmortem = _ready_postmortem(incident, responder, approver, layer_owners)
    LayerDiagnosis.objects.filter(incident=incident, layer="prompt").update(owner=None)
    with pytest.raises(ValidationError, match="Prompt layer has no owner"):
        postmortem_publish(actor=approver, postmortem=postmortem)
    assert not PostmortemRevision.objects.exists()


def test_rule4_publishes_when_everything_is_owned_and_decided(incident, responder, approver, layer_owners):
    postmortem = _ready_postmortem(incident, responder, approver, layer_owners)
    action_item_create(
        actor=responder,
        incident=incident,
        title="Alert on citation mismatch",
        owner=layer_owners["product"],
        due_date=timezone.localdate() + dt.timedelta(days=14),
        layer="product",
        kind="detective",
    )
    revision = postmortem_publish(actor=approver, postmortem=postmortem)
    assert revision.number == 1 and "Alert on citation mismatch" in revision.markdown


def test_rule4_a_responder_cannot_publish(incident, responder, approver, layer_owners):
    from django.core.exceptions import PermissionDenied

    postmortem = _ready_postmortem(incident, responder, approver, layer_owners)
    with pytest.raises(PermissionDenied):
        postmortem_publish(actor=responder, postmortem=postmortem)


# Rule 5: "model" cannot be the sole root cause unless the other three layers are ruled out with evidence.
def test_rule5_model_cannot_be_sole_root_cause_while_others_are_unexamined(incident, responder):
    with pytest.raises(ValidationError, match="not yet: Data / retrieval, Prompt, Product / monitoring"):
        layer_set_verdict(actor=responder, diagnosis=layer(incident, "model"), status="root_cause")
    assert layer(incident, "model").status == "unexamined"


def test_rule5_ruled_out_without_evidence_does_not_count(incident, responder):
    for name in ("data", "prompt", "product"):
        LayerDiagnosis.objects.filter(incident=incident, layer=name).update(status="ruled_out")
    evidence_add(actor=responder, diagnosis=layer(incident, "data"), text="recall@5 unchanged")
    with pytest.raises(ValidationError, match="not yet: Prompt, Product / monitoring"):
        layer_set_verdict(actor=responder, diagnosis=layer(incident, "model"), status="root_cause")


def test_rule5_model_is_sole_root_cause_once_the_others_are_ruled_out_with_evidence(incident, responder):
    for name in ("data", "prompt", "product"):
        layer_set_verdict(
            actor=responder, diagnosis=layer(incident, name), status="ruled_out", evidence_note=f"{name} checked"
        )
    layer_set_verdict(actor=responder, diagnosis=layer(incident, "model"), status="root_cause")
    assert layer(incident, "model").status == "root_cause"


def test_rule5_model_may_share_the_blame_with_a_contributing_layer(incident, responder):
    layer_set_verdict(actor=responder, diagnosis=layer(incident, "prompt"), status="contributing")
    layer_set_verdict(actor=responder, diagnosis=layer(incident, "model"), status="root_cause")
    assert layer(incident, "model").status == "root_cause"


def test_rule5_cannot_unblame_the_last_other_layer_behind_the_models_back(incident, responder):
    layer_set_verdict(actor=responder, diagnosis=layer(incident, "prompt"), status="contributing")
    layer_set_verdict(actor=responder, diagnosis=layer(incident, "model"), status="root_cause")
    with pytest.raises(ValidationError, match="sole root cause"):
        layer_set_verdict(actor=responder, diagnosis=layer(incident, "prompt"), status="ruled_out")
    assert not Evidence.objects.exists()


# Rule 6: every reassignment records who, from whom, to whom and why.
def test_rule6_reassignment_records_who_from_whom_to_whom_and_why(incident, responder, layer_owners):
    from tests.support.incident_world import make_person

    newcomer = make_person("newt")
    layer_assign_owner(actor=responder, diagnosis=layer(incident, "prompt"), owner=newcomer, reason="Pat is on leave")
    assignment = OwnerAssignment.objects.filter(diagnosis__layer="prompt", diagnosis__incident=incident).last()
    assert (assignment.actor, assignment.from_owner, assignment.to_owner, assignment.reason) == (
        responder,
        layer_owners["prompt"],
        newcomer,
        "Pat is on leave",
    )
    audit = AuditEntry.objects.get(action="diagnosis.assign_owner")
    assert audit.before == {"owner": "pat"} and audit.after == {"owner": "newt"} and audit.reason == "Pat is on leave"
    event = TimelineEvent.objects.get(incident=incident, kind="owner")
    assert "Pat → Newt" in event.text and "Pat is on leave" in event.text and "rafa" in event.text


@pytest.mark.parametrize("reason", ["", "   "])
def test_rule6_reassignment_without_a_reason_is_refused(incident, responder, reason):
    from tests.support.incident_world import make_person

    with pytest.raises(ValidationError, match="why"):
        layer_assign_owner(actor=responder, diagnosis=layer(incident, "prompt"), owner=make_person("x"), reason=reason)
    assert layer(incident, "prompt").owner.username == "pat"


def test_rule6_a_team_cannot_own_a_layer(incident, responder):
    with pytest.raises(ValidationError, match="one person"):
        layer_assign_owner(
            actor=responder, diagnosis=layer(incident, "prompt"), owner=Team.objects.first(), reason="team"
        )
