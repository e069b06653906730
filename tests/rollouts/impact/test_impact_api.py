from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import AuditEntry
from rollouts.impact.services import impact_followup_start, impact_plan_build
from rollouts.models import DependentWorkflow, ImpactWaiver
from rollouts.runs.services import ENGINE
from tests.rollouts.observation_support import T0, feature_with_releases, go_live, records_over

LIST = "/api/v1/dependent-workflows/"


@pytest.fixture
def planned(db, responder, team):
    """Release 2 is live in production with two workflows detected from observations; a rollback to 1 is planned."""
    from rollouts.judging.observations import observations_ingest

    feature, prod, staging, (r1, r2, _r3) = feature_with_releases(actor=responder, team=team)
    go_live(actor=responder, environment=prod, release=r1, at=T0)
    go_live(actor=responder, environment=prod, release=r2, at=T0 + timedelta(hours=1))
    records = []
    for wf, tenant in (("invoice-parse", "acme"), ("triage", "globex")):
        records += records_over(
            feature, prod, r2, start=T0 + timedelta(hours=1), minutes=3, per_minute=3,
            workflow_id=wf, segment={"tenant": tenant},
        )  # fmt: skip
    observations_ingest(actor=responder, records=records)
    impact_plan_build(actor=responder, environment=prod, from_release=r2, to_release=r1)
    return feature, prod, staging, r1, r2


def manual(prod, release, **extra):
    return {"environment": prod.pk, "release": release.pk, "workflow_id": "weekly-report", **extra}


def test_list_filters_by_feature_environment_release_and_status(api_as, viewer, planned, django_assert_max_num_queries):
    feature, _prod, _, _, r2 = planned
    client = api_as(viewer)
    with django_assert_max_num_queries(4):
        body = client.get(
            LIST, {"feature": feature.slug, "environment_name": "production", "release_number": 2}
        ).json()["results"]
    assert [w["workflow_id"] for w in body] == ["invoice-parse", "triage"]
    assert body[0]["customer"] == "acme"
    assert body[0]["detected_reasons"][0] == "traffic"
    assert client.get(LIST, {"status": "accepted"}).json()["count"] == 0
    assert client.get(LIST, {"release": r2.pk, "source": "manual"}).json()["count"] == 0


def test_list_query_count_does_not_grow_with_rows(api_as, viewer, responder, planned, django_assert_max_num_queries):
    _, prod, _, _, r2 = planned
    client = api_as(viewer)
    for i in range(10):
        client_r = api_as(responder)
        assert client_r.post(LIST, manual(prod, r2, workflow_id=f"wf-{i}"), format="json").status_code == 201
    with django_assert_max_num_queries(4):
        assert len(client.get(LIST).json()["results"]) == 12


