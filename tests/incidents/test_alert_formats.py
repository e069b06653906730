"""Grafana, PagerDuty (signed) and generic JSON notifications in each sender's documented shape; a bad or missing
secret or signature, and a malformed body, are refused with nothing stored."""

from __future__ import annotations

import json

import pytest

from incidents.alerts.services import alert_route_create, alert_source_create
from incidents.models import Alert, AlertGroup, AlertNotification, AlertRefusal, Incident, TimelineEvent
from tests.incidents.alert_payloads import alertmanager, grafana, pagerduty, post, post_signed

BEARER = "grafana-contact-point-secret"
PD_SECRET = "pagerduty-signing-secret-from-subscription"


@pytest.fixture
def sources(admin_user, production, deployed):
    grafana_source, _ = alert_source_create(
        actor=admin_user, slug="graf", name="Grafana", kind="grafana", secret=BEARER
    )
    alert_route_create(
        actor=admin_user, source=grafana_source, matchers={"feature": "support-assistant"}, environment=production
    )
    pd, _ = alert_source_create(
        actor=admin_user, slug="pd", name="PagerDuty", kind="pagerduty", secret=PD_SECRET, environment=production
    )
    generic, _ = alert_source_create(
        actor=admin_user,
        slug="evals",
        name="Eval runner",
        kind="generic",
        secret=BEARER,
        environment=production,
        severity="sev3",
        field_mapping={
            "fingerprint": "check.id",
            "status": "check.state",
            "title": "check.name",
            "labels": "check.tags",
            "starts_at": "check.since",
            "generator_url": "check.link",
        },
    )
    return grafana_source, pd, generic


def nothing_stored() -> bool:
    return not (
        Incident.objects.exists()
        or AlertNotification.objects.exists()
        or Alert.objects.exists()
        or AlertGroup.objects.exists()
        or TimelineEvent.objects.exists()
    )


def test_grafana_alert_opens_then_resolves(client, sources):
    assert post(client, "grafana", "graf", grafana(), secret=BEARER).json()["outcome"] == "opened"
    incident = Incident.objects.get()
    assert incident.title == "AnswerQualityDrop: Answer quality score fell below 0.7"
    alert = Alert.objects.get()
    assert alert.fingerprint == "9b3e1a7c55d2f0e4"
    assert alert.generator_url == "https://grafana.example/alerting/grafana/abc123/view"
    assert post(client, "grafana", "graf", grafana(status="resolved"), secret=BEARER).json()["outcome"] == "resolved"
    assert Incident.objects.count() == 1


def test_pagerduty_signed_event_opens_and_resolves(client, sources):
    response = post_signed(client, "pd", pagerduty(), PD_SECRET)
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert incident.title == "Support assistant error spike"
    assert Alert.objects.get().labels == {
        "alertname": "Support assistant error spike",
        "service": "support-assistant-api",
        "urgency": "high",
        "priority": "P1",
    }
    # Acknowledgement says nothing about firing: logged, no new incident.
    assert post_signed(client, "pd", pagerduty(event_type="incident.acknowledged"), PD_SECRET).json()["outcome"] == (
        "ignored"
    )
    assert post_signed(client, "pd", pagerduty(event_type="incident.resolved"), PD_SECRET).json()["outcome"] == (
        "resolved"
    )
    assert Incident.objects.count() == 1


def test_pagerduty_accepts_any_of_several_signatures_during_rotation(client, sources):
    raw = json.dumps(pagerduty()).encode()
    from incidents.alerts.auth import pagerduty_signature

    header = "v1=" + "0" * 64 + "," + pagerduty_signature(PD_SECRET, raw)
    assert post(client, "pagerduty", "pd", raw, signature=header).status_code == 200


def test_generic_json_is_read_through_the_field_mapping(client, sources):
    body = {
        "check": {
            "id": "eval-refusals-prod",
            "state": "failing",
            "name": "Refusal eval below threshold",
            "tags": {"suite": "refusals", "model": "gpt-4o"},
            "since": "2026-11-30T08:00:00Z",
            "link": "https://evals.example/runs/881",
        }
    }
    assert post(client, "generic", "evals", body, secret=BEARER).json()["outcome"] == "opened"
    alert = Alert.objects.get()
    assert (alert.fingerprint, alert.name, alert.labels["suite"]) == (
        "eval-refusals-prod",
        "Refusal eval below threshold",
        "refusals",
    )
    body["check"]["state"] = "ok"
    assert post(client, "generic", "evals", body, secret=BEARER).json()["outcome"] == "resolved"


