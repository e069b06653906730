from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from diagnostics.models import LayerDiagnosis
from incidents.models import ActionItem, ChangeEvent, Incident, Postmortem, TimelineEvent
from tests.conftest import api_client_for

ROLES = ["anonymous", "viewer", "responder", "approver", "admin_user"]


def client_for(request, role):
    return api_client_for(None if role == "anonymous" else request.getfixturevalue(role))


def open_payload(**extra):
    return {
        "title": "Invoice extractor JSON validity dropped",
        "severity": "sev2",
        "summary": "Parser errors on 8% of invoices",
        "feature_environments": ["support-assistant/production"],
        **extra,
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("viewer", 403), ("responder", 201), ("approver", 201), ("admin_user", 201)],
)
def test_who_may_open_an_incident_through_the_api(request, production, role, expected):
    response = client_for(request, role).post("/api/v1/incidents/", open_payload(), format="json")
    assert response.status_code == expected, response.content
    assert Incident.objects.exists() == (expected == 201)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("viewer", 200), ("responder", 200), ("approver", 200), ("admin_user", 200)],
)
def test_who_may_read_incidents(request, incident, role, expected):
    client = client_for(request, role)
    assert client.get("/api/v1/incidents/").status_code == expected
    assert client.get(f"/api/v1/incidents/{incident.pk}/").status_code == expected
    assert client.get(f"/api/v1/incidents/{incident.pk}/timeline/").status_code == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("viewer", 403), ("responder", 200), ("approver", 200), ("admin_user", 200)],
)
def test_who_may_move_an_incident(request, incident, role, expected):
    response = client_for(request, role).post(
        f"/api/v1/incidents/{incident.pk}/transition/", {"to_status": "investigating"}, format="json"
    )
    assert response.status_code == expected
    assert Incident.objects.get(pk=incident.pk).status == ("investigating" if expected == 200 else "reported")


