from __future__ import annotations

import json

from rest_framework import serializers

from core.api import StrictFieldsMixin
from diagnostics.models import (
    BehaviourReport,
    GenerationEndpoint,
    LinkPurpose,
    OutputSource,
    PromptCase,
    PromptSet,
    PromptSetVersion,
    ReportLink,
)
from diagnostics.reports.services import ENDPOINT_FIELDS, report_gate_passes
from rollouts.models import Feature, Release


class JSONObjectField(serializers.JSONField):
    """A JSON object given as an object (JSON bodies) or as a JSON string (multipart forms)."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except json.JSONDecodeError as exc:
                raise serializers.ValidationError(f"Not valid JSON: {exc.msg}.") from None
        if not isinstance(data, dict):
            raise serializers.ValidationError("A JSON object.")
        return super().to_internal_value(data)


class PromptSetVersionSerializer(serializers.ModelSerializer):
    prompt_set = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = PromptSetVersion
        fields = [
            "id",
            "prompt_set",
            "number",
            "case_count",
            "segment_fields",
            "sampled_from",
            "sampled_until",
            "sampling_filters",
            "sampling_notes",
            "source_filename",
            "created_at",
        ]


class PromptSetSerializer(serializers.ModelSerializer):
    feature = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = PromptSet
        fields = ["id", "name", "description", "feature", "created_at"]


class PromptCaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = PromptCase
        fields = ["id", "case_id", "input", "segments", "expected", "json_schema"]


class PromptSetImportSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.SlugField(max_length=80)
    file = serializers.FileField()
    description = serializers.CharField(required=False, allow_blank=True, default="")
    feature = serializers.SlugRelatedField(slug_field="slug", queryset=Feature.objects.all(), required=False)
    sampled_from = serializers.DateTimeField(required=False)
    sampled_until = serializers.DateTimeField(required=False)
    sampling_filters = JSONObjectField(required=False)
    sampling_notes = serializers.CharField(required=False, allow_blank=True, default="")


class CoverageRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    field = serializers.CharField(help_text="The segment field to compare, e.g. locale")
    production_counts = serializers.DictField(
        child=serializers.IntegerField(min_value=0),
        required=False,
        help_text="{segment value: count}; omitted = read from observations when the app has them",
    )
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class CoverageSegmentSerializer(serializers.Serializer):
    value = serializers.CharField()
    set_count = serializers.IntegerField()
    set_share = serializers.FloatField()
    production_count = serializers.IntegerField()
    production_share = serializers.FloatField()
    ratio = serializers.FloatField(allow_null=True)
    status = serializers.CharField()


class CoverageSerializer(serializers.Serializer):
    field = serializers.CharField()
    source = serializers.CharField()
    chi2 = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    segments = CoverageSegmentSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


class ReportSerializer(serializers.ModelSerializer):
    release_a = serializers.StringRelatedField()
    release_b = serializers.StringRelatedField()
    release_a_id = serializers.IntegerField(read_only=True)
    release_b_id = serializers.IntegerField(read_only=True)
    prompt_set_version = serializers.StringRelatedField()
    prompt_set_version_id = serializers.IntegerField(read_only=True)
    created_by = serializers.StringRelatedField()
    gate_passes = serializers.SerializerMethodField()

    class Meta:
        model = BehaviourReport
        fields = [
            "id",
            "title",
            "release_a",
            "release_a_id",
            "release_b",
            "release_b_id",
            "prompt_set_version",
            "prompt_set_version_id",
            "source",
            "samples",
            "options",
            "status",
            "cancel_requested",
            "progress",
            "progress_message",
            "verdict",
            "gate_passes",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_gate_passes(self, report: BehaviourReport) -> bool:
        return report_gate_passes(report)


class ReportDetailSerializer(ReportSerializer):
    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "summary"]


class ReportRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    prompt_set_version = serializers.PrimaryKeyRelatedField(queryset=PromptSetVersion.objects.all())
    release_a = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())
    release_b = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())
    source = serializers.ChoiceField(choices=OutputSource.choices, default=OutputSource.UPLOAD)
    samples = serializers.IntegerField(min_value=1, max_value=20, default=1, help_text="K samples (live source)")
    options = JSONObjectField(required=False)
    title = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    outputs_a = serializers.FileField(
        required=False, help_text="JSONL/CSV: case_id, output[, sample, latency_ms, cost]"
    )
    outputs_b = serializers.FileField(required=False)


class CancelSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ReportLinkSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    purpose = serializers.ChoiceField(choices=LinkPurpose.choices)

    class Meta:
        model = ReportLink
        fields = ["id", "report", "object_type", "object_id", "purpose", "layer", "note", "created_at"]
        read_only_fields = ["id", "report", "created_at"]


class GenerationEndpointSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    header_env = serializers.DictField(
        child=serializers.RegexField(r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=120),
        required=False,
        help_text="Header name -> environment variable name holding its value (values are never stored)",
    )

    class Meta:
        model = GenerationEndpoint
        fields = ["id", "release", *ENDPOINT_FIELDS, "updated_at"]
        read_only_fields = ["id", "updated_at"]
        extra_kwargs = {
            "timeout_seconds": {"min_value": 0.1, "max_value": 600},
            "max_retries": {"max_value": 10},
            "concurrency": {"min_value": 1, "max_value": 64},
            "temperature": {"min_value": 0, "max_value": 2},
        }
