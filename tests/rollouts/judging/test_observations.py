from __future__ import annotations

import importlib
import json
from datetime import timedelta, timezone

import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from rollouts.judging.observations import ObservationsInvalid, arm_data, observations_ingest, observations_prune
from rollouts.models import Observation, ObservationReservoir, ObservationRollup, ObservationSample
from tests.rollouts.observation_support import T0, feature_with_releases, record, records_over

URL = "/api/v1/observations"


@pytest.fixture
def setup(db, responder, team):
    feature, prod, staging, releases = feature_with_releases(actor=responder, team=team)
    return feature, prod, staging, releases


def post(client, records):
    return client.post(URL, {"records": records}, format="json")


def test_it_stores_a_batch_and_rolls_it_up_per_minute_and_segment(api_as, responder, setup):
    feature, prod, _, (r1, r2, _r3) = setup
    records = [
        record(feature, prod, r1, T0, segment={"tenant": "acme", "locale": "en"}, error=True, latency_ms=80),
        record(feature, prod, r1, T0 + timedelta(seconds=30), segment={"locale": "en", "tenant": "acme"}),
        record(feature, prod, r1, T0 + timedelta(seconds=59), segment={"tenant": "globex"}, json_valid=False),
        record(feature, prod, r1, T0 + timedelta(minutes=1), segment={"tenant": "acme", "locale": "en"}, feedback=-1),
        record(feature, prod, r2, T0, latency_ms=6000, cost=0.5, tokens_in=10, tokens_out=20),
    ]
    response = post(api_as(responder), records)
    assert response.status_code == 201, response.json()
    assert response.json() == {"received": 5, "stored": 5, "duplicates": 0, "rollup_rows": 4}
    assert Observation.objects.count() == 5

    rollups = {
        (r.release.number, r.minute, r.segment_key): r for r in ObservationRollup.objects.select_related("release")
    }
    assert set(rollups) == {
        (1, T0, "locale=en&tenant=acme"),
        (1, T0, "tenant=globex"),
        (1, T0 + timedelta(minutes=1), "locale=en&tenant=acme"),
        (2, T0, ""),
    }
    acme = rollups[(1, T0, "locale=en&tenant=acme")]
    assert (acme.count, acme.errors, acme.latency_sum, acme.latency_le_100, acme.latency_le_250) == (2, 1, 200, 1, 1)
    globex = rollups[(1, T0, "tenant=globex")]
    assert (globex.json_checked, globex.json_invalid) == (1, 1)
    later = rollups[(1, T0 + timedelta(minutes=1), "locale=en&tenant=acme")]
    assert (later.feedback_count, later.feedback_negative) == (1, 1)
    slow = rollups[(2, T0, "")]
    assert (slow.latency_gt_5000, slow.cost, slow.tokens_in, slow.tokens_out) == (1, 0.5, 10, 20)

    # A second batch for the same minute adds to the same rollup rows.
    again = post(
        api_as(responder), [record(feature, prod, r1, T0 + timedelta(seconds=5), segment={"tenant": "globex"})]
    )
    assert again.status_code == 201
    globex.refresh_from_db()
    assert globex.count == 2
    assert ObservationRollup.objects.count() == 4


