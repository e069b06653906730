"""OTLP/HTTP trace intake: spans that carry the OpenTelemetry GenAI semantic conventions become observations.

Mapping of one span (span attributes override resource attributes of the same name):

========================================  =====================================================================
observation field                         from
========================================  =====================================================================
feature                                   ``rewind.feature``
environment                               ``rewind.environment`` (else ``deployment.environment.name``)
release                                   ``rewind.release`` (a release number), else the configured
                                          model -> release mapping (``REWIND_OTLP_MODEL_RELEASES``) applied to
                                          ``gen_ai.response.model``, then ``gen_ai.request.model``
time, latency_ms                          the span's start time, and end minus start
error                                     span status ERROR, or an ``error.type`` attribute
refusal                                   ``gen_ai.response.finish_reasons`` contains ``content_filter``
tokens_in, tokens_out                     ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``
eval_score                                the first ``gen_ai.evaluation.result`` event's
                                          ``gen_ai.evaluation.score.value``
segment                                   ``rewind.segment.<key>`` attributes
workflow_id                               ``rewind.workflow``
request_id                                ``<trace id>:<span id>`` (a re-sent span is dropped as a duplicate)
========================================  =====================================================================

A span is a GenAI span when it has any ``gen_ai.`` attribute; other spans of the same trace (HTTP, database) are
accepted and ignored. A GenAI span that cannot become an observation (no feature, unknown release, a time in the
future...) is rejected and counted in the response's ``partialSuccess``, while the good spans of the same request
are stored: the exporter must not retry a partially accepted request (OTLP/HTTP rules).
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from rollouts.judging.observations import (
    MAX_BATCH,
    ObservationsInvalid,
    observations_ingest,
    observations_ingest_require,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
EVALUATION_EVENT = "gen_ai.evaluation.result"
MAX_REPORTED = 5  # distinct reasons named in partialSuccess.errorMessage


class OtlpBadRequest(ValueError):
    """The body cannot be decoded as an ExportTraceServiceRequest (OTLP says: 400, do not retry)."""


@dataclass
class IntakeResult:
    spans: int = 0
    genai_spans: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected += count
        if reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def error_message(self) -> str:
        if not self.rejected:
            return ""
        shown = "; ".join(self.reasons[:MAX_REPORTED])
        more = f" (and {len(self.reasons) - MAX_REPORTED} more reasons)" if len(self.reasons) > MAX_REPORTED else ""
        return f"{self.rejected} span(s) rejected: {shown}{more}"


# --- decoding ---------------------------------------------------------------------------------------------


def _gunzip(body: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes: a small gzip body must not expand into gigabytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpBadRequest(f"Body is not valid gzip: {exc}") from exc
    if len(out) > limit:
        raise OtlpBadRequest(f"Decompressed body is larger than {limit} bytes.")
    return out


@dataclass(slots=True)
class SpanFacts:
    """What the mapping reads from one span, whichever encoding it came in."""

    attributes: dict
    events: list[tuple[str, dict]]
    error_status: bool
    start_ns: int
    end_ns: int
    trace_id: str  # hex
    span_id: str  # hex


Batch = list[tuple[dict, list[SpanFacts]]]  # (resource attributes, its spans)


def decode(body: bytes, content_type: str, content_encoding: str = "") -> Batch:
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, settings.BODY_SIZE_LIMITS_BY_PATH["/v1/traces"])
    elif encoding not in ("", "identity"):
        raise OtlpBadRequest(f"Content-Encoding {encoding!r} is not supported (use gzip or none).")
    if content_type == PROTOBUF:
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpBadRequest(f"Body is not an ExportTraceServiceRequest: {exc}") from exc
        return _from_protobuf(request)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OtlpBadRequest(f"Malformed JSON: {exc}") from exc
    try:
        return _from_json(data)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise OtlpBadRequest(f"Not an ExportTraceServiceRequest in OTLP/JSON: {exc!s:.200}") from exc


def _from_protobuf(request: ExportTraceServiceRequest) -> Batch:
    batch = []
    for resource_spans in request.resource_spans:
        spans = [
            SpanFacts(
                attributes=_attributes(span.attributes),
                events=[(event.name, _attributes(event.attributes)) for event in span.events],
                error_status=span.status.code == Status.STATUS_CODE_ERROR,
                start_ns=span.start_time_unix_nano,
                end_ns=span.end_time_unix_nano,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
            )
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        batch.append((_attributes(resource_spans.resource.attributes), spans))
    return batch


# OTLP/JSON (the protobuf JSON mapping, with hex trace and span ids and integer enums), read directly: going
# through protobuf's json_format costs several times the rest of the intake.
def _json_value(value: dict):
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_json_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _json_attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"]).hex()
    return None


def _json_attributes(items: list) -> dict:
    return {item["key"]: _json_value(item.get("value") or {}) for item in items}


def _hex_id(value, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a hex string")
    bytes.fromhex(value)  # raises ValueError on anything but hex
    return value.lower()


def _error_status(status: dict) -> bool:
    code = status.get("code", 0)
    return code in (Status.STATUS_CODE_ERROR, "STATUS_CODE_ERROR")


def _from_json(data: dict) -> Batch:
    batch = []
    for resource_spans in data.get("resourceSpans", []):
        resource = _json_attributes((resource_spans.get("resource") or {}).get("attributes", []))
        spans = [
            SpanFacts(
                attributes=_json_attributes(span.get("attributes", [])),
                events=[(e.get("name", ""), _json_attributes(e.get("attributes", []))) for e in span.get("events", [])],
                error_status=_error_status(span.get("status") or {}),
                start_ns=int(span.get("startTimeUnixNano", 0)),
                end_ns=int(span.get("endTimeUnixNano", 0)),
                trace_id=_hex_id(span.get("traceId", ""), "traceId"),
                span_id=_hex_id(span.get("spanId", ""), "spanId"),
            )
            for scope_spans in resource_spans.get("scopeSpans", [])
            for span in scope_spans.get("spans", [])
        ]
        batch.append((resource, spans))
    return batch


def encode_response(result: IntakeResult, content_type: str) -> bytes:
    response = ExportTraceServiceResponse()
    if result.rejected:
        response.partial_success.rejected_spans = result.rejected
        response.partial_success.error_message = result.error_message
    if content_type == PROTOBUF:
        return response.SerializeToString()
    body = {}
    if result.rejected:
        body["partialSuccess"] = {"rejectedSpans": str(result.rejected), "errorMessage": result.error_message}
    return json.dumps(body).encode()


# --- mapping ----------------------------------------------------------------------------------------------


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind)


def _attributes(key_values) -> dict:
    return {kv.key: _value(kv.value) for kv in key_values}


def _iso(unix_nano: int) -> str:
    return datetime.fromtimestamp(unix_nano / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def _int_attr(attrs: dict, name: str):
    value = attrs.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def _release_of(attrs: dict, feature: str) -> tuple[int | None, str]:
    """(release number, '' or the reason it cannot be found)."""
    raw = attrs.get("rewind.release")
    if raw is not None:
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)
        if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
            return raw, ""
        return None, f"rewind.release must be a positive release number, not {str(raw)[:40]!r}"
    mapping = settings.REWIND_OTLP_MODEL_RELEASES.get(feature, {})
    for name in ("gen_ai.response.model", "gen_ai.request.model"):
        model = attrs.get(name)
        if isinstance(model, str) and model in mapping:
            number = mapping[model]
            if isinstance(number, int) and not isinstance(number, bool) and number > 0:
                return number, ""
            return None, f"REWIND_OTLP_MODEL_RELEASES maps {model[:80]!r} to {str(number)[:20]!r}, not a release number"
    model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
    if model:
        return None, f"no rewind.release and model {str(model)[:80]!r} of {feature!r} is not mapped to a release"
    return None, "no rewind.release and no gen_ai model attribute"


def _eval_score(span: SpanFacts) -> float | None:
    for name, attributes in span.events:
        if name != EVALUATION_EVENT:
            continue
        score = attributes.get("gen_ai.evaluation.score.value")
        if isinstance(score, int | float) and not isinstance(score, bool):
            return float(score)
    return None


def span_record(span: SpanFacts, resource_attrs: dict) -> tuple[dict | None, str]:
    """(observation record, '') for a GenAI span; (None, '') for a span that is not GenAI; (None, reason)."""
    attrs = {**resource_attrs, **span.attributes}
    if not any(key.startswith("gen_ai.") for key in attrs):
        return None, ""
    feature = attrs.get("rewind.feature")
    environment = attrs.get("rewind.environment") or attrs.get("deployment.environment.name")
    if not isinstance(feature, str) or not feature:
        return None, "no rewind.feature attribute"
    if not isinstance(environment, str) or not environment:
        return None, "no rewind.environment attribute"
    release, problem = _release_of(attrs, feature)
    if release is None:
        return None, problem
    if span.end_ns < span.start_ns or not span.start_ns:
        return None, "span has no start time or ends before it starts"
    finish_reasons = attrs.get("gen_ai.response.finish_reasons") or []
    if isinstance(finish_reasons, str):
        finish_reasons = [finish_reasons]
    record = {
        "feature": feature,
        "environment": environment,
        "release": release,
        "time": _iso(span.start_ns),
        "latency_ms": (span.end_ns - span.start_ns) / 1e6,
        "error": span.error_status or bool(attrs.get("error.type")),
        "refusal": "content_filter" in finish_reasons,
        "request_id": f"{span.trace_id}:{span.span_id}",
    }
    for name, target in (("gen_ai.usage.input_tokens", "tokens_in"), ("gen_ai.usage.output_tokens", "tokens_out")):
        value = _int_attr(attrs, name)
        if value is not None:
            record[target] = value
    score = _eval_score(span)
    if score is not None:
        record["eval_score"] = score
    segment = {k[len("rewind.segment.") :]: str(v) for k, v in attrs.items() if k.startswith("rewind.segment.")}
    if segment:
        record["segment"] = segment
    if isinstance(attrs.get("rewind.workflow"), str):
        record["workflow_id"] = attrs["rewind.workflow"]
    return record, ""


def traces_ingest(*, actor, batch: Batch) -> IntakeResult:
    """Map every GenAI span to an observation and store the good ones through ``observations_ingest`` (which
    validates each record); the rest are counted as rejected with reasons. The observations service's rule is
    asked first, so a batch without a GenAI span is refused too."""
    observations_ingest_require(actor)
    result = IntakeResult()
    records: list[dict] = []
    for resource_attrs, spans in batch:
        for span in spans:
            result.spans += 1
            record, problem = span_record(span, resource_attrs)
            if record is not None:
                records.append(record)
            elif problem:
                result.reject(problem)
    result.genai_spans = len(records) + result.rejected
    for start in range(0, len(records), MAX_BATCH):
        _store(actor, records[start : start + MAX_BATCH], result)
    return result


def _store(actor, records: list[dict], result: IntakeResult) -> None:
    # The observation service refuses a batch with any bad record, naming each: drop those and store the rest.
    while records:
        try:
            stored = observations_ingest(actor=actor, records=records)
        except ObservationsInvalid as exc:
            bad = {e.index for e in exc.errors if e.index is not None}
            if not bad:
                result.reject(exc.errors[0].message, len(records))
                return
            for e in exc.errors:
                if e.index is not None:
                    result.reject(f"{e.field}: {e.message}", 0)
            result.rejected += len(bad)
            records = [r for i, r in enumerate(records) if i not in bad]
            continue
        result.stored += stored.stored
        result.duplicates += stored.duplicates
        return