def test_opening_through_the_api_fills_owners_and_says_source_api(api_as, responder, production, deployed):
    response = api_as(responder).post("/api/v1/incidents/", open_payload(), format="json")
    body = response.json()
    assert body["source"] == "api" and body["status"] == "reported" and body["reporter"] == "rafa"
    assert {d["layer"]: d["owner"] for d in body["layer_diagnoses"]} == {
        "model": "mo",
        "data": "dee",
        "prompt": "pat",
        "product": "pia",
    }
    assert body["linked_releases"] == [deployed[1].pk]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"severity": "sev0"}, "severity"),
        ({"title": ""}, "title"),
        ({"feature_environments": ["nope/production"]}, "feature_environments"),
        ({"feature_environments": []}, "feature_environments"),
        ({"commander": "nobody"}, "commander"),
        ({"status": "closed"}, "status"),
        ({"impact_started_at": "2999-01-01T00:00:00Z"}, "impact_started_at"),
        ({"detected_at": "yesterday"}, "detected_at"),
    ],
)
def test_bad_incident_input_is_a_400_with_field_messages_and_stores_nothing(
    api_as, responder, production, payload, field
):
    response = api_as(responder).post("/api/v1/incidents/", open_payload(**payload), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Incident.objects.exists() and not LayerDiagnosis.objects.exists()


def test_an_invalid_transition_is_a_400_naming_the_allowed_ones(api_as, responder, incident):
    response = api_as(responder).post(
        f"/api/v1/incidents/{incident.pk}/transition/", {"to_status": "resolved"}, format="json"
    )
    assert response.status_code == 400
    assert "allowed: Investigating, Cancelled" in response.json()["to_status"][0]


def test_notes_are_added_deduplicated_by_external_ref_and_editable(api_as, responder, viewer, incident):
    client = api_as(responder)
    url = f"/api/v1/incidents/{incident.pk}/notes/"
    first = client.post(url, {"text": "Pinned in Slack", "external_ref": "C1/1700.1"}, format="json").json()
    again = client.post(url, {"text": "Pinned in Slack", "external_ref": "C1/1700.1"}, format="json").json()
    assert first["id"] == again["id"]
    assert TimelineEvent.objects.filter(incident=incident, kind="note").count() == 1
    edited = client.patch(f"/api/v1/timeline-events/{first['id']}/", {"text": "Pinned (fixed typo)"}, format="json")
    assert edited.status_code == 200 and edited.json()["edited_at"]
    assert (
        api_as(viewer).patch(f"/api/v1/timeline-events/{first['id']}/", {"text": "x"}, format="json").status_code == 403
    )
    opened = TimelineEvent.objects.get(incident=incident, kind="opened")
    refused = client.patch(f"/api/v1/timeline-events/{opened.pk}/", {"text": "rewrite history"}, format="json")
    assert refused.status_code == 400 and "Only notes" in refused.json()["kind"][0]


def test_the_timeline_merges_deployments_and_filters_by_kind(api_as, viewer, incident):
    client = api_as(viewer)
    everything = client.get(f"/api/v1/incidents/{incident.pk}/timeline/").json()
    kinds = [e["kind"] for e in everything]
    assert "deployment" in kinds and "opened" in kinds
    only = client.get(f"/api/v1/incidents/{incident.pk}/timeline/?kind=deployment").json()
    assert {e["kind"] for e in only} == {"deployment"}


def test_what_changed_groups_release_diffs_by_layer_and_the_window_is_adjustable(api_as, viewer, incident):
    client = api_as(viewer)
    body = client.get(f"/api/v1/incidents/{incident.pk}/what-changed/").json()
    assert body["days"] == 14
    assert [i["title"] for i in body["layers"]["prompt"]] == ["prompt: prompt edited"]
    assert body["layers"]["data"][0]["title"] == "index: embedding model changed (index rebuilt)"
    assert any(line.startswith("+Be brief.") for line in body["layers"]["prompt"][0]["prompt_diff"])
    narrow = client.get(f"/api/v1/incidents/{incident.pk}/what-changed/?days=1").json()
    assert (
        narrow["days"] == 1
        and narrow["start"][:13] == (incident.impact_started_at - dt.timedelta(days=1)).isoformat()[:13]
    )
    assert client.get(f"/api/v1/incidents/{incident.pk}/what-changed/?days=junk").json()["days"] == 14


def test_change_events_are_posted_with_a_layer_and_show_in_what_changed(api_as, responder, viewer, incident):
    payload = {
        "layer": "product",
        "title": "Raised the thumbs-down alert threshold to 12%",
        "system": "grafana",
        "feature": "support-assistant",
        "occurred_at": (timezone.now() - dt.timedelta(days=3)).isoformat(),
    }
    assert api_as(viewer).post("/api/v1/change-events/", payload, format="json").status_code == 403
    response = api_as(responder).post("/api/v1/change-events/", payload, format="json")
    assert response.status_code == 201, response.content
    body = api_as(viewer).get(f"/api/v1/incidents/{incident.pk}/what-changed/").json()
    assert body["layers"]["product"][0]["title"] == payload["title"]
    bad = api_as(responder).post("/api/v1/change-events/", {**payload, "layer": "ui"}, format="json")
    assert bad.status_code == 400 and "layer" in bad.json()
    assert ChangeEvent.objects.count() == 1
    event_id = response.json()["id"]
    assert (
        api_as(responder).patch(f"/api/v1/change-events/{event_id}/", {"title": "x"}, format="json").status_code == 405
    )
    assert api_as(responder).delete(f"/api/v1/change-events/{event_id}/").status_code == 405


def test_action_items_through_the_api(api_as, responder, viewer, incident):
    due = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    payload = {
        "incident": incident.pk,
        "title": "Add the failing case to the regression eval set",
        "owner": "pia",
        "due_date": due,
        "layer": "product",
        "kind": "detective",
    }
    assert api_as(viewer).post("/api/v1/action-items/", payload, format="json").status_code == 403
    for bad, field in [({"owner": ["pia", "mo"]}, "owner"), ({"owner": ""}, "owner"), ({"due_date": None}, "due_date")]:
        response = api_as(responder).post("/api/v1/action-items/", {**payload, **bad}, format="json")
        assert response.status_code == 400 and field in response.json()
    missing = {k: v for k, v in payload.items() if k != "due_date"}
    assert "due_date" in api_as(responder).post("/api/v1/action-items/", missing, format="json").json()
    assert not ActionItem.objects.exists()
    created = api_as(responder).post("/api/v1/action-items/", payload, format="json")
    assert created.status_code == 201 and created.json()["owner"] == "pia"
    url = f"/api/v1/action-items/{created.json()['id']}/"
    refused = api_as(responder).patch(url, {"status": "wont_do"}, format="json")
    assert refused.status_code == 400 and "wont_do_reason" in refused.json()
    done = api_as(responder).patch(
        url, {"status": "wont_do", "wont_do_reason": "superseded by eval rework"}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "wont_do"


def test_overdue_is_derived_and_filterable(api_as, responder, incident):
    from incidents.action_item_services import action_item_create
    from tests.support.incident_world import make_person

    owner = make_person("olly")
    late = action_item_create(
        actor=responder,
        incident=incident,
        title="late",
        owner=owner,
        due_date=timezone.localdate() - dt.timedelta(days=1),
        backdate_reason="an item that is already overdue",
        layer="data",
    )
    action_item_create(
        actor=responder,
        incident=incident,
        title="fine",
        owner=owner,
        due_date=timezone.localdate() + dt.timedelta(days=1),
        layer="data",
    )
    body = api_as(responder).get("/api/v1/action-items/?overdue=true").json()
    assert [i["id"] for i in body["results"]] == [late.pk] and body["results"][0]["is_overdue"]


def test_the_postmortem_walk_through_the_api(api_as, responder, approver, incident):
    client = api_as(responder)
    for d in LayerDiagnosis.objects.filter(incident=incident):
        verdict = "root_cause" if d.layer == "data" else "ruled_out"
        response = client.post(
            f"/api/v1/layer-diagnoses/{d.pk}/verdict/", {"status": verdict, "evidence_note": "checked"}, format="json"
        )
        assert response.status_code == 200, response.content
    started = client.post(f"/api/v1/postmortems/start/{incident.pk}/")
    assert started.status_code == 201
    pm = started.json()["id"]
    client.patch(
        f"/api/v1/postmortems/{pm}/", {"summary": "Retrieval broke", "root_cause": "Encoder mismatch"}, format="json"
    )
    assert client.patch(f"/api/v1/postmortems/{pm}/", {"verdict": "x"}, format="json").status_code == 400
    assert client.post(f"/api/v1/postmortems/{pm}/submit/").status_code == 200
    assert client.post(f"/api/v1/postmortems/{pm}/publish/").status_code == 403
    published = api_as(approver).post(f"/api/v1/postmortems/{pm}/publish/")
    assert published.status_code == 201 and published.json()["number"] == 1
    markdown = client.get(f"/api/v1/postmortems/{pm}/markdown/")
    assert markdown["Content-Type"].startswith("text/markdown")
    assert "## Root cause\n\nEncoder mismatch" in markdown.content.decode()
    # Editing a published postmortem makes a new draft revision; the published one is untouched.
    client.patch(f"/api/v1/postmortems/{pm}/", {"root_cause": "Encoder mismatch and stale eval set"}, format="json")
    assert Postmortem.objects.get(pk=pm).status == "draft"
    assert "stale eval set" not in client.get(f"/api/v1/postmortems/{pm}/markdown/?revision=1").content.decode()
    assert client.get(f"/api/v1/postmortems/{pm}/markdown/?revision=9").status_code == 404


def test_layer_diagnosis_actions_and_permissions(api_as, responder, viewer, incident):
    d = LayerDiagnosis.objects.get(incident=incident, layer="prompt")
    url = f"/api/v1/layer-diagnoses/{d.pk}/"
    assert api_as(viewer).post(url + "evidence/", {"text": "x"}, format="json").status_code == 403
    assert api_as(responder).post(url + "evidence/", {"text": "", "url": ""}, format="json").status_code == 400
    assert (
        api_as(responder).post(url + "evidence/", {"url": "https://grafana.example/d/1"}, format="json").status_code
        == 201
    )
    bad = api_as(responder).post(url + "assign-owner/", {"owner": "mo"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()
    ok = api_as(responder).post(url + "assign-owner/", {"owner": "mo", "reason": "Pat is out"}, format="json")
    assert ok.status_code == 200 and ok.json()["assignments"][-1] == {
        **ok.json()["assignments"][-1],
        "from_owner": "pat",
        "to_owner": "mo",
    }
    answer = api_as(responder).post(
        url + "checklist/", {"key": "prompt_edited", "answer": "Yes, #2 shortened it"}, format="json"
    )
    assert answer.status_code == 200
    assert (
        next(c for c in answer.json()["checklist"] if c["key"] == "prompt_edited")["answer"] == "Yes, #2 shortened it"
    )
    wrong = api_as(responder).post(url + "checklist/", {"key": "quantization", "answer": "no"}, format="json")
    assert wrong.status_code == 400


def test_layer_suggestions_rank_the_changed_layers_with_reasons(api_as, viewer, incident):
    ranked = api_as(viewer).get(f"/api/v1/incidents/{incident.pk}/layer-suggestions/").json()
    assert {ranked[0]["layer"], ranked[1]["layer"]} == {"prompt", "data"}
    assert any("embedding model changed" in r for r in next(s for s in ranked if s["layer"] == "data")["reasons"])


def test_ownership_map_needs_an_approver(api_as, responder, approver, feature):
    payload = {"feature": "support-assistant", "layer": "model", "owner": "ana"}
    assert api_as(responder).post("/api/v1/ownership/", payload, format="json").status_code == 403
    assert api_as(approver).post("/api/v1/ownership/", payload, format="json").status_code == 201
    assert feature.layer_owners.get(layer="model").owner.username == "ana"


def test_the_incident_list_api_has_a_constant_number_of_queries(
    api_as, viewer, responder, production, django_assert_max_num_queries
):
    from incidents.services import incident_open

    for i in range(12):
        incident_open(actor=responder, title=f"incident {i}", severity="sev3", feature_environments=[production])
    client = api_as(viewer)
    with django_assert_max_num_queries(6):
        body = client.get("/api/v1/incidents/?limit=5").json()
    assert len(body["results"]) == 5 and body["next"]
    with django_assert_max_num_queries(6):
        older = client.get(body["next"]).json()
    assert len(older["results"]) == 5 and not {i["id"] for i in older["results"]} & {i["id"] for i in body["results"]}


def test_editing_incident_details_is_audited_and_on_the_timeline_but_not_an_editable_note(api_as, responder, incident):
    response = api_as(responder).patch(
        f"/api/v1/incidents/{incident.pk}/", {"severity": "sev1", "commander": "pat"}, format="json"
    )
    assert (
        response.status_code == 200 and response.json()["severity"] == "sev1" and response.json()["commander"] == "pat"
    )
    event = TimelineEvent.objects.get(incident=incident, kind="edit")
    assert "severity: sev2 → sev1" in event.text and not event.is_editable
    bad = api_as(responder).patch(f"/api/v1/incidents/{incident.pk}/", {"status": "closed"}, format="json")
    assert bad.status_code == 400 and Incident.objects.get(pk=incident.pk).status == "reported"


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("viewer", 403), ("responder", 403), ("approver", 201), ("admin_user", 201)],
)
def test_who_may_publish_a_postmortem(request, incident, responder, role, expected):
    from diagnostics.services import layer_set_verdict
    from incidents.postmortem_services import postmortem_start, postmortem_submit, postmortem_update

    for d in LayerDiagnosis.objects.filter(incident=incident):
        layer_set_verdict(
            actor=responder,
            diagnosis=d,
            status="contributing" if d.layer == "prompt" else "ruled_out",
            evidence_note="ok",
        )
    postmortem = postmortem_start(actor=responder, incident=incident)
    postmortem_update(actor=responder, postmortem=postmortem, summary="s", root_cause="r")
    postmortem_submit(actor=responder, postmortem=postmortem)
    response = client_for(request, role).post(f"/api/v1/postmortems/{postmortem.pk}/publish/")
    assert response.status_code == expected
    assert Postmortem.objects.get(pk=postmortem.pk).revisions.exists() == (expected == 201)


def test_publishing_with_blockers_lists_every_problem(api_as, approver, responder, incident):
    from incidents.postmortem_services import postmortem_start, postmortem_submit

    postmortem = postmortem_start(actor=responder, incident=incident)
    postmortem_submit(actor=responder, postmortem=postmortem)
    response = api_as(approver).post(f"/api/v1/postmortems/{postmortem.pk}/publish/")
    problems = response.json()["postmortem"]
    assert response.status_code == 400 and len(problems) == 5
    assert "The Model layer has no verdict (ruled out, contributing or root cause)." in problems
