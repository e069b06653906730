"""OTLP/HTTP trace intake throughput against the native observations endpoint, measured in one run.

Own database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/rewind_bench_otlp), recreated and migrated.
The same requests are sent three ways, alternating round by round so load changes hit all three alike:

* native: ``POST /api/v1/observations`` with a JSON batch of BATCH records (DRF view, forced auth);
* otlp-protobuf: ``POST /v1/traces``, an ExportTraceServiceRequest of BATCH GenAI spans (application/x-protobuf);
* otlp-json: the same request in OTLP/JSON.

Each span carries what a GenAI instrumentation sets (operation, request/response model, token usage, status,
duration, one ``gen_ai.evaluation.result`` event) plus ``rewind.release`` and a tenant segment, i.e. the fields
of a native record. Both paths end in the same ``observations_ingest``; the ratio is the price of decoding OTLP
and mapping spans. No network hop (RequestFactory), token auth on the OTLP path as an exporter sends it.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

ROUNDS = 6
BATCH = 5_000
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rewind_bench_otlp"
TARGET_RATIO = 0.5  # OTLP intake at least half as fast as the native endpoint


def _setup():
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    if os.environ["DATABASE_URL"].startswith("postgres"):
        from bench.observations_ingest import _fresh_database

        _fresh_database(os.environ["DATABASE_URL"])
    from bench._django import django_setup

    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from rest_framework.authtoken.models import Token

    from core.models import Role, Team, User
    from rollouts.registry.models import Environment, Feature
    from rollouts.registry.services import model_version_register, prompt_version_register, release_create

    user, _ = User.objects.get_or_create(username="bench-otlp", defaults={"role": Role.RESPONDER})
    token, _ = Token.objects.get_or_create(user=user)
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    feature, _ = Feature.objects.get_or_create(slug="bench-otlp", defaults={"name": "Bench", "team": team})
    Environment.objects.get_or_create(feature=feature, name="production", defaults={"is_production": True})
    model, _ = model_version_register(actor=user, provider="openai", requested_alias="m", resolved_snapshot="m-1")
    for i in range(2):
        prompt, _ = prompt_version_register(actor=user, name="bench-otlp", template=f"v{i}")
        release_create(actor=user, feature=feature, model=model, prompt=prompt)
    return user, token.key, feature.slug


def _requests(rng: random.Random, slug: str, round_no: int, start: datetime):
    """(native JSON body, OTLP protobuf bytes, OTLP JSON body) describing the same BATCH requests."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def kv(key, value):
        if isinstance(value, str):
            return KeyValue(key=key, value=AnyValue(string_value=value))
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        return KeyValue(key=key, value=AnyValue(int_value=value))

    native, otlp_native = [], []
    export = ExportTraceServiceRequest()
    resource_spans = export.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [kv("service.name", "gateway"), kv("rewind.feature", slug), kv("rewind.environment", "production")]
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "bench"
    for i in range(BATCH):
        at = start + timedelta(seconds=rng.uniform(0, 60))
        latency = rng.lognormvariate(6, 0.6)
        release = rng.choice((1, 1, 1, 2))
        error = rng.random() < 0.01
        tokens_in, tokens_out = rng.randint(100, 2000), rng.randint(10, 600)
        score = rng.random()
        tenant = f"t{rng.randint(1, 20)}"
        trace_id, span_id = rng.randbytes(16), rng.randbytes(8)
        native.append(
            {
                "feature": slug,
                "environment": "production",
                "release": release,
                "time": at.isoformat(),
                "latency_ms": latency,
                "error": error,
                "refusal": False,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "eval_score": score,
                "segment": {"tenant": tenant},
                "request_id": f"n{round_no}-{i}",
            }
        )
        start_ns = int(at.timestamp() * 1e9)
        span = Span(
            trace_id=trace_id,
            span_id=span_id,
            name="chat m-1",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=start_ns + int(latency * 1e6),
            status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
        )
        span.attributes.extend(
            [
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.request.model", "m-1"),
                kv("gen_ai.response.model", "m-1"),
                kv("gen_ai.usage.input_tokens", tokens_in),
                kv("gen_ai.usage.output_tokens", tokens_out),
                kv("rewind.release", release),
                kv("rewind.segment.tenant", tenant),
            ]
        )
        event = span.events.add()
        event.name = "gen_ai.evaluation.result"
        event.time_unix_nano = span.end_time_unix_nano
        event.attributes.extend([kv("gen_ai.evaluation.name", "quality"), kv("gen_ai.evaluation.score.value", score)])
        scope.spans.append(span)
        otlp_native.append(span)
    as_json = json_format.MessageToDict(export)
    # OTLP/JSON writes ids as hex, not protobuf JSON's base64.
    for span, message in zip(as_json["resourceSpans"][0]["scopeSpans"][0]["spans"], otlp_native, strict=True):
        span["traceId"], span["spanId"] = message.trace_id.hex(), message.span_id.hex()
    return json.dumps({"records": native}), export.SerializeToString(), json.dumps(as_json)


