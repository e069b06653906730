"""From the incident page: find a report by name or release pair, attach it to a layer, start a new diff."""

from __future__ import annotations

import pytest

from diagnostics.models import Evidence, ReportLink
from incidents.services import incident_open
from rollouts.models import Environment

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def incident(responder, releases):
    production = Environment.objects.create(feature=releases[0].feature, name="production", is_production=True)
    return incident_open(
        actor=responder, title="Refusals up in German", severity="sev2", feature_environments=[production]
    )


def _search(client, incident, q):
    params = {"panel": "evidence-reports", "reports_q": q}
    return client.get(f"/incidents/{incident.pk}/", params, **HX).content.decode()


def test_reports_are_found_by_release_pair_or_name(web_as, viewer, finished_report, incident):
    report = finished_report()
    client = web_as(viewer)
    for query in ("#2 → #1", "1..2", "support-assistant 1 2", "0314", "support-golden"):
        html = _search(client, incident, query)
        assert "<html" not in html and f'href="/reports/{report.pk}/"' in html, query
    assert "No report matches “#3 → #4”." in _search(client, incident, "#3 → #4")
    assert "No report matches" in _search(client, incident, "nothing-like-this")


def test_attaching_from_the_incident_puts_a_readable_link_on_the_layer(web_as, responder, finished_report, incident):
    report = finished_report()
    client = web_as(responder)
    response = client.post(
        "/reports/attach-evidence/", {"report": report.pk, "incident": incident.pk, "layer": "model"}
    )
    assert response.status_code == 302 and response["Location"].endswith(f"/incidents/{incident.pk}/#layer-model")
    evidence = Evidence.objects.get(diagnosis__incident=incident, diagnosis__layer="model")
    assert evidence.data["report"] == report.pk
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    model_column = page.split('id="layer-model"')[1].split('id="layer-')[0]
    assert f'<a href="/reports/{report.pk}/">Behaviour-diff report #{report.pk}' in model_column
    report_page = client.get(f"/reports/{report.pk}/").content.decode()
    assert f'href="/incidents/{incident.pk}/#layer-model">{incident.reference} Refusals up in German · Model layer' in (
        report_page
    )
    assert "diagnostics.layerdiagnosis#" not in report_page


def test_an_unfinished_report_is_not_attachable_and_a_viewer_sees_why(web_as, viewer, finished_report, incident):
    running = finished_report(status="running")
    html = _search(web_as(viewer), incident, "")
    assert f'href="/reports/{running.pk}/"' in html and "Attachable once it has finished." in html
    finished_report()
    html = _search(web_as(viewer), incident, "")
    assert 'title="This needs the responder role (report.link)."' in html
    response = web_as(viewer).post("/reports/attach-evidence/", {"report": running.pk, "incident": incident.pk})
    assert response.status_code == 403 and not ReportLink.objects.exists()


def test_a_new_diff_starts_from_the_features_last_two_releases(web_as, responder, releases, incident):
    older, newer = releases
    page = web_as(responder).get(f"/incidents/{incident.pk}/").content.decode()
    link = f"/reports/new/?release_a={older.pk}&amp;release_b={newer.pk}&amp;incident={incident.pk}"
    assert link in page and "Start a diff: support-assistant #1 → #2" in page
    form = web_as(responder).get(link.replace("&amp;", "&")).content.decode()
    assert f'<option value="{older.pk}" selected>' in form.split('name="release_a"')[1].split("</select>")[0]
    assert f'<option value="{newer.pk}" selected>' in form.split('name="release_b"')[1].split("</select>")[0]
    assert f'name="incident" value="{incident.pk}"' in form
