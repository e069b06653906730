"""What the Slack bot must remember so that Slack's retries and Celery's retries never repeat a side effect."""

from __future__ import annotations

from django.db import models


class SlackEventReceipt(models.Model):
    """One row per Events API delivery we acted on; Slack retries the same event_id when we are slow."""

    event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class SlackMessage(models.Model):
    """A message the bot posted, keyed by why it was posted. A retried task finds the stored ts and does not
    post again (it updates the message if the content changed). Reminders use a key with the date, so the row
    is also the record that today's reminder was sent."""

    purpose_key = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=40)
    ts = models.CharField(max_length=32, blank=True)
    thread_ts = models.CharField(max_length=32, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.purpose_key} -> {self.channel}/{self.ts}"


class SlackTimelinePin(models.Model):
    """A Slack message added to an incident timeline (shortcut or :pushpin:), once per message.

    A message lives in one channel and a channel belongs to one incident, so (channel, ts) is the key; the
    incident id is kept as a plain number so this app's migrations do not depend on the incidents app's."""

    incident_id = models.BigIntegerField(db_index=True)
    channel = models.CharField(max_length=40)
    message_ts = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "message_ts"], name="uniq_slack_pin_per_message")]

    def __str__(self) -> str:
        return f"{self.channel}/{self.message_ts}"


class SlackRequestSeen(models.Model):
    """A signed Slack request already accepted, by its timestamp and signature, kept while that signature could
    still pass the signing window. A second delivery of the same bytes (a replay) finds the row and is refused.

    Kept in the database, the one store every web process shares in every deployment (embedded SQLite as
    much as PostgreSQL behind many gunicorn workers); Slack requests come at human speed, so one insert each
    costs nothing, and in tests the rows roll back with each test like the rest of its data."""

    key = models.CharField(max_length=120, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key
