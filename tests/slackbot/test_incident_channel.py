"""In an incident channel: /incident status, owner, action, note, resolve, help; the message shortcut and
:pushpin: reactions add messages to the timeline once."""

from __future__ import annotations

import datetime as dt

import pytest

from core.models import AuditEntry
from diagnostics.models import OwnerAssignment
from incidents.models import ActionItem, TimelineEvent
from tests.slackbot.conftest import reply_text


def _in_channel(response) -> str:
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "in_channel", body
    return body["text"]


def _cmd(slack, text, user="URAFA", channel="CINC"):
    return slack.command(text, user_id=user, channel_id=channel)


def _state(incident) -> tuple:
    incident.refresh_from_db()
    return (
        incident.status,
        AuditEntry.objects.count(),
        TimelineEvent.objects.filter(incident=incident).count(),
        ActionItem.objects.count(),
        OwnerAssignment.objects.count(),
    )


@pytest.mark.django_db
def test_status_moves_the_incident_and_is_audited(slack, incident_in_channel, responder):
    text = _in_channel(_cmd(slack, "status investigating"))
    assert "moved incident" in text and "investigating" in text
    incident_in_channel.refresh_from_db()
    assert incident_in_channel.status == "investigating"
    assert (
        AuditEntry.objects.filter(
            actor=responder, object_id=str(incident_in_channel.pk), action__contains="transition"
        ).exists()
        or AuditEntry.objects.filter(actor=responder, after__status="investigating").exists()
    )


@pytest.mark.django_db
def test_the_board_is_posted_once_then_edited_in_place(slack, fake_slack, incident_in_channel, approver):
    approver.slack_user_id = "UANA"
    approver.save(update_fields=["slack_user_id"])
    _cmd(slack, "status investigating")
    _cmd(slack, "owner prompt <@UANA|ana>")
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    (update,) = fake_slack.calls_to("chat.update")
    assert update["args"]["channel"] == "CINC"
    assert "<@UANA>" in str(update["args"]["blocks"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status", "Say which status"),
        ("status sleeping", "Unknown status 'sleeping'"),
        ("status closed", "Not done: An incident cannot go from Reported to Closed"),
        ("resolve", "Not done: An incident cannot go from Reported to Resolved"),
        ("owner wizard @mo", "Unknown layer 'wizard'"),
        ("owner prompt", "Usage: `/incident owner"),
        ("owner prompt someone", "is not a mention"),
        ("owner prompt <@UGHOST|ghost>", "is not linked to a Rewind user"),
        ("owner prompt @nobody", "No Rewind user is called @nobody"),
        ("owner prompt @pat", "already owns"),
        ("action fix it", "Usage: `/incident action"),
        ("action fix it <@UMO|mo> due 31/12/2026", "'31/12/2026' is not a date"),
        ("action fix it <@URAFA|rafa> due 2026-12-31", "Say which layer this fixes"),
        ("action fix it <@UMO|mo> due 2026-12-31 layer wizard", "Unknown layer 'wizard'"),
        ("note", "Usage: `/incident note"),
        ("dance", "Unknown sub-command 'dance'"),
    ],
)
def test_malformed_commands_get_a_clear_ephemeral_reply_and_change_nothing(slack, incident_in_channel, text, expected):
    before = _state(incident_in_channel)
    assert expected in reply_text(_cmd(slack, text))
    assert _state(incident_in_channel) == before


@pytest.mark.django_db
def test_a_viewer_in_the_channel_cannot_change_anything(slack, incident_in_channel, viewer):
    viewer.slack_user_id = "UVERA"
    viewer.save(update_fields=["slack_user_id"])
    before = _state(incident_in_channel)
    for text in (
        "status investigating",
        "note hello",
        "owner prompt @mo",
        "action x <@UMO|mo> due 2026-12-31",
        "resolve",
    ):
        assert "responder role" in reply_text(_cmd(slack, text, user="UVERA")), text
    assert _state(incident_in_channel) == before


@pytest.mark.django_db
def test_an_unlinked_user_in_the_channel_changes_nothing(slack, incident_in_channel):
    before = _state(incident_in_channel)
    assert "could not tell Rewind who you are" in reply_text(_cmd(slack, "status investigating", user="USTRANGER"))
    assert _state(incident_in_channel) == before


@pytest.mark.django_db
def test_sub_commands_outside_an_incident_channel_are_refused(slack, incident_in_channel):
    before = _state(incident_in_channel)
    assert "works in an incident channel" in reply_text(_cmd(slack, "status investigating", channel="CRANDOM"))
    assert _state(incident_in_channel) == before


@pytest.mark.django_db
def test_help_lists_the_sub_commands(slack, incident_in_channel):
    text = reply_text(_cmd(slack, "help"))
    for word in ("status", "owner", "action", "note", "resolve"):
        assert f"/incident {word}" in text


@pytest.mark.django_db
def test_owner_reassigns_a_layer_with_the_reason_recorded(slack, incident_in_channel, responder, owners):
    text = _in_channel(_cmd(slack, "owner data <@UMO|mo>"))
    assert "owner of the *data* layer" in text
    diagnosis = incident_in_channel.layer_diagnoses.get(layer="data")
    assert diagnosis.owner == owners["model"]
    assignment = OwnerAssignment.objects.filter(diagnosis=diagnosis).latest("id")
    assert assignment.from_owner == owners["data"] and assignment.to_owner == owners["model"]
    assert "Slack" in assignment.reason


