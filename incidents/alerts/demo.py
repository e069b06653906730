"""Demo alert source: Alertmanager ``demo-alertmanager`` with the published secret ``demo-alert-secret``, routing
feature=support-assistant, environment=production to an incident (see the README's curl example)."""

from __future__ import annotations

from incidents.alerts.services import alert_route_create, alert_source_create
from incidents.models import AlertRouteAction, AlertSource
from rollouts.models import Environment

DEMO_SOURCE = "demo-alertmanager"
DEMO_SECRET = "demo-alert-secret"  # noqa: S105 - published demo secret


def load(people) -> None:
    if AlertSource.objects.filter(slug=DEMO_SOURCE).exists():
        return
    production = Environment.objects.filter(feature__slug="support-assistant", name="production").first()
    if production is None:
        return
    admin = people["demo"]
    source, _ = alert_source_create(
        actor=admin,
        slug=DEMO_SOURCE,
        name="Demo Prometheus Alertmanager",
        kind="alertmanager",
        secret=DEMO_SECRET,
        severity="sev3",
    )
    alert_route_create(
        actor=admin,
        source=source,
        matchers={"feature": "support-assistant", "environment": "production"},
        environment=production,
        severity="sev2",
        action=AlertRouteAction.OPEN,
    )
