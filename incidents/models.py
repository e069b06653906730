from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models.functions import Concat
from django.utils import timezone

from core.immutable import ImmutableModel
from diagnostics.models import DiagnosisLayer


class Severity(models.TextChoices):
    SEV1 = "sev1", "SEV1"
    SEV2 = "sev2", "SEV2"
    SEV3 = "sev3", "SEV3"
    SEV4 = "sev4", "SEV4"


# Shown next to the severity picker and in the API schema, so people pick by impact, not by mood.
SEVERITY_DEFINITIONS: dict[str, str] = {
    Severity.SEV1: (
        "Critical: a production AI feature is down or producing harmful, unsafe or legally risky output for many "
        "users, or customer data is exposed. All hands, commander named within 15 minutes, updates every 30 minutes."
    ),
    Severity.SEV2: (
        "Major: a production feature's quality or availability is clearly degraded for a large share of users or a "
        "key customer workflow (e.g. answers measurably worse, structured output invalid), no safe workaround."
    ),
    Severity.SEV3: (
        "Minor: degraded behaviour for a segment of users or an internal workflow, a workaround exists, or a "
        "regression caught in staging/canary before most users saw it."
    ),
    Severity.SEV4: (
        "Low: cosmetic or isolated problem, a near miss, or a monitoring gap worth a follow-up; no user-visible harm."
    ),
}


class Status(models.TextChoices):
    REPORTED = "reported", "Reported"
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MITIGATING = "mitigating", "Mitigating"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
    POSTMORTEM = "postmortem", "Postmortem"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


# The lifecycle, in one table. Going back a step is allowed where a fix turns out not to hold.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.REPORTED: (Status.INVESTIGATING, Status.CANCELLED),
    Status.INVESTIGATING: (Status.IDENTIFIED, Status.MITIGATING, Status.CANCELLED),
    Status.IDENTIFIED: (Status.MITIGATING, Status.INVESTIGATING),
    Status.MITIGATING: (Status.MONITORING, Status.IDENTIFIED),
    Status.MONITORING: (Status.RESOLVED, Status.MITIGATING),
    Status.RESOLVED: (Status.POSTMORTEM, Status.MONITORING),
    Status.POSTMORTEM: (Status.CLOSED,),
    Status.CLOSED: (),
    Status.CANCELLED: (),
}

OPEN_STATUSES = (
    Status.REPORTED,
    Status.INVESTIGATING,
    Status.IDENTIFIED,
    Status.MITIGATING,
    Status.MONITORING,
)


