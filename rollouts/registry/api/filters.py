from __future__ import annotations

import django_filters as df

from rollouts.registry.models import AdapterVersion, DeploymentEvent, IndexVersion, ModelVersion, PromptVersion, Release


class ModelVersionFilter(df.FilterSet):
    class Meta:
        model = ModelVersion
        fields = ["provider", "requested_alias", "resolved_snapshot", "base_model", "precision", "content_hash"]


class PromptVersionFilter(df.FilterSet):
    class Meta:
        model = PromptVersion
        fields = ["name", "author", "content_hash"]


class AdapterVersionFilter(df.FilterSet):
    class Meta:
        model = AdapterVersion
        fields = ["name", "base_model", "digest", "content_hash"]


class IndexVersionFilter(df.FilterSet):
    class Meta:
        model = IndexVersion
        fields = ["name", "embedding_model", "embedding_model_version", "corpus_snapshot", "content_hash"]


class ReleaseFilter(df.FilterSet):
    feature = df.CharFilter(field_name="feature__slug", help_text="Feature slug")

    class Meta:
        model = Release
        fields = ["feature", "number", "source", "manifest_hash"]


class DeploymentEventFilter(df.FilterSet):
    feature = df.CharFilter(field_name="environment__feature__slug", help_text="Feature slug")
    environment = df.CharFilter(field_name="environment__name", help_text="Environment name")
    live_after = df.IsoDateTimeFilter(field_name="live_at", lookup_expr="gte", help_text="ISO 8601, inclusive")
    live_before = df.IsoDateTimeFilter(field_name="live_at", lookup_expr="lte", help_text="ISO 8601, inclusive")

    class Meta:
        model = DeploymentEvent
        fields = ["feature", "environment", "release", "is_rollback", "via", "live_after", "live_before"]
