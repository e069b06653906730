"""/incident opens a modal; submitting it files the incident through incidents.services and announces it."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from incidents.models import Incident
from slackbot.models import SlackMessage
from tests.slackbot.conftest import reply_text


def _link(user, slack_id: str):
    user.slack_user_id = slack_id
    user.save(update_fields=["slack_user_id"])
    return user


def _submission(
    user_id: str,
    *,
    title="Answers stopped citing sources",
    severity="sev2",
    feature="support-assistant",
    env="production",
    summary="Since release #2",
    channel=True,
) -> dict:
    def select(value):
        return (
            {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
            }
            if value
            else {"type": "static_select", "selected_option": None}
        )

    values = {
        "title": {"title": {"type": "plain_text_input", "value": title}},
        "severity": {"severity": select(severity)},
        "feature": {"feature": select(feature)},
        "environment": {"environment": select(env)},
        "summary": {"summary": {"type": "plain_text_input", "value": summary}},
        "options": {
            "options": {
                "type": "checkboxes",
                "selected_options": [{"text": {"type": "plain_text", "text": "Create"}, "value": "create_channel"}]
                if channel
                else [],
            }
        },
    }
    return {
        "type": "view_submission",
        "team": {"id": "T0001", "domain": "example"},
        "user": {"id": user_id, "username": "someone", "team_id": "T0001"},
        "api_app_id": "A123456",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "trigger_id": "12466734323.1395872398.abc",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "incident_open",
            "private_metadata": '{"channel_id": "CGENERAL"}',
            "state": {"values": values},
            "hash": "156772938.1827394",
        },
        "response_urls": [],
    }


@pytest.mark.django_db
def test_incident_opens_the_modal_inside_the_request(slack, fake_slack, responder, owned_world):
    _link(responder, "URAFA")
    response = slack.command("", user_id="URAFA")
    assert response.status_code == 200 and response.content == b""
    (call,) = fake_slack.calls_to("views.open")
    assert call["auth"] == "Bearer xoxb-test-token"
    assert call["args"]["trigger_id"] == "13345224609.738474920.8088930838d88f008e0"
    view = call["args"]["view"]
    assert view["callback_id"] == "incident_open"
    block_ids = [b["block_id"] for b in view["blocks"]]
    assert block_ids == ["title", "severity", "feature", "environment", "summary", "options"]
    features = [o["value"] for o in view["blocks"][2]["element"]["options"]]
    assert features == ["support-assistant"]
    assert {o["value"] for o in view["blocks"][3]["element"]["options"]} == {"production", "staging"}


@pytest.mark.django_db
def test_an_unknown_slack_user_gets_a_clear_reply_and_nothing_changes(slack, fake_slack, owned_world):
    audit_before = AuditEntry.objects.count()
    text = reply_text(slack.command("", user_id="UNOBODY"))
    assert "could not tell Rewind who you are" in text
    assert fake_slack.calls_to("views.open") == []
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
def test_an_unlinked_user_whose_email_matches_nobody_is_refused(slack, fake_slack, owned_world):
    fake_slack.users["UX"] = {"email": "stranger@elsewhere.example", "real_name": "Stranger"}
    audit_before = AuditEntry.objects.count()
    text = reply_text(slack.command("", user_id="UX"))
    assert "No single Rewind user has the e-mail stranger@elsewhere.example" in text
    assert fake_slack.calls_to("views.open") == []
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
def test_an_unlinked_user_without_a_shared_email_is_refused(slack, fake_slack, owned_world):
    fake_slack.users["UX"] = {"real_name": "No Mail"}
    assert "shares no e-mail" in reply_text(slack.command("", user_id="UX"))
    assert fake_slack.calls_to("views.open") == []


@pytest.mark.django_db
def test_a_user_is_linked_by_email_once_and_the_link_is_audited(slack, fake_slack, responder, owned_world):
    fake_slack.users["URAFA"] = {"email": "RAFA@example.com"}
    assert slack.command("", user_id="URAFA").status_code == 200
    assert slack.command("", user_id="URAFA").status_code == 200
    responder.refresh_from_db()
    assert responder.slack_user_id == "URAFA"
    assert len(fake_slack.calls_to("users.info")) == 1  # the second time the stored link is used
    assert len(fake_slack.calls_to("views.open")) == 2
    entry = AuditEntry.objects.get(action="user.slack_link")
    assert entry.actor == responder and entry.after == {"slack_user_id": "URAFA"}


@pytest.mark.django_db
def test_a_viewer_cannot_open_the_incident_modal(slack, fake_slack, viewer, owned_world):
    _link(viewer, "UVERA")
    text = reply_text(slack.command("", user_id="UVERA"))
    assert "cannot declare incidents" in text and "responder role" in text
    assert fake_slack.calls_to("views.open") == []


@pytest.mark.django_db
def test_submitting_the_modal_files_announces_and_opens_a_channel_with_the_board(
    slack, fake_slack, responder, owners, owned_world
):
    _link(responder, "URAFA")
    response = slack.interact(_submission("URAFA"))
    assert response.status_code == 200 and response.content == b""
    incident = Incident.objects.get()
    assert incident.title == "Answers stopped citing sources"
    assert incident.source == "slack" and incident.reporter == responder
    assert list(incident.feature_environments.all()) == [owned_world.production]
    assert {d.layer: d.owner for d in incident.layer_diagnoses.all()} == owners
    assert AuditEntry.objects.filter(action="incident.open", actor=responder).count() == 1
    # Channel created, people invited, id stored on the incident.
    (create,) = fake_slack.calls_to("conversations.create")
    assert create["args"]["name"] == f"inc-{incident.pk}-answers-stopped-citing-sources"
    assert incident.slack_channel_id.startswith("CINC")
    (invite,) = fake_slack.calls_to("conversations.invite")
    assert invite["args"]["channel"] == incident.slack_channel_id
    assert incident.commander == responder
    assert incident.timeline_events.filter(text__startswith="Slack channel #inc-", source="slack").count() == 1
    assert set(invite["args"]["users"].split(",")) == {"URAFA", "UMO", "UDEE", "UPAT", "UPIA"}
    # Announced once in the configured channel, board posted in the incident channel.
    posts = fake_slack.calls_to("chat.postMessage")
    announce = [p for p in posts if p["args"]["channel"] == "CANNOUNCE"]
    assert len(announce) == 1
    assert f"<http://127.0.0.1:8000/incidents/{incident.pk}/|Incident #{incident.pk}>" in announce[0]["args"]["text"]
    board = [p for p in posts if p["args"]["channel"] == incident.slack_channel_id]
    assert len(board) == 1
    fields = board[0]["args"]["blocks"][1]["fields"]
    assert [f["text"].split("\n")[1] for f in fields] == ["<@UMO>", "<@UDEE>", "<@UPAT>", "<@UPIA>"]
    assert SlackMessage.objects.filter(
        purpose_key=f"incident:{incident.pk}:board", channel=incident.slack_channel_id
    ).exists()


@pytest.mark.django_db
def test_announcing_again_never_double_posts(slack, fake_slack, responder, owned_world):
    from slackbot.posting import incident_announce

    _link(responder, "URAFA")
    slack.interact(_submission("URAFA"))
    incident = Incident.objects.get()
    calls_before = len(fake_slack.calls)
    incident_announce(incident.pk, create_channel=True)  # what a retried task would do
    new = [c["method"] for c in fake_slack.calls[calls_before:]]
    assert "chat.postMessage" not in new and "conversations.create" not in new


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "block", "message"),
    [
        ({"title": ""}, "title", "Give the incident a title"),
        ({"severity": ""}, "severity", "Pick a severity"),
        ({"env": "moon"}, "environment", "has no environment called moon"),
        ({"feature": "nope"}, "environment", "nope has no environment"),
    ],
)
def test_a_bad_submission_shows_field_errors_and_files_nothing(
    slack, fake_slack, responder, owned_world, overrides, block, message
):
    _link(responder, "URAFA")
    response = slack.interact(_submission("URAFA", **overrides))
    body = response.json()
    assert body["response_action"] == "errors"
    assert message in body["errors"][block]
    assert Incident.objects.count() == 0
    assert fake_slack.calls == []


@pytest.mark.django_db
def test_a_viewer_submitting_the_modal_files_nothing(slack, fake_slack, viewer, owned_world):
    _link(viewer, "UVERA")
    body = slack.interact(_submission("UVERA")).json()
    assert body["response_action"] == "errors" and "responder role" in body["errors"]["title"]
    assert Incident.objects.count() == 0


@pytest.mark.django_db
def test_when_slack_refuses_the_modal_the_user_is_told(slack, fake_slack, responder, owned_world):
    _link(responder, "URAFA")
    fake_slack.errors["views.open"] = "expired_trigger_id"
    assert "Slack refused to open the form (expired_trigger_id)" in reply_text(slack.command("", user_id="URAFA"))


@pytest.mark.django_db
def test_when_slack_is_unreachable_an_unlinked_user_is_told_and_nothing_changes(slack, slack_settings, owned_world):
    slack_settings.SLACK_API_BASE_URL = "http://127.0.0.1:9/api/"  # nothing listens on the discard port
    audit_before = AuditEntry.objects.count()
    assert "users.info failed" in reply_text(slack.command("", user_id="UNEW"))
    assert AuditEntry.objects.count() == audit_before
