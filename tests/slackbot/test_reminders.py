"""Beat's reminders: overdue action items to their owners, unowned layers to the commander, once a day each."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.models import Team
from incidents.action_item_services import action_item_create
from incidents.services import incident_open
from rollouts.models import Environment, Feature
from slackbot import tasks
from slackbot.models import SlackMessage
from slackbot.reminders import reminders_send


def _dms(fake_slack, user_id: str) -> list[dict]:
    return [c["args"] for c in fake_slack.calls_to("chat.postMessage") if c["args"]["channel"] == f"D{user_id}"]


@pytest.mark.django_db
def test_an_overdue_action_item_reminds_its_owner_once_a_day(slack, fake_slack, incident_in_channel, responder, owners):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    item = action_item_create(
        actor=responder,
        incident=incident_in_channel,
        title="Pin the model snapshot",
        owner=owners["model"],
        due_date=yesterday,
        backdate_reason="an item that is already overdue",
        layer="model",
    )
    action_item_create(
        actor=responder,
        incident=incident_in_channel,
        title="Not due yet",
        owner=owners["data"],
        due_date=timezone.localdate() + dt.timedelta(days=3),
        layer="data",
    )
    tasks.send_reminders.delay()
    tasks.send_reminders.delay()  # beat fires again the same day
    (dm,) = _dms(fake_slack, "UMO")
    assert f"Action item #{item.pk}" in dm["text"] and "1 day ago" in dm["text"]
    assert _dms(fake_slack, "UDEE") == []
    assert (
        SlackMessage.objects.filter(
            purpose_key=f"reminder:action_item:{item.pk}:{timezone.localdate().isoformat()}"
        ).count()
        == 1
    )
    # The next day it is sent again, once.
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    assert reminders_send(today=tomorrow) == 1
    assert reminders_send(today=tomorrow) == 0
    assert len(_dms(fake_slack, "UMO")) == 2


@pytest.mark.django_db
def test_unowned_layers_remind_the_commander(slack, fake_slack, responder, admin_user):
    responder.slack_user_id = "URAFA"
    responder.save(update_fields=["slack_user_id"])
    team = Team.objects.create(slug="orphans", name="Orphans")
    feature = Feature.objects.create(slug="orphan-bot", name="Orphan bot", team=team)
    env = Environment.objects.create(feature=feature, name="production", is_production=True)
    incident = incident_open(
        actor=responder, title="Nobody owns this", severity="sev3", feature_environments=[env], commander=responder
    )
    assert reminders_send() == 1
    assert reminders_send() == 0
    (dm,) = _dms(fake_slack, "URAFA")
    assert f"Incident #{incident.pk}" in dm["text"]
    for layer in ("Model", "Data / retrieval", "Prompt", "Product / monitoring"):
        assert layer in dm["text"]


@pytest.mark.django_db
def test_a_person_slack_cannot_reach_does_not_stop_the_other_reminders(
    slack, fake_slack, incident_in_channel, responder, owners
):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    for layer in ("model", "data"):
        action_item_create(
            actor=responder,
            incident=incident_in_channel,
            title=f"fix {layer}",
            owner=owners[layer],
            due_date=yesterday,
            backdate_reason="an item that is already overdue",
            layer=layer,
        )
    fake_slack.errors["conversations.open"] = "cannot_dm_bot"
    assert reminders_send() == 0
    del fake_slack.errors["conversations.open"]
    assert reminders_send() == 2  # nothing was recorded as sent, so they go out once Slack answers
