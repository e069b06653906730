"""API for the integrations: alert sources, routing rules, notifications received; change-event targets and
their deliveries. Admins only, reads included (a source's configuration says where alerts go)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from incidents.alerts import services
from incidents.alerts.api import serializers as s
from incidents.models import AlertNotification, AlertRoute, AlertSource
from rollouts.runs.change_events import services as change_services
from rollouts.runs.change_events.models import ChangeEventDelivery, ChangeEventTarget


class AlertSourceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Alert sources. The secret is in the create (and rotate) response only."""

    queryset = AlertSource.objects.select_related("environment__feature")
    serializer_class = s.AlertSourceSerializer
    lookup_field = "slug"
    read_action = "alert_source.manage"
    filterset_fields = ["kind", "active"]

    @extend_schema(request=s.AlertSourceCreateSerializer, responses={201: s.AlertSourceCreatedSerializer})
    def create(self, request, *args, **kwargs):
        data = s.AlertSourceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source, secret = services.alert_source_create(actor=request.user, **data.validated_data)
        source.secret = secret
        return Response(s.AlertSourceCreatedSerializer(source).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AlertSourceUpdateSerializer, responses=s.AlertSourceSerializer)
    def partial_update(self, request, *args, **kwargs):
        source = self.get_object()
        data = s.AlertSourceUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        source = services.alert_source_update(actor=request.user, source=source, **data.validated_data)
        return Response(s.AlertSourceSerializer(source).data)

    @extend_schema(request=s.SecretSerializer, responses=s.AlertSourceCreatedSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, slug=None):
        source = self.get_object()
        data = s.SecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        secret = services.alert_source_rotate_secret(actor=request.user, source=source, **data.validated_data)
        source.refresh_from_db()
        source.secret = secret
        return Response(s.AlertSourceCreatedSerializer(source).data)


class AlertRouteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = AlertRoute.objects.select_related("source", "environment__feature")
    serializer_class = s.AlertRouteSerializer
    read_action = "alert_source.manage"
    filterset_fields = ["source__slug"]

    def perform_create(self, serializer):
        serializer.instance = services.alert_route_create(actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.alert_route_delete(actor=self.request.user, route=instance)


class AlertNotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Notifications received and what became of each (opened, attached, de-duplicated, resolved, …)."""

    queryset = AlertNotification.objects.select_related("source").order_by("-received_at", "-id")
    serializer_class = s.AlertNotificationSerializer
    read_action = "alert_source.manage"
    filterset_fields = ["source__slug", "outcome", "incident"]


class ChangeEventTargetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    queryset = ChangeEventTarget.objects.select_related("feature")
    serializer_class = s.ChangeEventTargetSerializer
    read_action = "change_event_target.manage"
    filterset_fields = ["format", "active"]

    @extend_schema(request=s.ChangeEventTargetCreateSerializer, responses={201: s.ChangeEventTargetCreatedSerializer})
    def create(self, request, *args, **kwargs):
        data = s.ChangeEventTargetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target, secret = change_services.change_target_create(actor=request.user, **data.validated_data)
        target.secret = secret
        return Response(s.ChangeEventTargetCreatedSerializer(target).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ChangeEventTargetUpdateSerializer, responses=s.ChangeEventTargetSerializer)
    def partial_update(self, request, *args, **kwargs):
        target = self.get_object()
        data = s.ChangeEventTargetUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        target = change_services.change_target_update(actor=request.user, target=target, **data.validated_data)
        return Response(s.ChangeEventTargetSerializer(target).data)


class ChangeEventDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Change events sent (or being retried) and why each was accepted or refused."""

    queryset = ChangeEventDelivery.objects.select_related("environment__feature").order_by("-created_at", "-id")
    serializer_class = s.ChangeEventDeliverySerializer
    read_action = "change_event_target.manage"
    filterset_fields = ["target", "status", "kind"]
