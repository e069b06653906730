"""Writes for alert intake: sources and routing rules (admins), and receiving a notification (the hook).

A notification runs in one transaction holding the source's row lock, so notifications from one sender are
applied one at a time: a storm with one cause finds the incident the first one opened. The unique constraints on
(source, group key) and (source, fingerprint) hold the same rule in the database."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.actors import system_actor
from core.audit import audit_record
from core.permissions import require
from core.tasks import enqueue_on_commit
from incidents.alerts.auth import secret_hash
from incidents.alerts.formats import Notification, mapping_problems
from incidents.models import (
    OPEN_STATUSES,
    Alert,
    AlertGroup,
    AlertNotification,
    AlertRefusal,
    AlertRoute,
    AlertRouteAction,
    AlertSource,
    AlertSourceKind,
    AlertStatus,
    Incident,
    IncidentSource,
    NotificationOutcome,
    Severity,
    TimelineEvent,
    TimelineKind,
)
from incidents.services import incident_open
from incidents.timeline import timeline_record
from rollouts.models import Environment

SOURCE_FIELDS = ("name", "environment", "severity", "field_mapping", "active")


def _source_problems(*, kind: str, severity: str, field_mapping, secret: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if kind not in AlertSourceKind.values:
        errors["kind"] = [f"Choose a kind: {', '.join(AlertSourceKind.values)}."]
    if severity not in Severity.values:
        errors["severity"] = [f"Choose a severity: {', '.join(Severity.values)}."]
    if kind == AlertSourceKind.GENERIC:
        problems = mapping_problems(field_mapping)
        if problems:
            errors["field_mapping"] = problems
    if kind == AlertSourceKind.PAGERDUTY and not secret:
        errors["secret"] = ["Paste the signing secret PagerDuty showed when you created the webhook subscription."]
    if secret and len(secret) < 12:
        errors["secret"] = ["Use a secret of at least 12 characters."]
    return errors


def _set_secret(source: AlertSource, secret: str) -> None:
    if source.signs:
        source.signing_secret, source.secret_hash = secret, ""
    else:
        source.secret_hash, source.signing_secret = secret_hash(secret), ""


@transaction.atomic
def alert_source_create(
    *,
    actor,
    slug: str,
    name: str,
    kind: str,
    secret: str = "",
    environment: Environment | None = None,
    severity: str = Severity.SEV3,
    field_mapping: dict | None = None,
) -> tuple[AlertSource, str]:
    """Create a source. Returns it and its secret (generated unless given), which is shown this once."""
    require(actor, "alert_source.manage")
    field_mapping = field_mapping or {}
    errors = _source_problems(kind=kind, severity=severity, field_mapping=field_mapping, secret=secret)
    if slug and AlertSource.objects.filter(slug=slug).exists():
        errors["slug"] = [f"A source called {slug} exists already."]
    if errors:
        raise ValidationError(errors)
    secret = secret or secrets.token_urlsafe(32)
    source = AlertSource(
        slug=slug, name=name or slug, kind=kind, environment=environment, severity=severity, field_mapping=field_mapping
    )
    _set_secret(source, secret)
    source.full_clean()
    source.save()
    audit_record(
        actor=actor,
        action="alert_source.create",
        obj=source,
        after={"slug": slug, "kind": kind, "environment": str(environment or ""), "severity": severity},
    )
    return source, secret


@transaction.atomic
def alert_source_update(*, actor, source: AlertSource, **fields) -> AlertSource:
    require(actor, "alert_source.manage")
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise ValidationError({f: ["This field cannot be changed."] for f in unknown})
    source = AlertSource.objects.select_for_update().get(pk=source.pk)
    before = {f: str(getattr(source, f)) for f in fields}
    for f, value in fields.items():
        setattr(source, f, value)
    errors = _source_problems(kind=source.kind, severity=source.severity, field_mapping=source.field_mapping, secret="")
    errors.pop("secret", None)
    if errors:
        raise ValidationError(errors)
    source.full_clean()
    source.save()
    audit_record(
        actor=actor,
        action="alert_source.update",
        obj=source,
        before=before,
        after={f: str(v) for f, v in fields.items()},
    )
    return source


@transaction.atomic
def alert_source_rotate_secret(*, actor, source: AlertSource, secret: str = "") -> str:
    """Replace the secret (a new random one unless given); the old one stops working at once."""
    require(actor, "alert_source.manage")
    if source.signs and not secret:
        raise ValidationError({"secret": ["Paste the new signing secret from PagerDuty."]})
    if secret and len(secret) < 12:
        raise ValidationError({"secret": ["Use a secret of at least 12 characters."]})
    secret = secret or secrets.token_urlsafe(32)
    source = AlertSource.objects.select_for_update().get(pk=source.pk)
    _set_secret(source, secret)
    source.save(update_fields=["secret_hash", "signing_secret"])
    audit_record(actor=actor, action="alert_source.rotate_secret", obj=source, reason="secret replaced")
    return secret


@transaction.atomic
def alert_route_create(
    *,
    actor,
    source: AlertSource,
    matchers: dict,
    environment: Environment,
    severity: str = "",
    action: str = AlertRouteAction.ATTACH,
    position: int | None = None,
) -> AlertRoute:
    require(actor, "alert_source.manage")
    errors: dict[str, list[str]] = {}
    if not isinstance(matchers, dict) or not all(isinstance(k, str) and k for k in matchers):
        errors["matchers"] = ['Matchers are label = value pairs, e.g. {"feature": "support-assistant"}.']
    elif not all(isinstance(v, str) for v in matchers.values()):
        errors["matchers"] = ["Each matcher value must be a string."]
    if severity and severity not in Severity.values:
        errors["severity"] = [f"Choose a severity: {', '.join(Severity.values)}, or leave it blank."]
    if action not in AlertRouteAction.values:
        errors["action"] = [f"Choose an action: {', '.join(AlertRouteAction.values)}."]
    if errors:
        raise ValidationError(errors)
    if position is None:
        last = source.routes.order_by("-position").values_list("position", flat=True).first()
        position = (last or 0) + 10
    route = AlertRoute.objects.create(
        source=source, matchers=matchers, environment=environment, severity=severity, action=action, position=position
    )
    audit_record(
        actor=actor,
        action="alert_route.create",
        obj=route,
        after={"source": source.slug, "matchers": matchers, "environment": str(environment), "action": action},
    )
    return route


@transaction.atomic
def alert_route_delete(*, actor, route: AlertRoute) -> None:
    require(actor, "alert_source.manage")
    audit_record(
        actor=actor,
        action="alert_route.delete",
        obj=route,
        before={"source": route.source.slug, "matchers": route.matchers, "environment": str(route.environment)},
    )
    route.delete()


def refusal_record(*, source: AlertSource, status_code: int, reason: str, remote_addr: str = "") -> None:
    """Note a refused request for the source's page (reason only, never the body; the last few per source)."""
    with transaction.atomic():
        AlertRefusal.objects.create(
            source=source, status_code=status_code, reason=reason[:300], remote_addr=remote_addr[:64]
        )
        keep = source.refusals.order_by("-received_at", "-id").values_list("pk", flat=True)[: AlertRefusal.KEEP]
        source.refusals.exclude(pk__in=list(keep)).delete()