def run() -> dict:
    user, token, slug = _setup()
    from django.db import connection
    from django.test import RequestFactory
    from rest_framework.test import APIRequestFactory, force_authenticate

    from rollouts.integrations.views import otlp_traces
    from rollouts.judging.api.views import ObservationIngestView
    from rollouts.judging.models import Observation

    native_view = ObservationIngestView.as_view()
    factory, plain = APIRequestFactory(), RequestFactory()
    rng = random.Random(20261201)
    start = datetime.now(UTC) - timedelta(hours=1)
    seconds: dict[str, list[float]] = {"native": [], "otlp_protobuf": [], "otlp_json": []}
    for round_no in range(ROUNDS):
        native_body, proto_body, json_body = _requests(rng, slug, round_no, start)
        request = factory.post("/api/v1/observations", native_body, content_type="application/json")
        force_authenticate(request, user=user)
        t = time.perf_counter()
        response = native_view(request)
        seconds["native"].append(time.perf_counter() - t)
        assert response.status_code == 201 and response.data["stored"] == BATCH, response.data
        for name, body, media in (
            ("otlp_protobuf", proto_body, "application/x-protobuf"),
            ("otlp_json", json_body, "application/json"),
        ):
            if name == "otlp_json":  # the same spans again would be duplicates: give this round fresh span ids
                body = _fresh_ids(body)
            request = plain.post("/v1/traces", body, content_type=media, HTTP_AUTHORIZATION=f"Token {token}")
            t = time.perf_counter()
            response = otlp_traces(request)
            seconds[name].append(time.perf_counter() - t)
            assert response.status_code == 200 and b"rejected" not in response.content.lower(), response.content
    stored = Observation.objects.count()
    rates = {name: ROUNDS * BATCH / sum(values) for name, values in seconds.items()}
    ratio = rates["otlp_protobuf"] / rates["native"]
    return {
        "name": "otlp_intake",
        "target": f"OTLP protobuf intake >= {TARGET_RATIO} x the native endpoint's records/s",
        "ok": ratio >= TARGET_RATIO and stored == 3 * ROUNDS * BATCH,
        "metrics": {
            "native_records_per_s": round(rates["native"]),
            "otlp_protobuf_spans_per_s": round(rates["otlp_protobuf"]),
            "otlp_json_spans_per_s": round(rates["otlp_json"]),
            "ratio_protobuf_to_native": round(ratio, 3),
            "ratio_json_to_native": round(rates["otlp_json"] / rates["native"], 3),
            "native_batch_p50_s": round(statistics.median(seconds["native"]), 3),
            "otlp_protobuf_batch_p50_s": round(statistics.median(seconds["otlp_protobuf"]), 3),
            "otlp_json_batch_p50_s": round(statistics.median(seconds["otlp_json"]), 3),
            "observations_stored": stored,
        },
        "notes": f"{connection.vendor}; {ROUNDS} rounds of {BATCH}-request batches, the three paths alternating",
    }


def _fresh_ids(body: str) -> str:
    """The OTLP/JSON copy of a round's spans with different span ids (so they are stored, not deduplicated)."""
    data = json.loads(body)
    for span in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        span["spanId"] = "f" + span["spanId"][1:] if span["spanId"][0] != "f" else "e" + span["spanId"][1:]
    return json.dumps(data)
