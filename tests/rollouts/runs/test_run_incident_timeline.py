from __future__ import annotations

import pytest

from incidents.services import incident_open
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db


def test_a_linked_runs_transitions_land_on_the_incident_timeline(team, approver, responder, api_as):
    feature, _staging, production = feature_with_envs(team)
    deploy(approver, production, release(approver, feature, prompt="v1"))
    deploy(approver, production, release(approver, feature, prompt="v2"))
    incident = incident_open(actor=responder, title="answers wrong", severity="sev2", feature_environments=[production])
    response = api_as(approver).post(
        "/api/v1/rollbacks",
        {"feature": feature.slug, "environment": "production", "reason": "wrong answers", "incident_id": incident.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    runs.run_advance(run_id=response.json()["id"])  # what the worker does: the rollback completes
    events = list(incident.timeline_events.filter(kind="rollback").values_list("text", flat=True))
    assert any("pending → running" in t for t in events)
    assert any("running → succeeded" in t for t in events)
