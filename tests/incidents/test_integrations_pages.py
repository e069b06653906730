"""Admin pages and API for alert sources, routing rules and change-event targets, with what each received or sent
and why."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from incidents.alerts.auth import secret_hash
from incidents.alerts.services import alert_route_create, alert_source_create
from incidents.models import AlertRoute, AlertSource
from rollouts.runs.change_events.models import ChangeEventTarget
from tests.incidents.alert_payloads import alertmanager, post

SECRET = "page-test-alert-secret"


@pytest.fixture
def source(admin_user, production, deployed):
    source, _ = alert_source_create(
        actor=admin_user, slug="prom", name="Prometheus", kind="alertmanager", secret=SECRET
    )
    alert_route_create(
        actor=admin_user, source=source, matchers={"feature": "support-assistant"}, environment=production
    )
    return source


def test_only_admins_see_the_integrations_pages(web_as, client, responder, approver, admin_user, source):
    assert client.get("/integrations/").status_code == 302  # to login
    assert web_as(responder).get("/integrations/").status_code == 403
    assert web_as(approver).get("/integrations/sources/prom/").status_code == 403
    page = web_as(admin_user).get("/integrations/")
    assert page.status_code == 200 and b"prom" in page.content


def test_the_list_page_costs_a_fixed_number_of_queries(web_as, admin_user, production, django_assert_max_num_queries):
    for i in range(6):
        alert_source_create(actor=admin_user, slug=f"s{i}", name=f"S{i}", kind="grafana", environment=production)
    c = web_as(admin_user)
    with django_assert_max_num_queries(12):
        assert c.get("/integrations/").status_code == 200


def test_an_admin_adds_a_source_and_sees_its_secret_once(web_as, admin_user, production):
    c = web_as(admin_user)
    response = c.post(
        "/integrations/sources/new/",
        {"slug": "graf", "name": "Grafana", "kind": "grafana", "environment": production.pk, "severity": "sev2"},
    )
    assert response.status_code == 200
    source = AlertSource.objects.get(slug="graf")
    shown = response.context["secret"]
    assert shown.encode() in response.content
    assert source.secret_hash == secret_hash(shown) and shown not in source.secret_hash
    assert b"/hooks/grafana/graf" in response.content
    assert shown.encode() not in c.get("/integrations/sources/graf/").content
    assert AuditEntry.objects.filter(action="alert_source.create", object_id=str(source.pk)).exists()


def test_a_pagerduty_source_needs_its_signing_secret(web_as, admin_user):
    response = web_as(admin_user).post(
        "/integrations/sources/new/", {"slug": "pd", "kind": "pagerduty", "severity": "sev3"}
    )
    assert response.status_code == 200
    assert "signing secret" in response.context["form"].errors["secret"][0]
    assert not AlertSource.objects.exists()


def test_routing_rules_are_added_and_removed_from_the_source_page(web_as, admin_user, source, production):
    c = web_as(admin_user)
    bad = c.post(
        "/integrations/sources/prom/routes/",
        {"matchers": "no-equals-sign", "environment": production.pk, "action": "open"},
    )
    assert bad.status_code == 400 and b"is not label=value" in bad.content
    ok = c.post(
        "/integrations/sources/prom/routes/",
        {"matchers": "team=search\nseverity=page", "environment": production.pk, "action": "open"},
    )
    assert ok.status_code == 302
    route = AlertRoute.objects.get(matchers={"team": "search", "severity": "page"})
    assert c.post(f"/integrations/routes/{route.pk}/delete/").status_code == 302
    assert not AlertRoute.objects.filter(pk=route.pk).exists()


def test_the_source_page_says_why_each_notification_was_accepted_deduplicated_or_refused(
    client, web_as, admin_user, source
):
    post(client, "alertmanager", "prom", alertmanager(), secret=SECRET)
    post(client, "alertmanager", "prom", alertmanager(), secret=SECRET)
    post(client, "alertmanager", "prom", alertmanager(), secret="wrong-secret-value")
    post(client, "alertmanager", "prom", {"version": "4"}, secret=SECRET)
    c = web_as(admin_user)
    page = c.get("/integrations/sources/prom/").content.decode()
    assert "Opened an incident" in page and "De-duplicated onto its incident" in page
    assert "The bearer secret does not match" in page and "groupKey is required" in page
    fragment = c.get("/integrations/sources/prom/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'id="source-log"' in fragment


def test_an_admin_adds_a_change_event_target_and_sees_its_deliveries(web_as, admin_user, production, deployed):
    c = web_as(admin_user)
    response = c.post(
        "/integrations/targets/new/",
        {"name": "PD", "url": "https://events.pagerduty.com/v2/change/enqueue", "format": "pagerduty"},
    )
    assert response.status_code == 200 and "routing" in str(response.context["form"].errors)
    response = c.post(
        "/integrations/targets/new/",
        {
            "name": "PD",
            "url": "https://events.pagerduty.com/v2/change/enqueue",
            "format": "pagerduty",
            "routing_key": "K",
        },
    )
    target = ChangeEventTarget.objects.get()
    assert response.context["secret"] == target.secret
    from rollouts.registry import services as rollouts

    rollouts.deployment_record(actor=admin_user, environment=production, release=deployed[0])
    page = c.get(f"/integrations/targets/{target.pk}/").content.decode()
    assert "rolled back to release #1" in page and "queued" in page


def test_the_api_manages_sources_routes_and_targets_for_admins_only(api_as, admin_user, responder, production):
    assert api_as(responder).get("/api/v1/alert-sources/").status_code == 403
    assert api_as(None).get("/api/v1/alert-sources/").status_code in (401, 403)
    api = api_as(admin_user)
    created = api.post(
        "/api/v1/alert-sources/",
        {"slug": "am", "kind": "alertmanager", "environment": "support-assistant/production"},
        format="json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert created.json()["hook_path"] == "/hooks/alertmanager/am"
    assert "secret" not in api.get("/api/v1/alert-sources/am/").json()
    bad = api.post("/api/v1/alert-sources/", {"slug": "pd", "kind": "pagerduty", "colour": "red"}, format="json")
    assert bad.status_code == 400 and "colour" in bad.json()
    no_secret = api.post("/api/v1/alert-sources/", {"slug": "pd", "kind": "pagerduty"}, format="json")
    assert no_secret.status_code == 400 and "secret" in no_secret.json()
    route = api.post(
        "/api/v1/alert-routes/",
        {"source": "am", "matchers": {"feature": "support-assistant"}, "environment": "support-assistant/production"},
        format="json",
    )
    assert route.status_code == 201, route.content
    unknown_env = api.post(
        "/api/v1/alert-routes/", {"source": "am", "environment": "support-assistant/mars"}, format="json"
    )
    assert unknown_env.status_code == 400
    rotated = api.post("/api/v1/alert-sources/am/rotate-secret/", {}, format="json")
    assert rotated.status_code == 200 and rotated.json()["secret"] != secret
    assert api.patch("/api/v1/alert-sources/am/", {"severity": "sev1"}, format="json").json()["severity"] == "sev1"
    target = api.post(
        "/api/v1/change-event-targets/",
        {"name": "sink", "url": "https://cd.example/events", "format": "cdevents"},
        format="json",
    )
    assert target.status_code == 201 and target.json()["secret"]
    assert api.get("/api/v1/change-event-deliveries/").status_code == 200
    assert api.get("/api/v1/alert-notifications/").status_code == 200
    refused = api_as(responder).post(
        "/api/v1/change-event-targets/",
        {"name": "other", "url": "https://cd.example/other", "format": "cdevents"},
        format="json",
    )
    assert refused.status_code == 403 and "admin role" in refused.json()["detail"]
    assert ChangeEventTarget.objects.count() == 1
