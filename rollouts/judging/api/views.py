"""POST /api/v1/observations: gateways post batches of per-request records."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import limits
from rollouts.judging.observations import (
    MAX_BATCH,
    ObservationsInvalid,
    observations_ingest,
    observations_ingest_body,
)


def _refuse(message: str, code: int) -> Response:
    return Response(
        {"detail": message, "errors": [{"index": None, "field": "records", "message": message}]}, status=code
    )


def _created(result) -> Response:
    return Response(
        {
            "received": result.received,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "rollup_rows": result.rollup_rows,
        },
        status=status.HTTP_201_CREATED,
    )


class ObservationRecordSerializer(serializers.Serializer):
    """Documents one record; validation itself is done by rollouts.judging.observation_batch (msgspec types) and
    rollouts.judging.observations (the detailed checks), whole-batch."""

    feature = serializers.SlugField()
    environment = serializers.CharField()
    release = serializers.IntegerField(required=False, help_text="Release number within the feature")
    release_id = serializers.IntegerField(required=False, help_text="Or the release's id")
    time = serializers.DateTimeField(help_text="ISO 8601 with timezone")
    latency_ms = serializers.FloatField(min_value=0)
    error = serializers.BooleanField(required=False, default=False)
    refusal = serializers.BooleanField(required=False, default=False)
    json_valid = serializers.BooleanField(required=False, allow_null=True)
    feedback = serializers.ChoiceField(choices=[-1, 0, 1], required=False, allow_null=True)
    eval_score = serializers.FloatField(required=False, allow_null=True)
    cost = serializers.FloatField(required=False, min_value=0)
    tokens_in = serializers.IntegerField(required=False, min_value=0)
    tokens_out = serializers.IntegerField(required=False, min_value=0)
    segment = serializers.DictField(child=serializers.CharField(), required=False, help_text="tenant, locale, intent…")
    workflow_id = serializers.CharField(required=False, allow_null=True)
    request_id = serializers.CharField(required=False, allow_null=True, help_text="Duplicates are dropped")


class ObservationBatchSerializer(serializers.Serializer):
    records = ObservationRecordSerializer(many=True, help_text=f"1 to {MAX_BATCH} records")


class ObservationRecordErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="Position of the record in the batch")
    field = serializers.CharField()
    message = serializers.CharField()


class ObservationIngestView(APIView):
    @extend_schema(
        operation_id="observations_ingest",
        request=ObservationBatchSerializer,
        responses={
            201: inline_serializer(
                "ObservationIngestResult",
                {
                    "received": serializers.IntegerField(),
                    "stored": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                    "rollup_rows": serializers.IntegerField(),
                },
            ),
            400: inline_serializer(
                "ObservationIngestErrors",
                {"detail": serializers.CharField(), "errors": ObservationRecordErrorSerializer(many=True)},
            ),
            415: inline_serializer(
                "ObservationIngestUnsupported",
                {"detail": serializers.CharField(), "errors": ObservationRecordErrorSerializer(many=True)},
            ),
        },
    )
    def post(self, request):
        # Not request.data: DRF's JSON parser goes through request.body, capped for every view at
        # DATA_UPLOAD_MAX_MEMORY_SIZE (2 MiB), while a 5,000-record batch can be larger. The middleware caps this
        # path at BODY_SIZE_LIMITS_BY_PATH instead, and we parse the raw stream here: msgspec first; a body it
        # does not pass is parsed again by core.limits for the detailed refusals.
        if request.content_type.split(";")[0].strip() != "application/json":
            return _refuse("Send the batch as application/json.", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
        body = request._request.read()
        result = observations_ingest_body(actor=request.user, body=body)
        if result is not None:
            return _created(result)
        try:
            data = limits.loads(body, limit_text=True)
        except limits.InputRejected as exc:
            return _refuse(f"Refused JSON: {exc}.", status.HTTP_400_BAD_REQUEST)
        except (ValueError, UnicodeDecodeError) as exc:
            return _refuse(f"Malformed JSON: {exc}", status.HTTP_400_BAD_REQUEST)
        if not isinstance(data, dict) or set(data) != {"records"}:
            return Response(
                {
                    "detail": 'Send a JSON object with one key, "records".',
                    "errors": [{"index": None, "field": "records", "message": "This field is required."}],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            result = observations_ingest(actor=request.user, records=data["records"])
        except ObservationsInvalid as exc:
            return Response(
                {"detail": exc.messages[0], "errors": [e.as_dict() for e in exc.errors]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return _created(result)
