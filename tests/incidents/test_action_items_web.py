"""Action items in place on the incident page: add with a confirmation, duplicates confirmed, edit owner and due
date (with a reason), and the owner may always update their own item."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.models import AuditEntry
from incidents.action_item_services import action_item_create
from incidents.models import ActionItem

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _due(days: int = 7) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def _add(client, incident, owner, title="Pin the query encoder", **extra):
    body = {
        "title": title,
        "layer": "data",
        "owner": owner.pk,
        "due_date": _due(),
        "priority": "p2",
        "kind": "corrective",
        **extra,
    }
    return client.post(f"/incidents/{incident.pk}/action-items/", body, **HX)


@pytest.fixture
def item(responder, incident, viewer):
    return action_item_create(
        actor=responder,
        incident=incident,
        title="Add the case to the eval set",
        owner=viewer,
        due_date=timezone.localdate() + dt.timedelta(days=3),
        layer="data",
    )


def test_adding_an_item_confirms_it_in_the_fragment(web_as, responder, incident, layer_owners):
    response = _add(web_as(responder), incident, layer_owners["data"])
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f"Added “Pin the query encoder” for {layer_owners['data']}, due {_due()}." in html
    assert ActionItem.objects.filter(incident=incident).count() == 1


def test_a_duplicate_title_asks_for_confirmation_and_keeps_what_was_typed(web_as, responder, incident, layer_owners):
    client = web_as(responder)
    _add(client, incident, layer_owners["data"])
    html = _add(client, incident, layer_owners["data"], title="pin the QUERY encoder ").content.decode()
    assert "already has the action item “Pin the query encoder”" in html and "Confirm and add" in html
    assert 'value="pin the QUERY encoder "' in html  # what was typed is still in the box
    assert ActionItem.objects.filter(incident=incident).count() == 1
    _add(client, incident, layer_owners["data"], title="pin the QUERY encoder", confirm_duplicate="on")
    assert ActionItem.objects.filter(incident=incident).count() == 2


def test_a_refused_add_without_javascript_shows_the_page_with_the_form_filled(web_as, responder, incident):
    response = web_as(responder).post(
        f"/incidents/{incident.pk}/action-items/", {"title": "Write the runbook", "layer": "data", "due_date": _due()}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="Write the runbook"' in html and 'id="action-item-errors"' in html and "diagnosis-board" in html


def test_edit_in_place_moves_the_due_date_only_with_a_reason_and_audits_it(web_as, responder, item, layer_owners):
    client = web_as(responder)
    form = client.get(f"/action-items/{item.pk}/edit/", **HX).content.decode()
    assert "<html" not in form and f'id="action-item-{item.pk}"' in form and 'name="reason"' in form
    body = {
        "title": item.title,
        "owner": layer_owners["data"].pk,
        "due_date": _due(14),
        "priority": "p2",
        "status": "open",
        "wont_do_reason": "",
    }
    refused = client.post(f"/action-items/{item.pk}/edit/", body, **HX).content.decode()
    assert "Say why the due date moves." in refused and 'name="due_date"' in refused
    item.refresh_from_db()
    assert item.due_date == timezone.localdate() + dt.timedelta(days=3)
    saved = client.post(f"/action-items/{item.pk}/edit/", {**body, "reason": "waits for the index rebuild"}, **HX)
    html = saved.content.decode()
    assert "<html" not in html and _due(14) in html and str(layer_owners["data"]) in html
    item.refresh_from_db()
    assert item.owner == layer_owners["data"] and item.due_date.isoformat() == _due(14)
    entry = AuditEntry.objects.filter(action="action_item.update", object_id=str(item.pk)).get()
    assert entry.reason == "waits for the index rebuild"
    assert entry.before["due_date"] == (timezone.localdate() + dt.timedelta(days=3)).isoformat()


def test_a_viewer_who_owns_an_item_may_update_it_on_every_door(web_as, api_as, viewer, item):
    page = web_as(viewer).get(f"/incidents/{item.incident_id}/").content.decode()
    assert f'hx-get="/action-items/{item.pk}/edit/"' in page
    response = web_as(viewer).post(f"/action-items/{item.pk}/status/", {"status": "in_progress"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "in_progress"
    response = api_as(viewer).patch(f"/api/v1/action-items/{item.pk}/", {"status": "done"})
    assert response.status_code == 200, response.json()
    item.refresh_from_db()
    assert item.status == "done"


def test_another_viewer_is_refused_with_the_reason(web_as, api_as, item):
    from core.models import Role
    from tests.support.incident_world import make_person

    other = make_person("otto", Role.VIEWER)
    page = web_as(other).get(f"/incidents/{item.incident_id}/").content.decode()
    assert "This needs the responder role (action_item.edit), or being its owner." in page
    response = web_as(other).post(f"/action-items/{item.pk}/status/", {"status": "done"})
    assert response.status_code == 403
    assert "This needs the responder role (action_item.edit), or being its owner." in response.content.decode()
    response = api_as(other).patch(f"/api/v1/action-items/{item.pk}/", {"status": "done"})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == "open"
