"""End to end: a real Prometheus scrapes a gateway's refusal-rate gauge, a real Alertmanager posts to Rewind.
Raising the gauge opens exactly one incident with every layer owned; repeats open nothing new; resolving
annotates it."""

from __future__ import annotations

import time

import pytest

from diagnostics.models import LayerDiagnosis
from incidents.alerts.services import alert_route_create, alert_source_create
from incidents.models import AlertNotification, Incident, TimelineEvent
from tests.support.alerting import AlertingStack, Exporter, requires_prometheus

pytestmark = [requires_prometheus, pytest.mark.services, pytest.mark.django_db(transaction=True)]

SECRET = "end-to-end-alertmanager-secret"
GAUGE = 'rewind_refusal_rate{feature="support-assistant",environment="production"}'
RULES = """groups:
  - name: rewind
    interval: 1s
    rules:
      - alert: RefusalRateHigh
        expr: rewind_refusal_rate > 0.2
        labels:
          severity: page
        annotations:
          summary: "Refusal rate {{ $value }} on {{ $labels.feature }}"
"""


def wait_for(predicate, timeout: float, stack: AlertingStack, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{stack.logs()}")


def test_prometheus_and_alertmanager_open_one_incident_then_resolve_it(
    live_server, admin_user, production, deployed, layer_owners
):
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
    exporter = Exporter()
    exporter.gauges[GAUGE] = 0.05
    stack = AlertingStack(
        exporter=exporter,
        rules=RULES,
        webhook_url=f"{live_server.url}/hooks/alertmanager/prom",
        bearer=SECRET,
    )
    try:
        stack.start()
        time.sleep(2)  # a couple of healthy evaluations first
        assert not AlertNotification.objects.exists()
        exporter.gauges[GAUGE] = 0.45
        wait_for(Incident.objects.exists, 30, stack, "the incident")
        # Alertmanager repeats the still-firing group (repeat_interval 2 s): de-duplicated, nothing new opened.
        wait_for(lambda: AlertNotification.objects.filter(outcome="deduplicated").count() >= 2, 30, stack, "repeats")
        assert Incident.objects.count() == 1
        incident = Incident.objects.get()
        assert incident.source == "alert" and incident.severity == "sev2"
        assert LayerDiagnosis.objects.filter(incident=incident, owner__isnull=True).count() == 0
        assert LayerDiagnosis.objects.filter(incident=incident).count() == 4
        first = TimelineEvent.objects.filter(incident=incident).order_by("occurred_at", "id").first()
        assert first.kind == "alert" and first.data["labels"]["alertname"] == "RefusalRateHigh"
        assert f"127.0.0.1:{stack.prom_port}" in first.data["generator_url"]

        exporter.gauges[GAUGE] = 0.0
        wait_for(lambda: AlertNotification.objects.filter(outcome="resolved").exists(), 30, stack, "resolution")
    finally:
        stack.stop()
        exporter.stop()
    assert Incident.objects.count() == 1
    assert AlertNotification.objects.filter(outcome="opened").count() == 1
    texts = list(TimelineEvent.objects.filter(incident=incident, kind="alert").values_list("text", flat=True))
    assert any("RefusalRateHigh resolved" in t for t in texts)
    assert not AlertNotification.objects.exclude(outcome__in=("opened", "deduplicated", "resolved")).exists()