def test_responder_adds_a_workflow_by_hand(api_as, responder, team, planned):
    _, prod, _, _, r2 = planned
    data = manual(
        prod,
        r2,
        name="Weekly ERP report",
        customer="umbrella",
        team=team.pk,
        behaviour="output_format",
        downstream_system="SAP import",
        contact="ops@umbrella.example",
        migration_path="Their parser accepts both formats from Dec 1",
        evidence="Ticket #4411",
    )
    response = api_as(responder).post(LIST, data, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["source"], body["status"], body["release_number"]) == ("manual", "pending", 2)
    assert AuditEntry.objects.filter(action="dependent_workflow.add", object_id=str(body["id"])).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"behaviour": "vibes"}, "behaviour"),
        ({"status": "accepted", "colour": "red"}, "colour"),
        ({"workflow_id": ""}, "workflow_id"),
        ({"release": 999999}, "release"),
        ({"environment": "production"}, "environment"),
    ],
)
def test_bad_workflow_input_is_refused_and_nothing_is_stored(api_as, responder, planned, change, field):
    _, prod, _, _, r2 = planned
    before = DependentWorkflow.objects.count()
    response = api_as(responder).post(LIST, {**manual(prod, r2), **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert DependentWorkflow.objects.count() == before


def test_a_release_of_another_feature_or_a_duplicate_is_refused(api_as, responder, team, planned):
    _, prod, _, _, r2 = planned
    _, _, _, (other,) = feature_with_releases(actor=responder, team=team, slug="classify", n=1)
    client = api_as(responder)
    assert client.post(LIST, manual(prod, other), format="json").status_code == 400
    duplicate = client.post(LIST, manual(prod, r2, workflow_id="triage"), format="json")
    assert duplicate.status_code == 400
    assert DependentWorkflow.objects.count() == 2


def test_patch_edits_details_but_not_where_the_workflow_lives(api_as, responder, planned):
    _, _prod, _, r1, _ = planned
    workflow = DependentWorkflow.objects.get(workflow_id="triage")
    client = api_as(responder)
    ok = client.patch(f"{LIST}{workflow.pk}/", {"behaviour": "tone", "contact": "cs@globex.example"}, format="json")
    assert ok.status_code == 200
    assert (ok.json()["behaviour"], ok.json()["contact"]) == ("tone", "cs@globex.example")
    moved = client.patch(f"{LIST}{workflow.pk}/", {"release": r1.pk}, format="json")
    assert moved.status_code == 400
    assert client.put(f"{LIST}{workflow.pk}/", {"behaviour": "tone"}, format="json").status_code == 405
    assert client.delete(f"{LIST}{workflow.pk}/").status_code == 405


def test_review_action_and_gate_endpoint(api_as, responder, planned):
    _, prod, _, _, r2 = planned
    client = api_as(responder)
    gate_url = "/api/v1/impact/gate"
    gate = client.get(gate_url, {"environment": prod.pk, "from_release": r2.pk}).json()
    assert gate["blocked"] and len(gate["pending"]) == 2
    for workflow in DependentWorkflow.objects.all():
        bad = client.post(f"{LIST}{workflow.pk}/review/", {"status": "ignored"}, format="json")
        assert bad.status_code == 400
        done = client.post(f"{LIST}{workflow.pk}/review/", {"status": "notified", "note": "emailed"}, format="json")
        assert done.status_code == 200
        assert (done.json()["status"], done.json()["reviewed_by"]) == ("notified", responder.username)
    gate = client.get(gate_url, {"environment": prod.pk, "from_release": r2.pk}).json()
    assert gate == {"blocked": False, "waived": False, "reason": "All 2 dependent workflow(s) reviewed.", "pending": []}
    assert client.get(gate_url, {"environment": prod.pk}).status_code == 400


def test_plan_action_detects_workflows(api_as, responder, planned):
    _, prod, _, r1, r2 = planned
    DependentWorkflow.objects.all().delete()
    response = api_as(responder).post(
        f"{LIST}plan/", {"environment": prod.pk, "from_release": r2.pk, "to_release": r1.pk}, format="json"
    )
    assert response.status_code == 200
    assert [w["workflow_id"] for w in response.json()] == ["invoice-parse", "triage"]


def test_waive_is_for_approvers_with_a_reason(api_as, responder, approver, planned):
    _, prod, _, _, r2 = planned
    url = "/api/v1/impact/waive"
    body = {"environment": prod.pk, "from_release": r2.pk, "reason": "Sev1: every answer is empty"}
    assert api_as(responder).post(url, body, format="json").status_code == 403
    assert api_as(approver).post(url, {**body, "reason": ""}, format="json").status_code == 400
    assert api_as(approver).post(url, {**body, "until": "forever"}, format="json").status_code == 400
    assert ImpactWaiver.objects.count() == 0
    response = api_as(approver).post(url, body, format="json")
    assert response.status_code == 201
    assert response.json()["actor"] == approver.username
    gate = api_as(responder).get("/api/v1/impact/gate", {"environment": prod.pk, "from_release": r2.pk}).json()
    assert (gate["blocked"], gate["waived"]) == (False, True)


def test_followup_endpoint(api_as, viewer, planned):
    _, prod, _, r1, r2 = planned
    followup = impact_followup_start(
        actor=ENGINE, environment=prod, rolled_back_release=r2, to_release=r1, window_minutes=60
    )
    body = api_as(viewer).get(f"/api/v1/impact/followups/{followup.pk}").json()
    assert [row["workflow_id"] for row in body["rows"]] == ["invoice-parse", "triage"]
    assert body["complete"] is False
    assert api_as(viewer).get("/api/v1/impact/followups/999999").status_code == 404


@pytest.mark.parametrize(
    ("who", "read", "add", "review", "waive"),
    [
        ("anonymous", 401, 401, 401, 401),
        ("viewer", 200, 403, 403, 403),
        ("responder", 200, 201, 200, 403),
        ("approver", 200, 201, 200, 201),
        ("admin_user", 200, 201, 200, 201),
    ],
)
def test_permission_matrix(api_as, request, planned, who, read, add, review, waive):
    _, prod, _, _, r2 = planned
    client = api_as(None if who == "anonymous" else request.getfixturevalue(who))
    workflow = DependentWorkflow.objects.get(workflow_id="triage")
    assert client.get(LIST).status_code == read
    assert client.get("/api/v1/impact/gate", {"environment": prod.pk, "from_release": r2.pk}).status_code == read
    assert client.post(LIST, manual(prod, r2), format="json").status_code == add
    assert client.post(f"{LIST}{workflow.pk}/review/", {"status": "accepted"}, format="json").status_code == review
    body = {"environment": prod.pk, "from_release": r2.pk, "reason": "emergency"}
    assert client.post("/api/v1/impact/waive", body, format="json").status_code == waive
