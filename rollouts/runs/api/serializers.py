from __future__ import annotations

from rest_framework import serializers

from core.api import StrictFieldsMixin
from rollouts.judging.models import Analysis
from rollouts.registry.models import Environment, Layer, Release
from rollouts.runs.models import RolloutRun, RolloutTransition, RunMode, WebhookDelivery, WebhookTarget


class TransitionSerializer(serializers.ModelSerializer):
    old_state = serializers.CharField(read_only=True, help_text="A run state")
    new_state = serializers.CharField(read_only=True, help_text="A run state")

    class Meta:
        model = RolloutTransition
        fields = ["old_state", "new_state", "step_index", "reason", "actor_label", "created_at"]


class AnalysisSerializer(serializers.ModelSerializer):
    class Meta:
        model = Analysis
        fields = ["step_index", "look", "window_start", "window_end", "verdict", "result", "created_at"]


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["idempotency_key", "target", "status", "attempts", "last_error", "delivered_at"]


class RunSerializer(serializers.ModelSerializer):
    feature = serializers.CharField(source="environment.feature.slug", read_only=True)
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    stable_release_number = serializers.IntegerField(source="stable_release.number", read_only=True, default=None)
    candidate_release_number = serializers.IntegerField(source="candidate_release.number", read_only=True)
    time_to_rollback_seconds = serializers.SerializerMethodField()

    class Meta:
        model = RolloutRun
        fields = [
            "id",
            "feature",
            "environment",
            "environment_name",
            "kind",
            "mode",
            "state",
            "state_reason",
            "stable_release",
            "stable_release_number",
            "candidate_release",
            "candidate_release_number",
            "candidate_weight",
            "steps",
            "step_index",
            "config",
            "incident_id",
            "reason",
            "created_at",
            "started_at",
            "finished_at",
            "time_to_rollback_seconds",
        ]

    def get_time_to_rollback_seconds(self, run: RolloutRun) -> float | None:
        return run.time_to_rollback.total_seconds() if run.time_to_rollback is not None else None


class RunDetailSerializer(RunSerializer):
    transitions = TransitionSerializer(many=True, read_only=True)
    analyses = AnalysisSerializer(many=True, read_only=True)
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "transitions", "analyses", "deliveries"]


class RunStartSerializer(StrictFieldsMixin, serializers.Serializer):
    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.select_related("feature"))
    candidate_release = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())
    steps = serializers.ListField(child=serializers.DictField(), required=False, allow_empty=False)
    config = serializers.DictField(required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    incident_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    idempotency_key = serializers.CharField(required=False, max_length=120)
    override_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    gate_report = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Behaviour-diff report that must pass first"
    )


class RunActionSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class RollbackSerializer(StrictFieldsMixin, serializers.Serializer):
    feature = serializers.SlugField()
    environment = serializers.SlugField()
    to_release = serializers.IntegerField(required=False, allow_null=True, min_value=1, help_text="Release number")
    mode = serializers.ChoiceField(choices=RunMode.choices, default=RunMode.IMMEDIATE)
    layer = serializers.ChoiceField(choices=Layer.choices, required=False, allow_null=True)
    reason = serializers.CharField(max_length=2000)
    override_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    incident_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    def validate(self, attrs):
        environment = (
            Environment.objects.select_related("feature")
            .filter(feature__slug=attrs["feature"], name=attrs["environment"])
            .first()
        )
        if environment is None:
            raise serializers.ValidationError(
                {"environment": [f"No environment {attrs['feature']}/{attrs['environment']}."]}
            )
        attrs["environment_obj"] = environment
        number = attrs.get("to_release")
        if number is not None:
            release = Release.objects.filter(feature=environment.feature, number=number).first()
            if release is None:
                raise serializers.ValidationError({"to_release": [f"{attrs['feature']} has no release #{number}."]})
            attrs["to_release_obj"] = release
        return attrs


class WebhookTargetSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    secret = serializers.CharField(write_only=True, min_length=16, max_length=200)

    class Meta:
        model = WebhookTarget
        fields = ["id", "environment", "url", "secret", "active", "created_at"]
        read_only_fields = ["created_at"]
