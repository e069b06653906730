"""The Slack Web API client: Retry-After honoured on 429, and posts keyed by purpose never repeat."""

from __future__ import annotations

import time

import pytest

from slackbot.client import post_once
from slackbot.models import SlackMessage


@pytest.mark.django_db
def test_a_rate_limited_post_waits_for_retry_after_then_succeeds_once(slack_settings, fake_slack):
    fake_slack.rate_limit("chat.postMessage", 1)
    started = time.monotonic()
    message = post_once(purpose_key="t:1", channel="C1", text="hello")
    assert time.monotonic() - started >= 1.0  # Retry-After: 1
    statuses = [c["status"] for c in fake_slack.calls_to("chat.postMessage")]
    assert statuses == [429, 200]
    assert message.ts and SlackMessage.objects.get(purpose_key="t:1").ts == message.ts


@pytest.mark.django_db
def test_posting_the_same_purpose_again_does_not_post_and_edits_only_when_changed(slack_settings, fake_slack):
    first = post_once(purpose_key="t:2", channel="C1", text="v1")
    again = post_once(purpose_key="t:2", channel="C1", text="v1", update_if_changed=True)
    changed = post_once(purpose_key="t:2", channel="C1", text="v2", update_if_changed=True)
    assert first.ts == again.ts == changed.ts
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    (update,) = fake_slack.calls_to("chat.update")
    assert update["args"] == {"channel": "C1", "ts": first.ts, "text": "v2"}


@pytest.mark.django_db
def test_a_slack_error_stores_nothing(slack_settings, fake_slack):
    from slack_sdk.errors import SlackApiError

    fake_slack.errors["chat.postMessage"] = "channel_not_found"
    with pytest.raises(SlackApiError):
        post_once(purpose_key="t:3", channel="CNOPE", text="x")
    assert not SlackMessage.objects.filter(purpose_key="t:3").exists()


@pytest.mark.django_db
def test_a_task_that_finds_another_posting_the_same_message_backs_off(slack_settings, fake_slack):
    from slackbot.client import SlackPostInProgress

    SlackMessage.objects.create(purpose_key="t:4", channel="C1")  # another task's fresh claim, no ts yet
    with pytest.raises(SlackPostInProgress):
        post_once(purpose_key="t:4", channel="C1", text="x")
    assert fake_slack.calls == []


@pytest.mark.django_db
def test_a_claim_left_by_a_dead_task_is_taken_over(slack_settings, fake_slack):
    import datetime as dt

    from django.utils import timezone

    claim = SlackMessage.objects.create(purpose_key="t:5", channel="C1")
    SlackMessage.objects.filter(pk=claim.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    message = post_once(purpose_key="t:5", channel="C1", text="x")
    assert message.pk == claim.pk and message.ts
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


@pytest.mark.django_db
def test_replies_go_only_to_slack_hosts(slack_settings, fake_slack):
    from slackbot import tasks

    port = fake_slack.server.server_address[1]
    tasks.respond(f"http://localhost:{port}/hooks/elsewhere", {"text": "x"})  # not Slack's (nor the configured) host
    assert fake_slack.calls == []
    tasks.respond(f"{fake_slack.url}/hooks/commands/1", {"text": "y"})
    assert fake_slack.hooks() == [{"text": "y"}]
