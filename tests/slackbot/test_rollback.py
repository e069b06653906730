"""/rollback from Slack: plan, approver-gated confirmation, progress in a thread, status."""

from __future__ import annotations

import json

import pytest

from core.models import AuditEntry
from rollouts.models import RolloutRun, RunKind
from slackbot import posting
from slackbot.models import SlackMessage
from tests.slackbot.conftest import reply_text
from tests.slackbot.world import feature_with_two_releases


@pytest.fixture
def world(approver):
    return feature_with_two_releases(approver)


def _link(user, slack_id: str):
    user.slack_user_id = slack_id
    user.save(update_fields=["slack_user_id"])
    return user


def _plan(slack, user_id: str, text: str = "support-assistant") -> dict:
    """The command is acknowledged at once; the plan arrives through the command's response_url."""
    acknowledged = reply_text(slack.command(text, user_id=user_id, command="/rollback", channel_id="COPS"))
    assert acknowledged == f"Building the rollback plan for `{text}`…"
    hook = slack.fake.hooks()[-1]
    assert hook["response_type"] == "ephemeral"
    return hook


def _confirm_payload(plan: dict, user_id: str, fake_url: str, action_id: str = "rollback_confirm") -> dict:
    actions = next(b for b in plan["blocks"] if b["type"] == "actions")
    button = next(e for e in actions["elements"] if e["action_id"] == action_id)
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone", "team_id": "T0001"},
        "api_app_id": "A123456",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "COPS", "is_ephemeral": True},
        "trigger_id": "123.456.abc",
        "team": {"id": "T0001", "domain": "example"},
        "channel": {"id": "COPS", "name": "ops"},
        "response_url": f"{fake_url}/hooks/actions/T0001/2/xyz",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": actions["block_id"],
                "text": {"type": "plain_text", "text": "Confirm rollback"},
                "value": button["value"],
                "action_ts": "1700000001.000200",
            }
        ],
    }


@pytest.mark.django_db
def test_rollback_plan_shows_the_diff_compatibility_and_buttons(slack, approver, world):
    _link(approver, "UANA")
    plan = _plan(slack, "UANA")
    assert plan["response_type"] == "ephemeral"
    text = plan["blocks"][0]["text"]["text"]
    assert "support-assistant/production" in text
    assert "release #2" in text and "release #1" in text
    assert "prompt: prompt edited" in text
    assert "*Compatibility:* ok" in text
    assert "*Dependent workflows:*" in text
    action_ids = [e["action_id"] for e in plan["blocks"][-1]["elements"]]
    assert action_ids == ["rollback_confirm", "rollback_cancel"]
    assert json.loads(plan["blocks"][-1]["elements"][0]["value"]) == {
        "e": world.production.pk,
        "f": world.r2.pk,
        "t": world.r1.pk,
    }
    assert RolloutRun.objects.count() == 0


@pytest.mark.django_db
def test_rollback_plan_to_a_named_release_in_a_named_environment(slack, approver, world):
    _link(approver, "UANA")
    plan = _plan(slack, "UANA", "support-assistant staging to 1")
    assert "support-assistant/staging" in plan["blocks"][0]["text"]["text"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("support-assistant to", "After `to` give one release number"),
        ("support-assistant to banana", "After `to` give one release number"),
        ("a b c d", "Usage: `/rollback"),
        ("", "Usage: `/rollback"),
    ],
)
def test_malformed_rollback_text_is_answered_at_once_and_changes_nothing(
    slack, fake_slack, approver, world, text, expected
):
    _link(approver, "UANA")
    audit_before = AuditEntry.objects.count()
    assert expected in reply_text(slack.command(text, user_id="UANA", command="/rollback"))
    assert fake_slack.hooks() == []
    assert RolloutRun.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no-such-feature", "No feature is called 'no-such-feature'"),
        ("support-assistant moon", "has no environment 'moon'"),
        ("support-assistant to 99", "has no release #99"),
        ("support-assistant to 2", "already live"),
    ],
)
def test_a_plan_that_cannot_be_made_says_why_and_changes_nothing(slack, approver, world, text, expected):
    _link(approver, "UANA")
    audit_before = AuditEntry.objects.count()
    hook = _plan(slack, "UANA", text)
    assert expected in hook["text"] and "blocks" not in hook
    assert RolloutRun.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
