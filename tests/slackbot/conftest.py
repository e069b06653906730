"""Slack test kit: a fake Slack Web API on 127.0.0.1, settings pointing at it, and a client that sends
signed requests in Slack's wire format."""

from __future__ import annotations

import json
import time

import pytest

from config.celery import app as celery_app
from tests.slackbot.fake_slack import FakeSlack
from tests.slackbot.signing import SECRET, command_body, payload_body, signed_headers


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The cast is created with passwords; the default hasher costs seconds per test on a busy 2-core box.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fake_slack():
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def slack_settings(settings, fake_slack):
    settings.SLACK_SIGNING_SECRET = SECRET
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    settings.SLACK_API_BASE_URL = fake_slack.api_url
    settings.SLACK_ANNOUNCE_CHANNEL = "CANNOUNCE"
    settings.SITE_URL = "http://127.0.0.1:8000"
    return settings


@pytest.fixture
def celery_eager():
    """Run tasks in-process when their on_commit callbacks fire (tests with a real worker don't use this)."""
    before = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


class SlackSender:
    def __init__(self, client, fake: FakeSlack, capture_on_commit):
        self.client = client
        self.fake = fake
        self.capture_on_commit = capture_on_commit
        self.started = int(time.time())
        self.sent = 0
        self.last: tuple | None = None

    def post(self, path: str, body: bytes, content_type: str, **headers):
        # Slack signs each delivery at its own moment: a second click is a new request with its own timestamp
        # (here one second apart per request, counted back from the sender's start so no two coincide, well
        # inside the signing window), never a replay.
        self.sent += 1
        signed = signed_headers(body, timestamp=self.started - self.sent)
        signed.update(headers)
        self.last = (path, body, content_type, signed)
        return self._send(*self.last)

    def replay(self):
        """The last request again, byte for byte with its signature, as someone who captured it would send it."""
        assert self.last is not None
        return self._send(*self.last)

    def _send(self, path: str, body: bytes, content_type: str, signed: dict):
        # Tests run inside a transaction; run what the view enqueued on commit, as production would.
        with self.capture_on_commit(execute=True):
            return self.client.generic("POST", path, body, content_type=content_type, **signed)

    def command(self, text: str, *, user_id: str, command: str = "/incident", channel_id: str = "CGENERAL"):
        body = command_body(command, text, user_id=user_id, channel_id=channel_id, fake_url=self.fake.url)
        return self.post("/slack/commands", body, "application/x-www-form-urlencoded")

    def interact(self, payload: dict):
        return self.post("/slack/interactivity", payload_body(payload), "application/x-www-form-urlencoded")

    def event(self, body: dict, **headers):
        return self.post("/slack/events", json.dumps(body).encode(), "application/json", **headers)


@pytest.fixture
def slack(client, fake_slack, slack_settings, celery_eager, django_capture_on_commit_callbacks):
    return SlackSender(client, fake_slack, django_capture_on_commit_callbacks)


def reply_text(response) -> str:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["response_type"] == "ephemeral", body
    return body["text"]


@pytest.fixture
def owners(db):
    """Four layer owners, each linked to Slack, as the feature's ownership map."""
    from core.models import Role, User

    people = {}
    for layer, name in (("model", "mo"), ("data", "dee"), ("prompt", "pat"), ("product", "pia")):
        people[layer] = User.objects.create_user(
            username=name, email=f"{name}@example.com", role=Role.RESPONDER, slack_user_id=f"U{name.upper()}"
        )
    return people


@pytest.fixture
def owned_world(approver, admin_user, owners):
    from diagnostics.services import ownership_map_set
    from tests.slackbot.world import feature_with_two_releases

    world = feature_with_two_releases(approver)
    for layer, person in owners.items():
        ownership_map_set(actor=admin_user, feature=world.feature, layer=layer, owner=person)
    return world


@pytest.fixture
def incident_in_channel(owned_world, responder):
    """An open incident whose Slack channel is CINC; the responder (URAFA) reported it and commands it."""
    from incidents.models import Incident
    from incidents.services import incident_open

    responder.slack_user_id = "URAFA"
    responder.save(update_fields=["slack_user_id"])
    incident = incident_open(
        actor=responder,
        title="Answers stopped citing sources",
        severity="sev2",
        feature_environments=[owned_world.production],
        commander=responder,
    )
    Incident.objects.filter(pk=incident.pk).update(slack_channel_id="CINC")
    incident.refresh_from_db()
    return incident
