"""Change-event targets and deliveries, under the ``rollouts`` app label (imported from ``rollouts.models``)."""

from __future__ import annotations

from django.db import models

from rollouts.runs.models import DeliveryStatus


class ChangeEventFormat(models.TextChoices):
    PAGERDUTY = "pagerduty", "PagerDuty Events v2 change event"
    CDEVENTS = "cdevents", "CDEvents (service.deployed / service.rolledback)"


class ChangeEventTarget(models.Model):
    """Somewhere to tell about changes. The signing secret is kept as given: signing needs the key itself."""

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500, help_text="e.g. https://events.pagerduty.com/v2/change/enqueue")
    format = models.CharField(max_length=12, choices=ChangeEventFormat.choices)
    secret = models.CharField(max_length=200, help_text="Signs each body (X-Rewind-Signature)")
    routing_key = models.CharField(max_length=200, blank=True, help_text="PagerDuty: the integration key")
    feature = models.ForeignKey(
        "rollouts.Feature",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Only this feature's changes (blank: every feature)",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "rollouts"
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_format_display()})"


class ChangeKind(models.TextChoices):
    DEPLOYED = "deployed", "Deployed"
    STEP = "step", "Rollout step"
    ROLLED_BACK = "rolledback", "Rolled back"


class ChangeEventDelivery(models.Model):
    """One change for one target, written in the transaction of the change (an outbox row). The idempotency key is
    stable per (change, target): every retry, and a re-send after a worker crash, carries the same key."""

    idempotency_key = models.CharField(max_length=120, unique=True)
    target = models.ForeignKey(ChangeEventTarget, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=12, choices=ChangeKind.choices)
    environment = models.ForeignKey("rollouts.Environment", on_delete=models.CASCADE, related_name="+")
    summary = models.CharField(max_length=300)
    payload = models.JSONField(help_text="The body as sent (PagerDuty's routing key is added at sending time)")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "rollouts"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="change_delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.status})"