def test_an_unlinked_user_gets_no_plan(slack, fake_slack, world):
    assert "could not tell Rewind who you are" in reply_text(
        slack.command("support-assistant", user_id="UX", command="/rollback")
    )
    assert fake_slack.hooks() == []


@pytest.mark.django_db(transaction=True)
def test_an_approver_confirms_and_progress_goes_to_a_thread(slack, fake_slack, approver, world):
    _link(approver, "UANA")
    plan = _plan(slack, "UANA")
    response = slack.interact(_confirm_payload(plan, "UANA", fake_slack.url))
    assert response.status_code == 200
    run = RolloutRun.objects.get()
    assert run.kind == RunKind.ROLLBACK
    assert run.environment == world.production
    assert run.candidate_release == world.r1
    assert run.requested_by == approver
    assert AuditEntry.objects.filter(actor=approver, object_type="rollouts.rolloutrun").exists()
    hooks = fake_slack.hooks()
    assert any("started by <@UANA>" in h["text"] and h["replace_original"] for h in hooks)
    head = SlackMessage.objects.get(purpose_key=f"rollback:{run.pk}:head")
    assert head.channel == "COPS" and head.ts
    replies = [c["args"] for c in fake_slack.calls_to("chat.postMessage") if c["args"].get("thread_ts") == head.ts]
    assert replies, fake_slack.calls
    # Following again (beat) after the run finished posts its final state once, and never twice.
    posting.rollback_threads_follow()
    posting.rollback_threads_follow()
    run.refresh_from_db()
    texts = [
        c["args"]["text"] for c in fake_slack.calls_to("chat.postMessage") if c["args"].get("thread_ts") == head.ts
    ]
    assert len(texts) == len(set(texts))
    assert any(run.state in t for t in texts)
    assert len([c for c in fake_slack.calls_to("chat.postMessage") if "thread_ts" not in c["args"]]) == 1


@pytest.mark.django_db
def test_a_responder_cannot_confirm_a_production_rollback(slack, fake_slack, approver, responder, world):
    _link(approver, "UANA")
    _link(responder, "URAFA")
    plan = _plan(slack, "UANA")
    audit_before = AuditEntry.objects.count()
    response = slack.interact(_confirm_payload(plan, "URAFA", fake_slack.url))
    assert response.status_code == 200
    assert RolloutRun.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before
    hook = fake_slack.hooks()[-1]
    assert hook["response_type"] == "ephemeral"
    assert "Not rolled back" in hook["text"] and "approver role" in hook["text"]
    assert fake_slack.calls_to("chat.postMessage") == []


@pytest.mark.django_db
def test_a_viewer_may_read_a_plan_but_not_confirm_it(slack, fake_slack, viewer, world):
    _link(viewer, "UVERA")
    plan = _plan(slack, "UVERA")
    slack.interact(_confirm_payload(plan, "UVERA", fake_slack.url))
    assert RolloutRun.objects.count() == 0
    assert "approver role" in fake_slack.hooks()[-1]["text"]


@pytest.mark.django_db
def test_cancel_changes_nothing(slack, fake_slack, approver, world):
    _link(approver, "UANA")
    plan = _plan(slack, "UANA")
    slack.interact(_confirm_payload(plan, "UANA", fake_slack.url, action_id="rollback_cancel"))
    assert RolloutRun.objects.count() == 0
    assert "cancelled" in fake_slack.hooks()[-1]["text"]


@pytest.mark.django_db
def test_a_stale_plan_is_refused(slack, fake_slack, approver, world):
    from rollouts.registry.services import deployment_record

    _link(approver, "UANA")
    plan = _plan(slack, "UANA")
    deployment_record(actor=approver, environment=world.production, release=world.r1)
    slack.interact(_confirm_payload(plan, "UANA", fake_slack.url))
    assert RolloutRun.objects.count() == 0
    assert "changed since this plan was made" in fake_slack.hooks()[-1]["text"]


