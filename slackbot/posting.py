"""What the Celery tasks do: announce incidents, create their channels, keep the four-layer board current,
pin messages reacted with :pushpin:, follow rollback runs in a thread. Slack calls happen outside
transactions; state changes go through the services."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from slack_sdk.errors import SlackApiError

from core.actors import system_actor
from core.audit import audit_record
from incidents.models import Incident, TimelineKind
from incidents.services import timeline_record
from rollouts.models import ACTIVE_RUN_STATES, RolloutRun
from slackbot import blocks, rollout_bridge
from slackbot.client import post_once, slack_client
from slackbot.identity import SlackUserProblem, slack_user_resolve
from slackbot.incident_commands import incident_for_channel, pin_message
from slackbot.models import SlackMessage
from slackbot.mrkdwn import escape

log = logging.getLogger(__name__)

# Posts and channel bookkeeping the bot does on its own (a worker answering an incident being opened).
SLACK_BOT = system_actor("slack bot")


def _incident(incident_id: int):
    return Incident.objects.select_related("commander").filter(pk=incident_id).first()


def _diagnoses(incident) -> list:
    return list(incident.layer_diagnoses.select_related("owner").order_by("id"))


def incident_channel_name(incident) -> str:
    return f"inc-{incident.pk}-{slugify(incident.title)}"[:80].rstrip("-")


def incident_channel_create(incident) -> str:
    """Create the incident channel once (the id is stored on the incident) and invite the people."""
    if incident.slack_channel_id:
        return incident.slack_channel_id
    client = slack_client()
    name = incident_channel_name(incident)
    try:
        channel_id = client.conversations_create(name=name)["channel"]["id"]
    except SlackApiError as exc:
        if exc.response.get("error") != "name_taken":
            raise
        # A retried task created it already but died before storing the id: find it by name.
        channel_id = next(c["id"] for c in client.conversations_list(limit=1000)["channels"] if c.get("name") == name)
    if Incident.objects.filter(pk=incident.pk, slack_channel_id="").update(slack_channel_id=channel_id):
        audit_record(
            actor=SLACK_BOT,
            action="incident.slack_channel",
            obj=incident,
            before={"slack_channel_id": ""},
            after={"slack_channel_id": channel_id},
        )
        timeline_record(
            actor=SLACK_BOT,
            incident=incident,
            kind=TimelineKind.EDIT,
            text=f"Slack channel #{name} created",
            data={"slack_channel_id": channel_id},
            source="slack",
            external_ref=f"slack:channel/{channel_id}",
        )
    incident.refresh_from_db(fields=["slack_channel_id"])
    people = [incident.commander, *[d.owner for d in _diagnoses(incident)]]
    slack_ids = sorted({p.slack_user_id for p in people if p is not None and p.slack_user_id})
    if slack_ids:
        try:
            client.conversations_invite(channel=incident.slack_channel_id, users=",".join(slack_ids))
        except SlackApiError as exc:
            if exc.response.get("error") != "already_in_channel":
                raise
    return incident.slack_channel_id


def incident_announce(incident_id: int, *, create_channel: bool) -> None:
    incident = _incident(incident_id)
    if incident is None:
        return
    channel_id = incident_channel_create(incident) if create_channel else incident.slack_channel_id
    if settings.SLACK_ANNOUNCE_CHANNEL:
        where = f" in <#{channel_id}>" if channel_id else ""
        post_once(
            purpose_key=f"incident:{incident.pk}:announce",
            channel=settings.SLACK_ANNOUNCE_CHANNEL,
            text=(
                f":rotating_light: <{blocks.incident_url(incident)}|Incident #{incident.pk}> `{incident.severity}` "
                f"*{escape(incident.title)}* declared by {escape(incident.reporter or 'someone')}{where}."
            ),
        )
    incident_board_post(incident.pk)


def incident_board_post(incident_id: int) -> None:
    """The four-layer board: posted once in the incident's channel (else the announce channel), then edited."""
    incident = _incident(incident_id)
    if incident is None:
        return
    channel = incident.slack_channel_id or settings.SLACK_ANNOUNCE_CHANNEL
    if not channel:
        return
    text, body = blocks.incident_board(incident, _diagnoses(incident))
    post_once(
        purpose_key=f"incident:{incident.pk}:board", channel=channel, text=text, blocks=body, update_if_changed=True
    )


def pin_reaction(*, channel: str, ts: str, slack_user_id: str) -> None:
    incident = incident_for_channel(channel)
    if incident is None:
        return
    try:
        actor = slack_user_resolve(slack_user_id)
    except SlackUserProblem as exc:
        log.info("pushpin from %s ignored: %s", slack_user_id, exc)
        return
    history = slack_client().conversations_history(channel=channel, latest=ts, inclusive=True, limit=1)
    messages = [m for m in history.get("messages", []) if m.get("ts") == ts]
    if not messages:
        return
    try:
        pin_message(actor=actor, incident=incident, channel=channel, message=messages[0])
    except PermissionDenied as exc:
        log.info("pushpin from %s ignored: %s", slack_user_id, exc)


def rollback_threads_follow() -> int:
    """Every rollback that has a Slack thread and is still in flight (or finished in the last 10 minutes)."""
    heads = {
        int(m.purpose_key.split(":")[1]): m.channel
        for m in SlackMessage.objects.filter(
            purpose_key__startswith="rollback:",
            purpose_key__endswith=":head",
            created_at__gte=timezone.now() - dt.timedelta(days=1),
        )
    }
    recent = timezone.now() - dt.timedelta(minutes=10)
    followed = RolloutRun.objects.filter(pk__in=heads).filter(
        Q(state__in=ACTIVE_RUN_STATES) | Q(finished_at__gte=recent)
    )
    count = 0
    for run_id in followed.values_list("pk", flat=True):
        rollback_progress(run_id, channel=heads[run_id])
        count += 1
    return count


def rollback_progress(run_id: int, *, channel: str) -> bool:
    """Post the run's head message once, then one thread reply per state it reaches. True when finished."""
    progress = rollout_bridge.run_progress(run_id)
    if progress is None:
        return True
    status, finished, line = progress
    # The head message tracks the run (edited in place); each state reached gets one reply in its thread.
    head = post_once(
        purpose_key=f"rollback:{run_id}:head", channel=channel, text=f":rewind: {escape(line)}", update_if_changed=True
    )
    post_once(
        purpose_key=f"rollback:{run_id}:state:{status}",
        channel=head.channel,
        thread_ts=head.ts,
        text=f"Run #{run_id} is now *{status}*.",
    )
    return finished
