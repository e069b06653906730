"""Signed webhook deliveries of weight changes to an environment's gateways.

Wire format: POST JSON body; ``X-Rewind-Timestamp: <unix seconds>``; ``X-Rewind-Signature: sha256=<hex>`` where
hex = HMAC-SHA256(secret, "<timestamp>.<body>"); ``Idempotency-Key`` stable per (run, step, target), so a
receiver can drop a repeat after a worker crash between sending and recording.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import audit_record
from core.permissions import require
from rollouts.registry.models import Environment
from rollouts.runs.models import DeliveryStatus, RolloutRun, WebhookDelivery, WebhookTarget

WEBHOOK_TARGET_FIELDS = ("url", "secret", "active")


@transaction.atomic
def webhook_target_create(
    *, actor, environment: Environment, url: str, secret: str, active: bool = True
) -> WebhookTarget:
    require(actor, "webhook.manage")
    target = WebhookTarget(environment=environment, url=url, secret=secret, active=active)
    target.full_clean()
    target.save()
    audit_record(
        actor=actor,
        action="webhook_target.create",
        obj=target,
        after={"environment": target.environment_id, "url": target.url, "active": target.active},
    )
    return target


@transaction.atomic
def webhook_target_update(*, actor, target: WebhookTarget, **changes) -> WebhookTarget:
    require(actor, "webhook.manage")
    unknown = set(changes) - set(WEBHOOK_TARGET_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in sorted(unknown)})
    target = WebhookTarget.objects.select_for_update().get(pk=target.pk)
    before = {"url": target.url, "active": target.active}
    for name, value in changes.items():
        setattr(target, name, value)
    target.full_clean()
    target.save()
    audit_record(
        actor=actor,
        action="webhook_target.update",
        obj=target,
        before=before,
        after={"url": target.url, "active": target.active},
    )
    return target


@transaction.atomic
def webhook_target_delete(*, actor, target: WebhookTarget) -> None:
    require(actor, "webhook.manage")
    audit_record(actor=actor, action="webhook_target.delete", obj=target, before={"url": target.url})
    target.delete()


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def deliveries_create(*, run: RolloutRun, phase: str, payload: dict) -> int:
    """Create one pending delivery per active target (inside the weight-change transaction). Idempotent."""
    targets = list(WebhookTarget.objects.filter(environment_id=run.environment_id, active=True))
    rows = [
        WebhookDelivery(
            idempotency_key=f"rewind-run{run.pk}-{phase}-target{t.pk}",
            target=t,
            run=run,
            payload=payload,
            next_attempt_at=timezone.now(),
        )
        for t in targets
    ]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def deliver_due(*, run: RolloutRun, phase: str, settings: dict) -> tuple[int, WebhookDelivery | None]:
    """Send this phase's due deliveries. Returns (still pending count, a delivery that gave up, if any).

    Runs outside any transaction: network I/O never holds a row lock.
    """
    prefix = f"rewind-run{run.pk}-{phase}-"
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        run=run, idempotency_key__startswith=prefix, status=DeliveryStatus.PENDING
    ).filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    for delivery in due.select_related("target"):
        _attempt(delivery, settings)
    rows = WebhookDelivery.objects.filter(run=run, idempotency_key__startswith=prefix)
    failed = rows.filter(status=DeliveryStatus.FAILED).first()
    return rows.filter(status=DeliveryStatus.PENDING).count(), failed


def signed_post(
    *, url: str, secret: str, idempotency_key: str, body: bytes, timeout: float, headers: dict | None = None
) -> tuple[str, int | None]:
    """POST a body in Rewind's signed wire format. Returns (error, HTTP status); error is '' on a 2xx."""
    timestamp = str(int(time.time()))
    all_headers = {
        "Content-Type": "application/json",
        **(headers or {}),
        "Idempotency-Key": idempotency_key,
        "X-Rewind-Timestamp": timestamp,
        "X-Rewind-Signature": signature_for(secret, timestamp, body),
    }
    try:
        response = httpx.post(url, content=body, headers=all_headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500], None
    if not 200 <= response.status_code < 300:
        return f"HTTP {response.status_code}", response.status_code
    return "", response.status_code


def backoff_seconds(attempts: int, base: float) -> float:
    """Wait before attempt ``attempts + 1``: base, then twice that, then four times, and so on"""
    return base * (2 ** (attempts - 1))


def _attempt(delivery: WebhookDelivery, settings: dict) -> None:
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    error, _status = signed_post(
        url=delivery.target.url,
        secret=delivery.target.secret,
        idempotency_key=delivery.idempotency_key,
        body=body,
        timeout=settings["webhook_timeout_seconds"],
    )
    attempts = delivery.attempts + 1
    pending = WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING)
    if not error:
        pending.update(status=DeliveryStatus.DELIVERED, attempts=attempts, delivered_at=timezone.now(), last_error="")
        return
    if attempts >= settings["webhook_max_attempts"]:
        pending.update(status=DeliveryStatus.FAILED, attempts=attempts, last_error=error)
        return
    backoff = backoff_seconds(attempts, settings["webhook_backoff_seconds"])
    pending.update(attempts=attempts, last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=backoff))


def next_attempt_at(*, run: RolloutRun, phase: str):
    row = (
        WebhookDelivery.objects.filter(
            run=run, idempotency_key__startswith=f"rewind-run{run.pk}-{phase}-", status=DeliveryStatus.PENDING
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return row