@pytest.mark.django_db
def test_rollback_status_lists_runs_in_flight(slack, approver, world):
    from rollouts.models import RunState

    _link(approver, "UANA")
    assert "No rollout or rollback runs are in flight" in reply_text(
        slack.command("status", user_id="UANA", command="/rollback")
    )
    RolloutRun.objects.create(
        environment=world.staging,
        stable_release=world.r2,
        candidate_release=world.r1,
        kind=RunKind.ROLLBACK,
        state=RunState.RUNNING,
        candidate_weight=50,
    )
    text = reply_text(slack.command("status", user_id="UANA", command="/rollback"))
    assert "support-assistant/staging" in text and "#2 → #1" in text and "50% on #1" in text


@pytest.mark.django_db
def test_the_plan_lists_dependent_workflows_and_the_impact_gate_blocks_confirmation(slack, fake_slack, approver, world):
    from rollouts.impact.services import dependent_workflow_add, impact_waive

    _link(approver, "UANA")
    dependent_workflow_add(
        actor=approver,
        environment=world.production,
        release=world.r2,
        workflow_id="invoice-parser",
        customer="Acme",
        behaviour="output_format",
    )
    plan = _plan(slack, "UANA")
    text = plan["blocks"][0]["text"]["text"]
    assert "`invoice-parser` (Acme) — relies on output format or parser; pending review" in text
    assert ":no_entry: *Impact gate:*" in text
    slack.interact(_confirm_payload(plan, "UANA", fake_slack.url))
    assert RolloutRun.objects.count() == 0
    assert "Not rolled back" in fake_slack.hooks()[-1]["text"]
    # An approver's waiver (on the web) lets the same plan through.
    impact_waive(actor=approver, environment=world.production, from_release=world.r2, reason="Acme pinned to #2")
    slack.interact(_confirm_payload(plan, "UANA", fake_slack.url))
    assert RolloutRun.objects.filter(kind=RunKind.ROLLBACK).count() == 1


@pytest.mark.django_db
def test_an_admin_may_confirm_a_production_rollback(slack, fake_slack, admin_user, world):
    _link(admin_user, "UADA")
    plan = _plan(slack, "UADA")
    slack.interact(_confirm_payload(plan, "UADA", fake_slack.url))
    assert RolloutRun.objects.get().requested_by == admin_user


@pytest.mark.django_db
def test_a_responder_may_confirm_a_staging_rollback(slack, fake_slack, responder, world):
    _link(responder, "URAFA")
    plan = _plan(slack, "URAFA", "support-assistant staging")
    slack.interact(_confirm_payload(plan, "URAFA", fake_slack.url))
    assert RolloutRun.objects.get().environment == world.staging


@pytest.mark.django_db
def test_rollback_status_takes_a_constant_number_of_queries(slack, approver, world, django_assert_max_num_queries):
    from rollouts.models import RunState

    _link(approver, "UANA")
    for env in (world.staging, world.production):
        RolloutRun.objects.create(
            environment=env,
            stable_release=world.r2,
            candidate_release=world.r1,
            kind=RunKind.ROLLBACK,
            state=RunState.RUNNING,
        )
    with django_assert_max_num_queries(3):
        text = reply_text(slack.command("status", user_id="UANA", command="/rollback"))
    assert text.count("Rollback #") == 2


@pytest.mark.django_db
def test_a_rollback_confirmed_in_an_incident_channel_is_linked_to_the_incident(
    slack, fake_slack, approver, incident_in_channel, owned_world
):
    from incidents.models import TimelineEvent

    _link(approver, "UANA")
    plan = _plan(slack, "UANA")
    payload = _confirm_payload(plan, "UANA", fake_slack.url)
    payload["channel"] = {"id": "CINC", "name": "inc"}
    slack.interact(payload)
    run = RolloutRun.objects.get()
    assert run.incident_id == incident_in_channel.pk
    assert TimelineEvent.objects.filter(incident=incident_in_channel, kind__in=["rollback", "rollout"]).exists()
