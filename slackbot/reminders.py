"""Daily nudges from Celery beat: overdue action items to their owners, unowned layers to the commander.

Each reminder is keyed by what it is about and the date, so beat firing many times a day (or a retried task)
sends it once per day; the SlackMessage row is the record that it was sent."""

from __future__ import annotations

import logging

from django.utils import timezone
from slack_sdk.errors import SlackApiError

from incidents.models import OPEN_STATUSES, ActionItem, Incident
from slackbot.client import SlackPostInProgress, dm_channel, post_once
from slackbot.models import SlackMessage

log = logging.getLogger(__name__)


def overdue_action_items(today):
    return (
        ActionItem.objects.overdue(today)
        .select_related("owner", "incident")
        .exclude(owner__slack_user_id="")
        .order_by("due_date", "id")
    )


def incidents_with_unowned_layers():
    return (
        Incident.objects.select_related("commander")
        .filter(layer_diagnoses__owner__isnull=True, commander__isnull=False, status__in=OPEN_STATUSES)
        .exclude(commander__slack_user_id="")
        .distinct()
        .order_by("id")
    )


def _send(key: str, slack_user_id: str, text: str) -> bool:
    if SlackMessage.objects.filter(purpose_key=key).exclude(ts="").exists():
        return False
    try:
        post_once(purpose_key=key, channel=dm_channel(slack_user_id), text=text)
    except (SlackApiError, SlackPostInProgress) as exc:  # one person's reminder must not stop the others
        log.warning("reminder %s not sent: %s", key, exc)
        return False
    return True


def reminders_send(today=None) -> int:
    today = today or timezone.localdate()
    sent = 0
    for item in overdue_action_items(today):
        days = (today - item.due_date).days
        sent += _send(
            f"reminder:action_item:{item.pk}:{today.isoformat()}",
            item.owner.slack_user_id,
            f":alarm_clock: Action item #{item.pk} “{item.title}” (incident #{item.incident_id}) was due "
            f"{item.due_date:%Y-%m-%d}, {days} day{'s' if days != 1 else ''} ago.",
        )
    for incident in incidents_with_unowned_layers():
        layers = [d.get_layer_display() for d in incident.layer_diagnoses.filter(owner__isnull=True).order_by("id")]
        sent += _send(
            f"reminder:unowned_layers:{incident.pk}:{today.isoformat()}",
            incident.commander.slack_user_id,
            f":busts_in_silhouette: Incident #{incident.pk} “{incident.title}” has no owner for: {', '.join(layers)}. "
            "Assign them with `/incident owner <layer> @user` in the incident channel.",
        )
    return sent
