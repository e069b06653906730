"""Rollout runs move an environment's traffic between releases step by step; the routing table and the
webhooks tell gateways about each weight change."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from rollouts.registry.models import Environment, Release


class RunState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    SUCCEEDED = "succeeded", "Succeeded"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ABORTED = "aborted", "Aborted"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATES = (RunState.PENDING, RunState.RUNNING, RunState.PAUSED, RunState.ROLLING_BACK)
FINAL_RUN_STATES = (RunState.SUCCEEDED, RunState.ROLLED_BACK, RunState.ABORTED, RunState.FAILED)


class RunKind(models.TextChoices):
    ROLLOUT = "rollout", "Rollout"
    ROLLBACK = "rollback", "Rollback"


class RunMode(models.TextChoices):
    STAGED = "staged", "Staged"
    IMMEDIATE = "immediate", "Immediate"


class RolloutRun(models.Model):
    """Moves an environment's traffic from ``stable_release`` to ``candidate_release`` through ``steps``.

    A rollback is a run whose candidate is an earlier release. Traffic weights live here while the run is in
    flight; once it finishes a DeploymentEvent records the outcome.
    """

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="runs")
    stable_release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Live when it started"
    )
    candidate_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.ROLLOUT)
    mode = models.CharField(max_length=16, choices=RunMode.choices, default=RunMode.STAGED)
    steps = models.JSONField(default=list)
    config = models.JSONField(default=dict, blank=True, help_text="Per-run timings (seconds) and judge settings")
    step_index = models.PositiveIntegerField(default=0)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_looks = models.PositiveIntegerField(default=0, help_text="Judgements made in the current step")
    candidate_weight = models.PositiveSmallIntegerField(default=0, help_text="Percent of traffic on the candidate")
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.PENDING)
    state_reason = models.TextField(blank=True)
    paused_from = models.CharField(max_length=16, blank=True, help_text="State a resume returns to")
    aborting = models.BooleanField(default=False, help_text="Rolling back because someone aborted it")
    next_check_at = models.DateTimeField(null=True, blank=True, help_text="When the tick should drive it next")
    # A worker claims a step with a lease; a claim whose lease expired belonged to a worker that died.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    incident_id = models.BigIntegerField(null=True, blank=True, help_text="Linked incident, if any")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    override_reason = models.TextField(blank=True, help_text="Approver's reason to override compatibility checks")
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rollback_started_at = models.DateTimeField(null=True, blank=True)
    time_to_rollback = models.DurationField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment"],
                condition=models.Q(state__in=[s.value for s in ACTIVE_RUN_STATES]),
                name="one_active_run_per_environment",
            )
        ]
        indexes = [models.Index(fields=["state", "next_check_at"], name="run_state_next_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.environment} → #{self.candidate_release.number}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_RUN_STATES

    @property
    def current_step(self) -> dict | None:
        return self.steps[self.step_index] if self.step_index < len(self.steps) else None


class RolloutTransition(models.Model):
    run = models.ForeignKey(RolloutRun, on_delete=models.CASCADE, related_name="transitions")
    old_state = models.CharField(max_length=16, choices=RunState.choices)
    new_state = models.CharField(max_length=16, choices=RunState.choices)
    step_index = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, default="system")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "created_at", "id"]

    def __str__(self) -> str:
        return f"run #{self.run_id}: {self.old_state} → {self.new_state}"


class WebhookTarget(models.Model):
    """A gateway that wants each weight change of an environment pushed to it (HMAC-SHA256 signed)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="webhook_targets")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["environment", "id"]

    def __str__(self) -> str:
        return f"{self.environment} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One weight change for one target. The idempotency key is stable per (run, step, target), so a retried
    task finds the delivered row and never sends it again."""

    idempotency_key = models.CharField(max_length=120, unique=True)
    target = models.ForeignKey(WebhookTarget, on_delete=models.CASCADE, related_name="deliveries")
    run = models.ForeignKey(RolloutRun, on_delete=models.CASCADE, related_name="deliveries")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.status})"


class RoutingTable(models.Model):
    """The routing table gateways read, materialised on every weight change so the read is one query.

    ``version`` increases with each change; the ETag is derived from it and the body's hash.
    """

    environment = models.OneToOneField(Environment, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.PositiveBigIntegerField(default=0)
    etag = models.CharField(max_length=80)
    body = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"routing of environment {self.environment_id} v{self.version}"
