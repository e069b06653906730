from __future__ import annotations

from datetime import timedelta

import pytest

from rollouts.impact.services import impact_plan_build
from rollouts.judging.observations import observations_ingest
from rollouts.models import DependentWorkflow, ImpactWaiver
from rollouts.runs.services import ENGINE
from tests.rollouts.observation_support import T0, feature_with_releases, go_live, records_over
from tests.support.browser import launch, log_in, requires_chromium

PAGE = "/features/summarise/production/impact/"


@pytest.fixture
def planned(db, responder, team):
    feature, prod, _staging, (r1, r2, _r3) = feature_with_releases(actor=responder, team=team)
    go_live(actor=responder, environment=prod, release=r1, at=T0)
    go_live(actor=responder, environment=prod, release=r2, at=T0 + timedelta(hours=1))
    records = []
    for wf, tenant in (("invoice-parse", "acme"), ("triage", "globex")):
        records += records_over(
            feature, prod, r2, start=T0 + timedelta(hours=1), minutes=2, per_minute=3,
            workflow_id=wf, segment={"tenant": tenant},
        )  # fmt: skip
    observations_ingest(actor=responder, records=records)
    impact_plan_build(actor=responder, environment=prod, from_release=r2, to_release=r1)
    return prod, r1, r2


def test_viewer_sees_the_list_and_gate_without_controls(web_as, viewer, planned, django_assert_max_num_queries):
    client = web_as(viewer)
    with django_assert_max_num_queries(12):
        page = client.get(PAGE)
    html = page.content.decode()
    assert page.status_code == 200
    assert "invoice-parse" in html and "acme" in html
    assert "rollback blocked" in html
    assert 'name="status"' not in html
    assert 'id="impact-waive"' not in html


def test_page_query_count_does_not_grow_with_workflows(
    web_as, viewer, responder, planned, django_assert_max_num_queries
):
    from rollouts.impact.services import dependent_workflow_add

    prod, _, r2 = planned
    for i in range(15):
        dependent_workflow_add(actor=responder, environment=prod, release=r2, workflow_id=f"wf-{i}")
    client = web_as(viewer)
    with django_assert_max_num_queries(12):
        assert client.get(PAGE).status_code == 200


def test_anonymous_is_sent_to_login_and_unknown_environment_is_404(client, web_as, viewer, planned):
    assert client.get(PAGE).status_code == 302
    assert web_as(viewer).get("/features/summarise/moon/impact/").status_code == 404


