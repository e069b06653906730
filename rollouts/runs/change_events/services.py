"""Queueing and sending change events.

``change_events_for_deployment`` and ``change_events_for_step`` run inside the transaction of the change (they
receive the registry's and the run engine's signals, see receivers.py),
so the delivery rows commit (or roll back) with it; sending starts after commit. A worker claims a delivery with a
short lease before sending; if it dies mid-send, the sweep re-sends the same body with the same idempotency key
once the lease runs out, and the receiver drops the repeat."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.audit import audit_record
from core.permissions import require
from core.tasks import enqueue_on_commit
from rollouts.registry.models import DeploymentEvent, Environment, Feature, Release
from rollouts.runs.change_events.formats import Change, body_for, headers_for
from rollouts.runs.change_events.models import ChangeEventDelivery, ChangeEventFormat, ChangeEventTarget, ChangeKind
from rollouts.runs.models import DeliveryStatus, RunKind
from rollouts.runs.webhooks import backoff_seconds, signed_post


@transaction.atomic
def change_target_create(
    *,
    actor,
    name: str,
    url: str,
    format: str,
    secret: str = "",
    routing_key: str = "",
    feature: Feature | None = None,
) -> tuple[ChangeEventTarget, str]:
    """Add a target. Returns it and its signing secret (generated unless given), shown this once."""
    require(actor, "change_event_target.manage")
    errors: dict[str, list[str]] = {}
    if format not in ChangeEventFormat.values:
        errors["format"] = [f"Choose a format: {', '.join(ChangeEventFormat.values)}."]
    if format == ChangeEventFormat.PAGERDUTY and not routing_key.strip():
        errors["routing_key"] = ["PagerDuty needs the integration (routing) key of the service's change integration."]
    if secret and len(secret) < 12:
        errors["secret"] = ["Use a secret of at least 12 characters."]
    if errors:
        raise ValidationError(errors)
    target = ChangeEventTarget(
        name=(name or url)[:120],
        url=url,
        format=format,
        secret=secret or secrets.token_urlsafe(32),
        routing_key=routing_key.strip(),
        feature=feature,
    )
    target.full_clean()
    target.save()
    audit_record(
        actor=actor,
        action="change_target.create",
        obj=target,
        after={"name": target.name, "url": url, "format": format, "feature": feature.slug if feature else None},
    )
    return target, target.secret


@transaction.atomic
def change_target_update(*, actor, target: ChangeEventTarget, **fields) -> ChangeEventTarget:
    require(actor, "change_event_target.manage")
    allowed = {"name", "url", "routing_key", "feature", "active"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({f: ["This field cannot be changed."] for f in unknown})
    before = {f: str(getattr(target, f)) for f in fields if f != "routing_key"}
    for f, value in fields.items():
        setattr(target, f, value)
    target.full_clean()
    target.save()
    audit_record(
        actor=actor,
        action="change_target.update",
        obj=target,
        before=before,
        after={f: str(v) for f, v in fields.items() if f != "routing_key"},
    )
    return target


def _release_url(release: Release) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("rollouts:release_detail", args=[release.pk])


def _queue(change: Change, environment: Environment) -> None:
    targets = ChangeEventTarget.objects.filter(active=True).filter(
        Q(feature__isnull=True) | Q(feature_id=environment.feature_id)
    )
    now = timezone.now()
    rows = []
    for target in targets:
        key = f"rewind-{change.key}-target{target.pk}"
        rows.append(
            ChangeEventDelivery(
                idempotency_key=key,
                target=target,
                kind=change.kind,
                environment=environment,
                summary=change.summary[:300],
                payload=body_for(target.format, change, idempotency_key=key),
                next_attempt_at=now,
            )
        )
    if not rows:
        return
    ChangeEventDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(
        ChangeEventDelivery.objects.filter(
            idempotency_key__in=[r.idempotency_key for r in rows], status=DeliveryStatus.PENDING
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        enqueue_on_commit("rollouts.change_event_deliver", pk)


def change_events_for_deployment(event: DeploymentEvent) -> None:
    """A release became live (a deployment, a finished rollout, or a rollback)."""
    release, env = event.release, event.environment
    kind = ChangeKind.ROLLED_BACK if event.is_rollback else ChangeKind.DEPLOYED
    verb = "rolled back to" if event.is_rollback else "deployed"
    _queue(
        Change(
            kind=kind,
            key=f"deployment{event.pk}",
            feature=env.feature.slug,
            environment=env.name,
            release=release.number,
            manifest_hash=release.manifest_hash,
            occurred_at=event.live_at.isoformat(),
            summary=f"{env.feature.slug} {env.name}: {verb} release #{release.number} (via {event.via})",
            url=_release_url(release),
            run=event.rollout_run_id,
        ),
        env,
    )


def change_events_for_step(*, run, phase: str, weight: int) -> None:
    """A rollout run moved traffic: a canary step, a rollback run's step, or a canary sent back to 0 %."""
    env = run.environment
    backwards = run.kind == RunKind.ROLLBACK or phase == "rollback"
    release = run.candidate_release if weight else run.stable_release
    if phase == "rollback":
        summary = f"{env.feature.slug} {env.name}: canary of release #{run.candidate_release.number} rolled back to 0 %"
        release = run.stable_release
    elif run.kind == RunKind.ROLLBACK:
        summary = f"{env.feature.slug} {env.name}: rollback to release #{release.number} at {weight} %"
    else:
        summary = f"{env.feature.slug} {env.name}: release #{run.candidate_release.number} at {weight} % (canary)"
    _queue(
        Change(
            kind=ChangeKind.ROLLED_BACK if backwards else ChangeKind.STEP,
            key=f"run{run.pk}-{phase}",
            feature=env.feature.slug,
            environment=env.name,
            release=release.number,
            manifest_hash=release.manifest_hash,
            occurred_at=timezone.now().isoformat(),
            summary=summary,
            url=_release_url(release),
            weight=weight,
            run=run.pk,
        ),
        env,
    )


