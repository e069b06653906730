from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import StrictFieldsMixin
from incidents.models import AlertNotification, AlertRoute, AlertRouteAction, AlertSource, AlertSourceKind, Severity
from rollouts.models import Environment, Feature
from rollouts.runs.change_events.models import ChangeEventDelivery, ChangeEventFormat, ChangeEventTarget


@extend_schema_field(OpenApiTypes.STR)
class EnvironmentField(serializers.Field):
    """An environment named 'feature-slug/environment'."""

    default_error_messages = {"unknown": "No environment {value!r}; name it 'feature-slug/environment'."}

    def to_representation(self, env):
        return f"{env.feature.slug}/{env.name}" if env else None

    def to_internal_value(self, value):
        feature_slug, _, name = str(value).partition("/")
        env = Environment.objects.select_related("feature").filter(feature__slug=feature_slug, name=name).first()
        if env is None:
            self.fail("unknown", value=value)
        return env


class AlertSourceSerializer(serializers.ModelSerializer):
    environment = EnvironmentField(allow_null=True, required=False)
    hook_path = serializers.SerializerMethodField()

    class Meta:
        model = AlertSource
        fields = ["id", "slug", "name", "kind", "environment", "severity", "field_mapping", "active", "hook_path"]

    def get_hook_path(self, source) -> str:
        return f"/hooks/{source.kind}/{source.slug}"


class AlertSourceCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    slug = serializers.SlugField(max_length=60)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=AlertSourceKind.choices)
    secret = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        write_only=True,
        help_text="PagerDuty: the subscription's signing secret (required). Others: blank generates one.",
    )
    environment = EnvironmentField(allow_null=True, required=False, default=None)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.SEV3)
    field_mapping = serializers.JSONField(required=False, default=dict)


class AlertSourceCreatedSerializer(AlertSourceSerializer):
    secret = serializers.CharField(help_text="Shown in this response only")

    class Meta(AlertSourceSerializer.Meta):
        fields = [*AlertSourceSerializer.Meta.fields, "secret"]


class AlertSourceUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    environment = EnvironmentField(allow_null=True, required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    field_mapping = serializers.JSONField(required=False)
    active = serializers.BooleanField(required=False)


class SecretSerializer(StrictFieldsMixin, serializers.Serializer):
    secret = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class AlertRouteSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", queryset=AlertSource.objects.all())
    environment = EnvironmentField()
    matchers = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
    severity = serializers.ChoiceField(choices=[("", "source's"), *Severity.choices], required=False, default="")
    action = serializers.ChoiceField(choices=AlertRouteAction.choices, default=AlertRouteAction.ATTACH)
    position = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)

    class Meta:
        model = AlertRoute
        fields = ["id", "source", "position", "matchers", "environment", "severity", "action", "created_at"]
        read_only_fields = ["id", "created_at"]


class AlertNotificationSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    incident = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = AlertNotification
        fields = ["id", "source", "received_at", "outcome", "reason", "status", "group_key", "alert_count", "incident"]


class ChangeEventTargetSerializer(serializers.ModelSerializer):
    feature = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = ChangeEventTarget
        fields = ["id", "name", "url", "format", "feature", "active", "created_at"]


class ChangeEventTargetCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=120)
    url = serializers.URLField(max_length=500)
    format = serializers.ChoiceField(choices=ChangeEventFormat.choices)
    secret = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", write_only=True)
    routing_key = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", write_only=True)
    feature = serializers.SlugRelatedField(
        slug_field="slug", queryset=Feature.objects.all(), required=False, allow_null=True, default=None
    )


class ChangeEventTargetCreatedSerializer(ChangeEventTargetSerializer):
    secret = serializers.CharField(help_text="The signing secret, shown in this response only")

    class Meta(ChangeEventTargetSerializer.Meta):
        fields = [*ChangeEventTargetSerializer.Meta.fields, "secret"]


class ChangeEventTargetUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    url = serializers.URLField(max_length=500, required=False)
    routing_key = serializers.CharField(max_length=200, required=False, write_only=True)
    active = serializers.BooleanField(required=False)


class ChangeEventDeliverySerializer(serializers.ModelSerializer):
    environment = EnvironmentField(read_only=True)

    class Meta:
        model = ChangeEventDelivery
        fields = [
            "id",
            "idempotency_key",
            "target",
            "kind",
            "environment",
            "summary",
            "payload",
            "status",
            "attempts",
            "last_error",
            "last_status_code",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]