# --- receiving -------------------------------------------------------------------------------------------------


def _route_for(source: AlertSource, labels: dict) -> tuple[Environment | None, str, str, str]:
    """(environment, severity, action, why) for an alert with these labels."""
    for route in source.routes.select_related("environment__feature"):
        if route.matches(labels):
            return route.environment, route.severity or source.severity, route.action, f"rule {route}"
    if source.environment_id:
        env = Environment.objects.select_related("feature").get(pk=source.environment_id)
        return env, source.severity, AlertRouteAction.ATTACH, "the source's default environment"
    return None, "", "", ""


def _open_incident_for(env: Environment) -> Incident | None:
    return (
        Incident.objects.select_for_update()
        .filter(status__in=OPEN_STATUSES, feature_environments=env)
        .order_by("-created_at", "-id")
        .first()
    )


def _title(first) -> str:
    summary = first.summary
    if summary and first.name and summary != first.name:
        return f"{first.name}: {summary}"
    return summary or first.name or "Alert"


def _alert_text(alert, *, source: AlertSource, again: bool = False) -> str:
    verb = "resolved" if alert.status == AlertStatus.RESOLVED else ("firing again" if again else "firing")
    text = f"Alert {alert.name or alert.fingerprint} {verb} ({source.get_kind_display()} {source.slug})"
    if alert.summary:
        text += f": {alert.summary}"
    return text


