"""Bad or absurd input to incidents and action items: a 4xx with field messages, nothing stored, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.models import AuditEntry
from incidents.models import ActionItem, Incident

pytestmark = pytest.mark.django_db


def _item_payload(incident, **extra):
    return {
        "incident": incident.pk,
        "title": "Add the failing case to the eval set",
        "owner": "pia",
        "due_date": (timezone.localdate() + dt.timedelta(days=7)).isoformat(),
        "layer": "product",
        **extra,
    }


def test_patching_an_action_items_due_date_is_saved_and_audited(api_as, responder, incident):
    created = api_as(responder).post("/api/v1/action-items/", _item_payload(incident), format="json").json()
    later = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    response = api_as(responder).patch(
        f"/api/v1/action-items/{created['id']}/", {"due_date": later, "reason": "waiting on the vendor"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert ActionItem.objects.get(pk=created["id"]).due_date.isoformat() == later
    entry = AuditEntry.objects.filter(action="action_item.update").get()
    assert entry.after == {"due_date": later}


def test_an_action_item_due_in_the_past_needs_a_backdating_reason(api_as, responder, incident):
    client = api_as(responder)
    refused = client.post("/api/v1/action-items/", _item_payload(incident, due_date="2020-01-01"), format="json")
    assert refused.status_code == 400
    assert "2020-01-01 is in the past" in refused.json()["due_date"][0]
    assert not ActionItem.objects.exists()
    accepted = client.post(
        "/api/v1/action-items/",
        _item_payload(incident, due_date="2020-01-01", backdate_reason="recording the 2019 review's item"),
        format="json",
    )
    assert accepted.status_code == 201, accepted.content
    assert AuditEntry.objects.get(action="action_item.create").reason == "recording the 2019 review's item"
    # Moving an existing item's due date into the past needs the reason too; other edits of an overdue item do not.
    fresh = client.post("/api/v1/action-items/", _item_payload(incident, confirm_duplicate=True), format="json").json()
    moved = client.patch(
        f"/api/v1/action-items/{fresh['id']}/", {"due_date": "2021-05-05", "reason": "slipped"}, format="json"
    )
    assert moved.status_code == 400 and "due_date" in moved.json()
    renamed = client.patch(f"/api/v1/action-items/{accepted.json()['id']}/", {"title": "renamed"}, format="json")
    assert renamed.status_code == 200


def test_the_web_form_refuses_a_past_due_date_without_a_reason(web_as, responder, incident):
    client = web_as(responder)
    form = {"title": "Backfill", "layer": "data", "owner": "", "due_date": "2020-01-01", "priority": "p2"}
    form["owner"] = str(incident.layer_diagnoses.first().owner_id)
    form["kind"] = "corrective"
    page = client.post(f"/incidents/{incident.pk}/action-items/", form, follow=True).content.decode()
    assert "is in the past" in page and not ActionItem.objects.exists()
    client.post(f"/incidents/{incident.pk}/action-items/", {**form, "backdate_reason": "late entry"}, follow=True)
    assert ActionItem.objects.get().due_date == dt.date(2020, 1, 1)


def test_a_huge_incident_summary_is_refused_with_a_field_message(api_as, responder, production, settings):
    payload = {
        "title": "Slow answers",
        "severity": "sev3",
        "summary": "x" * 120_000,
        "feature_environments": ["support-assistant/production"],
    }
    response = api_as(responder).post("/api/v1/incidents/", payload, format="json")
    assert response.status_code == 400
    assert "REWIND_MAX_TEXT_CHARS" in response.json()["summary"][0]
    assert not Incident.objects.exists()


def test_the_web_form_refuses_a_huge_summary(web_as, responder, production):
    response = web_as(responder).post(
        "/incidents/new/",
        {"title": "Slow", "severity": "sev3", "summary": "x" * 120_000, "feature_environments": [production.pk]},
    )
    assert response.status_code in (200, 400)
    assert "at most 50000 characters" in response.content.decode().replace(",", "")
    assert not Incident.objects.exists()


def test_nul_nan_and_deep_json_are_refused_before_any_serializer(api_as, responder, incident):
    client = api_as(responder)
    nul = client.post(f"/api/v1/incidents/{incident.pk}/notes/", {"text": "a\x00b"}, format="json")
    assert nul.status_code == 400 and "NUL" in str(nul.json())
    nan = client.generic(
        "POST", "/api/v1/action-items/", '{"incident": 1, "latency": NaN}', content_type="application/json"
    )
    assert nan.status_code == 400 and "NaN" in str(nan.json())
    deep = client.generic(
        "POST", "/api/v1/change-events/", "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    assert deep.status_code == 400 and "nested deeper" in str(deep.json())


def test_a_post_without_the_trailing_slash_is_a_404_with_a_hint_even_under_debug(api_as, responder, incident, settings):
    settings.DEBUG = True
    client = api_as(responder)
    for path in ("/api/v1/action-items", f"/api/v1/incidents/{incident.pk}/notes"):
        response = client.post(path, {"text": "x"}, format="json")
        assert response.status_code == 404, path
        assert response.json()["hint"] == path + "/"
    assert client.get("/api/v1/action-items").status_code == 301  # a GET still redirects
