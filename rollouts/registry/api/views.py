"""Release registry API: CI registers components and releases, records deployments and asks the timeline.

Component versions, releases and deployment events are immutable: these viewsets have no update or delete.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from rollouts.registry import selectors, services
from rollouts.registry.api import filters
from rollouts.registry.api.responses import impact_blocked_response
from rollouts.registry.api.serializers import (
    AdapterVersionSerializer,
    AtQuerySerializer,
    ChangesSerializer,
    DeploymentCreateSerializer,
    DeploymentEventSerializer,
    EnvironmentSerializer,
    FeatureSerializer,
    IndexVersionSerializer,
    LiveSerializer,
    ModelVersionSerializer,
    PromptVersionSerializer,
    ReleaseCreateSerializer,
    ReleaseDiffSerializer,
    ReleaseSerializer,
    WindowQuerySerializer,
)
from rollouts.registry.models import (
    AdapterVersion,
    DeploymentEvent,
    Environment,
    Feature,
    IndexVersion,
    ModelVersion,
    PromptVersion,
)
from rollouts.registry.rollbacks import ImpactBlocked

ENV_PATH = r"environments/(?P<environment>[-a-zA-Z0-9_]+)"


class FeatureViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """AI features and their environments. Creating and editing features needs the admin role."""

    queryset = Feature.objects.select_related("team").prefetch_related("environments").order_by("name")
    serializer_class = FeatureSerializer
    lookup_field = "slug"
    filterset_fields = ["team__slug", "eval_baseline_stale"]

    def perform_create(self, serializer):
        serializer.instance = services.feature_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.feature_update(
            actor=self.request.user, feature=serializer.instance, **serializer.validated_data
        )

    def _environment(self, name: str) -> Environment:
        feature = self.get_object()
        return get_object_or_404(Environment.objects.select_related("feature"), feature=feature, name=name)

    @extend_schema(
        summary="What was live in an environment at a time",
        parameters=[AtQuerySerializer],
        responses={200: LiveSerializer, 400: OpenApiResponse(description="Bad timestamp"), 404: None},
    )
    @action(detail=True, methods=["get"], url_path=f"{ENV_PATH}/live")
    def live(self, request, slug=None, environment=None):
        query = AtQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        at = query.validated_data.get("at") or timezone.now()
        env = self._environment(environment)
        event = selectors.live_event_at(env, at)
        if event is None:
            first = DeploymentEvent.objects.filter(environment=env).order_by("live_at", "id").first()
            hint = f"; the first deployment is at {first.live_at.isoformat()}" if first else "; it has no deployments"
            raise NotFound(f"Nothing was live in {env} at {at.isoformat()}{hint}.")
        release = selectors.releases_with_parts().get(pk=event.release_id)
        event = DeploymentEvent.objects.select_related("environment__feature", "release__feature", "actor").get(
            pk=event.pk
        )
        data = {"feature": env.feature.slug, "environment": env.name, "at": at, "deployment": event, "release": release}
        return Response(LiveSerializer(data).data)

    @extend_schema(
        summary="What changed in an environment between two times, layer by layer",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True, description="ISO 8601"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="ISO 8601; defaults to now"),
        ],
        responses={200: ChangesSerializer, 400: OpenApiResponse(description="Bad timestamps")},
    )
    @action(detail=True, methods=["get"], url_path=f"{ENV_PATH}/changes")
    def changes(self, request, slug=None, environment=None):
        query = WindowQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data.get("to") or timezone.now()
        if end <= start:
            return Response({"to": ["Must be after from."]}, status=status.HTTP_400_BAD_REQUEST)
        env = self._environment(environment)
        timeline = selectors.changes_between(env, start, end)
        data = {
            "feature": env.feature.slug,
            "environment": env.name,
            "from": start,
            "to": end,
            "live_at_start": timeline.live_at_start,
            "changes": [
                {
                    "deployment": c.event,
                    "previous_release": c.previous,
                    "changed_layers": c.changed_layers,
                    "layers": c.layers,
                }
                for c in timeline.changes
            ],
        }
        return Response(ChangesSerializer(data).data)


class EnvironmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    queryset = Environment.objects.select_related("feature").order_by("feature__slug", "-is_production", "name")
    serializer_class = EnvironmentSerializer
    filterset_fields = ["feature__slug", "name", "is_production"]

    def perform_create(self, serializer):
        serializer.instance = services.environment_create(actor=self.request.user, **serializer.validated_data)


class ComponentVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Register (POST) or read immutable component versions. POSTing content that is already registered answers
    200 with the existing version, so CI can call it blindly; new content answers 201."""

    register = None  # the service, set per kind

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version, created = type(self).register(actor=request.user, **serializer.validated_data)
        return Response(
            self.get_serializer(version).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def _version_viewset(model, serializer, register, filterset):
    cls = type(
        f"{model.__name__}ViewSet",
        (ComponentVersionViewSet,),
        {
            "queryset": model.objects.order_by("-created_at", "-id"),
            "serializer_class": serializer,
            "register": staticmethod(register),
            "filterset_class": filterset,
            "__doc__": ComponentVersionViewSet.__doc__,
        },
    )
    return extend_schema_view(create=extend_schema(responses={200: serializer, 201: serializer}))(cls)


ModelVersionViewSet = _version_viewset(
    ModelVersion, ModelVersionSerializer, services.model_version_register, filters.ModelVersionFilter
)
PromptVersionViewSet = _version_viewset(
    PromptVersion, PromptVersionSerializer, services.prompt_version_register, filters.PromptVersionFilter
)
AdapterVersionViewSet = _version_viewset(
    AdapterVersion, AdapterVersionSerializer, services.adapter_version_register, filters.AdapterVersionFilter
)
IndexVersionViewSet = _version_viewset(
    IndexVersion, IndexVersionSerializer, services.index_version_register, filters.IndexVersionFilter
)


class ReleaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Releases: immutable manifests, numbered per feature. POST is idempotent (same manifest: 200, existing)."""

    # Newest first by id (creation order): the primary key index gives the page without sorting every release.
    queryset = selectors.releases_with_parts().order_by("-id")
    serializer_class = ReleaseSerializer
    filterset_class = filters.ReleaseFilter

    @extend_schema(request=ReleaseCreateSerializer, responses={200: ReleaseSerializer, 201: ReleaseSerializer})
    def create(self, request):
        serializer = ReleaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        release, created = services.release_create(actor=request.user, **serializer.validated_data)
        release = self.get_queryset().get(pk=release.pk)
        return Response(
            ReleaseSerializer(release).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(summary="Per-layer diff from this release to another", responses=ReleaseDiffSerializer)
    @action(detail=True, methods=["get"], url_path=r"diff/(?P<other_id>[0-9]+)")
    def diff(self, request, pk=None, other_id=None):
        old = self.get_object()
        new = get_object_or_404(self.get_queryset(), pk=other_id)
        if old.feature_id != new.feature_id:
            return Response(
                {"detail": f"Releases of different features cannot be compared ({old} vs {new})."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(ReleaseDiffSerializer(selectors.release_diff(old, new)).data)


class DeploymentEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Append-only deployment events. POST records that a release became live (compatibility checked again)."""

    queryset = DeploymentEvent.objects.select_related("environment__feature", "release__feature", "actor").order_by(
        "-live_at", "-id"
    )
    serializer_class = DeploymentEventSerializer
    filterset_class = filters.DeploymentEventFilter

    @extend_schema(request=DeploymentCreateSerializer, responses={201: DeploymentEventSerializer})
    def create(self, request):
        serializer = DeploymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            event = services.deployment_record(actor=request.user, **serializer.validated_data)
        except ImpactBlocked as exc:
            return impact_blocked_response(exc)
        event = self.get_queryset().get(pk=event.pk)
        return Response(DeploymentEventSerializer(event).data, status=status.HTTP_201_CREATED)
