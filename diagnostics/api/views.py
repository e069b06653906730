from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from diagnostics import services
from diagnostics.api.serializers import (
    AssignOwnerSerializer,
    ChecklistAnswerSerializer,
    EvidenceCreateSerializer,
    EvidenceSerializer,
    LayerDiagnosisSerializer,
    LayerOwnerSerializer,
    VerdictSerializer,
)
from diagnostics.models import LayerDiagnosis, LayerOwner


class LayerDiagnosisViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The four layer diagnoses of each incident (filter ?incident=). Changed only through the actions."""

    queryset = LayerDiagnosis.objects.select_related("owner").prefetch_related(
        "evidence__actor", "assignments__from_owner", "assignments__to_owner", "assignments__actor"
    )
    serializer_class = LayerDiagnosisSerializer
    filterset_fields = ["incident", "layer", "status"]

    def _data(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _fresh(self, diagnosis):
        return Response(LayerDiagnosisSerializer(self.get_queryset().get(pk=diagnosis.pk)).data)

    @extend_schema(request=AssignOwnerSerializer, responses=LayerDiagnosisSerializer)
    @action(detail=True, methods=["post"], url_path="assign-owner")
    def assign_owner(self, request, pk=None):
        diagnosis = self.get_object()
        services.layer_assign_owner(actor=request.user, diagnosis=diagnosis, **self._data(AssignOwnerSerializer))
        return self._fresh(diagnosis)

    @extend_schema(request=VerdictSerializer, responses=LayerDiagnosisSerializer)
    @action(detail=True, methods=["post"])
    def verdict(self, request, pk=None):
        diagnosis = self.get_object()
        services.layer_set_verdict(actor=request.user, diagnosis=diagnosis, **self._data(VerdictSerializer))
        return self._fresh(diagnosis)

    @extend_schema(request=EvidenceCreateSerializer, responses={201: EvidenceSerializer})
    @action(detail=True, methods=["post"])
    def evidence(self, request, pk=None):
        diagnosis = self.get_object()
        evidence = services.evidence_add(
            actor=request.user, diagnosis=diagnosis, **self._data(EvidenceCreateSerializer)
        )
        return Response(EvidenceSerializer(evidence).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChecklistAnswerSerializer, responses=LayerDiagnosisSerializer)
    @action(detail=True, methods=["post"])
    def checklist(self, request, pk=None):
        diagnosis = self.get_object()
        services.checklist_answer(actor=request.user, diagnosis=diagnosis, **self._data(ChecklistAnswerSerializer))
        return self._fresh(diagnosis)


class LayerOwnerViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Feature ownership maps: one person per layer. POST sets (or replaces) the owner of one layer."""

    queryset = LayerOwner.objects.select_related("feature", "owner", "team")
    serializer_class = LayerOwnerSerializer
    filterset_fields = ["feature__slug", "layer"]

    def perform_create(self, serializer):
        serializer.instance = services.ownership_map_set(actor=self.request.user, **serializer.validated_data)
