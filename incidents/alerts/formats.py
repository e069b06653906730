"""Each sender's wire format, read into one shape: a notification (group key, status) of one or more alerts.

Malformed input raises ``PayloadError`` with a message naming the field, before anything is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from django.utils.dateparse import parse_datetime

from incidents.models import AlertSourceKind, AlertStatus


class PayloadError(ValueError):
    pass


@dataclass
class AlertData:
    fingerprint: str
    status: str
    name: str
    labels: dict
    annotations: dict
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    generator_url: str = ""

    @property
    def summary(self) -> str:
        a = self.annotations
        return str(a.get("summary") or a.get("description") or a.get("message") or "")


@dataclass
class Notification:
    group_key: str
    status: str
    alerts: list[AlertData]
    ignored_reason: str = ""  # a well-formed event that says nothing about an alert's state
    extra: dict = field(default_factory=dict)

    @property
    def common_labels(self) -> dict:
        """The labels every alert shares: what routing rules match on."""
        if not self.alerts:
            return {}
        common = dict(self.alerts[0].labels)
        for a in self.alerts[1:]:
            common = {k: v for k, v in common.items() if a.labels.get(k) == v}
        return common


def _dict(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object.")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _time(value, where: str, *, required: bool) -> dt.datetime | None:
    if value in (None, "") and not required:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"{where} must be an RFC 3339 time with a zone, e.g. 2026-12-01T10:00:00Z.")
    # Alertmanager and Grafana send Go's zero time for "not ended yet".
    if parsed.year <= 1:
        return None
    return parsed


def _status(value, where: str) -> str:
    if value not in AlertStatus.values:
        raise PayloadError(f"{where} must be 'firing' or 'resolved'.")
    return value


def _link(value) -> str:
    """A link back to the generator, only if it is a web address (it is shown as a link on the timeline)."""
    url = str(value or "")[:1000]
    return url if url.startswith(("http://", "https://")) else ""


def _fingerprint_of(labels: dict) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def parse_alertmanager_like(body: dict, *, sender: str) -> Notification:
    """Alertmanager's webhook payload version 4; Grafana's contact-point webhook uses the same fields."""
    if sender == AlertSourceKind.ALERTMANAGER and str(body.get("version", "")) != "4":
        raise PayloadError('version must be "4" (Alertmanager webhook payload version 4).')
    group_key = body.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        raise PayloadError("groupKey is required.")
    status = _status(body.get("status"), "status")
    raw_alerts = body.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise PayloadError("alerts must be a non-empty list.")
    alerts = []
    for i, raw in enumerate(raw_alerts):
        if not isinstance(raw, dict):
            raise PayloadError(f"alerts[{i}] must be an object.")
        labels = _dict(raw.get("labels"), f"alerts[{i}].labels")
        if not labels:
            raise PayloadError(f"alerts[{i}].labels must name the alert (at least alertname).")
        fingerprint = raw.get("fingerprint") or _fingerprint_of(labels)
        if not isinstance(fingerprint, str):
            raise PayloadError(f"alerts[{i}].fingerprint must be a string.")
        alerts.append(
            AlertData(
                fingerprint=fingerprint[:200],
                status=_status(raw.get("status", status), f"alerts[{i}].status"),
                name=str(labels.get("alertname", ""))[:200],
                labels=labels,
                annotations=_dict(raw.get("annotations"), f"alerts[{i}].annotations"),
                starts_at=_time(raw.get("startsAt"), f"alerts[{i}].startsAt", required=True),
                ends_at=_time(raw.get("endsAt"), f"alerts[{i}].endsAt", required=False),
                generator_url=_link(raw.get("generatorURL")),
            )
        )
    return Notification(group_key=group_key[:500], status=status, alerts=alerts)


# PagerDuty v3 webhook event types that change whether the incident is firing.
PAGERDUTY_STATUS = {
    "incident.triggered": AlertStatus.FIRING,
    "incident.reopened": AlertStatus.FIRING,
    "incident.resolved": AlertStatus.RESOLVED,
}


def parse_pagerduty(body: dict) -> Notification:
    event = body.get("event")
    if not isinstance(event, dict):
        raise PayloadError('event is required (a PagerDuty v3 webhook body is {"event": {...}}).')
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise PayloadError("event.event_type is required, e.g. incident.triggered.")
    data = event.get("data")
    if not isinstance(data, dict) or not data.get("id"):
        raise PayloadError("event.data with the incident's id is required.")
    incident_id = str(data["id"])
    status = PAGERDUTY_STATUS.get(event_type)
    if status is None:
        return Notification(
            group_key=f"pagerduty:{incident_id}",
            status=AlertStatus.FIRING,
            alerts=[],
            ignored_reason=f"{event_type} does not change whether the alert is firing.",
        )
    service = data.get("service") if isinstance(data.get("service"), dict) else {}
    priority = data.get("priority") if isinstance(data.get("priority"), dict) else {}
    labels = {
        "alertname": str(data.get("title") or f"PagerDuty incident {incident_id}")[:200],
        "service": str(service.get("summary") or ""),
        "urgency": str(data.get("urgency") or ""),
        "priority": str(priority.get("summary") or ""),
    }
    labels = {k: v for k, v in labels.items() if v}
    started = _time(data.get("created_at") or event.get("occurred_at"), "event.data.created_at", required=True)
    ended = _time(event.get("occurred_at"), "event.occurred_at", required=True) if status == "resolved" else None
    alert = AlertData(
        fingerprint=incident_id[:200],
        status=status,
        name=labels["alertname"],
        labels=labels,
        annotations={"summary": str(data.get("title") or ""), "pagerduty_incident_number": str(data.get("number", ""))},
        starts_at=started,
        ends_at=ended,
        generator_url=_link(data.get("html_url")),
    )
    group_key = str(data.get("incident_key") or incident_id)
    return Notification(group_key=f"pagerduty:{group_key}"[:500], status=status, alerts=[alert])


GENERIC_FIELDS = ("fingerprint", "status", "title", "labels", "annotations", "starts_at", "ends_at", "generator_url")
DEFAULT_RESOLVED_VALUES = ("resolved", "ok", "closed", "recovered")


def _path(body, path: str):
    """A dotted path into the body: ``data.alert.id``; list items by index: ``alerts.0.id``."""
    value = body
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def mapping_problems(mapping) -> list[str]:
    """What is wrong with a generic source's field mapping (checked when an admin saves it)."""
    if not isinstance(mapping, dict):
        return ["The field mapping must be an object of field → dotted path."]
    problems = []
    if not mapping.get("fingerprint"):
        problems.append("Map fingerprint: the path of the value that identifies one alert.")
    unknown = set(mapping) - {*GENERIC_FIELDS, "alerts", "group_key", "resolved_values"}
    if unknown:
        problems.append(f"Unknown mapping fields: {', '.join(sorted(unknown))}.")
    for name in set(mapping) - {"resolved_values"}:
        if not isinstance(mapping[name], str):
            problems.append(f"{name} must be a dotted path (a string).")
    if "resolved_values" in mapping and not isinstance(mapping["resolved_values"], list):
        problems.append("resolved_values must be a list of strings.")
    return problems