@pytest.mark.django_db
def test_action_creates_an_owned_dated_item_on_the_owners_layer(slack, incident_in_channel, owners):
    _in_channel(_cmd(slack, "action Add the failing case to the regression eval set <@UMO|mo> due 2026-12-31"))
    item = ActionItem.objects.get()
    assert item.title == "Add the failing case to the regression eval set"
    assert item.owner == owners["model"] and item.layer == "model" and item.due_date == dt.date(2026, 12, 31)


@pytest.mark.django_db
def test_action_with_an_explicit_layer(slack, incident_in_channel, responder):
    _in_channel(_cmd(slack, "action Alert on citation rate @rafa due 2026-12-20 layer product"))
    item = ActionItem.objects.get()
    assert item.owner == responder and item.layer == "product"


@pytest.mark.django_db
def test_note_goes_on_the_timeline_from_slack(slack, incident_in_channel, responder):
    _in_channel(_cmd(slack, "note Rolled prompt back in staging; citations are back"))
    note = TimelineEvent.objects.get(incident=incident_in_channel, kind="note")
    assert note.text == "Rolled prompt back in staging; citations are back"
    assert note.source == "slack" and note.actor == responder


@pytest.mark.django_db
def test_resolve_from_monitoring(slack, incident_in_channel):
    for status in ("investigating", "mitigating", "monitoring"):
        _in_channel(_cmd(slack, f"status {status}"))
    _in_channel(_cmd(slack, "resolve"))
    incident_in_channel.refresh_from_db()
    assert incident_in_channel.status == "resolved"


def _shortcut(user_id: str, fake_url: str, *, channel="CINC", ts="1700000100.000200") -> dict:
    return {
        "type": "message_action",
        "callback_id": "incident_pin_message",
        "trigger_id": "13345224609.8534564800.6f8ab1f53e13d0cd15f96106292d5536",
        "response_url": f"{fake_url}/hooks/actions/T0001/3/pin",
        "team": {"id": "T0001", "domain": "example"},
        "channel": {"id": channel, "name": "inc"},
        "user": {"id": user_id, "name": "someone"},
        "message_ts": ts,
        "message": {"type": "message", "user": "UMO", "text": "p95 latency doubled at 14:02", "ts": ts},
    }


@pytest.mark.django_db
def test_the_message_shortcut_adds_a_message_to_the_timeline_once(slack, fake_slack, incident_in_channel):
    slack.interact(_shortcut("URAFA", fake_slack.url))
    slack.interact(_shortcut("URAFA", fake_slack.url))
    (note,) = TimelineEvent.objects.filter(incident=incident_in_channel, kind="note")
    assert "p95 latency doubled at 14:02" in note.text and "<@UMO>" in note.text
    assert note.external_ref == "slack:CINC/1700000100.000200"
    first, second = fake_slack.hooks()
    assert "Added to the timeline" in first["text"] and first["response_type"] == "ephemeral"
    assert "already on the timeline" in second["text"]


@pytest.mark.django_db
def test_the_shortcut_outside_an_incident_channel_adds_nothing(slack, fake_slack, incident_in_channel):
    before = _state(incident_in_channel)
    slack.interact(_shortcut("URAFA", fake_slack.url, channel="CRANDOM"))
    assert _state(incident_in_channel) == before
    assert "belongs to no incident" in fake_slack.hooks()[0]["text"]


def _pushpin(event_id: str, ts: str = "1700000100.000300") -> dict:
    return {
        "token": "XXYYZZ",
        "team_id": "T0001",
        "api_app_id": "A123456",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000101,
        "event": {
            "type": "reaction_added",
            "user": "URAFA",
            "reaction": "pushpin",
            "item_user": "UPAT",
            "item": {"type": "message", "channel": "CINC", "ts": ts},
            "event_ts": "1700000101.000400",
        },
    }


@pytest.mark.django_db
def test_a_pushpin_reaction_adds_the_message_once_even_when_slack_retries(slack, fake_slack, incident_in_channel):
    fake_slack.history[("CINC", "1700000100.000300")] = {
        "type": "message",
        "user": "UPAT",
        "text": "prompt v7 dropped the cite rule",
        "ts": "1700000100.000300",
    }
    assert slack.event(_pushpin("Ev01")).status_code == 200
    assert (
        slack.event(_pushpin("Ev01"), HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_timeout").status_code
        == 200
    )
    assert len(fake_slack.calls_to("conversations.history")) == 1
    # Someone else pins the same message: a new event, the same message ts, still one timeline entry.
    slack.event(_pushpin("Ev02"))
    (note,) = TimelineEvent.objects.filter(incident=incident_in_channel, kind="note")
    assert "prompt v7 dropped the cite rule" in note.text


@pytest.mark.django_db
def test_other_reactions_are_ignored(slack, fake_slack, incident_in_channel):
    event = _pushpin("Ev03")
    event["event"]["reaction"] = "eyes"
    slack.event(event)
    assert fake_slack.calls == []
    assert not TimelineEvent.objects.filter(incident=incident_in_channel, kind="note").exists()
