from __future__ import annotations

import pytest

from core.models import AuditEntry
from diagnostics.models import Evidence, EvidenceKind, ReportLink, ReportStatus
from incidents.models import TimelineEvent
from incidents.services import incident_open
from rollouts.models import Environment

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(responder, releases):
    production = Environment.objects.create(feature=releases[0].feature, name="production", is_production=True)
    return incident_open(
        actor=responder, title="Refusals up in German", severity="sev2", feature_environments=[production]
    )


def test_a_report_becomes_evidence_on_an_incident_layer(api_as, responder, finished_report, incident):
    report = finished_report()
    client = api_as(responder)
    body = {"object_type": "incidents.incident", "object_id": str(incident.pk), "purpose": "evidence"}
    response = client.post(f"/api/v1/reports/{report.pk}/link/", {**body, "layer": "model", "note": "0613 refuses"})
    assert response.status_code == 201, response.json()
    evidence = Evidence.objects.get(diagnosis__incident=incident, diagnosis__layer="model")
    assert evidence.kind == EvidenceKind.REPORT and evidence.data == {"report": report.pk, "verdict": "regression"}
    assert evidence.url.endswith(f"/reports/{report.pk}/") and "0613 refuses" in evidence.text
    assert TimelineEvent.objects.filter(incident=incident, text__contains="Behaviour-diff report").exists()
    link = ReportLink.objects.get()
    assert (link.object_type, link.layer) == ("diagnostics.layerdiagnosis", "model")
    assert AuditEntry.objects.filter(action="behaviour_report.link", object_id=str(report.pk)).count() == 1
    again = client.post(f"/api/v1/reports/{report.pk}/link/", {**body, "layer": "model"})
    assert again.status_code == 201 and Evidence.objects.count() == 1  # attaching twice adds nothing


def test_unknown_layers_incidents_and_unfinished_reports_are_refused(api_as, responder, finished_report, incident):
    client = api_as(responder)
    report = finished_report()
    url = f"/api/v1/reports/{report.pk}/link/"
    body = {"object_type": "incidents.incident", "object_id": str(incident.pk), "purpose": "evidence"}
    assert client.post(url, {**body, "layer": "vibes"}).json() == {
        "layer": [f"INC-{incident.pk} has no 'vibes' layer; use model, data, prompt or product."]
    }
    assert client.post(url, {**body, "object_id": "abc", "layer": "model"}).json() == {
        "object_id": ["No incident with id abc."]
    }
    running = finished_report(status=ReportStatus.RUNNING)
    response = client.post(f"/api/v1/reports/{running.pk}/link/", {**body, "layer": "prompt"})
    assert response.json() == {"report": ["The report has running; only a finished report is evidence."]}
    assert not Evidence.objects.exists() and not ReportLink.objects.exists()


def test_a_viewer_cannot_attach_evidence(api_as, viewer, finished_report, incident):
    report = finished_report()
    response = api_as(viewer).post(
        f"/api/v1/reports/{report.pk}/link/",
        {"object_type": "incidents.incident", "object_id": str(incident.pk), "purpose": "evidence", "layer": "model"},
    )
    assert response.status_code == 403 and not Evidence.objects.exists()
