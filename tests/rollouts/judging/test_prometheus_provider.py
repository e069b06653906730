"""Prometheus as a metric provider for the judge, against a real Prometheus scraping an exporter the test runs."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from django.utils import timezone
from prometheus_client import Counter, Histogram

from rollouts.judging import providers
from tests.support.prometheus import Exporter, Prometheus, prometheus_available

needs_prometheus = pytest.mark.skipif(not prometheus_available(), reason="Debian's prometheus is not installed")

EVENTS = 'sum(increase(llm_requests_total{release="{{release}}",env="{{environment}}",outcome="error"}[{{window}}]))'
TRIALS = 'sum(increase(llm_requests_total{release="{{release}}",env="{{environment}}"}[{{window}}]))'
BUCKETS = 'sum by (le) (increase(llm_latency_seconds_bucket{release="{{release}}",env="{{environment}}"}[{{window}}]))'
LATENCY_BOUNDS = (0.1, 0.25, 0.5, 1.0, 2.5)


@pytest.fixture(scope="module")
def scraped():
    exporter = Exporter()
    requests = Counter("llm_requests", "Requests", ["release", "env", "outcome"], registry=exporter.registry)
    latency = Histogram(
        "llm_latency_seconds", "Latency", ["release", "env"], buckets=LATENCY_BOUNDS, registry=exporter.registry
    )
    prometheus = Prometheus([f"127.0.0.1:{exporter.port}"]).wait_ready()
    try:
        yield prometheus, requests, latency
    finally:
        prometheus.stop()
        exporter.stop()


def test_the_placeholders_are_filled_like_a_metric_template():
    query = providers.render(TRIALS, release=7, environment="production", window_seconds=299.2)
    assert query == 'sum(increase(llm_requests_total{release="7",env="production"}[300s]))'


def test_cumulative_buckets_become_binned_values_at_bucket_midpoints():
    values = providers.binned_values([(0.1, 2), (0.5, 5), (float("inf"), 6)], scale=1000)
    assert list(values) == [50.0, 50.0, 300.0, 300.0, 300.0, 500.0]
    many = providers.binned_values([(1.0, 2e6), (2.0, 3e6)])
    assert len(many) == providers.MAX_BINNED_VALUES and np.mean(many == 0.5) == pytest.approx(2 / 3, abs=1e-4)


@needs_prometheus
def test_per_arm_counts_and_histogram_buckets_come_from_prometheus(scraped):
    prometheus, requests, latency = scraped
    for release in ("1", "2"):  # the series exist (at zero) before traffic, as in a running gateway
        for outcome in ("ok", "error"):
            requests.labels(release, "staging", outcome)
        latency.labels(release, "staging")
    prometheus.wait_for_series('llm_requests_total{release="2",outcome="error"}')
    time.sleep(1.5)
    start = timezone.now()
    for _ in range(6):  # six scrapes' worth of traffic: release 1 fails 1 in 50, release 2 fails 1 in 5
        requests.labels("1", "staging", "ok").inc(49)
        requests.labels("1", "staging", "error").inc(1)
        requests.labels("2", "staging", "ok").inc(40)
        requests.labels("2", "staging", "error").inc(10)
        for _ in range(10):
            latency.labels("1", "staging").observe(0.2)
            latency.labels("2", "staging").observe(0.7)
        time.sleep(1.0)
    time.sleep(2.5)
    end = timezone.now()
    source = providers.parse_source(
        {
            "type": "prometheus",
            "address": prometheus.url,
            "events": EVENTS,
            "trials": TRIALS,
            "buckets": BUCKETS,
            "scale": 1000,
        }
    )
    e1, n1 = providers.binary_counts(
        source, release=1, environment="staging", start=start - timedelta(seconds=5), end=end
    )
    e2, n2 = providers.binary_counts(
        source, release=2, environment="staging", start=start - timedelta(seconds=5), end=end
    )
    assert n1 > 100 and n2 > 100
    assert e1 / n1 < 0.06 and 0.14 < e2 / n2 < 0.26
    fast = providers.histogram_values(source, release=1, environment="staging", start=start, end=end)
    slow = providers.histogram_values(source, release=2, environment="staging", start=start, end=end)
    assert len(fast) > 20 and set(fast) == {175.0} and set(slow) == {750.0}
    # A release with no series had no traffic: zero, not an error.
    assert providers.binary_counts(source, release=9, environment="staging", start=start, end=end) == (0, 0)


@needs_prometheus
def test_a_promql_error_is_a_provider_error(scraped):
    prometheus, _, _ = scraped
    source = providers.parse_source({"type": "prometheus", "address": prometheus.url, "events": "sum(", "trials": "1"})
    now = timezone.now()
    with pytest.raises(providers.ProviderError, match="400"):
        providers.binary_counts(source, release=1, environment="staging", start=now - timedelta(seconds=10), end=now)


def test_a_slow_or_absent_prometheus_is_a_provider_error():
    class Stall(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(2)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stall)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    now = timezone.now()
    try:
        slow = providers.parse_source(
            {
                "type": "prometheus",
                "address": f"http://127.0.0.1:{server.server_address[1]}",
                "events": "1",
                "trials": "1",
                "timeout_seconds": 0.3,
            }
        )
        with pytest.raises(providers.ProviderError, match="timed out"):
            providers.binary_counts(slow, release=1, environment="e", start=now - timedelta(seconds=10), end=now)
    finally:
        server.shutdown()
        server.server_close()
    gone = providers.parse_source({"type": "prometheus", "address": "http://127.0.0.1:9", "events": "1", "trials": "1"})
    with pytest.raises(providers.ProviderError, match="unreachable"):
        providers.binary_counts(gone, release=1, environment="e", start=now - timedelta(seconds=10), end=now)


def test_sources_are_validated_with_field_messages():
    assert (
        providers.source_problems(
            "error_rate",
            "binary",
            {"type": "prometheus", "address": "http://p:9090", "events": EVENTS, "trials": TRIALS},
        )
        == []
    )
    problems = providers.source_problems(
        "error_rate", "binary", {"type": "prometheus", "address": "p:9090", "events": "x{{tenant}}", "buckets": "y"}
    )
    assert any("address" in p for p in problems) and any("tenant" in p for p in problems)
    assert any("source.trials" in p for p in problems) and any("source.buckets" in p for p in problems)
    assert providers.source_problems("latency_ms", "continuous", {"type": "graphite"})
