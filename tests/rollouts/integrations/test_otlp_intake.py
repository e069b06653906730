"""OTLP/HTTP trace intake: spans exported by the OpenTelemetry SDK become observations the canary judge uses."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from rest_framework.authtoken.models import Token

from rollouts.models import Observation
from rollouts.runs import analysis
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release


def _canary(team, approver, responder, weight=50):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1", snapshot="gpt-4-0613")
    candidate = release(approver, feature, prompt="v2", snapshot="gpt-4o-2024-08-06")
    deploy(approver, staging, stable, live_at=timezone.now() - timedelta(hours=1))
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=[{"type": "weight", "weight": weight}, {"type": "pause"}, {"type": "weight", "weight": 100}],
    )
    runs.run_advance(run_id=run.pk)
    run.refresh_from_db()
    return staging, stable, candidate, run


def _tracer(url: str, token: str):
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "support-gateway", "rewind.feature": "support-assistant", "rewind.environment": "staging"}
        )
    )
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"Authorization": f"Token {token}"}, timeout=30)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
    return provider, provider.get_tracer("gateway")


def _chat_span(tracer, *, release: int | None, model: str, start_ns: int, ms: float, error: bool, score=None):
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 48,
        "rewind.segment.tenant": "acme",
    }
    if release is not None:
        attributes["rewind.release"] = release
    span = tracer.start_span(f"chat {model}", attributes=attributes, start_time=start_ns)
    if score is not None:
        span.add_event(
            "gen_ai.evaluation.result",
            {"gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": score},
        )
    if error:
        span.set_status(Status(StatusCode.ERROR, "upstream 500"))
        span.set_attribute("error.type", "500")
    span.end(end_time=start_ns + int(ms * 1e6))


@pytest.mark.django_db(transaction=True)
def test_sdk_spans_become_observations_that_the_judge_rolls_back_on(live_server, team, approver, responder, settings):
    settings.REWIND_OTLP_MODEL_RELEASES = {}
    _staging, stable, candidate, run = _canary(team, approver, responder)
    token = Token.objects.create(user=responder).key
    provider, tracer = _tracer(live_server.url, token)
    # Half the traffic on each release over the last four minutes; the candidate fails 12 % of requests.
    start = timezone.now() - timedelta(minutes=4)
    base_ns = int(start.timestamp() * 1e9)
    n = 400
    for i in range(n):
        at = base_ns + int(i * 4 * 60 * 1e9 / n)
        _chat_span(
            tracer,
            release=stable.number,
            model="gpt-4-0613",
            start_ns=at,
            ms=300 + i % 50,
            error=i % 100 == 0,
            score=0.8,
        )
        _chat_span(
            tracer,
            release=candidate.number,
            model="gpt-4o-2024-08-06",
            start_ns=at + 1000,
            ms=310 + i % 50,
            error=i % 8 == 0,
            score=0.7,
        )
    provider.force_flush()
    provider.shutdown()

    stored = Observation.objects.filter(release=candidate)
    assert stored.count() == n and Observation.objects.filter(release=stable).count() == n
    sample = stored.order_by("time").first()
    assert (sample.tokens_in, sample.tokens_out, sample.eval_score) == (120, 48, 0.7)
    assert sample.segment == {"tenant": "acme"} and 310 <= sample.latency_ms < 361
    assert stored.filter(error=True).count() == n // 8

    result = analysis.judge_window(run=run, start=start, end=timezone.now(), tested_look=1, max_looks=4)
    assert result["verdict"] == "fail", result["reason"]
    assert result["metrics"][0]["name"] == "error_rate" and result["metrics"][0]["n_canary"] == n


@pytest.mark.django_db(transaction=True)
def test_a_model_mapped_to_a_release_needs_no_release_attribute_and_resent_spans_are_dropped(
    live_server, team, approver, responder, settings
):
    _staging, _stable, candidate, _run = _canary(team, approver, responder)
    settings.REWIND_OTLP_MODEL_RELEASES = {"support-assistant": {"gpt-4o-2024-08-06": candidate.number}}
    token = Token.objects.create(user=responder).key
    provider, tracer = _tracer(live_server.url, token)
    now_ns = time.time_ns() - 5 * 10**9
    for i in range(3):
        _chat_span(tracer, release=None, model="gpt-4o-2024-08-06", start_ns=now_ns + i, ms=200, error=False)
    provider.shutdown()
    assert Observation.objects.filter(release=candidate).count() == 3


def _json_span(**attrs) -> dict:
    now = time.time_ns() - 10**9
    values = []
    for key, value in attrs.items():
        if isinstance(value, bool):
            values.append({"key": key, "value": {"boolValue": value}})
        elif isinstance(value, int):
            values.append({"key": key, "value": {"intValue": str(value)}})
        else:
            values.append({"key": key, "value": {"stringValue": value}})
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": f"{abs(hash(json.dumps(attrs, sort_keys=True))) % 16**16:016x}",
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 250_000_000),
        "attributes": values,
        "status": {},
    }


def _json_request(*spans) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "rewind.feature", "value": {"stringValue": "support-assistant"}}]},
                "scopeSpans": [{"scope": {"name": "gateway"}, "spans": list(spans)}],
            }
        ]
    }


@pytest.fixture
def staged(team, approver):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature)
    deploy(approver, staging, stable)
    return staging, stable


def _post(client, body, content_type="application/json", **headers):
    return client.post("/v1/traces", data=body, content_type=content_type, **headers)


@pytest.mark.django_db
def test_json_spans_are_stored_and_bad_genai_spans_are_reported_in_partial_success(staged, client, responder):
    _staging, stable = staged
    token = Token.objects.create(user=responder).key
    good = _json_span(
        **{"rewind.environment": "staging", "rewind.release": stable.number, "gen_ai.request.model": "gpt-4"}
    )
    unknown = _json_span(**{"rewind.environment": "staging", "rewind.release": 99, "gen_ai.request.model": "gpt-4"})
    unmapped = _json_span(**{"rewind.environment": "staging", "gen_ai.request.model": "mystery-model"})
    not_genai = _json_span(**{"http.request.method": "GET"})
    response = _post(
        client, json.dumps(_json_request(good, unknown, unmapped, not_genai)), HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "No release #99" in partial["errorMessage"] and "mystery-model" in partial["errorMessage"]
    assert Observation.objects.count() == 1
    stored = Observation.objects.get()
    assert stored.request_id == f"5b8efff798038103d269b633813fc60c:{good['spanId']}"


@pytest.mark.django_db
def test_a_fully_accepted_protobuf_request_answers_an_empty_export_response(staged, client, responder):
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    _staging, stable = staged
    token = Token.objects.create(user=responder).key
    span = _json_span(
        **{"rewind.environment": "staging", "rewind.release": stable.number, "gen_ai.request.model": "gpt-4"}
    )
    span["traceId"], span["spanId"] = "W47/95gDgQPSabYzgT/GDA==", "AAAAAAAAAAE="  # protobuf JSON: base64 ids
    message = json_format.ParseDict(_json_request(span), ExportTraceServiceRequest())
    response = _post(client, message.SerializeToString(), "application/x-protobuf", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse()
    parsed.ParseFromString(response.content)
    assert not parsed.HasField("partial_success")
    assert Observation.objects.get().request_id.endswith(":0000000000000001")


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "expected"), [(None, 401), ("viewer", 403), ("responder", 200)])
def test_the_intake_needs_a_responder_token(staged, client, request, who, expected):
    headers = {}
    if who:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {Token.objects.create(user=request.getfixturevalue(who)).key}"
    response = _post(client, json.dumps(_json_request()), **headers)
    assert response.status_code == expected
    assert Observation.objects.count() == 0


@pytest.mark.django_db
def test_garbage_is_a_400_with_a_status_body_and_other_media_types_a_415(staged, client, responder):
    auth = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=responder).key}"}
    bad_json = _post(client, "{not json", **auth)
    assert bad_json.status_code == 400 and bad_json.json()["code"] == 3 and "Malformed" in bad_json.json()["message"]
    bad_proto = _post(client, b"\xff\xff\xff", "application/x-protobuf", **auth)
    assert bad_proto.status_code == 400 and b"ExportTraceServiceRequest" in bad_proto.content
    assert _post(client, "a=b", "application/x-www-form-urlencoded", **auth).status_code == 415
    assert Observation.objects.count() == 0
