"""Rewind's own state in the Prometheus exposition format, computed from the database at scrape time.

Every web process answers the same numbers (the database is the truth), so Prometheus may scrape any of them.
A scrape costs a handful of aggregate queries on indexed columns.

Metrics (all gauges unless named ``_total``):

- ``rewind_runs{state, kind}``: rollout and rollback runs by state.
- ``rewind_runs_in_flight{feature, environment, state}``: 1 for each run in flight.
- ``rewind_canary_candidate_weight_percent{feature, environment}``: the candidate's share of each run in flight.
- ``rewind_judge_verdicts_total{verdict}``: judged windows by verdict (judgements are never deleted).
- ``rewind_judge_latest_verdict{feature, environment, verdict}``: 1 for the latest judged window of each run in
  flight.
- ``rewind_observations_per_second``: requests observed per second over the last five whole minutes.
- ``rewind_observations_last_received_age_seconds``: time since the newest observation was received.
- ``rewind_observation_ingest_lag_seconds``: how late observations arrive (received minus request time), mean and
  max over those received in the last five minutes, labelled ``stat``.
- ``rewind_webhook_deliveries{status}``: weight-change deliveries by status; ``rewind_webhook_delivery_failures``
  those that gave up; ``rewind_webhook_deliveries_retrying`` pending ones that failed at least once.
- ``rewind_worker_heartbeat_age_seconds{worker}``: seconds since each Celery worker's last heartbeat.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from core.actors import system_actor
from core.models import WorkerHeartbeat
from core.permissions import require
from rollouts.judging.models import Analysis, Observation, ObservationRollup
from rollouts.runs.models import ACTIVE_RUN_STATES, DeliveryStatus, RolloutRun, RunKind, RunState, WebhookDelivery

RATE_MINUTES = 5


def _seconds(value) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value or 0)


class RewindCollector:
    def collect(self):
        now = timezone.now()
        runs = GaugeMetricFamily("rewind_runs", "Rollout and rollback runs by state.", labels=["state", "kind"])
        counts = {
            (r["state"], r["kind"]): r["n"] for r in RolloutRun.objects.values("state", "kind").annotate(n=Count("id"))
        }
        for state in RunState.values:
            for kind in RunKind.values:
                runs.add_metric([state, kind], counts.get((state, kind), 0))
        yield runs

        in_flight = GaugeMetricFamily(
            "rewind_runs_in_flight", "Runs in flight.", labels=["feature", "environment", "state"]
        )
        weight = GaugeMetricFamily(
            "rewind_canary_candidate_weight_percent",
            "Candidate share of traffic of each run in flight.",
            labels=["feature", "environment"],
        )
        active = list(
            RolloutRun.objects.filter(state__in=ACTIVE_RUN_STATES).values(
                "pk", "state", "candidate_weight", "environment__name", "environment__feature__slug"
            )
        )
        for run in active:
            where = [run["environment__feature__slug"], run["environment__name"]]
            in_flight.add_metric([*where, run["state"]], 1)
            weight.add_metric(where, run["candidate_weight"])
        yield in_flight
        yield weight

        verdicts = CounterMetricFamily("rewind_judge_verdicts", "Judged windows by verdict.", labels=["verdict"])
        for row in Analysis.objects.values("verdict").annotate(n=Count("id")).order_by("verdict"):
            verdicts.add_metric([row["verdict"]], row["n"])
        yield verdicts

        latest = GaugeMetricFamily(
            "rewind_judge_latest_verdict",
            "1 for the verdict of the latest judged window of each run in flight.",
            labels=["feature", "environment", "verdict"],
        )
        names = {run["pk"]: (run["environment__feature__slug"], run["environment__name"]) for run in active}
        seen: set[int] = set()
        for a in (
            Analysis.objects.filter(run_id__in=names)
            .order_by("run_id", "-window_end", "-id")
            .values("run_id", "verdict")
        ):
            if a["run_id"] not in seen:
                seen.add(a["run_id"])
                latest.add_metric([*names[a["run_id"]], a["verdict"]], 1)
        yield latest

        minute = now.replace(second=0, microsecond=0)
        total = ObservationRollup.objects.filter(
            minute__gte=minute - timedelta(minutes=RATE_MINUTES), minute__lt=minute
        ).aggregate(n=Sum("count"))["n"]
        yield GaugeMetricFamily(
            "rewind_observations_per_second",
            f"Requests observed per second over the last {RATE_MINUTES} whole minutes.",
            value=(total or 0) / (RATE_MINUTES * 60),
        )
        recent = Observation.objects.filter(time__gte=now - timedelta(minutes=RATE_MINUTES))
        lag = recent.annotate(
            lag=ExpressionWrapper(F("received_at") - F("time"), output_field=DurationField())
        ).aggregate(mean=Avg("lag"), max=Max("lag"), newest=Max("received_at"))
        newest = lag["newest"] or Observation.objects.aggregate(newest=Max("received_at"))["newest"]
        if newest is not None:
            yield GaugeMetricFamily(
                "rewind_observations_last_received_age_seconds",
                "Seconds since the newest observation was received.",
                value=(now - newest).total_seconds(),
            )
        ingest_lag = GaugeMetricFamily(
            "rewind_observation_ingest_lag_seconds",
            f"Received minus request time of observations of the last {RATE_MINUTES} minutes.",
            labels=["stat"],
        )
        if lag["max"] is not None:
            ingest_lag.add_metric(["mean"], _seconds(lag["mean"]))
            ingest_lag.add_metric(["max"], _seconds(lag["max"]))
        yield ingest_lag

        deliveries = GaugeMetricFamily("rewind_webhook_deliveries", "Webhook deliveries by status.", labels=["status"])
        by_status = dict(WebhookDelivery.objects.values_list("status").annotate(n=Count("id")))
        for status in DeliveryStatus.values:
            deliveries.add_metric([status], by_status.get(status, 0))
        yield deliveries
        yield GaugeMetricFamily(
            "rewind_webhook_delivery_failures",
            "Webhook deliveries that gave up after their last attempt.",
            value=by_status.get(DeliveryStatus.FAILED, 0),
        )
        yield GaugeMetricFamily(
            "rewind_webhook_deliveries_retrying",
            "Pending webhook deliveries that failed at least once.",
            value=WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, attempts__gt=0).count(),
        )

        beats = GaugeMetricFamily(
            "rewind_worker_heartbeat_age_seconds", "Seconds since each worker's last heartbeat.", labels=["worker"]
        )
        for worker, seen_at in WorkerHeartbeat.objects.values_list("worker", "seen_at"):
            beats.add_metric([worker], (now - seen_at).total_seconds())
        yield beats


# The scraper holding REWIND_METRICS_TOKEN: a system actor (Prometheus is not a user and owns nothing).
METRICS_SCRAPER = system_actor("metrics scraper")


def exposition(*, actor) -> bytes:
    """The scrape, for an admin (metrics.read) or the metrics-token scraper."""
    require(actor, "metrics.read")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RewindCollector())
    return generate_latest(registry)
