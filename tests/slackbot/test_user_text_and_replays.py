"""What people type reaches Slack escaped (no @channel, no fake mention, no disguised link), and a signed request
captured on the way is accepted once: sent again byte for byte, it changes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from core.models import AuditEntry
from incidents.action_item_services import action_item_update
from incidents.models import ActionItem, Incident, TimelineEvent
from rollouts.impact import services as impact
from rollouts.models import Environment, RolloutRun
from rollouts.registry import services as rollouts
from slackbot.reminders import reminders_send
from tests.slackbot.conftest import reply_text
from tests.slackbot.test_incident_modal import _submission

# Slack control sequences a person can type: they would notify everyone, fake a mention, disguise a link.
EVIL = "<!channel> <!here> <@U999> <https://evil.example|see the fix> & co"
ESCAPED = "&lt;!channel&gt; &lt;!here&gt; &lt;@U999&gt; &lt;https://evil.example|see the fix&gt; &amp; co"
# The bot's own markup: its links to Rewind, channel references and mentions of the people acting.
BOT_MARKUP = re.compile(r"^<(http://127\.0\.0\.1:8000/[^|>]*\|[^>]*|#C[A-Z0-9]+|@U(RAFA|ANA|MO|DEE|PAT|PIA))>$")


def _link(user, slack_id: str):
    user.slack_user_id = slack_id
    user.save(update_fields=["slack_user_id"])
    return user


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _control_sequences(calls) -> set[str]:
    return {seq for call in calls for text in _strings(call) for seq in re.findall(r"<[^<>]*>", text)}


def _texts(call: dict) -> str:
    return "\n".join(_strings({"text": call.get("text"), "blocks": call.get("blocks")}))


@pytest.mark.django_db
def test_typed_control_sequences_reach_every_bot_message_escaped(
    slack, fake_slack, responder, approver, owned_world, owners
):
    _link(responder, "URAFA")
    _link(approver, "UANA")
    # Declared through the modal: the announcement and the four-layer board.
    assert slack.interact(_submission("URAFA", title=f"Outage {EVIL}", summary=EVIL)).status_code == 200
    incident = Incident.objects.get()
    (announcement,) = [
        c["args"] for c in fake_slack.calls_to("chat.postMessage") if c["args"]["channel"] == "CANNOUNCE"
    ]
    assert f"Outage {ESCAPED}" in announcement["text"]
    (board,) = [c["args"] for c in fake_slack.calls_to("chat.postMessage") if c["args"].get("blocks")]
    assert f"Outage {ESCAPED}" in _texts(board)

    # An action item from the channel, then a status change that edits the board.
    due = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    channel = incident.slack_channel_id
    reply = slack.command(f"action Fix {EVIL} @mo due {due} layer model", user_id="URAFA", channel_id=channel)
    assert reply.status_code == 200 and ESCAPED in reply.json()["text"]
    assert slack.command("status investigating", user_id="URAFA", channel_id=channel).status_code == 200
    (update,) = fake_slack.calls_to("chat.update")
    assert f"Outage {ESCAPED}" in _texts(update["args"])

    # The item slips into the past (a back-dated move, through the service), and its owner gets the reminder DM.
    item = ActionItem.objects.get()
    action_item_update(
        actor=responder,
        item=item,
        due_date=timezone.localdate() - dt.timedelta(days=1),
        reason="slipped",
        backdate_reason="it was due yesterday",
    )
    assert reminders_send() == 1
    (dm,) = [c["args"] for c in fake_slack.calls_to("chat.postMessage") if c["args"]["channel"] == "DUMO"]
    assert f"Fix {ESCAPED}" in dm["text"]

    # A rollback plan listing a dependent workflow someone named, in an environment called <!here> (Slack sends a
    # typed @here as <!here>), then the run's progress in a thread.
    env = Environment.objects.create(feature=owned_world.feature, name="<!here>", is_production=True)
    start = timezone.now() - dt.timedelta(days=2)
    rollouts.deployment_record(actor=approver, environment=env, release=owned_world.r1, live_at=start)
    rollouts.deployment_record(actor=approver, environment=env, release=owned_world.r2, live_at=start + dt.timedelta(1))
    impact.dependent_workflow_add(
        actor=approver, environment=env, release=owned_world.r2, workflow_id="wf-1", customer=EVIL, name="export"
    )
    acknowledged = reply_text(slack.command("support-assistant <!here>", user_id="UANA", command="/rollback"))
    assert "&lt;!here&gt;" in acknowledged
    plan = fake_slack.hooks()[-1]
    assert "&lt;!here&gt;" in _texts(plan) and ESCAPED in _texts(plan)

    calls = [c["args"] for c in fake_slack.calls if c["method"] in ("chat.postMessage", "chat.update")]
    calls += fake_slack.hooks()
    assert [s for s in _control_sequences(calls) if not BOT_MARKUP.match(s)] == []


@pytest.mark.django_db
def test_rollback_progress_escapes_the_environment_name(slack, fake_slack, approver, owned_world):
    from tests.slackbot.test_rollback import _confirm_payload

    _link(approver, "UANA")
    env = Environment.objects.create(feature=owned_world.feature, name="<!channel>")
    start = timezone.now() - dt.timedelta(days=2)
    rollouts.deployment_record(actor=approver, environment=env, release=owned_world.r1, live_at=start)
    rollouts.deployment_record(actor=approver, environment=env, release=owned_world.r2, live_at=start + dt.timedelta(1))
    slack.command("support-assistant <!channel>", user_id="UANA", command="/rollback", channel_id="COPS")
    plan = fake_slack.hooks()[-1]
    assert slack.interact(_confirm_payload(plan, "UANA", fake_slack.url)).status_code == 200
    run = RolloutRun.objects.get()
    progress = [c["args"] for c in fake_slack.calls_to("chat.postMessage") if c["args"]["channel"] == "COPS"]
    assert progress and all("<!channel>" not in p["text"] for p in progress)
    assert any(f"#{run.pk}" in p["text"] and "&lt;!channel&gt;" in p["text"] for p in progress)
    assert [s for s in _control_sequences(progress + fake_slack.hooks()) if not BOT_MARKUP.match(s)] == []


@pytest.mark.django_db
def test_a_replayed_signed_command_adds_no_second_note(slack, fake_slack, incident_in_channel):
    assert slack.command("note p95 doubled", user_id="URAFA", channel_id="CINC").status_code == 200
    notes = TimelineEvent.objects.filter(incident=incident_in_channel, kind="note").count()
    audit = AuditEntry.objects.count()
    replayed = slack.replay()
    assert replayed.status_code == 401 and b"already received" in replayed.content
    assert TimelineEvent.objects.filter(incident=incident_in_channel, kind="note").count() == notes == 1
    assert AuditEntry.objects.count() == audit


@pytest.mark.django_db
def test_a_replayed_modal_submission_files_no_second_incident(slack, fake_slack, responder, owned_world):
    _link(responder, "URAFA")
    assert slack.interact(_submission("URAFA")).status_code == 200
    calls, audit = len(fake_slack.calls), AuditEntry.objects.count()
    assert slack.replay().status_code == 401
    assert Incident.objects.count() == 1
    assert len(fake_slack.calls) == calls and AuditEntry.objects.count() == audit


@pytest.mark.django_db
def test_the_same_words_sent_again_by_slack_later_are_a_new_request(slack, fake_slack, incident_in_channel):
    """Only the exact signed delivery is refused: typing the same note again is signed anew and accepted."""
    slack.command("note checking the index", user_id="URAFA", channel_id="CINC")
    slack.command("note checking the index", user_id="URAFA", channel_id="CINC")
    assert TimelineEvent.objects.filter(incident=incident_in_channel, kind="note").count() == 2


@pytest.mark.django_db
def test_a_redelivered_event_is_acknowledged_and_runs_once(slack, fake_slack, incident_in_channel, responder):
    """Slack retries an Events API delivery it thinks we missed (X-Slack-Retry-Num): answered 200, run once."""
    from slackbot.models import SlackEventReceipt

    fake_slack.history[("CINC", "1700000100.000300")] = {
        "type": "message",
        "user": "UMO",
        "text": "look",
        "ts": "1700000100.000300",
    }
    event = {
        "type": "event_callback",
        "event_id": "Ev0PIN",
        "event": {"type": "reaction_added", "user": "URAFA", "reaction": "pushpin",
                  "item": {"type": "message", "channel": "CINC", "ts": "1700000100.000300"}},
    }  # fmt: skip
    assert slack.event(event).status_code == 200
    path, body, content_type, signed = slack.last
    assert slack._send(path, body, content_type, {**signed, "HTTP_X_SLACK_RETRY_NUM": "1"}).status_code == 200
    assert slack.replay().status_code == 401  # without the retry header it is a plain replay
    assert SlackEventReceipt.objects.filter(event_id="Ev0PIN").count() == 1
    assert TimelineEvent.objects.filter(incident=incident_in_channel, kind="note", text__contains="look").count() == 1