def test_review_with_htmx_returns_the_list_fragment(web_as, responder, planned):
    workflow = DependentWorkflow.objects.get(workflow_id="triage")
    client = web_as(responder)
    url = f"/features/summarise/production/impact/{workflow.pk}/review/"
    response = client.post(url, {"status": "pinned", "note": "kept on #2", "scope": "release"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith("<section") or 'id="impact-list"' in html
    assert "Pinned" in html and "kept on #2" in html
    assert "1 dependent workflow(s) not reviewed" in html
    bad = client.post(url, {"status": "forgotten"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400
    assert "Must be one of" in bad.content.decode()
    workflow.refresh_from_db()
    assert workflow.status == "pinned"


def test_review_without_javascript_redirects_back(web_as, responder, viewer, planned):
    workflow = DependentWorkflow.objects.get(workflow_id="triage")
    url = f"/features/summarise/production/impact/{workflow.pk}/review/"
    assert web_as(viewer).post(url, {"status": "accepted"}).status_code == 403
    response = web_as(responder).post(url, {"status": "accepted"})
    assert (response.status_code, response["Location"]) == (302, PAGE)
    workflow.refresh_from_db()
    assert workflow.status == "accepted"


def test_adding_by_hand_validates_and_stores(web_as, responder, planned):
    _, _, r2 = planned
    client = web_as(responder)
    bad = client.post(PAGE + "add/", {"release": r2.pk, "workflow_id": "", "behaviour": "tone"})
    assert bad.status_code == 400
    assert "This field is required" in bad.content.decode()
    duplicate = client.post(PAGE + "add/", {"release": r2.pk, "workflow_id": "triage", "behaviour": "tone"})
    assert duplicate.status_code == 400
    assert DependentWorkflow.objects.count() == 2
    ok = client.post(
        PAGE + "add/",
        {"release": r2.pk, "workflow_id": "weekly-report", "behaviour": "output_format", "customer": "umbrella"},
    )
    assert ok.status_code == 302
    assert DependentWorkflow.objects.get(workflow_id="weekly-report").customer == "umbrella"


def test_only_approvers_waive_and_they_must_say_why(web_as, responder, approver, planned):
    _, _, r2 = planned
    assert 'id="impact-waive"' not in web_as(responder).get(PAGE).content.decode()
    assert web_as(responder).post(PAGE + "waive/", {"from_release": r2.pk, "reason": "now"}).status_code == 403
    client = web_as(approver)
    assert 'id="impact-waive"' in client.get(PAGE).content.decode()
    assert client.post(PAGE + "waive/", {"from_release": r2.pk, "reason": ""}).status_code == 400
    assert ImpactWaiver.objects.count() == 0
    assert client.post(PAGE + "waive/", {"from_release": r2.pk, "reason": "Sev1"}).status_code == 302
    assert "waived" in client.get(PAGE).content.decode()


@pytest.mark.browser
@requires_chromium
@pytest.mark.django_db(transaction=True)
def test_a_responder_reviews_a_workflow_in_the_browser(live_server, responder, team):
    from playwright.sync_api import sync_playwright

    feature, prod, _staging, (r1, r2, _r3) = feature_with_releases(actor=responder, team=team)
    go_live(actor=responder, environment=prod, release=r2, at=T0)
    observations_ingest(
        actor=responder,
        records=records_over(feature, prod, r2, start=T0, minutes=1, per_minute=2, workflow_id="triage"),
    )
    impact_plan_build(actor=responder, environment=prod, from_release=r2, to_release=r1)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        log_in(page, live_server, responder, next_path=PAGE)
        page.wait_for_url(f"**{PAGE}")
        assert page.locator("#impact-gate").inner_text().startswith("rollback blocked")
        page.fill("#impact-list input[name=note]", "told globex")
        page.click("#impact-list button[value=accepted]")
        page.wait_for_selector("text=told globex")
        assert "clear" in page.locator("#impact-gate").inner_text()
        browser.close()
    assert DependentWorkflow.objects.get(workflow_id="triage").status == "accepted"


def test_page_shows_the_follow_up_after_a_rollback(web_as, viewer, responder, planned):
    from rollouts.impact.services import impact_followup_start

    prod, r1, r2 = planned
    rolled_back_at = T0 + timedelta(hours=1, minutes=10)  # triage ran error-free on r2 in the half hour before
    impact_followup_start(
        actor=ENGINE,
        environment=prod,
        rolled_back_release=r2,
        to_release=r1,
        window_minutes=30,
        started_at=rolled_back_at,
    )
    feature = prod.feature
    observations_ingest(
        actor=responder,
        records=records_over(
            feature,
            prod,
            r1,
            start=rolled_back_at,
            minutes=1,
            per_minute=4,
            workflow_id="triage",
            error=lambda i: i < 2,
        ),
    )
    html = web_as(viewer).get(PAGE).content.decode()
    assert 'id="impact-followup"' in html
    assert "50% of 4" in html
    assert "worse" in html


def test_detecting_from_the_page_builds_the_plan_for_the_live_release(web_as, viewer, responder, planned):
    DependentWorkflow.objects.all().delete()
    assert web_as(viewer).post(PAGE + "plan/").status_code == 403
    client = web_as(responder)
    assert 'id="impact-plan"' in client.get(PAGE).content.decode()
    assert client.post(PAGE + "plan/").status_code == 302
    detected = DependentWorkflow.objects.order_by("workflow_id")
    assert [w.workflow_id for w in detected] == ["invoice-parse", "triage"]
    assert {w.release.number for w in detected} == {2}


def test_htmx_get_returns_only_the_list_fragment(web_as, viewer, planned):
    fragment = web_as(viewer).get(PAGE, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment
    assert 'id="impact-list"' in fragment and "invoice-parse" in fragment
