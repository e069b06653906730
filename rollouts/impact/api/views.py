"""API of the user-impact tracker: /api/v1/dependent-workflows and /api/v1/impact/{gate,waive,followups}."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import StrictFieldsMixin
from rollouts.impact.models import DependentWorkflow, ImpactFollowup, ImpactStatus, ImpactWaiver
from rollouts.impact.services import (
    DESCRIPTIVE_FIELDS,
    dependent_workflow_add,
    dependent_workflow_update,
    impact_followup,
    impact_plan_build,
    impact_review,
    impact_waive,
    rollback_gate,
)
from rollouts.registry.models import Environment, Release


class DependentWorkflowSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    feature = serializers.CharField(source="environment.feature.slug", read_only=True)
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    release_number = serializers.IntegerField(source="release.number", read_only=True)
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = DependentWorkflow
        fields = [
            "id",
            "feature",
            "environment",
            "environment_name",
            "release",
            "release_number",
            "workflow_id",
            "name",
            "customer",
            "team",
            "behaviour",
            "downstream_system",
            "contact",
            "migration_path",
            "evidence",
            "status",
            "source",
            "detected_reasons",
            "detection",
            "review_note",
            "reviewed_by",
            "reviewed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "source",
            "detected_reasons",
            "detection",
            "review_note",
            "reviewed_at",
            "created_at",
            "updated_at",
        ]


class DependentWorkflowUpdateSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """What people may edit after the fact; where it lives (environment, release, workflow id) is fixed."""

    class Meta:
        model = DependentWorkflow
        fields = list(DESCRIPTIVE_FIELDS)


class ReviewSerializer(StrictFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=ImpactStatus.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class PlanSerializer(StrictFieldsMixin, serializers.Serializer):
    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())
    from_release = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())
    to_release = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all(), allow_null=True, default=None)


class WaiveSerializer(StrictFieldsMixin, serializers.Serializer):
    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())
    from_release = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())
    reason = serializers.CharField()


class WaiverSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, default=None)

    class Meta:
        model = ImpactWaiver
        fields = ["id", "environment", "from_release", "reason", "actor", "created_at", "expires_at"]


class GateQuerySerializer(StrictFieldsMixin, serializers.Serializer):
    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())
    from_release = serializers.PrimaryKeyRelatedField(queryset=Release.objects.all())


class PendingWorkflowSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk", allow_null=True, help_text="Null: detected but not in the plan yet")
    workflow_id = serializers.CharField()
    customer = serializers.CharField()
    detected_reasons = serializers.ListField(child=serializers.CharField())


class GateSerializer(serializers.Serializer):
    blocked = serializers.BooleanField()
    waived = serializers.BooleanField()
    reason = serializers.CharField()
    pending = PendingWorkflowSerializer(many=True)


class FollowupRowSerializer(serializers.Serializer):
    workflow_id = serializers.CharField()
    before_requests = serializers.IntegerField()
    before_errors = serializers.IntegerField()
    before_error_rate = serializers.FloatField(allow_null=True)
    after_requests = serializers.IntegerField()
    after_errors = serializers.IntegerField()
    after_error_rate = serializers.FloatField(allow_null=True)
    worse = serializers.BooleanField()


class FollowupSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="followup.pk")
    environment = serializers.IntegerField(source="followup.environment_id")
    rolled_back_release = serializers.IntegerField(source="followup.rolled_back_release_id")
    to_release = serializers.IntegerField(source="followup.to_release_id")
    started_at = serializers.DateTimeField(source="followup.started_at")
    ends_at = serializers.DateTimeField()
    complete = serializers.BooleanField()
    rows = FollowupRowSerializer(many=True)


class DependentWorkflowFilter(django_filters.FilterSet):
    feature = django_filters.CharFilter(field_name="environment__feature__slug")
    environment_name = django_filters.CharFilter(field_name="environment__name")
    release_number = django_filters.NumberFilter(field_name="release__number")

    class Meta:
        model = DependentWorkflow
        fields = ["environment", "release", "status", "source", "customer", "workflow_id"]


class DependentWorkflowViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = DependentWorkflow.objects.select_related(
        "environment__feature", "release", "team", "reviewed_by"
    ).order_by("environment_id", "release_id", "status", "workflow_id")
    serializer_class = DependentWorkflowSerializer
    filterset_class = DependentWorkflowFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        if self.action == "partial_update":
            return DependentWorkflowUpdateSerializer
        return super().get_serializer_class()

    def perform_create(self, serializer):
        serializer.instance = dependent_workflow_add(actor=self.request.user, **serializer.validated_data)

    @extend_schema(request=DependentWorkflowUpdateSerializer, responses=DependentWorkflowSerializer)
    def partial_update(self, request, *args, **kwargs):
        workflow = self.get_object()
        serializer = DependentWorkflowUpdateSerializer(workflow, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        workflow = dependent_workflow_update(actor=request.user, workflow=workflow, **serializer.validated_data)
        return Response(DependentWorkflowSerializer(self.get_queryset().get(pk=workflow.pk)).data)

    @extend_schema(request=ReviewSerializer, responses=DependentWorkflowSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        workflow = self.get_object()
        body = ReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        impact_review(actor=request.user, workflow=workflow, **body.validated_data)
        return Response(DependentWorkflowSerializer(self.get_queryset().get(pk=workflow.pk)).data)

    @extend_schema(request=PlanSerializer, responses=DependentWorkflowSerializer(many=True))
    @action(detail=False, methods=["post"], pagination_class=None)
    def plan(self, request):
        """Detect dependent workflows of a release about to be rolled back and return the whole plan."""
        body = PlanSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = impact_plan_build(actor=request.user, **body.validated_data)
        return Response(DependentWorkflowSerializer(plan, many=True).data)


class ImpactWaiveView(APIView):
    @extend_schema(operation_id="impact_waive", request=WaiveSerializer, responses={201: WaiverSerializer})
    def post(self, request):
        body = WaiveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        waiver = impact_waive(actor=request.user, **body.validated_data)
        return Response(WaiverSerializer(waiver).data, status=status.HTTP_201_CREATED)


class ImpactGateView(APIView):
    @extend_schema(operation_id="impact_gate", parameters=[GateQuerySerializer], responses=GateSerializer)
    def get(self, request):
        query = GateQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        gate = rollback_gate(**query.validated_data)
        return Response(GateSerializer(gate).data)


class ImpactFollowupView(APIView):
    @extend_schema(operation_id="impact_followup", responses=FollowupSerializer)
    def get(self, request, pk: int):
        followup = get_object_or_404(ImpactFollowup.objects.select_related("environment"), pk=pk)
        return Response(FollowupSerializer(impact_followup(followup=followup)).data)
