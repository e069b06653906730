"""Alert sources, routing rules, the alerts and groups seen, and the log of notifications received.

Registered under the ``incidents`` app label (imported from ``incidents.models``), so they migrate with it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from incidents.models import Incident, Severity


class AlertSourceKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana alerting"
    PAGERDUTY = "pagerduty", "PagerDuty (v3 webhooks)"
    GENERIC = "generic", "Generic JSON"


# Senders that sign the body with HMAC; the others can only send a fixed Authorization header.
SIGNING_KINDS = (AlertSourceKind.PAGERDUTY,)


class AlertSource(models.Model):
    """One sender posting to ``/hooks/<kind>/<slug>``. A bearer secret is kept only as its SHA-256 (we never need
    it back); an HMAC signing secret has to be kept as given, because checking a signature needs the key."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=AlertSourceKind.choices)
    secret_hash = models.CharField(max_length=64, blank=True)
    signing_secret = models.CharField(max_length=200, blank=True)
    environment = models.ForeignKey(
        "rollouts.Environment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where an alert goes when no routing rule matches (blank: it is logged as unrouted)",
    )
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.SEV3)
    field_mapping = models.JSONField(default=dict, blank=True, help_text="Generic sources: where each field is")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "incidents"
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def signs(self) -> bool:
        return self.kind in SIGNING_KINDS


class AlertRouteAction(models.TextChoices):
    OPEN = "open", "Open a new incident"
    ATTACH = "attach", "Attach to the environment's open incident, else open one"


class AlertRoute(models.Model):
    """Label matchers (all must equal) → where the alert goes. The first matching rule by position wins."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="routes")
    position = models.PositiveIntegerField(default=0)
    matchers = models.JSONField(default=dict, help_text='e.g. {"feature": "support-assistant"}')
    environment = models.ForeignKey("rollouts.Environment", on_delete=models.PROTECT, related_name="+")
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True, help_text="Blank: the source's")
    action = models.CharField(max_length=8, choices=AlertRouteAction.choices, default=AlertRouteAction.ATTACH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "incidents"
        ordering = ["source", "position", "id"]

    def __str__(self) -> str:
        matchers = ", ".join(f"{k}={v}" for k, v in sorted(self.matchers.items())) or "(any)"
        return f"{matchers} → {self.environment}"

    def matches(self, labels: dict) -> bool:
        return all(str(labels.get(k, "")) == str(v) for k, v in self.matchers.items())


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class AlertGroup(models.Model):
    """A sender's group (Alertmanager's groupKey, a PagerDuty incident): every notification of the group lands on
    the same incident while that incident is open. Unique per source, so two concurrent first notifications cannot
    both open one."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="groups")
    key = models.CharField(max_length=500)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=8, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    notifications = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "incidents"
        constraints = [models.UniqueConstraint(fields=["source", "key"], name="uniq_alert_group_key")]

    def __str__(self) -> str:
        return f"{self.source}:{self.key[:60]}"


class Alert(models.Model):
    """One alert by its fingerprint: the latest labels, annotations and state the sender told us."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(max_length=200)
    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="alerts")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=AlertStatus.choices)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    generator_url = models.URLField(max_length=1000, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    notifications = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "incidents"
        constraints = [models.UniqueConstraint(fields=["source", "fingerprint"], name="uniq_alert_fingerprint")]

    def __str__(self) -> str:
        return f"{self.name or self.fingerprint} ({self.status})"


class NotificationOutcome(models.TextChoices):
    OPENED = "opened", "Opened an incident"
    ATTACHED = "attached", "Attached to an open incident"
    DEDUPLICATED = "deduplicated", "De-duplicated onto its incident"
    RESOLVED = "resolved", "Resolved alerts annotated"
    IGNORED = "ignored", "Ignored"
    UNROUTED = "unrouted", "No routing rule matched"


class AlertNotification(models.Model):
    """One accepted notification (authenticated and well-formed) and what became of it, with the reason."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="notifications")
    received_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=NotificationOutcome.choices)
    reason = models.TextField()
    status = models.CharField(max_length=8, choices=AlertStatus.choices)
    group_key = models.CharField(max_length=500)
    alert_count = models.PositiveIntegerField(default=0)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payload = models.JSONField()

    class Meta:
        app_label = "incidents"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["source", "-received_at"], name="alert_notification_recent_idx")]

    def __str__(self) -> str:
        return f"{self.source} {self.outcome} @ {self.received_at:%H:%M:%S}"


class AlertRefusal(models.Model):
    """A request to a known source that was refused (bad secret or signature, malformed body). Only the reason is
    kept — never the body — and only the last few per source, so an unauthenticated caller cannot fill the
    database; it is what the source's page shows an admin debugging a sender's configuration."""

    KEEP = 20

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="refusals")
    received_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=300)
    remote_addr = models.CharField(max_length=64, blank=True)

    class Meta:
        app_label = "incidents"
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source} {self.status_code} {self.reason[:40]}"
