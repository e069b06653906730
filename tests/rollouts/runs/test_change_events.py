"""Change events out: each deployment, rollout step and rollback reaches a local receiver as a PagerDuty change
event and as a CDEvent — signed, retried with back-off, and once per idempotency key even when a worker dies
mid-delivery."""

from __future__ import annotations

import time

import pytest

from rollouts.runs.change_events import services as change_services
from rollouts.runs.change_events.models import ChangeEventDelivery
from rollouts.runs.change_events.tasks import change_events_sweep
from tests.rollouts.factories import deploy, feature_with_envs, release
from tests.support.webhook_receiver import WebhookReceiver
from tests.support.worker import CeleryWorker

SECRET = "receiver-shared-secret"


@pytest.fixture
def receiver():
    r = WebhookReceiver(SECRET).start()
    yield r
    r.stop()


@pytest.fixture
def world(team, approver, admin_user, receiver):
    feature, staging, production = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    pd, _ = change_services.change_target_create(
        actor=admin_user,
        name="PagerDuty",
        url=receiver.url,
        format="pagerduty",
        secret=SECRET,
        routing_key="R0UT1NGKEY",
    )
    cd, _ = change_services.change_target_create(
        actor=admin_user, name="CDEvents sink", url=receiver.url, format="cdevents", secret=SECRET
    )
    return {
        "feature": feature,
        "staging": staging,
        "production": production,
        "stable": stable,
        "candidate": candidate,
        "pd": pd,
        "cd": cd,
    }


def send_all() -> None:
    for pk in change_services.deliveries_due():
        change_services.delivery_attempt(pk)


def bodies_by_target(receiver, target) -> list[dict]:
    return [b for k, b in receiver.applied if k.endswith(f"-target{target.pk}")]


def test_a_deployment_reaches_the_receiver_in_both_shapes(world, approver, receiver):
    deploy(approver, world["staging"], world["stable"])
    send_all()
    [pd_body] = bodies_by_target(receiver, world["pd"])
    assert pd_body["routing_key"] == "R0UT1NGKEY"
    assert pd_body["payload"]["source"] == "rewind"
    assert pd_body["payload"]["summary"] == "support-assistant staging: deployed release #1 (via web)"
    assert pd_body["payload"]["custom_details"]["release"] == 1
    assert pd_body["links"][0]["href"].endswith(f"/releases/{world['stable'].pk}/")
    [cd_body] = bodies_by_target(receiver, world["cd"])
    assert cd_body["context"]["type"] == "dev.cdevents.service.deployed.0.2.0"
    assert cd_body["context"]["specversion"] == "0.4.1"
    assert cd_body["subject"]["type"] == "service"
    assert cd_body["subject"]["content"]["environment"]["id"] == "staging"
    assert cd_body["subject"]["content"]["artifactId"].startswith("pkg:generic/support-assistant@1")
    assert receiver.bad_signatures == 0
    assert set(ChangeEventDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_rollback_is_sent_as_rolled_back(world, approver, receiver):
    deploy(approver, world["staging"], world["stable"])
    deploy(approver, world["staging"], world["candidate"])
    deploy(approver, world["staging"], world["stable"])  # back to an older release: a rollback
    send_all()
    cd_types = [b["context"]["type"] for b in bodies_by_target(receiver, world["cd"])]
    assert cd_types == [
        "dev.cdevents.service.deployed.0.2.0",
        "dev.cdevents.service.deployed.0.2.0",
        "dev.cdevents.service.rolledback.0.2.0",
    ]
    assert "rolled back to release #1" in bodies_by_target(receiver, world["pd"])[-1]["payload"]["summary"]


def test_rollout_steps_are_announced_with_their_weight(world, approver, responder, receiver):
    from rollouts.runs import services as runs

    deploy(approver, world["staging"], world["stable"])
    run = runs.run_start(
        actor=responder,
        environment=world["staging"],
        candidate_release=world["candidate"],
        steps=[{"type": "weight", "weight": 25}, {"type": "weight", "weight": 100}],
        config={"webhook_backoff_seconds": 0.1},
    )
    for _ in range(3):
        runs.run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.state == "succeeded"
    send_all()
    weights = [
        b["payload"]["custom_details"].get("candidate_weight_percent") for b in bodies_by_target(receiver, world["pd"])
    ]
    assert weights == [None, 25, 100, None]  # the stable deploy, two steps, the candidate now live
    summaries = [b["payload"]["summary"] for b in bodies_by_target(receiver, world["pd"])]
    assert summaries[1] == "support-assistant staging: release #2 at 25 % (canary)"
    assert summaries[3] == "support-assistant staging: deployed release #2 (via rollout)"


def test_a_failing_receiver_is_retried_with_back_off_then_accepted(world, approver, receiver, settings):
    settings.REWIND_CHANGE_EVENTS = {**settings.REWIND_CHANGE_EVENTS, "backoff_seconds": 0.2}
    receiver.fail_all = True
    deploy(approver, world["staging"], world["stable"])
    send_all()
    row = ChangeEventDelivery.objects.get(target=world["pd"])
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 503)
    first_wait = (row.next_attempt_at - row.created_at).total_seconds()
    send_all()  # not due yet: nothing sent
    assert ChangeEventDelivery.objects.get(pk=row.pk).attempts == 1
    time.sleep(0.25)
    send_all()
    row.refresh_from_db()
    assert row.attempts == 2
    assert (row.next_attempt_at - row.created_at).total_seconds() > first_wait + 0.3  # the wait doubled
    receiver.fail_all = False
    time.sleep(0.45)
    send_all()
    row.refresh_from_db()
    assert row.status == "delivered"
    key = row.idempotency_key
    assert receiver.arrivals[key] == 3 and [k for k, _ in receiver.applied].count(key) == 1


