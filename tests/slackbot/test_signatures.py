"""Every Slack request URL verifies Slack's signature over the raw body before doing anything."""

from __future__ import annotations

import json
import time

import pytest

from core.models import AuditEntry
from slackbot.models import SlackEventReceipt, SlackMessage
from tests.slackbot.signing import command_body, payload_body, signature, signed_headers

URLS = ["/slack/commands", "/slack/interactivity", "/slack/events"]
EVENT = {
    "type": "event_callback",
    "event_id": "Ev0001",
    "event_time": 1700000000,
    "event": {
        "type": "reaction_added",
        "user": "U1",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": "C1", "ts": "1.2"},
    },
}


def _bodies(fake_url: str) -> dict[str, tuple[bytes, str]]:
    return {
        "/slack/commands": (
            command_body("/incident", "", user_id="U1", fake_url=fake_url),
            "application/x-www-form-urlencoded",
        ),
        "/slack/interactivity": (
            payload_body({"type": "block_actions", "actions": []}),
            "application/x-www-form-urlencoded",
        ),
        "/slack/events": (json.dumps(EVENT).encode(), "application/json"),
    }


def _nothing_happened(fake_slack) -> None:
    assert fake_slack.calls == []
    assert SlackEventReceipt.objects.count() == 0
    assert SlackMessage.objects.count() == 0
    assert AuditEntry.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("url", URLS)
def test_it_rejects_a_request_without_signature_headers(client, slack_settings, fake_slack, url):
    body, ctype = _bodies(fake_slack.url)[url]
    response = client.generic("POST", url, body, content_type=ctype)
    assert response.status_code == 401
    _nothing_happened(fake_slack)


@pytest.mark.django_db
@pytest.mark.parametrize("url", URLS)
def test_it_rejects_a_signature_made_with_another_secret(client, slack_settings, fake_slack, url):
    body, ctype = _bodies(fake_slack.url)[url]
    response = client.generic("POST", url, body, content_type=ctype, **signed_headers(body, secret="not-the-secret"))
    assert response.status_code == 401
    _nothing_happened(fake_slack)


@pytest.mark.django_db
@pytest.mark.parametrize("url", URLS)
def test_it_rejects_a_stale_timestamp_even_if_correctly_signed(client, slack_settings, fake_slack, url):
    body, ctype = _bodies(fake_slack.url)[url]
    stale = int(time.time()) - 6 * 60
    response = client.generic("POST", url, body, content_type=ctype, **signed_headers(body, timestamp=stale))
    assert response.status_code == 401
    _nothing_happened(fake_slack)


@pytest.mark.django_db
def test_it_rejects_a_body_changed_after_signing(client, slack_settings, fake_slack):
    body, ctype = _bodies(fake_slack.url)["/slack/events"]
    headers = signed_headers(body)
    tampered = body.replace(b"Ev0001", b"Ev0002")
    response = client.generic("POST", "/slack/events", tampered, content_type=ctype, **headers)
    assert response.status_code == 401
    _nothing_happened(fake_slack)


@pytest.mark.django_db
def test_it_rejects_everything_when_no_signing_secret_is_configured(client, slack_settings, fake_slack):
    slack_settings.SLACK_SIGNING_SECRET = ""
    body, ctype = _bodies(fake_slack.url)["/slack/events"]
    ts = str(int(time.time()))
    headers = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts, "HTTP_X_SLACK_SIGNATURE": signature(body, ts, secret="")}
    response = client.generic("POST", "/slack/events", body, content_type=ctype, **headers)
    assert response.status_code == 401
    _nothing_happened(fake_slack)


@pytest.mark.django_db
def test_it_rejects_a_non_numeric_timestamp(client, slack_settings, fake_slack):
    body, ctype = _bodies(fake_slack.url)["/slack/events"]
    headers = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": "soon", "HTTP_X_SLACK_SIGNATURE": signature(body, "soon")}
    response = client.generic("POST", "/slack/events", body, content_type=ctype, **headers)
    assert response.status_code == 401
    _nothing_happened(fake_slack)


@pytest.mark.django_db
def test_get_is_not_allowed(client, slack_settings):
    assert client.get("/slack/events").status_code == 405


@pytest.mark.django_db
def test_it_answers_url_verification_with_the_challenge(slack):
    body = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    response = slack.event(body)
    assert response.status_code == 200
    assert response.json() == {"challenge": body["challenge"]}


@pytest.mark.django_db
def test_a_retried_event_delivery_is_acted_on_once(slack, fake_slack):
    # No incident owns channel C1, so the pin task fetches nothing; what matters is that it runs once.
    first = slack.event(EVENT)
    retry = slack.event(EVENT, HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_timeout")
    assert first.status_code == retry.status_code == 200
    assert SlackEventReceipt.objects.filter(event_id="Ev0001").count() == 1


@pytest.mark.django_db
def test_malformed_interactivity_payload_is_a_400(slack):
    response = slack.post("/slack/interactivity", b"payload=%7Bnot-json", "application/x-www-form-urlencoded")
    assert response.status_code == 400
