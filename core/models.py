from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from core.immutable import ImmutableModel


class Role(models.TextChoices):
    """Ordered from least to most trusted; each role can do everything the roles before it can."""

    VIEWER = "viewer", "Viewer"
    RESPONDER = "responder", "Responder"
    APPROVER = "approver", "Approver"
    ADMIN = "admin", "Admin"


ROLE_RANK = {role: rank for rank, role in enumerate(Role)}


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    slack_user_id = models.CharField(max_length=32, blank=True, db_index=True)

    @property
    def effective_role(self) -> Role:
        if self.is_superuser:
            return Role.ADMIN
        return Role(self.role)

    def has_role(self, minimum: Role | str) -> bool:
        return self.is_active and ROLE_RANK[self.effective_role] >= ROLE_RANK[Role(minimum)]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Team(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    slack_channel = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AuditEntry(ImmutableModel):
    """Append-only: who did what to which object, with the state before and after."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Kept even if the user is removed; 'system' for workers")
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, help_text="app_label.model")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-created_at"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_repr}"


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the heartbeat task (beat sends it every minute); shown on /healthz."""

    worker = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} @ {self.seen_at:%H:%M:%S}"


class OutboxTask(models.Model):
    """A task that a committed change needs, written in the same transaction as the change.

    Dispatched to the broker after commit; the beat sweep re-dispatches rows the broker did not take, and rows
    whose task never reported back (a worker killed mid-task, a broker that dropped the message). Tasks are
    idempotent, so a second delivery does nothing twice.
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["done_at", "dispatched_at"], name="outbox_pending")]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} #{self.pk}"