def _timeline_alert(incident: Incident, alert, *, actor, source: AlertSource, again: bool = False) -> None:
    """One entry per alert state (fingerprint, start, status): a repeat of the same state adds nothing new."""
    when = alert.ends_at if alert.status == AlertStatus.RESOLVED and alert.ends_at else alert.starts_at
    timeline_record(
        actor=actor,
        incident=incident,
        kind=TimelineKind.ALERT,
        text=_alert_text(alert, source=source, again=again),
        data={
            "source": source.slug,
            "fingerprint": alert.fingerprint,
            "status": alert.status,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "generator_url": alert.generator_url,
            "starts_at": alert.starts_at.isoformat(),
            "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        },
        occurred_at=min(when, timezone.now()),
        source=IncidentSource.ALERT,
        external_ref=f"alert:{source.pk}:{alert.fingerprint}:{alert.starts_at.timestamp():.0f}:{alert.status}"[:120],
    )


def _timeline_repeat(incident: Incident, group: AlertGroup, *, actor, source: AlertSource, now) -> None:
    """Repeats of alerts already on the timeline keep one entry per group up to date instead of adding one each."""
    ref = f"alert-repeats:{group.pk}"
    text = (
        f"Still {group.status}: {group.notifications} notifications so far for this alert group from {source.slug}, "
        f"the last at {now:%Y-%m-%d %H:%M:%S} UTC."
    )
    data = {"source": source.slug, "group_key": group.key, "notifications": group.notifications}
    if not TimelineEvent.objects.filter(incident=incident, external_ref=ref).update(text=text, data=data):
        timeline_record(
            actor=actor,
            incident=incident,
            kind=TimelineKind.ALERT,
            text=text,
            data=data,
            occurred_at=now,
            source=IncidentSource.ALERT,
            external_ref=ref,
        )


def _announce(incident_id: int) -> None:
    """The Slack announcement a hand-filed incident gets (posted once per incident, after commit)."""
    if settings.SLACK_ANNOUNCE_CHANNEL:
        enqueue_on_commit("slackbot.incident_announce", incident_id, False)


def _note(source, notification, payload, *, outcome, reason, incident=None) -> AlertNotification:
    return AlertNotification.objects.create(
        source=source,
        outcome=outcome,
        reason=reason,
        status=notification.status,
        group_key=notification.group_key,
        alert_count=len(notification.alerts),
        incident=incident,
        payload=payload,
    )


@transaction.atomic
def notification_receive(*, source: AlertSource, notification: Notification, payload) -> AlertNotification:
    """Apply one authenticated, well-formed notification: open an incident, join one, or annotate one."""
    source = AlertSource.objects.select_for_update().get(pk=source.pk)
    now = timezone.now()
    # Nobody clicked: the source acts, named on the audit log and the timeline (it may only open and annotate).
    actor = system_actor(f"alert-source:{source.slug}")
    if notification.ignored_reason:
        return _note(
            source, notification, payload, outcome=NotificationOutcome.IGNORED, reason=notification.ignored_reason
        )

    group = AlertGroup.objects.select_related("incident").filter(source=source, key=notification.group_key).first()
    known = {
        a.fingerprint: a
        for a in Alert.objects.select_related("incident").filter(
            source=source, fingerprint__in=[x.fingerprint for x in notification.alerts]
        )
    }
    # The incident these alerts or this group already belong to, if it is still open (the newest wins).
    candidates = [a.incident for a in known.values()] + ([group.incident] if group else [])
    open_ones = sorted((i for i in candidates if i is not None and i.is_open), key=lambda i: (i.created_at, i.pk))
    incident = open_ones[-1] if open_ones else None
    firing = [a for a in notification.alerts if a.status == AlertStatus.FIRING]
    outcome, reason = NotificationOutcome.DEDUPLICATED, ""
    opened = False
    if incident is not None:
        reason = (
            f"Same {'alert group' if group and group.incident_id == incident.pk else 'alert'} as {incident.reference}."
        )
    else:
        if not firing:
            return _note(
                source,
                notification,
                payload,
                outcome=NotificationOutcome.IGNORED,
                reason="Resolved alerts with no open incident: nothing to annotate.",
            )
        env, severity, action, why = _route_for(source, notification.common_labels)
        if env is None:
            return _note(
                source,
                notification,
                payload,
                outcome=NotificationOutcome.UNROUTED,
                reason=f"No routing rule matched labels {notification.common_labels} and the source has no default.",
            )
        if action == AlertRouteAction.ATTACH:
            incident = _open_incident_for(Environment.objects.select_for_update().get(pk=env.pk))
        if incident is not None:
            outcome, reason = NotificationOutcome.ATTACHED, f"Routed by {why} to {env}; joined {incident.reference}."
        else:
            first = firing[0]
            incident = incident_open(
                actor=actor,
                title=_title(first),
                severity=severity,
                summary=first.annotations.get("description", "") or first.summary,
                feature_environments=[env],
                impact_started_at=min(min(a.starts_at for a in firing), now),
                detected_at=now,
                source=IncidentSource.ALERT,
            )
            outcome, reason, opened = (
                NotificationOutcome.OPENED,
                f"Routed by {why} to {env}; opened {incident.reference}.",
                True,
            )

    if group is None:
        group = AlertGroup.objects.create(source=source, key=notification.group_key, incident=incident)
    group.incident = incident
    group.status = notification.status
    group.notifications += 1
    group.last_seen_at = now
    group.save(update_fields=["incident", "status", "notifications", "last_seen_at"])

    changed_any = resolved_now = False
    for data in notification.alerts:
        alert = known.get(data.fingerprint)
        changed = alert is None or alert.status != data.status or alert.starts_at != data.starts_at
        changed_any = changed_any or changed
        resolved_now = resolved_now or (changed and data.status == AlertStatus.RESOLVED)
        again = alert is not None and alert.status == AlertStatus.RESOLVED and data.status == AlertStatus.FIRING
        if alert is None:
            alert = Alert(source=source, fingerprint=data.fingerprint, starts_at=data.starts_at)
        alert.group, alert.incident, alert.name, alert.status = group, incident, data.name, data.status
        alert.labels, alert.annotations, alert.generator_url = data.labels, data.annotations, data.generator_url
        alert.starts_at, alert.ends_at = data.starts_at, data.ends_at
        alert.notifications += 1
        alert.last_seen_at = now
        alert.save()
        if changed:
            _timeline_alert(incident, data, actor=actor, source=source, again=again)

    if not changed_any:
        _timeline_repeat(incident, group, actor=actor, source=source, now=now)
    if resolved_now and not group.alerts.filter(status=AlertStatus.FIRING).exists():
        outcome = NotificationOutcome.RESOLVED
        reason = f"Every alert of the group resolved; annotated {incident.reference}."
        still_firing = Alert.objects.filter(incident=incident, status=AlertStatus.FIRING).exists()
        if not still_firing and incident.is_open:
            timeline_record(
                actor=actor,
                incident=incident,
                kind=TimelineKind.ALERT,
                text="All alerts on this incident have resolved: consider moving it to monitoring or resolving it.",
                data={"suggest": "resolve", "group_key": notification.group_key},
                source=IncidentSource.ALERT,
                external_ref=f"alert-resolved:{group.pk}:{now.timestamp():.0f}"[:120],
            )
    note = _note(source, notification, payload, outcome=outcome, reason=reason, incident=incident)
    audit_record(
        actor=actor,
        action=f"alert.{outcome}",
        obj=incident,
        after={"source": source.slug, "group_key": notification.group_key, "status": notification.status},
        reason=reason,
    )
    if opened:
        _announce(incident.pk)
    return note
