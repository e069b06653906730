"""Alertmanager notifications through the hook: one incident per cause, the same things a hand-filed incident gets,
de-duplication of repeats and storms, resolution annotated."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from core.models import AuditEntry
from diagnostics.models import LayerDiagnosis
from incidents.alerts.services import alert_route_create, alert_source_create
from incidents.models import Alert, AlertNotification, Incident, TimelineEvent
from incidents.selectors import incident_timeline, what_changed
from tests.incidents.alert_payloads import alertmanager, post

SECRET = "a-long-alertmanager-secret"


@pytest.fixture
def source(admin_user, production, deployed):
    source, _ = alert_source_create(
        actor=admin_user, slug="prom", name="Prometheus", kind="alertmanager", secret=SECRET
    )
    alert_route_create(
        actor=admin_user,
        source=source,
        matchers={"feature": "support-assistant", "environment": "production"},
        environment=production,
        severity="sev2",
    )
    return source


def test_a_firing_alert_opens_an_incident_like_a_hand_filed_one(client, source, production, deployed, layer_owners):
    body = alertmanager()
    response = post(client, "alertmanager", "prom", body, secret=SECRET)
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "opened"
    incident = Incident.objects.get()
    assert (incident.source, incident.severity, incident.title) == (
        "alert",
        "sev2",
        "RefusalRateHigh: Refusal rate above 20 %",
    )
    assert list(incident.feature_environments.all()) == [production]
    # Every layer owned from the ownership map.
    owners = {d.layer: d.owner for d in LayerDiagnosis.objects.filter(incident=incident)}
    assert owners == layer_owners
    # The "what changed" panel looks back from the alert's start, and finds release 2 deployed two days ago.
    starts = Alert.objects.get().starts_at
    assert incident.impact_started_at == starts
    items = [i for column in what_changed(incident).by_layer.values() for i in column]
    assert any(i.release_to == deployed[1].pk for i in items)
    # The timeline starts with the alert: labels, annotations, a link back to Prometheus.
    first = incident_timeline(incident)[0]
    assert first.kind == "alert"
    assert first.event.data["labels"]["alertname"] == "RefusalRateHigh"
    assert first.event.data["annotations"]["summary"] == "Refusal rate above 20 %"
    assert first.event.data["generator_url"].startswith("http://prometheus.example:9090/graph")
    page = client_for_incident(incident, layer_owners)
    assert "open in the alert&#x27;s source" in page or "open in the alert's source" in page
    assert AuditEntry.objects.filter(action="incident.open", object_id=str(incident.pk)).exists()


def client_for_incident(incident, layer_owners) -> str:
    c = Client()
    c.force_login(next(iter(layer_owners.values())))
    return c.get(f"/incidents/{incident.pk}/").content.decode()


def test_repeated_and_still_firing_notifications_join_the_same_incident(client, source):
    for _ in range(3):
        assert post(client, "alertmanager", "prom", alertmanager(), secret=SECRET).status_code == 200
    # Another alert of the same group (a second gateway instance) joins too.
    more = alertmanager(fingerprints=("c0ffee01", "c0ffee02"))
    assert post(client, "alertmanager", "prom", more, secret=SECRET).json()["outcome"] == "deduplicated"
    incident = Incident.objects.get()
    assert list(AlertNotification.objects.order_by("id").values_list("outcome", flat=True)) == [
        "opened",
        "deduplicated",
        "deduplicated",
        "deduplicated",
    ]
    entries = list(TimelineEvent.objects.filter(incident=incident, kind="alert").order_by("id"))
    # One entry per alert state, and one per group that counts the repeats (kept up to date, not one per repeat).
    assert [e.data.get("fingerprint") for e in entries] == ["c0ffee01", None, "c0ffee02"]
    assert entries[0].text.startswith("Alert RefusalRateHigh firing")
    assert entries[1].text.startswith("Still firing: 3 notifications so far for this alert group from prom")
    assert Alert.objects.get(fingerprint="c0ffee01").notifications == 4


def test_resolved_annotates_the_incident_and_suggests_resolving(client, source):
    post(client, "alertmanager", "prom", alertmanager(), secret=SECRET)
    response = post(client, "alertmanager", "prom", alertmanager(status="resolved"), secret=SECRET)
    assert response.json()["outcome"] == "resolved"
    incident = Incident.objects.get()
    texts = list(TimelineEvent.objects.filter(incident=incident, kind="alert").values_list("text", flat=True))
    assert any("RefusalRateHigh resolved" in t for t in texts)
    assert any("consider moving it to monitoring or resolving it" in t for t in texts)
    assert incident.status == "reported"  # suggested, not done: a person decides


def test_an_alert_for_another_feature_environment_is_logged_as_unrouted(client, source):
    body = alertmanager(labels={"feature": "billing", "environment": "production"})
    response = post(client, "alertmanager", "prom", body, secret=SECRET)
    assert response.json()["outcome"] == "unrouted"
    assert not Incident.objects.exists()
    assert "No routing rule matched" in AlertNotification.objects.get().reason


def test_attach_joins_the_environment_s_open_incident(client, source, incident):
    # incident (hand-filed) is open on production; the rule's default action is attach.
    response = post(client, "alertmanager", "prom", alertmanager(), secret=SECRET)
    assert response.json()["outcome"] == "attached"
    assert Incident.objects.count() == 1
    assert TimelineEvent.objects.filter(incident=incident, kind="alert").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_storm_of_concurrent_notifications_with_one_cause_opens_one_incident(source):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises the whole database)")
    barrier = threading.Barrier(8)
    results = []

    def send(i: int) -> None:
        c = Client()
        body = alertmanager(fingerprints=(f"storm{i % 3}",))
        barrier.wait()
        results.append(post(c, "alertmanager", "prom", body, secret=SECRET).status_code)
        connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    assert Incident.objects.count() == 1
    assert AlertNotification.objects.filter(outcome="opened").count() == 1
    assert AlertNotification.objects.filter(outcome="deduplicated").count() == 7
    assert Alert.objects.count() == 3


def test_an_incident_opened_by_an_alert_is_announced_in_slack_once(
    client, source, settings, django_capture_on_commit_callbacks
):
    from config.celery import app as celery_app
    from tests.slackbot.fake_slack import FakeSlack

    fake = FakeSlack().start()
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    settings.SLACK_API_BASE_URL = fake.api_url
    settings.SLACK_ANNOUNCE_CHANNEL = "CANNOUNCE"
    before = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    try:
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                post(client, "alertmanager", "prom", alertmanager(), secret=SECRET)
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before
        fake.stop()
    incident = Incident.objects.get()
    announce = [c for c in fake.calls_to("chat.postMessage") if c["args"]["channel"] == "CANNOUNCE"]
    declared = [c for c in announce if ":rotating_light:" in c["args"]["text"]]
    assert len(declared) == 1  # the repeat de-duplicated onto the incident announces nothing
    assert f"Incident #{incident.pk}>" in declared[0]["args"]["text"]
