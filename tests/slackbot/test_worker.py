"""The Slack side effects run on a real Celery worker process (real broker, test database)."""

from __future__ import annotations

import time

import pytest

from incidents.models import Incident
from slackbot import tasks
from slackbot.models import SlackMessage
from tests.slackbot.signing import SECRET, payload_body, signed_headers
from tests.slackbot.test_incident_modal import _submission
from tests.support.worker import CeleryWorker


def _wait_for(predicate, timeout: float = 45.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _announce_runs(worker) -> int:
    return sum(1 for line in worker.log().splitlines() if "slackbot.incident_announce" in line and "succeeded" in line)


@pytest.fixture
def slack_worker(transactional_db, fake_slack, slack_settings):
    worker = CeleryWorker(
        name="slack",
        extra_env={
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_API_BASE_URL": fake_slack.api_url,
            "SLACK_ANNOUNCE_CHANNEL": "CANNOUNCE",
        },
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_submitted_incident_is_announced_by_a_real_worker_exactly_once(
    client, fake_slack, slack_worker, responder, owned_world
):
    responder.slack_user_id = "URAFA"
    responder.save(update_fields=["slack_user_id"])
    body = payload_body(_submission("URAFA"))
    response = client.generic(
        "POST", "/slack/interactivity", body, content_type="application/x-www-form-urlencoded", **signed_headers(body)
    )
    assert response.status_code == 200
    incident = Incident.objects.get()

    def board_posted():
        return SlackMessage.objects.filter(purpose_key=f"incident:{incident.pk}:board").exclude(ts="").exists()

    _wait_for(board_posted, what=f"the board; worker log:\n{slack_worker.log()}")
    incident.refresh_from_db()
    assert incident.slack_channel_id
    # A redelivered task (late acks after a crash) changes nothing on Slack.
    tasks.incident_announce.delay(incident.pk, True)
    _wait_for(lambda: _announce_runs(slack_worker) == 2, what="the second run")
    announces = [c for c in fake_slack.calls_to("chat.postMessage") if c["args"]["channel"] == "CANNOUNCE"]
    assert len(announces) == 1
    assert len(fake_slack.calls_to("conversations.create")) == 1
    assert (
        len([c for c in fake_slack.calls_to("chat.postMessage") if c["args"]["channel"] == incident.slack_channel_id])
        == 1
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_confirmed_rollback_runs_on_the_worker_and_its_states_land_in_one_thread(
    client, fake_slack, slack_worker, approver
):
    import json

    from rollouts.models import FINAL_RUN_STATES, RolloutRun
    from tests.slackbot.test_rollback import _confirm_payload
    from tests.slackbot.world import feature_with_two_releases

    approver.slack_user_id = "UANA"
    approver.save(update_fields=["slack_user_id"])
    world = feature_with_two_releases(approver)
    value = json.dumps({"e": world.production.pk, "f": world.r2.pk, "t": world.r1.pk})
    plan = {
        "blocks": [
            {
                "type": "actions",
                "block_id": "rollback_plan",
                "elements": [{"action_id": "rollback_confirm", "value": value}],
            }
        ]
    }
    body = payload_body(_confirm_payload(plan, "UANA", fake_slack.url))
    response = client.generic(
        "POST", "/slack/interactivity", body, content_type="application/x-www-form-urlencoded", **signed_headers(body)
    )
    assert response.status_code == 200
    run = RolloutRun.objects.get()

    def finished_and_posted():
        run.refresh_from_db()
        if run.state not in FINAL_RUN_STATES:
            return False
        tasks.rollback_threads_follow.delay()  # what beat does every few seconds
        return SlackMessage.objects.filter(purpose_key=f"rollback:{run.pk}:state:{run.state}").exclude(ts="").exists()

    _wait_for(finished_and_posted, what=f"the run to finish and be posted; worker log:\n{slack_worker.log()}")
    head = SlackMessage.objects.get(purpose_key=f"rollback:{run.pk}:head")
    posts = fake_slack.calls_to("chat.postMessage")
    assert [p["args"]["channel"] for p in posts if "thread_ts" not in p["args"]] == ["COPS"]  # one head message
    replies = [p["args"]["text"] for p in posts if p["args"].get("thread_ts") == head.ts]
    assert len(replies) == len(set(replies)) and f"*{run.state}*" in replies[-1]
    _wait_for(lambda: any("started by <@UANA>" in h["text"] for h in fake_slack.hooks()), what="the reply to the click")