def _settings() -> dict:
    return settings.REWIND_CHANGE_EVENTS


def delivery_attempt(delivery_id: int) -> float | None:
    """Send one delivery if it is due and nobody holds it. Returns seconds until the next try, or None when done
    (delivered, refused, gave up, or not ours to send)."""
    cfg = _settings()
    now = timezone.now()
    claimed = (
        ChangeEventDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(lease_expires_at=now + timedelta(seconds=cfg["lease_seconds"]))
    )
    if claimed != 1:
        return None
    delivery = ChangeEventDelivery.objects.select_related("target").get(pk=delivery_id)
    target = delivery.target
    payload = dict(delivery.payload)
    if target.format == ChangeEventFormat.PAGERDUTY:
        payload = {"routing_key": target.routing_key, **payload}
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    error, status_code = signed_post(
        url=target.url,
        secret=target.secret,
        idempotency_key=delivery.idempotency_key,
        body=body,
        timeout=cfg["timeout_seconds"],
        headers=headers_for(target.format, delivery.payload),
    )
    attempts = delivery.attempts + 1
    mine = ChangeEventDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING)
    common = {"attempts": attempts, "last_status_code": status_code, "lease_expires_at": None}
    if not error:
        mine.update(status=DeliveryStatus.DELIVERED, delivered_at=timezone.now(), last_error="", **common)
        return None
    # A 4xx other than timeout / rate limit is the receiver refusing this body: sending it again will not help.
    refused = status_code is not None and 400 <= status_code < 500 and status_code not in (408, 425, 429)
    if refused or attempts >= cfg["max_attempts"]:
        why = "refused by the receiver" if refused else f"gave up after {attempts} attempts"
        mine.update(status=DeliveryStatus.FAILED, last_error=f"{error} ({why})", **common)
        return None
    wait = backoff_seconds(attempts, cfg["backoff_seconds"])
    mine.update(last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=wait), **common)
    return wait


def deliveries_due(now=None) -> list[int]:
    """Pending deliveries whose time has come and that no live worker holds (never enqueued, or its worker died)."""
    now = now or timezone.now()
    return list(
        ChangeEventDelivery.objects.filter(status=DeliveryStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
