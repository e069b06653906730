"""Observations with real processes and threads: the beat task on a real worker, and racing gateways."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection

from rollouts.judging.observations import observations_ingest
from rollouts.judging.samples import RESERVOIR_SIZE
from rollouts.judging.tasks import prune_observations
from rollouts.models import Observation, ObservationReservoir, ObservationRollup, ObservationSample
from tests.rollouts.observation_support import T0, feature_with_releases, record


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_beat_prune_task_runs_on_a_real_worker(celery_worker_process, responder, team):
    assert settings.CELERY_BEAT_SCHEDULE["observations-prune"]["task"] == prune_observations.name
    feature, prod, _, (r1, *_) = feature_with_releases(actor=responder, team=team)
    old = datetime.now(UTC) - timedelta(days=60)
    observations_ingest(actor=responder, records=[record(feature, prod, r1, old), record(feature, prod, r1, T0)])
    prune_observations.delay()
    assert _wait_for(lambda: Observation.objects.count() == 1), celery_worker_process.log_path.read_text()[-2000:]
    assert Observation.objects.get().time == T0


@pytest.mark.django_db(transaction=True)
def test_racing_batches_with_the_same_request_ids_are_stored_and_counted_once(responder, team):
    feature, prod, _, (r1, *_) = feature_with_releases(actor=responder, team=team)
    batch = [record(feature, prod, r1, T0 + timedelta(seconds=i % 60), request_id=f"req-{i}") for i in range(300)]
    barrier = threading.Barrier(4)
    results, errors = [], []

    def gateway():
        try:
            barrier.wait()
            results.append(observations_ingest(actor=responder, records=batch))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=gateway) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r.stored for r in results) == 300
    assert sum(r.duplicates for r in results) == 900
    assert Observation.objects.count() == 300
    assert sum(ObservationRollup.objects.values_list("count", flat=True)) == 300


@pytest.mark.django_db(transaction=True)
def test_racing_batches_of_one_minute_take_their_places_one_after_another_in_its_reservoir(responder, team):
    """Each gateway's batch is marked by its latency. Had two batches both counted themselves first in the
    minute, the last to commit would hold every slot it wrote; placed one after another, each holds about a
    quarter of the reservoir."""
    feature, prod, _, (r1, *_) = feature_with_releases(actor=responder, team=team)
    batches = [
        [record(feature, prod, r1, T0 + timedelta(seconds=i % 50), latency_ms=100.0 + g) for i in range(100)]
        for g in range(4)
    ]
    barrier = threading.Barrier(4)
    errors = []

    def gateway(batch):
        try:
            barrier.wait()
            observations_ingest(actor=responder, records=batch)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=gateway, args=(batch,)) for batch in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert ObservationReservoir.objects.get(release=r1, minute=T0).seen == 400
    held = Counter(ObservationSample.objects.filter(release=r1, minute=T0).values_list("latency_ms", flat=True))
    assert sum(held.values()) == RESERVOIR_SIZE
    assert max(held.values()) <= 40, held  # a quarter is 16; one batch owning the reservoir would hold 64
