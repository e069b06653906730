"""The Slack Web API, always through here: configurable base URL, Retry-After honoured on 429, and
idempotent posts keyed by purpose (the stored ts means a retried task never posts twice)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from slackbot.models import SlackMessage


def slack_client() -> WebClient:
    base_url = settings.SLACK_API_BASE_URL
    if not base_url.endswith("/"):
        base_url += "/"
    return WebClient(
        token=settings.SLACK_BOT_TOKEN or None,
        base_url=base_url,
        timeout=10,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
    )


def _content_hash(text: str, blocks: list | None) -> str:
    return hashlib.sha256(json.dumps([text, blocks], sort_keys=True).encode()).hexdigest()


class SlackPostInProgress(Exception):
    """Another task holds the claim on this purpose_key and is posting right now; retry later."""


# A claim older than this belonged to a task that died between claiming and storing the ts.
CLAIM_TIMEOUT = dt.timedelta(minutes=2)


def _claim(purpose_key: str, channel: str) -> tuple[SlackMessage, bool]:
    """(row, True) if this task may post: it inserted the claim row, or took over a stale one."""
    try:
        with transaction.atomic():
            return SlackMessage.objects.create(purpose_key=purpose_key, channel=channel), True
    except IntegrityError:
        pass
    row = SlackMessage.objects.get(purpose_key=purpose_key)
    if row.ts:
        return row, False
    stale = timezone.now() - CLAIM_TIMEOUT
    taken = SlackMessage.objects.filter(pk=row.pk, ts="", updated_at__lt=stale).update(updated_at=timezone.now())
    if not taken:
        raise SlackPostInProgress(purpose_key)
    return row, True


def post_once(
    *,
    purpose_key: str,
    channel: str,
    text: str,
    blocks: list | None = None,
    thread_ts: str = "",
    update_if_changed: bool = False,
) -> SlackMessage:
    """Post a message once per purpose_key. If it was posted already, do nothing (or chat.update it when the
    content changed and update_if_changed is set).

    A claim row is inserted before posting (the unique key decides between concurrent tasks) and the ts is
    stored right after Slack answers; a task that finds another's fresh claim raises SlackPostInProgress so
    Celery retries it later instead of posting a duplicate."""
    digest = _content_hash(text, blocks)
    row, may_post = _claim(purpose_key, channel)
    client = slack_client()
    if not may_post:
        if update_if_changed and row.content_hash != digest:
            client.chat_update(channel=row.channel, ts=row.ts, text=text, blocks=blocks)
            SlackMessage.objects.filter(pk=row.pk).update(content_hash=digest, updated_at=timezone.now())
            row.content_hash = digest
        return row
    kwargs = {"channel": channel, "text": text}
    if blocks is not None:
        kwargs["blocks"] = blocks
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    try:
        response = client.chat_postMessage(**kwargs)
    except Exception:
        # Nothing was posted: release the claim so a retry may post.
        SlackMessage.objects.filter(pk=row.pk, ts="").delete()
        raise
    row.channel = response.get("channel") or channel
    row.ts = response["ts"]
    row.thread_ts = thread_ts
    row.content_hash = digest
    row.save(update_fields=["channel", "ts", "thread_ts", "content_hash", "updated_at"])
    return row


def dm_channel(slack_user_id: str) -> str:
    """The DM channel with a user (conversations.open is idempotent on Slack's side)."""
    response = slack_client().conversations_open(users=slack_user_id)
    return response["channel"]["id"]
