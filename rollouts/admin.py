from django.contrib import admin

from rollouts.registry.models import (
    AdapterVersion,
    DeploymentEvent,
    Environment,
    Feature,
    IndexVersion,
    ModelVersion,
    PromptVersion,
    Release,
    ReleaseAdapter,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Immutable records: viewable, never changed or deleted from the admin."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EnvironmentInline(admin.TabularInline):
    model = Environment
    extra = 0


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "team", "eval_baseline_stale")
    inlines = [EnvironmentInline]


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ("feature", "name", "is_production")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "provider",
        "requested_alias",
        "resolved_snapshot",
        "precision",
        "short_hash",
        "created_at",
    )


@admin.register(PromptVersion)
class PromptVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "author", "short_hash", "created_at")


@admin.register(AdapterVersion)
class AdapterVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "base_model", "rank", "alpha", "short_hash")


@admin.register(IndexVersion)
class IndexVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "embedding_model", "embedding_model_version", "corpus_snapshot", "short_hash")


class ReleaseAdapterInline(admin.TabularInline):
    model = ReleaseAdapter
    extra = 0

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ("feature", "number", "model", "prompt", "index", "source", "created_at")
    list_filter = ("feature", "source")
    inlines = [ReleaseAdapterInline]


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(ReadOnlyAdmin):
    list_display = ("environment", "release", "live_at", "via", "is_rollback")
    list_filter = ("via", "is_rollback")
