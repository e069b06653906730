"""Sample notifications in each sender's documented shape, and helpers to post them to the hook."""

from __future__ import annotations

import datetime as dt
import json

from django.utils import timezone

from incidents.alerts.auth import pagerduty_signature

# Senders repeat an alert with the time it started firing; one start for the whole test session.
STARTED = timezone.now() - dt.timedelta(minutes=3)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # nanoseconds, as Go prints them


def alertmanager(
    *,
    status: str = "firing",
    group_key: str = '{}/{}:{alertname="RefusalRateHigh"}',
    fingerprints=("c0ffee01",),
    starts_at: dt.datetime | None = None,
    labels: dict | None = None,
) -> dict:
    """Alertmanager's webhook payload version 4."""
    starts_at = starts_at or STARTED
    labels = {
        "alertname": "RefusalRateHigh",
        "feature": "support-assistant",
        "environment": "production",
        **(labels or {}),
    }
    alerts = [
        {
            "status": status,
            "labels": {**labels, "instance": f"gw-{i}"},
            "annotations": {"summary": "Refusal rate above 20 %", "description": "Answers refuse far more than usual."},
            "startsAt": iso(starts_at),
            "endsAt": iso(timezone.now()) if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=refusal_rate+%3E+0.2",
            "fingerprint": fp,
        }
        for i, fp in enumerate(fingerprints)
    ]
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "rewind",
        "groupLabels": {"alertname": "RefusalRateHigh"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "Refusal rate above 20 %"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


def grafana(*, status: str = "firing", fingerprint: str = "9b3e1a7c55d2f0e4") -> dict:
    """Grafana alerting's webhook contact point body (unified alerting)."""
    now = timezone.now()
    labels = {"alertname": "AnswerQualityDrop", "feature": "support-assistant", "grafana_folder": "AI"}
    return {
        "receiver": "rewind",
        "status": status,
        "orgId": 1,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": "Answer quality score fell below 0.7"},
                "startsAt": iso(STARTED),
                "endsAt": iso(now) if status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.example/alerting/grafana/abc123/view",
                "fingerprint": fingerprint,
                "silenceURL": "https://grafana.example/alerting/silence/new",
                "dashboardURL": "https://grafana.example/d/quality",
                "panelURL": "https://grafana.example/d/quality?viewPanel=2",
                "values": {"B": 0.62, "C": 1},
                "valueString": "[ var='B' labels={} value=0.62 ]",
            }
        ],
        "groupLabels": {"alertname": "AnswerQualityDrop"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "Answer quality score fell below 0.7"},
        "externalURL": "https://grafana.example/",
        "version": "1",
        "groupKey": '{}/{alertname="AnswerQualityDrop"}:{alertname="AnswerQualityDrop"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] AnswerQualityDrop AI",
        "state": "alerting",
        "message": "**Firing**\n\nValue: B=0.62",
    }


def pagerduty(*, event_type: str = "incident.triggered", incident_id: str = "Q1X0T2AB3CD4EF") -> dict:
    """A PagerDuty v3 webhook event."""
    now = timezone.now()
    return {
        "event": {
            "id": "01DEN1HNLBC1VITN3JYMYTJB3M",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": iso(now),
            "agent": {
                "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                "id": "PLH1HKV",
                "type": "user_reference",
            },
            "client": None,
            "data": {
                "id": incident_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                "number": 2,
                "status": "resolved" if event_type == "incident.resolved" else "triggered",
                "incident_key": "d3640fbd41094207a1c11e58e46b1662",
                "created_at": iso(STARTED),
                "title": "Support assistant error spike",
                "service": {
                    "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
                    "id": "PF9KMXH",
                    "self": "https://api.pagerduty.com/services/PF9KMXH",
                    "summary": "support-assistant-api",
                    "type": "service_reference",
                },
                "assignees": [],
                "escalation_policy": {"id": "PYPFBTS", "summary": "Default", "type": "escalation_policy_reference"},
                "teams": [],
                "priority": {"id": "PSO75BM", "summary": "P1", "type": "priority_reference"},
                "urgency": "high",
                "conflict_reason": None,
                "resolve_reason": None,
            },
        }
    }


def post(client, kind: str, slug: str, body, *, secret: str | None = None, signature: str | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    if signature is not None:
        headers["HTTP_X_PAGERDUTY_SIGNATURE"] = signature
    return client.post(f"/hooks/{kind}/{slug}", data=raw, content_type="application/json", **headers)


def post_signed(client, slug: str, body, secret: str):
    raw = json.dumps(body).encode()
    return post(client, "pagerduty", slug, raw, signature=pagerduty_signature(secret, raw))
