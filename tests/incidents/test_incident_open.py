from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.models import AuditEntry
from diagnostics.models import LayerDiagnosis, OwnerAssignment
from incidents.models import Incident, TimelineEvent
from incidents.services import incident_open


def test_a_new_incident_fills_the_four_layer_owners_from_the_ownership_map(incident, layer_owners):
    owners = {d.layer: d.owner for d in incident.layer_diagnoses.all()}
    assert owners == layer_owners
    assert OwnerAssignment.objects.filter(diagnosis__incident=incident, from_owner=None).count() == 4


def test_it_links_the_release_live_when_impact_started(incident, deployed):
    _r1, r2 = deployed
    assert set(incident.linked_releases.all()) == {r2}


def test_it_links_every_release_live_during_the_impact_window(responder, production, deployed):
    r1, r2 = deployed
    incident = incident_open(
        actor=responder,
        title="Started before the deploy",
        severity="sev3",
        feature_environments=[production],
        impact_started_at=timezone.now() - dt.timedelta(days=3),
    )
    assert set(incident.linked_releases.all()) == {r1, r2}


def test_opening_is_audited_and_on_the_timeline(incident, responder):
    assert AuditEntry.objects.filter(action="incident.open", object_id=str(incident.pk)).exists()
    event = TimelineEvent.objects.get(incident=incident)
    assert event.kind == "opened" and "SEV2" in event.text and event.actor == responder
    assert incident.reporter == responder and incident.status == "reported"


def test_a_feature_without_an_ownership_map_leaves_layers_unowned_and_says_so(responder, db, team):
    from rollouts.models import Environment, Feature

    feature = Feature.objects.create(slug="lonely", name="Lonely", team=team)
    env = Environment.objects.create(feature=feature, name="production", is_production=True)
    incident = incident_open(actor=responder, title="x broke", severity="sev3", feature_environments=[env])
    assert LayerDiagnosis.objects.filter(incident=incident, owner__isnull=True).count() == 4
    assert "no owner in the ownership map" in TimelineEvent.objects.get(incident=incident).text


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": "  "}, "title"),
        ({"severity": "sev9"}, "severity"),
        ({"feature_environments": []}, "feature_environments"),
        ({"impact_started_at": timezone.now() + dt.timedelta(hours=1)}, "impact_started_at"),
        ({"detected_at": timezone.now() + dt.timedelta(days=1)}, "detected_at"),
    ],
)
def test_bad_input_is_refused_with_a_field_message_and_nothing_is_stored(responder, production, kwargs, field):
    args = {"title": "Bad", "severity": "sev2", "feature_environments": [production], **kwargs}
    with pytest.raises(ValidationError) as exc:
        incident_open(actor=responder, **args)
    assert field in exc.value.message_dict
    assert not Incident.objects.exists()
    assert not LayerDiagnosis.objects.exists()


def test_a_viewer_cannot_open_an_incident(viewer, production):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        incident_open(actor=viewer, title="x", severity="sev2", feature_environments=[production])
    assert not Incident.objects.exists()
