"""HTTP doors of the integrations: /metrics, /v1/traces (OTLP/HTTP), the Argo judge and the Flagger gates."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from rollouts.integrations import otlp
from rollouts.integrations.auth import FlaggerMetadataTokenAuthentication, is_metrics_token, token_user
from rollouts.integrations.gates import HOOKS, flagger_decision, judge_status
from rollouts.integrations.prometheus_export import METRICS_SCRAPER, exposition
from rollouts.registry.models import Environment

log = logging.getLogger(__name__)


@require_GET
def metrics(request):
    """Prometheus scrape target: a bearer REWIND_METRICS_TOKEN, or an admin's API token. Text format 0.0.4, which
    every Prometheus 2.x parses."""
    header = request.headers.get("Authorization", "")
    actor = METRICS_SCRAPER if is_metrics_token(header) else None
    if actor is None:
        actor = token_user(header) or (request.user if request.user.is_authenticated else None)
        if actor is None:
            response = JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="rewind"'
            return response
    try:
        body = exposition(actor=actor)
    except PermissionDenied as exc:
        return JsonResponse({"detail": str(exc)}, status=403)
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)


# --- OTLP/HTTP ----------------------------------------------------------------------------------------------

# google.rpc.Code values OTLP/HTTP error bodies use.
_INVALID_ARGUMENT, _PERMISSION_DENIED, _UNAUTHENTICATED = 3, 7, 16


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _otlp_error(content_type: str, status: int, code: int, message: str) -> HttpResponse:
    """A google.rpc.Status body (code = field 1, message = field 2), as OTLP/HTTP asks of a failed request."""
    if content_type == otlp.PROTOBUF:
        text = message.encode()
        body = b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
        return HttpResponse(body, status=status, content_type=otlp.PROTOBUF)
    return JsonResponse({"code": code, "message": message}, status=status)


@csrf_exempt
@require_POST
def otlp_traces(request):
    """POST /v1/traces: ExportTraceServiceRequest as protobuf or JSON; GenAI spans become observations."""
    content_type = request.content_type.split(";")[0].strip().lower()
    if content_type not in (otlp.PROTOBUF, otlp.JSON):
        return _otlp_error(
            otlp.JSON, 415, _INVALID_ARGUMENT, "Send application/x-protobuf or application/json (OTLP/HTTP)."
        )
    user = token_user(request.headers.get("Authorization", ""))
    if user is None:
        return _otlp_error(content_type, 401, _UNAUTHENTICATED, "Send Authorization: Token <your API token>.")
    # The raw stream, not request.body: batches may exceed DATA_UPLOAD_MAX_MEMORY_SIZE; the body-size middleware
    # caps this path instead.
    try:
        batch = otlp.decode(request.read(), content_type, request.headers.get("Content-Encoding", ""))
    except otlp.OtlpBadRequest as exc:
        return _otlp_error(content_type, 400, _INVALID_ARGUMENT, str(exc))
    try:
        result = otlp.traces_ingest(actor=user, batch=batch)
    except PermissionDenied as exc:
        return _otlp_error(content_type, 403, _PERMISSION_DENIED, str(exc))
    if result.rejected:
        log.info("OTLP intake from %s: %s", user, result.error_message)
    return HttpResponse(otlp.encode_response(result, content_type), content_type=content_type)


# --- Argo Rollouts and Flagger ---------------------------------------------------------------------------------

_verdict_data = inline_serializer(
    "JudgeVerdict",
    {
        "ok": serializers.BooleanField(),
        "verdict": serializers.ChoiceField(choices=["pass", "marginal", "fail", "inconclusive", "no_data"]),
        "reasons": serializers.ListField(child=serializers.CharField()),
        "run": serializers.IntegerField(allow_null=True),
        "in_flight": serializers.BooleanField(),
    },
)


def _environment(feature: str, environment: str) -> Environment:
    return get_object_or_404(Environment.objects.select_related("feature"), feature__slug=feature, name=environment)


class JudgeStatusView(APIView):
    """Argo Rollouts web metric provider: ``jsonPath: "{$.data}"``; ``ok`` is true only on a pass."""

    @extend_schema(
        operation_id="judge_status",
        responses={200: inline_serializer("JudgeStatus", {"data": _verdict_data}), 404: OpenApiResponse()},
    )
    def get(self, request, feature: str, environment: str):
        return Response({"data": judge_status(_environment(feature, environment))})


class FlaggerWebhookSerializer(serializers.Serializer):
    """Flagger's webhook payload."""

    name = serializers.CharField(max_length=253)
    namespace = serializers.CharField(max_length=253)
    phase = serializers.CharField(max_length=40, required=False, allow_blank=True)
    checksum = serializers.CharField(required=False, allow_blank=True)
    metadata = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)

    def validate_metadata(self, value: dict) -> dict:
        release = value.get("release")
        if release is not None and not (release.isdigit() and int(release) > 0):
            raise serializers.ValidationError({"release": "Must be a release number (a positive integer)."})
        return value


class FlaggerHookView(APIView):
    """Flagger ``confirm-rollout``, ``confirm-promotion`` and ``rollback`` webhooks: 200 allows, 403 refuses."""

    authentication_classes = [TokenAuthentication, FlaggerMetadataTokenAuthentication, SessionAuthentication]

    @extend_schema(
        operation_id="flagger_webhook",
        request=FlaggerWebhookSerializer,
        responses={
            200: inline_serializer(
                "FlaggerDecision",
                {
                    "hook": serializers.CharField(),
                    "allowed": serializers.BooleanField(),
                    "verdict": serializers.CharField(),
                    "reasons": serializers.ListField(child=serializers.CharField()),
                },
            ),
            403: OpenApiResponse(description="Refused: the body says why"),
            404: OpenApiResponse(),
        },
    )
    def post(self, request, feature: str, environment: str, hook: str):
        if hook not in HOOKS:
            return Response({"hook": [f"Unknown hook {hook!r}; use one of {', '.join(HOOKS)}."]}, status=404)
        payload = FlaggerWebhookSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        env = _environment(feature, environment)
        release = payload.validated_data.get("metadata", {}).get("release")
        decision = flagger_decision(environment=env, hook=hook, candidate=int(release) if release else None)
        body = decision.as_dict(hook) | {
            "canary": f"{payload.validated_data['namespace']}/{payload.validated_data['name']}"
        }
        return Response(body, status=200 if decision.allowed else 403)