@pytest.mark.parametrize(
    ("kind", "slug", "secret", "why"),
    [
        ("grafana", "graf", None, "Missing Authorization"),
        ("grafana", "graf", "not-the-secret", "does not match"),
        ("generic", "evals", "x" * 40, "does not match"),
    ],
)
def test_a_bad_or_missing_bearer_secret_is_refused_and_nothing_stored(client, sources, kind, slug, secret, why):
    body = grafana() if kind == "grafana" else {"check": {"id": "x"}}
    response = post(client, kind, slug, body, secret=secret)
    assert response.status_code == 401
    assert why in response.json()["detail"]
    assert nothing_stored()
    refusal = AlertRefusal.objects.get()
    assert (refusal.status_code, refusal.source.slug) == (401, slug)


def test_a_bad_or_missing_pagerduty_signature_is_refused_and_nothing_stored(client, sources):
    raw = json.dumps(pagerduty()).encode()
    assert post(client, "pagerduty", "pd", raw).status_code == 401
    from incidents.alerts.auth import pagerduty_signature

    tampered = raw.replace(b"error spike", b"all fine!!!")
    assert post(client, "pagerduty", "pd", tampered, signature=pagerduty_signature(PD_SECRET, raw)).status_code == 401
    assert (
        post(client, "pagerduty", "pd", raw, signature=pagerduty_signature("wrong-secret-xx", raw)).status_code == 401
    )
    # A bearer header is not a signature.
    assert post(client, "pagerduty", "pd", raw, secret=PD_SECRET).status_code == 401
    assert nothing_stored()
    assert AlertRefusal.objects.count() == 4


@pytest.mark.parametrize(
    ("kind", "slug", "body", "message"),
    [
        ("grafana", "graf", b"{not json", "not JSON"),
        ("grafana", "graf", {"status": "firing", "alerts": []}, "groupKey is required"),
        ("grafana", "graf", {**grafana(), "alerts": []}, "alerts must be a non-empty list"),
        ("grafana", "graf", {**grafana(), "status": "exploding"}, "status must be 'firing' or 'resolved'"),
        ("grafana", "graf", {**grafana(), "alerts": [{"labels": {"a": "b"}, "startsAt": "yesterday"}]}, "startsAt"),
        ("generic", "evals", {"check": {"state": "failing"}}, "check.id (the fingerprint) is missing"),
        ("generic", "evals", [1, 2], "check.id (the fingerprint) is missing"),
    ],
)
def test_a_malformed_body_gets_400_with_a_message_and_nothing_stored(client, sources, kind, slug, body, message):
    response = post(client, kind, slug, body, secret=BEARER)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert nothing_stored()


def test_malformed_pagerduty_and_alertmanager_bodies_are_refused(client, admin_user, sources):
    assert post_signed(client, "pd", {"event": {"data": {"id": "x"}}}, PD_SECRET).status_code == 400
    alert_source_create(actor=admin_user, slug="am", name="AM", kind="alertmanager", secret=BEARER)
    wrong_version = {**alertmanager(), "version": "3"}
    response = post(client, "alertmanager", "am", wrong_version, secret=BEARER)
    assert response.status_code == 400 and "version" in response.json()["detail"]
    assert nothing_stored()


def test_an_unknown_source_or_a_kind_mismatch_is_404(client, sources):
    assert post(client, "alertmanager", "nope", alertmanager(), secret=BEARER).status_code == 404
    assert post(client, "alertmanager", "graf", alertmanager(), secret=BEARER).status_code == 404
    assert nothing_stored() and not AlertRefusal.objects.exists()


def test_refusals_keep_only_the_last_few_per_source(client, sources):
    for _ in range(AlertRefusal.KEEP + 5):
        post(client, "grafana", "graf", grafana(), secret="wrong")
    assert AlertRefusal.objects.count() == AlertRefusal.KEEP
