"""Dependent workflows: who relies on a behaviour of a release, reviewed before a rollback takes it away."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.immutable import ImmutableModel
from rollouts.registry.models import Environment, Release


class Behaviour(models.TextChoices):
    OUTPUT_FORMAT = "output_format", "Output format or parser"
    PROMPT_STRATEGY = "prompt_strategy", "Prompt strategy built around the model"
    REVIEW_LOOP = "review_loop", "Review loop"
    CONFIDENCE = "confidence", "Reading of confidence"
    TONE = "tone", "Tone"
    OTHER = "other", "Other"


class ImpactStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    NOTIFIED = "notified", "Notified"
    ACCEPTED = "accepted", "Accepted"
    PINNED = "pinned", "Pinned"


class ImpactSource(models.TextChoices):
    MANUAL = "manual", "Entered by hand"
    DETECTED = "detected", "Detected from observations"


class DependentWorkflow(models.Model):
    """A customer's or team's workflow that relies on a behaviour of a release; reviewed before a rollback."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="dependent_workflows")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="dependent_workflows")
    workflow_id = models.CharField(max_length=120, help_text="Workflow id as gateways report it")
    name = models.CharField(max_length=200, blank=True)
    customer = models.CharField(max_length=120, blank=True, help_text="Customer or tenant")
    team = models.ForeignKey("core.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    behaviour = models.CharField(max_length=20, choices=Behaviour.choices, default=Behaviour.OTHER)
    downstream_system = models.CharField(max_length=200, blank=True)
    contact = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=ImpactStatus.choices, default=ImpactStatus.PENDING)
    migration_path = models.TextField(blank=True)
    evidence = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=ImpactSource.choices, default=ImpactSource.MANUAL)
    detected_reasons = models.JSONField(default=list, blank=True)
    detection = models.JSONField(default=dict, blank=True, help_text="Numbers behind the detection")
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["environment", "release", "status", "workflow_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "release", "workflow_id"], name="uniq_dependent_workflow_per_release"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} ({self.customer or 'unknown customer'}) on {self.release}"

    @property
    def is_reviewed(self) -> bool:
        return self.status != ImpactStatus.PENDING


class ImpactWaiver(ImmutableModel):
    """An approver's emergency decision to roll back without waiting for every review."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="impact_waivers")
    from_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Waiver for rolling back {self.from_release} in {self.environment.name}"


class ImpactFollowup(models.Model):
    """After a rollback: follow each dependent workflow's error rate for a window."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="impact_followups")
    rolled_back_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    to_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    window_minutes = models.PositiveIntegerField(default=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Follow-up of rollback {self.rolled_back_release} -> {self.to_release} in {self.environment.name}"