class IncidentSource(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    SLACK = "slack", "Slack"
    ALERT = "alert", "Alert"
    DEMO = "demo", "Demo data"


class Incident(models.Model):
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REPORTED)
    impact_started_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    features = models.ManyToManyField("rollouts.Feature", related_name="incidents", blank=True)
    feature_environments = models.ManyToManyField("rollouts.Environment", related_name="incidents", blank=True)
    linked_releases = models.ManyToManyField(
        "rollouts.Release", related_name="incidents", blank=True, help_text="Live in an affected environment"
    )
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="commanded_incidents"
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reported_incidents"
    )
    source = models.CharField(max_length=8, choices=IncidentSource.choices, default=IncidentSource.WEB)
    slack_channel_id = models.CharField(max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # What free-text search reads: one stored column, so PostgreSQL can keep one trigram index over it
    # (migration 0005) instead of scanning title and summary with ILIKE.
    search_text = models.GeneratedField(
        expression=Concat("title", models.Value(" "), "summary", output_field=models.TextField()),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="incident_recent_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="incident_status_idx"),
            models.Index(fields=["severity", "-created_at", "-id"], name="incident_severity_idx"),
        ]

    def __str__(self) -> str:
        return f"INC-{self.pk}: {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"

    def can_transition_to(self, status: str) -> bool:
        return status in TRANSITIONS.get(self.status, ())

    @property
    def allowed_transitions(self) -> tuple[str, ...]:
        return TRANSITIONS.get(self.status, ())

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def impact_ended_at(self) -> dt.datetime | None:
        return self.mitigated_at or self.resolved_at

    @property
    def severity_definition(self) -> str:
        return SEVERITY_DEFINITIONS[self.severity]

    @property
    def spans_days(self) -> bool:
        end = self.resolved_at or timezone.now()
        return self.impact_started_at.date() != end.date()


class TimelineKind(models.TextChoices):
    OPENED = "opened", "Opened"
    STATUS = "status", "Status change"
    EDIT = "edit", "Details edited"
    NOTE = "note", "Note"
    OWNER = "owner", "Owner change"
    VERDICT = "verdict", "Layer verdict"
    EVIDENCE = "evidence", "Evidence"
    ACTION_ITEM = "action_item", "Action item"
    POSTMORTEM = "postmortem", "Postmortem"
    CHANGE = "change", "Change event"
    ROLLOUT = "rollout", "Rollout"
    DEPLOYMENT = "deployment", "Deployment"
    ROLLBACK = "rollback", "Rollback"
    ALERT = "alert", "Alert"


class TimelineEvent(models.Model):
    """Something that happened during an incident. Deployments are not copied here: the timeline reads them
    from rollouts.DeploymentEvent for the affected environments (one source of truth)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline_events")
    kind = models.CharField(max_length=16, choices=TimelineKind.choices)
    text = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=8, choices=IncidentSource.choices, default=IncidentSource.WEB)
    external_ref = models.CharField(max_length=120, blank=True, help_text="e.g. a Slack message ts, to dedupe")
    occurred_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["incident", "occurred_at", "id"], name="timeline_incident_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "external_ref"],
                condition=~models.Q(external_ref=""),
                name="uniq_timeline_external_ref",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"

    @property
    def is_editable(self) -> bool:
        return self.kind == TimelineKind.NOTE


class ChangeEvent(ImmutableModel):
    """A change Rewind does not version (a monitoring threshold, a UI release, a data pipeline run),
    posted from outside with the layer it touches."""

    layer = models.CharField(max_length=8, choices=DiagnosisLayer.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    system = models.CharField(max_length=80, blank=True, help_text="Where it came from, e.g. grafana, airflow")
    url = models.URLField(blank=True)
    feature = models.ForeignKey(
        "rollouts.Feature", null=True, blank=True, on_delete=models.PROTECT, related_name="change_events"
    )
    environment = models.ForeignKey(
        "rollouts.Environment", null=True, blank=True, on_delete=models.PROTECT, related_name="change_events"
    )
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["feature", "occurred_at"], name="change_feature_time_idx")]

    def __str__(self) -> str:
        return f"[{self.layer}] {self.title}"


class Priority(models.TextChoices):
    P1 = "p1", "P1 (this week)"
    P2 = "p2", "P2 (this month)"
    P3 = "p3", "P3 (this quarter)"


class ActionKind(models.TextChoices):
    DETECTIVE = "detective", "Detective"
    PREVENTIVE = "preventive", "Preventive"
    CORRECTIVE = "corrective", "Corrective"


class ActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    WONT_DO = "wont_do", "Won't do"


ACTIVE_ACTION_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)


class ActionItemQuerySet(models.QuerySet):
    def overdue(self, today: dt.date | None = None):
        return self.filter(status__in=ACTIVE_ACTION_STATUSES, due_date__lt=today or timezone.localdate())


class ActionItem(models.Model):
    """A follow-up: exactly one owner (a person) and a due date, both required by the database too."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=200)
    layer = models.CharField(max_length=8, choices=DiagnosisLayer.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="action_items")
    due_date = models.DateField()
    priority = models.CharField(max_length=4, choices=Priority.choices, default=Priority.P2)
    kind = models.CharField(max_length=12, choices=ActionKind.choices, default=ActionKind.CORRECTIVE)
    status = models.CharField(max_length=12, choices=ActionStatus.choices, default=ActionStatus.OPEN)
    wont_do_reason = models.TextField(blank=True)
    tracker_url = models.URLField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ActionItemQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [
            models.Index(fields=["owner", "status", "due_date"], name="action_owner_idx"),
            models.Index(fields=["status", "due_date"], name="action_status_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="wont_do") | ~models.Q(wont_do_reason=""),
                name="action_wont_do_needs_reason",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.status in ACTIVE_ACTION_STATUSES and self.due_date < timezone.localdate()


class PostmortemStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"


POSTMORTEM_TEXT_FIELDS = (
    "summary",
    "impact",
    "users_affected",
    "workflows_affected",
    "root_cause",
    "contributing_factors",
    "went_well",
    "went_poorly",
    "lessons",
)


class Postmortem(models.Model):
    """The working copy. Publishing freezes it into an immutable PostmortemRevision; editing after that
    starts the next revision (status back to draft), the published ones stay as they were."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    status = models.CharField(max_length=12, choices=PostmortemStatus.choices, default=PostmortemStatus.DRAFT)
    revision = models.PositiveIntegerField(default=1, help_text="Number the next publication will get")
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    users_affected = models.TextField(blank=True)
    workflows_affected = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    went_well = models.TextField(blank=True)
    went_poorly = models.TextField(blank=True)
    lessons = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Postmortem of {self.incident}"


class PostmortemRevision(ImmutableModel):
    postmortem = models.ForeignKey(Postmortem, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField(help_text="Everything shown: fields, timeline, diagnosis, action items")
    markdown = models.TextField()
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["postmortem", "-number"]
        constraints = [models.UniqueConstraint(fields=["postmortem", "number"], name="uniq_postmortem_revision_number")]

    def __str__(self) -> str:
        return f"{self.postmortem} r{self.number}"


# --- alert intake (incidents/alerts/): sources, routing rules, the alerts and groups seen, notifications received


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
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source} {self.status_code} {self.reason[:40]}"
