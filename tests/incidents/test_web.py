from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from diagnostics.models import LayerDiagnosis
from incidents.models import ActionItem, Incident, TimelineEvent
from incidents.services import incident_open

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize(
    ("role", "expected"), [("viewer", 200), ("responder", 200), ("approver", 200), ("admin_user", 200)]
)
def test_pages_are_readable_by_every_role(request, web_as, incident, role, expected):
    client = web_as(request.getfixturevalue(role))
    for url in (
        "/incidents/",
        f"/incidents/{incident.pk}/",
        f"/incidents/{incident.pk}/timeline/",
        "/action-items/",
        f"/incidents/{incident.pk}/postmortem/",
    ):
        assert client.get(url).status_code == expected, url


def test_anonymous_visitors_are_sent_to_login(client, incident):
    for url in ("/incidents/", f"/incidents/{incident.pk}/", "/incidents/new/", "/action-items/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    response = client.post(f"/incidents/{incident.pk}/transition/", {"to_status": "investigating"})
    assert response.status_code == 302 and Incident.objects.get(pk=incident.pk).status == "reported"


def test_a_viewer_cannot_file_or_change_anything(web_as, viewer, incident):
    client = web_as(viewer)
    assert client.get("/incidents/new/").status_code == 403
    assert client.post(f"/incidents/{incident.pk}/transition/", {"to_status": "investigating"}).status_code == 403
    assert client.post(f"/incidents/{incident.pk}/notes/", {"text": "hi"}).status_code == 403
    d = LayerDiagnosis.objects.get(incident=incident, layer="model")
    assert client.post(f"/diagnoses/{d.pk}/verdict/", {"status": "ruled_out"}).status_code == 403
    assert Incident.objects.get(pk=incident.pk).status == "reported"
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="action-item-form"' not in page and 'name="to_status"' not in page
    assert "This needs the responder role (action_item.edit)." in page  # the disabled control says why


def test_filing_an_incident_through_the_form(web_as, responder, production):
    client = web_as(responder)
    page = client.get("/incidents/new/").content.decode()
    assert "SEV1" in page and "Critical" in page
    response = client.post(
        "/incidents/new/",
        {"title": "Answers cite wrong articles", "severity": "sev2", "feature_environments": [production.pk]},
    )
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    assert incident.layer_diagnoses.filter(owner__isnull=False).count() == 4


def test_a_bad_form_shows_errors_and_stores_nothing(web_as, responder, production):
    response = web_as(responder).post(
        "/incidents/new/",
        {
            "title": "",
            "severity": "sev7",
            "feature_environments": [production.pk],
            "impact_started_at": "2999-01-01T00:00",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200 and "errorlist" in page
    assert not Incident.objects.exists()
    response = web_as(responder).post(
        "/incidents/new/",
        {
            "title": "Impact after detection",
            "severity": "sev3",
            "feature_environments": [production.pk],
            "impact_started_at": "2026-01-02T10:00",
            "detected_at": "2026-01-01T10:00",
        },
    )
    assert "Impact cannot start after it was detected" in response.content.decode()
    assert not Incident.objects.exists()


def test_the_incident_page_shows_board_what_changed_suggestions_and_timeline(web_as, viewer, incident):
    page = web_as(viewer).get(f"/incidents/{incident.pk}/").content.decode()
    for text in (
        "Four-layer diagnosis",
        "Data / retrieval",
        "What changed",
        "embedding model changed",
        "+Be brief.",
        "Likely layers",
        "Timeline",
        "every 10s",
        "Mo",
        "Pat",
        "Similar past incidents",
    ):
        assert text in page, text


def test_the_timeline_fragment_is_a_fragment_and_filters(web_as, viewer, incident):
    client = web_as(viewer)
    fragment = client.get(f"/incidents/{incident.pk}/timeline/?kind=deployment", **HX).content.decode()
    assert "<html" not in fragment and 'id="timeline"' in fragment
    assert "deployed release #2" in fragment and "opened by" not in fragment
    entries = client.get(f"/incidents/{incident.pk}/timeline/?part=entries&kind=opened", **HX).content.decode()
    assert entries.lstrip().startswith('<ul class="timeline" id="timeline-entries"') and "opened by" in entries
    assert "every 10s" in entries and "Add a note" not in entries
    full = client.get(f"/incidents/{incident.pk}/timeline/").content.decode()
    assert "<html" in full and "opened by" in full


def test_multi_day_incidents_show_dates_on_the_timeline(web_as, viewer, incident):
    page = web_as(viewer).get(f"/incidents/{incident.pk}/timeline/?kind=opened", **HX).content.decode()
    assert timezone.now().strftime("%b %d") in page


def test_the_what_changed_fragment_honours_days(web_as, viewer, incident):
    fragment = web_as(viewer).get(f"/incidents/{incident.pk}/?panel=what-changed&days=30", **HX).content.decode()
    assert "<html" not in fragment and 'id="what-changed"' in fragment and '<option value="30" selected>' in fragment


def test_adding_a_note_with_htmx_returns_the_timeline(web_as, responder, incident):
    fragment = web_as(responder).post(f"/incidents/{incident.pk}/notes/", {"text": "Rolled back staging"}, **HX)
    assert "<html" not in fragment.content.decode() and "Rolled back staging" in fragment.content.decode()
    event = TimelineEvent.objects.get(kind="note")
    web_as(responder).post(f"/timeline-events/{event.pk}/edit/", {"text": "Rolled back production"})
    event.refresh_from_db()
    assert event.text == "Rolled back production" and event.edited_at


def test_status_controls_move_the_incident_and_refuse_with_a_message(web_as, responder, incident):
    client = web_as(responder)
    client.post(f"/incidents/{incident.pk}/transition/", {"to_status": "investigating"})
    assert Incident.objects.get(pk=incident.pk).status == "investigating"
    LayerDiagnosis.objects.filter(incident=incident, layer="model").update(owner=None)
    response = client.post(f"/incidents/{incident.pk}/transition/", {"to_status": "identified"}, follow=True)
    assert "unowned: Model" in response.content.decode()
    assert Incident.objects.get(pk=incident.pk).status == "investigating"


def test_board_forms_assign_rule_on_and_collect_evidence(web_as, responder, incident, layer_owners):
    client = web_as(responder)
    d = LayerDiagnosis.objects.get(incident=incident, layer="model")
    response = client.post(f"/diagnoses/{d.pk}/verdict/", {"status": "root_cause"}, follow=True)
    assert "sole root cause" in response.content.decode()
    client.post(f"/diagnoses/{d.pk}/evidence/", {"text": "fingerprint unchanged"})
    client.post(f"/diagnoses/{d.pk}/checklist/", {"key": "silent_update", "answer": "No: same fingerprint"})
    response = client.post(f"/diagnoses/{d.pk}/assign/", {"owner": layer_owners["data"].pk, "reason": ""}, follow=True)
    assert "Say why" in response.content.decode()
    client.post(
        f"/diagnoses/{d.pk}/assign/", {"owner": layer_owners["data"].pk, "reason": "Dee knows the serving stack"}
    )
    d.refresh_from_db()
    assert d.owner == layer_owners["data"] and d.evidence.count() == 1
    assert d.checklist["silent_update"]["answer"] == "No: same fingerprint"


def test_action_items_from_the_page_and_the_board(web_as, responder, incident, layer_owners):
    client = web_as(responder)
    due = (timezone.localdate() + dt.timedelta(days=5)).isoformat()
    response = client.post(
        f"/incidents/{incident.pk}/action-items/", {"title": "x", "layer": "data", "due_date": due}, follow=True
    )
    assert "owner" in response.content.decode() and not ActionItem.objects.exists()
    client.post(
        f"/incidents/{incident.pk}/action-items/",
        {
            "title": "Pin the encoder",
            "layer": "data",
            "owner": layer_owners["data"].pk,
            "due_date": due,
            "priority": "p1",
            "kind": "preventive",
        },
    )
    item = ActionItem.objects.get()
    response = client.post(f"/action-items/{item.pk}/status/", {"status": "wont_do"}, follow=True)
    assert "Say why" in response.content.decode()
    client.post(f"/action-items/{item.pk}/status/", {"status": "done"})
    item.refresh_from_db()
    assert item.status == "done" and item.completed_at
    assert "Pin the encoder" in client.get("/action-items/").content.decode()


def test_the_list_filters_searches_paginates_and_is_a_fragment_for_htmx(web_as, viewer, responder, production):
    for i in range(30):
        incident_open(
            actor=responder,
            title=f"Latency spike {i}",
            severity="sev3" if i % 2 else "sev1",
            feature_environments=[production],
        )
    client = web_as(viewer)
    page = client.get("/incidents/").content.decode()
    assert "25 incidents on this page" in page and "Latency spike 29" in page and "Latency spike 4<" not in page
    older = re.search(r'id="older" href="\?([^"]+)"', page).group(1).replace("&amp;", "&")
    second = client.get(f"/incidents/?{older}", **HX).content.decode()
    assert "<html" not in second and "5 incidents on this page" in second and "Latency spike 0<" in second
    assert "Latency spike 29" not in second and 'id="older"' not in second
    fragment = client.get("/incidents/?severity=sev1&q=spike", **HX).content.decode()
    assert "<html" not in fragment and "15 incidents on this page" in fragment
    assert "1 incident on this page" in client.get("/incidents/?q=Latency spike 17").content.decode()
    assert client.get("/incidents/?before=garbage").status_code == 200
    first = Incident.objects.order_by("pk").first()
    assert f"INC-{first.pk}" in client.get(f"/incidents/?q=inc-{first.pk}").content.decode()


def test_the_list_has_a_constant_number_of_queries(
    web_as, viewer, responder, production, django_assert_max_num_queries
):
    for i in range(25):
        incident_open(actor=responder, title=f"incident {i}", severity="sev3", feature_environments=[production])
    client = web_as(viewer)
    with django_assert_max_num_queries(8):
        client.get("/incidents/")
    with django_assert_max_num_queries(8):
        client.get("/incidents/?feature=support-assistant&status=reported", **HX)


def test_a_release_diff_is_attached_as_evidence_from_what_changed(web_as, responder, incident, deployed):
    client = web_as(responder)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Attach as data / retrieval evidence" in page
    data = LayerDiagnosis.objects.get(incident=incident, layer="data")
    r1, r2 = deployed
    client.post(
        f"/diagnoses/{data.pk}/evidence/",
        {"kind": "release_diff", "text": "index: embedding model changed", "release_from": r1.pk, "release_to": r2.pk},
    )
    evidence = data.evidence.get()
    assert evidence.kind == "release_diff" and evidence.data == {"release_from": r1.pk, "release_to": r2.pk}


def test_editing_details_from_the_page(web_as, responder, viewer, incident, layer_owners):
    client = web_as(responder)
    client.post(
        f"/incidents/{incident.pk}/edit/",
        {"title": incident.title, "severity": "sev1", "commander": layer_owners["model"].pk, "summary": "worse"},
    )
    incident.refresh_from_db()
    assert incident.severity == "sev1" and incident.commander == layer_owners["model"] and incident.summary == "worse"
    response = client.post(f"/incidents/{incident.pk}/edit/", {"title": "", "severity": "sev1"}, follow=True)
    assert "Not saved" in response.content.decode() and Incident.objects.get(pk=incident.pk).title
    assert web_as(viewer).post(f"/incidents/{incident.pk}/edit/", {"title": "x", "severity": "sev4"}).status_code == 403


def test_the_action_item_board_has_a_constant_number_of_queries(
    web_as, viewer, responder, incident, layer_owners, django_assert_max_num_queries
):
    from incidents.action_item_services import action_item_create

    for i in range(15):
        action_item_create(
            actor=responder,
            incident=incident,
            title=f"item {i}",
            owner=layer_owners["data"],
            due_date=timezone.localdate() + dt.timedelta(days=i - 5),
            backdate_reason="some are already overdue",
            layer="data",
        )
    client = web_as(viewer)
    with django_assert_max_num_queries(5):
        page = client.get("/action-items/").content.decode()
    assert page.count("(overdue)") == 5
    with django_assert_max_num_queries(5):
        page = client.get("/action-items/?overdue=1&owner=dee").content.decode()
    assert "item 14" not in page and "item 0" in page
