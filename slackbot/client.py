"""The Slack Web API, always through here: configurable base URL, Retry-After honoured on 429, and
idempotent posts keyed by purpose (the stored ts means a retried task never posts twice)."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
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
    content changed and update_if_changed is set). The ts is stored right after Slack answers."""
    digest = _content_hash(text, blocks)
    existing = SlackMessage.objects.filter(purpose_key=purpose_key).first()
    client = slack_client()
    if existing and existing.ts:
        if update_if_changed and existing.content_hash != digest:
            client.chat_update(channel=existing.channel, ts=existing.ts, text=text, blocks=blocks)
            existing.content_hash = digest
            existing.save(update_fields=["content_hash", "updated_at"])
        return existing
    kwargs = {"channel": channel, "text": text}
    if blocks is not None:
        kwargs["blocks"] = blocks
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    response = client.chat_postMessage(**kwargs)
    values = {
        "channel": response.get("channel") or channel,
        "ts": response["ts"],
        "thread_ts": thread_ts,
        "content_hash": digest,
    }
    try:
        with transaction.atomic():
            message, _ = SlackMessage.objects.update_or_create(purpose_key=purpose_key, defaults=values)
    except IntegrityError:  # a concurrent duplicate delivery won the insert; keep its row
        message = SlackMessage.objects.get(purpose_key=purpose_key)
    return message


def dm_channel(slack_user_id: str) -> str:
    """The DM channel with a user (conversations.open is idempotent on Slack's side)."""
    response = slack_client().conversations_open(users=slack_user_id)
    return response["channel"]["id"]