def parse_generic(body, mapping: dict) -> Notification:
    """Any JSON: one alert (or a list at ``alerts``) whose fields are found by the source's mapping."""
    items = _path(body, mapping["alerts"]) if mapping.get("alerts") else [body]
    if not isinstance(items, list) or not items:
        raise PayloadError(f"{mapping.get('alerts') or 'the body'} must hold a non-empty list of alerts.")
    resolved_values = {str(v).lower() for v in mapping.get("resolved_values", DEFAULT_RESOLVED_VALUES)}
    alerts = []
    for i, item in enumerate(items):
        where = f"alert {i}" if len(items) > 1 else "the alert"
        fingerprint = _path(item, mapping["fingerprint"])
        if fingerprint in (None, ""):
            raise PayloadError(f"{mapping['fingerprint']} (the fingerprint) is missing in {where}.")
        raw_status = _path(item, mapping["status"]) if mapping.get("status") else "firing"
        status = AlertStatus.RESOLVED if str(raw_status).lower() in resolved_values else AlertStatus.FIRING
        labels = _dict(_path(item, mapping["labels"]), mapping["labels"]) if mapping.get("labels") else {}
        title = str(_path(item, mapping["title"]) or "") if mapping.get("title") else ""
        labels.setdefault("alertname", title or str(fingerprint))
        annotations = (
            _dict(_path(item, mapping["annotations"]), mapping["annotations"]) if mapping.get("annotations") else {}
        )
        if title:
            annotations.setdefault("summary", title)
        starts_raw = _path(item, mapping["starts_at"]) if mapping.get("starts_at") else None
        starts = _time(starts_raw, mapping.get("starts_at", "starts_at"), required=False)
        ends_raw = _path(item, mapping["ends_at"]) if mapping.get("ends_at") else None
        alerts.append(
            AlertData(
                fingerprint=str(fingerprint)[:200],
                status=status,
                name=str(labels["alertname"])[:200],
                labels=labels,
                annotations=annotations,
                starts_at=starts or dt.datetime.now(dt.UTC),
                ends_at=_time(ends_raw, mapping.get("ends_at", "ends_at"), required=False),
                generator_url=_link(_path(item, mapping["generator_url"])) if mapping.get("generator_url") else "",
            )
        )
    group_key = _path(body, mapping["group_key"]) if mapping.get("group_key") else None
    status = AlertStatus.RESOLVED if all(a.status == AlertStatus.RESOLVED for a in alerts) else AlertStatus.FIRING
    return Notification(group_key=str(group_key or alerts[0].fingerprint)[:500], status=status, alerts=alerts)


def parse(kind: str, body, *, mapping: dict | None = None) -> Notification:
    if kind == AlertSourceKind.GENERIC:
        return parse_generic(body, mapping or {})
    if not isinstance(body, dict):
        raise PayloadError("The body must be a JSON object.")
    if kind == AlertSourceKind.PAGERDUTY:
        return parse_pagerduty(body)
    return parse_alertmanager_like(body, sender=kind)
