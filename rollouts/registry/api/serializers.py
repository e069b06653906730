"""Shapes of the release registry in the API. Validation of content lives on the models and in services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import StrictFieldsMixin
from core.models import Team
from rollouts.registry.models import (
    AdapterVersion,
    DeploymentEvent,
    Environment,
    Feature,
    IndexVersion,
    ModelVersion,
    PromptVersion,
    Release,
    Source,
)

VERSION_META = ["id", "content_hash", "created_at"]


class EnvironmentSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    feature = serializers.SlugRelatedField(slug_field="slug", queryset=Feature.objects.all())

    class Meta:
        model = Environment
        fields = ["id", "feature", "name", "is_production"]


class EnvironmentBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Environment
        fields = ["id", "name", "is_production"]


class FeatureSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    environments = EnvironmentBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Feature
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "team",
            "environments",
            "eval_baseline_stale",
            "eval_baseline_stale_reason",
            "created_at",
        ]
        read_only_fields = ["eval_baseline_stale", "eval_baseline_stale_reason"]


class ModelVersionSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [*VERSION_META, *ModelVersion.CONTENT_FIELDS]
        read_only_fields = VERSION_META

    def validate_decoding_params(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('Must be a JSON object, e.g. {"temperature": 0.2}.')
        return value


class PromptVersionSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = PromptVersion
        fields = [*VERSION_META, *PromptVersion.CONTENT_FIELDS, "author", "message"]
        read_only_fields = VERSION_META

    def validate_variables(self, value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("Must be a list of variable names.")
        return value


class AdapterVersionSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = AdapterVersion
        fields = [*VERSION_META, *AdapterVersion.CONTENT_FIELDS]
        read_only_fields = VERSION_META


class IndexVersionSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = IndexVersion
        fields = [*VERSION_META, *IndexVersion.CONTENT_FIELDS, "encoder"]
        read_only_fields = [*VERSION_META, "encoder"]


class ReleaseBriefSerializer(serializers.ModelSerializer):
    feature = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Release
        fields = ["id", "feature", "number", "manifest_hash"]


class ReleaseSerializer(serializers.ModelSerializer):
    """The full manifest: every layer with its content."""

    feature = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model = ModelVersionSerializer(read_only=True)
    prompt = PromptVersionSerializer(read_only=True)
    adapters = serializers.SerializerMethodField()
    index = IndexVersionSerializer(read_only=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Release
        fields = [
            "id",
            "feature",
            "number",
            "manifest_hash",
            "model",
            "prompt",
            "adapters",
            "index",
            "query_encoder",
            "author",
            "notes",
            "source",
            "parent",
            "compatibility_override_reason",
            "created_at",
        ]

    @extend_schema_field(AdapterVersionSerializer(many=True))
    def get_adapters(self, release: Release) -> list[dict]:
        return AdapterVersionSerializer(release.ordered_adapters(), many=True).data


def _api_source(value: str) -> str:
    if value not in (Source.API, Source.CI):
        raise serializers.ValidationError("Through the API this is 'api' or 'ci'.")
    return value


class ReleaseCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    feature = serializers.SlugRelatedField(slug_field="slug", queryset=Feature.objects.all())
    model = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    prompt = serializers.PrimaryKeyRelatedField(queryset=PromptVersion.objects.all())
    adapters = serializers.PrimaryKeyRelatedField(
        queryset=AdapterVersion.objects.all(), many=True, required=False, help_text="Ordered: applied in this order"
    )
    index = serializers.PrimaryKeyRelatedField(queryset=IndexVersion.objects.all(), required=False, allow_null=True)
    query_encoder = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    source = serializers.ChoiceField(choices=Source.choices, default=Source.API, help_text="api or ci")
    parent = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all(), required=False, allow_null=True)
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Approvers only: why an incompatible manifest is accepted anyway (audited)",
    )

    def validate_source(self, value):
        return _api_source(value)


class DeploymentEventSerializer(serializers.ModelSerializer):
    feature = serializers.CharField(source="environment.feature.slug", read_only=True)
    environment = serializers.CharField(source="environment.name", read_only=True)
    release = ReleaseBriefSerializer(read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DeploymentEvent
        fields = [
            "id",
            "feature",
            "environment",
            "release",
            "live_at",
            "actor",
            "via",
            "is_rollback",
            "rollout_run_id",
            "override_reason",
            "notes",
            "created_at",
        ]


class DeploymentCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    feature = serializers.SlugRelatedField(slug_field="slug", queryset=Feature.objects.all())
    environment = serializers.SlugField(max_length=40, help_text="Environment name, e.g. production")
    release = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())
    live_at = serializers.DateTimeField(required=False, help_text="Defaults to now")
    via = serializers.ChoiceField(choices=Source.choices, default=Source.API, help_text="api or ci")
    is_rollback = serializers.BooleanField(default=False)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_via(self, value):
        return _api_source(value)

    def validate(self, attrs):
        env = Environment.objects.filter(feature=attrs["feature"], name=attrs["environment"]).first()
        if env is None:
            raise serializers.ValidationError({"environment": [f"{attrs['feature']} has no environment of that name."]})
        attrs["environment"] = env
        attrs.pop("feature")
        return attrs


class AtQuerySerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, help_text="ISO 8601; defaults to now")


class WindowQuerySerializer(serializers.Serializer):
    """?from=&to= ("from" is a Python keyword, hence get_fields)."""

    def get_fields(self):
        return {
            "from": serializers.DateTimeField(help_text="ISO 8601"),
            "to": serializers.DateTimeField(required=False, help_text="ISO 8601; defaults to now"),
        }

    def validate(self, attrs):
        if "to" in attrs and attrs["to"] <= attrs["from"]:
            raise serializers.ValidationError({"to": ["Must be after from."]})
        return attrs


class LayerChangeSerializer(serializers.Serializer):
    layer = serializers.CharField()
    summary = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()
    details = serializers.ListField(child=serializers.CharField())
    prompt_diff = serializers.ListField(child=serializers.CharField(), help_text="Unified line diff")


class ReleaseDiffSerializer(serializers.Serializer):
    old = ReleaseBriefSerializer()
    new = ReleaseBriefSerializer()
    changed_layers = serializers.ListField(child=serializers.CharField())
    layers = LayerChangeSerializer(many=True)


class LiveSerializer(serializers.Serializer):
    feature = serializers.CharField()
    environment = serializers.CharField()
    at = serializers.DateTimeField()
    deployment = DeploymentEventSerializer()
    release = ReleaseSerializer()


class ChangeSerializer(serializers.Serializer):
    deployment = DeploymentEventSerializer()
    previous_release = ReleaseBriefSerializer(allow_null=True)
    changed_layers = serializers.ListField(child=serializers.CharField())
    layers = LayerChangeSerializer(many=True)


class ChangesSerializer(serializers.Serializer):
    def get_fields(self):
        return {
            "feature": serializers.CharField(),
            "environment": serializers.CharField(),
            "from": serializers.DateTimeField(),
            "to": serializers.DateTimeField(),
            "live_at_start": ReleaseBriefSerializer(allow_null=True, help_text="The release live at 'from'"),
            "changes": ChangeSerializer(many=True),
        }