def test_it_drops_request_ids_it_has_already_stored(api_as, responder, setup):
    feature, prod, _, (r1, *_) = setup
    first = [record(feature, prod, r1, T0, request_id="req-1"), record(feature, prod, r1, T0, request_id="req-2")]
    assert post(api_as(responder), first).json()["stored"] == 2
    second = [
        record(feature, prod, r1, T0, request_id="req-2"),
        record(feature, prod, r1, T0, request_id="req-3"),
        record(feature, prod, r1, T0, request_id="req-3"),
        record(feature, prod, r1, T0),
    ]
    body = post(api_as(responder), second).json()
    assert body == {"received": 4, "stored": 2, "duplicates": 2, "rollup_rows": 1}
    assert Observation.objects.count() == 4
    assert ObservationRollup.objects.get().count == 4
    assert ObservationReservoir.objects.get().seen == 4  # the minute's reservoir was offered the stored four
    assert ObservationSample.objects.count() == 4
    again = post(api_as(responder), second).json()  # a gateway's retry: every id is stored already
    assert again == {"received": 4, "stored": 1, "duplicates": 3, "rollup_rows": 1}  # the id-less record is new
    assert ObservationRollup.objects.get().count == ObservationReservoir.objects.get().seen == 5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"latency_ms": "fast"}, "latency_ms"),
        ({"error": 1}, "error"),
        ({"feedback": 2}, "feedback"),
        ({"time": "yesterday"}, "time"),
        ({"time": "2026-11-01T12:00:00"}, "time"),
        ({"time": "2026-13-45T12:00:00Z"}, "time"),
        ({"time": "2999-01-01T00:00:00Z"}, "time"),
        ({"time": 1764000000}, "time"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": True}, "latency_ms"),
        ({"json_valid": "yes"}, "json_valid"),
        ({"cost": -0.1}, "cost"),
        ({"release": 1, "release_id": 1}, "release"),
        ({"segment": {"tenant": "a&b"}}, "segment"),
        ({"segment": {"bad key": "x"}}, "segment"),
        ({"workflow_id": ""}, "workflow_id"),
        ({"request_id": 7}, "request_id"),
        ({"feature": ""}, "feature"),
        ({"colour": "red"}, "colour"),
        ({"segment": ["tenant"]}, "segment"),
        ({"segment": {"tenant": 3}}, "segment"),
        ({"release": 99}, "release"),
        ({"release": "1"}, "release"),
        ({"environment": "moon"}, "environment"),
        ({"tokens_in": -1}, "tokens_in"),
        ({"eval_score": "0.5"}, "eval_score"),
    ],
)
def test_it_refuses_a_bad_record_naming_index_and_field_and_stores_nothing(api_as, responder, setup, change, field):
    feature, prod, _, (r1, *_) = setup
    good = record(feature, prod, r1, T0)
    bad = {**record(feature, prod, r1, T0), **change}
    response = post(api_as(responder), [good, bad])
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"index": 1, "field": field} == {k: errors[0][k] for k in ("index", "field")}
    assert errors[0]["message"]
    assert Observation.objects.count() == 0
    assert ObservationRollup.objects.count() == 0


