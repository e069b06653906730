"""Thin Celery tasks: ids in, load, call one function. Every post is keyed (post_once), so a retried task
never double-posts."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx
from celery import shared_task
from django.conf import settings
from slack_sdk.errors import SlackApiError

from slackbot import posting, reminders
from slackbot.client import SlackPostInProgress
from slackbot.rollback_commands import plan_message

log = logging.getLogger(__name__)

# SlackPostInProgress: another task is posting the same message right now; come back when it has the ts.
SLACK_RETRY = {
    "autoretry_for": (SlackApiError, httpx.TransportError, SlackPostInProgress),
    "retry_backoff": 2,
    "max_retries": 5,
}


def _trusted_response_url(url: str) -> bool:
    """Only Slack's hooks host (or the configured API host, e.g. a local fake in tests) may receive replies."""
    host = urlsplit(url).hostname or ""
    return host == "hooks.slack.com" or host == (urlsplit(settings.SLACK_API_BASE_URL).hostname or "")


@shared_task(name="slackbot.respond", soft_time_limit=20, time_limit=30, **SLACK_RETRY)
def respond(response_url: str, message: dict) -> None:
    if not _trusted_response_url(response_url):
        log.warning("refusing to post to untrusted response_url %s", response_url)
        return
    httpx.post(response_url, json=message, timeout=10).raise_for_status()


@shared_task(name="slackbot.rollback_plan", soft_time_limit=20, time_limit=30, **SLACK_RETRY)
def rollback_plan(text: str, response_url: str) -> None:
    respond(response_url, plan_message(text))


@shared_task(name="slackbot.incident_announce", soft_time_limit=60, time_limit=90, **SLACK_RETRY)
def incident_announce(incident_id: int, create_channel: bool) -> None:
    posting.incident_announce(incident_id, create_channel=create_channel)


@shared_task(name="slackbot.incident_board", soft_time_limit=30, time_limit=60, **SLACK_RETRY)
def incident_board(incident_id: int) -> None:
    posting.incident_board_post(incident_id)


@shared_task(name="slackbot.pin_reaction", soft_time_limit=30, time_limit=60, **SLACK_RETRY)
def pin_reaction(channel: str, ts: str, slack_user_id: str) -> None:
    posting.pin_reaction(channel=channel, ts=ts, slack_user_id=slack_user_id)


@shared_task(name="slackbot.rollback_progress", soft_time_limit=30, time_limit=60, **SLACK_RETRY)
def rollback_progress(run_id: int, channel: str) -> None:
    posting.rollback_progress(run_id, channel=channel)


@shared_task(name="slackbot.rollback_threads_follow", soft_time_limit=50, time_limit=60)
def rollback_threads_follow() -> None:
    """Beat: post each new state of rollbacks confirmed in Slack into their threads."""
    posting.rollback_threads_follow()


@shared_task(name="slackbot.send_reminders", soft_time_limit=240, time_limit=300)
def send_reminders() -> None:
    reminders.reminders_send()