def test_a_receiver_that_refuses_the_body_is_not_retried(world, approver, admin_user):
    # Wrong secret: the receiver answers 401, which retrying cannot fix.
    r = WebhookReceiver("another-secret").start()
    try:
        change_services.change_target_update(actor=admin_user, target=world["cd"], url=r.url)
        world["pd"].active = False
        world["pd"].save()
        deploy(admin_user, world["staging"], world["stable"])
        send_all()
    finally:
        r.stop()
    row = ChangeEventDelivery.objects.get(target=world["cd"])
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, 401)
    assert "refused by the receiver" in row.last_error


def test_managing_targets_needs_the_admin_role(world, approver):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        change_services.change_target_create(actor=approver, name="x", url="https://x.example", format="cdevents")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_each_change_event_lands_once_after_a_worker_is_killed_mid_delivery(world, approver, receiver):
    lease = {"REWIND_CHANGE_EVENT_LEASE_SECONDS": "2"}
    pd_key_part = f"-target{world['pd'].pk}"
    receiver.slow[pd_key_part] = 4.0  # the worker is inside the PagerDuty POST when we kill it
    first = CeleryWorker(name="ce1", extra_env=lease)
    first.start()
    second = None
    try:
        deploy(approver, world["staging"], world["stable"])  # commits; the deliveries go to the broker
        deadline = time.monotonic() + 30
        while not any(pd_key_part in k for k in receiver.arrivals):
            assert time.monotonic() < deadline, first.log()[-3000:]
            time.sleep(0.05)
        first.kill()
        second = CeleryWorker(name="ce2", extra_env=lease)
        second.start()
        deadline = time.monotonic() + 40
        while ChangeEventDelivery.objects.exclude(status="delivered").exists():
            assert time.monotonic() < deadline, second.log()[-3000:]
            change_events_sweep.delay()  # what beat does every few seconds
            time.sleep(1)
    finally:
        first.stop()
        if second:
            second.stop()
    keys = [k for k, _ in receiver.applied]
    assert len(keys) == len(set(keys)) == 2
    pd_key = next(k for k in keys if pd_key_part in k)
    assert receiver.arrivals[pd_key] == 2  # re-sent after the crash, with the same key
    assert {b.get("routing_key") for _, b in receiver.applied} == {"R0UT1NGKEY", None}
    assert ChangeEventDelivery.objects.filter(status="delivered").count() == 2
    assert receiver.bad_signatures == 0