def test_times_are_read_as_rfc_3339_in_any_case_and_other_iso_forms_by_the_detailed_checks(api_as, responder, setup):
    feature, prod, _, (r1, *_) = setup
    lower = T0.strftime("%Y-%m-%dt%H:%M:%S.250z")  # RFC 3339 allows a lower-case t and z
    offset = (T0 + timedelta(seconds=10)).astimezone(timezone(timedelta(hours=5, minutes=45))).isoformat()
    no_seconds = (T0 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%MZ")  # ISO 8601, not RFC 3339
    quick = [record(feature, prod, r1, T0, time=lower), record(feature, prod, r1, T0, time=offset)]
    assert post(api_as(responder), quick).json()["stored"] == 2
    detailed = [record(feature, prod, r1, T0, time=lower), record(feature, prod, r1, T0, time=no_seconds)]
    assert post(api_as(responder), detailed).json()["stored"] == 2
    assert sorted(Observation.objects.values_list("time", flat=True)) == [
        T0 + timedelta(milliseconds=250),
        T0 + timedelta(milliseconds=250),
        T0 + timedelta(seconds=10),
        T0 + timedelta(minutes=1),
    ]
    assert sorted(ObservationRollup.objects.values_list("minute", "count")) == [(T0, 3), (T0 + timedelta(minutes=1), 1)]


def test_it_refuses_malformed_json_missing_records_and_oversized_batches(api_as, responder, setup):
    feature, prod, _, (r1, *_) = setup
    client = api_as(responder)
    assert client.post(URL, '{"records": [', content_type="application/json").status_code == 400
    missing = client.post(URL, {"rows": []}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "records"
    assert post(client, []).status_code == 400
    oversized = post(client, [record(feature, prod, r1, T0)] * 5001)
    assert oversized.status_code == 400
    assert "5000" in oversized.json()["errors"][0]["message"]
    not_objects = post(client, [record(feature, prod, r1, T0), "oops"])
    assert {k: not_objects.json()["errors"][0][k] for k in ("index", "field")} == {"index": 1, "field": "record"}
    huge = client.post(URL, '{"records": [' + " " * (17 * 2**20) + "]}", content_type="application/json")
    assert huge.status_code == 400
    assert "limit" in huge.json()["detail"]
    assert client.post(URL, "records=1", content_type="text/plain").status_code == 415
    nan = client.post(URL, '{"records": [{"latency_ms": NaN}]}', content_type="application/json")
    assert nan.status_code == 400
    assert Observation.objects.count() == 0


def test_a_full_batch_bigger_than_the_usual_body_limit_is_accepted(api_as, responder, setup):
    feature, prod, _, (r1, *_) = setup
    pad = "x" * 100
    batch = [
        record(
            feature,
            prod,
            r1,
            T0,
            request_id=f"{pad}-{i}",
            workflow_id=f"wf-{pad}",
            segment={"tenant": "acme", "region": pad[:60], "plan": pad[:60]},
        )
        for i in range(5000)
    ]
    body = json.dumps({"records": batch})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api_as(responder).post(URL, body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]
    assert response.json()["stored"] == 5000


def test_the_service_refuses_non_finite_numbers(responder, setup):
    feature, prod, _, (r1, *_) = setup
    with pytest.raises(ObservationsInvalid) as exc:
        observations_ingest(actor=responder, records=[record(feature, prod, r1, T0, eval_score=float("nan"))])
    assert exc.value.errors[0].field == "eval_score"


def test_a_release_of_another_feature_is_refused(api_as, responder, team, setup):
    feature, prod, _, _ = setup
    _, _, _, (other,) = feature_with_releases(actor=responder, team=team, slug="classify", n=1)
    response = post(api_as(responder), [record(feature, prod, other, T0, release=None, release_id=other.pk)])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "release_id"


@pytest.mark.parametrize(("who", "expected"), [(None, 401), ("viewer", 403), ("responder", 201), ("approver", 201)])
def test_who_may_post_observations(api_as, request, setup, who, expected):
    feature, prod, _, (r1, *_) = setup
    user = request.getfixturevalue(who) if who else None
    assert post(api_as(user), [record(feature, prod, r1, T0)]).status_code == expected


def test_arm_data_gives_events_and_trials_and_raw_values(responder, setup):
    feature, prod, _, (r1, r2, _) = setup
    records = records_over(
        feature,
        prod,
        r1,
        start=T0,
        minutes=10,
        per_minute=20,
        error=lambda i: i % 10 == 0,
        refusal=lambda i: i % 50 == 0,
        json_valid=lambda i: None if i % 2 else i % 4 != 0,
        feedback=lambda i: [-1, 1, None, 0][i % 4],
        latency_ms=lambda i: float(100 + i),
        eval_score=lambda i: 0.5 if i % 5 == 0 else None,
        cost=0.01,
    )
    records += records_over(feature, prod, r2, start=T0, minutes=10, per_minute=5)
    observations_ingest(actor=responder, records=records)

    arm = arm_data(environment=prod, release=r1, start=T0, end=T0 + timedelta(minutes=10))
    assert arm.requests == 200
    assert arm.binary == {
        "error_rate": (20, 200),
        "refusal_rate": (4, 200),
        "json_invalid_rate": (50, 100),
        "negative_feedback_rate": (50, 150),
    }
    assert sorted(arm.continuous["latency_ms"]) == [float(100 + i) for i in range(200)]
    assert len(arm.continuous["eval_score"]) == 40
    assert np.allclose(arm.continuous["cost"], 0.01)

    half = arm_data(
        environment=prod, release=r1, start=T0, end=T0 + timedelta(minutes=5), metrics=["error_rate", "latency_ms"]
    )
    assert half.requests == 100
    assert set(half.binary) == {"error_rate"}
    assert set(half.continuous) == {"latency_ms"}
    assert len(half.continuous["latency_ms"]) == 100


def test_arm_data_without_observations_is_empty_not_an_error(setup):
    _, prod, _, (r1, *_) = setup
    arm = arm_data(environment=prod, release=r1, start=T0, end=T0 + timedelta(minutes=5))
    assert arm.requests == 0
    assert arm.binary["error_rate"] == (0, 0)
    assert arm.continuous["latency_ms"].size == 0


def test_arm_data_uses_two_queries(responder, setup, django_assert_num_queries):
    feature, prod, _, (r1, *_) = setup
    observations_ingest(actor=responder, records=records_over(feature, prod, r1, start=T0, minutes=3, per_minute=3))
    with django_assert_num_queries(2):
        arm_data(environment=prod, release=r1, start=T0, end=T0 + timedelta(minutes=3))


def test_ingest_uses_a_bounded_number_of_queries(responder, setup, django_assert_max_num_queries):
    feature, prod, _, (r1, r2, r3) = setup
    records = []
    for rel in (r1, r2, r3):
        records += records_over(
            feature, prod, rel, start=T0, minutes=30, per_minute=20, request_id=lambda i, n=rel.number: f"{n}-{i}"
        )
    # SQLite caps statement parameters at 999, so there inserts are split into many more statements.
    with django_assert_max_num_queries(12 if connection.vendor == "postgresql" else 400):
        result = observations_ingest(actor=responder, records=records)
    assert result.stored == 1800


def test_prune_deletes_raw_rows_past_retention_but_keeps_rollups(responder, setup):
    feature, prod, _, (r1, *_) = setup
    observations_ingest(actor=responder, records=[record(feature, prod, r1, T0)])
    assert observations_prune(now=T0 + timedelta(days=1)) == (0, 0)
    assert observations_prune(now=T0 + timedelta(days=30)) == (1, 0)
    assert ObservationRollup.objects.count() == 1
    assert ObservationSample.objects.count() == ObservationReservoir.objects.count() == 1
    # Past the rollups' retention the minute goes whole: its rollup, its reservoir sample and count.
    assert observations_prune(now=T0 + timedelta(days=200)) == (0, 1)
    assert not ObservationSample.objects.exists() and not ObservationReservoir.objects.exists()


def test_the_reservoir_counts_of_minutes_stored_before_them_are_taken_from_the_rollups(responder, setup):
    from django.apps import apps

    migration = importlib.import_module("rollouts.migrations.0009_observation_reservoir_counts")
    feature, prod, _, (r1, r2, _r3) = setup
    observations_ingest(
        actor=responder,
        records=[record(feature, prod, r1, T0, segment={"tenant": t}) for t in "aab"]
        + [record(feature, prod, r2, T0 + timedelta(minutes=1))],
    )
    ObservationReservoir.objects.all().delete()
    migration.counts_from_rollups(apps, None)
    assert sorted(ObservationReservoir.objects.values_list("release_id", "seen")) == [(r1.pk, 3), (r2.pk, 1)]


def test_arm_data_feeds_the_canary_judge(responder, setup):
    """End to end through the judge: a canary with 6% errors against a 1% baseline fails; no data is inconclusive."""
    from rollouts.judging.judge import ArmData, JudgeConfig, MetricSpec, judge

    feature, prod, _, (r1, r2, _) = setup
    records = records_over(feature, prod, r1, start=T0, minutes=10, per_minute=100, error=lambda i: i % 100 == 0)
    records += records_over(feature, prod, r2, start=T0, minutes=10, per_minute=50, error=lambda i: i % 50 < 3)
    observations_ingest(actor=responder, records=records)
    window = {"environment": prod, "start": T0, "end": T0 + timedelta(minutes=10)}
    specs = [
        MetricSpec("error_rate", "binary", "increase", critical=True),
        MetricSpec("latency_ms", "continuous", "increase", allowed_change=0.1),
    ]
    config = JudgeConfig(expected_canary_share=1 / 3, max_looks=1)  # one look: the whole alpha now
    canary, baseline = arm_data(release=r2, **window), arm_data(release=r1, **window)
    assert isinstance(canary, ArmData)
    assert judge(canary=canary, baseline=baseline, specs=specs, config=config, look=1).verdict == "fail"
    later = {**window, "start": T0 + timedelta(hours=1), "end": T0 + timedelta(hours=2)}
    empty = judge(
        canary=arm_data(release=r2, **later), baseline=arm_data(release=r1, **later), specs=specs, config=config, look=1
    )
    assert empty.verdict == "inconclusive"


def test_workflow_rollups_count_requests_per_workflow_and_tenant(responder, setup):
    from rollouts.models import WorkflowRollup

    feature, prod, _, (r1, *_) = setup
    records = records_over(
        feature, prod, r1, start=T0, minutes=2, per_minute=4,
        workflow_id="invoice-parse", segment={"tenant": "acme", "locale": "en"},
        error=lambda i: i == 0, feedback=lambda i: -1 if i < 3 else None,
    )  # fmt: skip
    records += records_over(feature, prod, r1, start=T0, minutes=1, per_minute=5)  # no workflow: not counted
    result = observations_ingest(actor=responder, records=records)
    assert result.rollup_rows == 2 + 1 + 2  # segment rollups (acme/en x 2 minutes, none x 1) + workflow rollups
    rows = list(WorkflowRollup.objects.order_by("minute").values_list("tenant", "count", "errors", "feedback_negative"))
    assert rows == [("acme", 4, 1, 3), ("acme", 4, 0, 0)]
