from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.parsers import FormParser, JSONParser, MultiPartParser
from diagnostics.models import BehaviourReport, GenerationEndpoint, PromptSet, PromptSetVersion
from diagnostics.reports import selectors, services
from diagnostics.reports.api import serializers as s
from diagnostics.reports.services import OutputFile


def _upload(file) -> OutputFile | None:
    return OutputFile(file=file, filename=file.name) if file is not None else None


class PromptSetViewSet(viewsets.ReadOnlyModelViewSet):
    """Named prompt sets. Import a file with POST /prompt-sets/import (multipart): each import is a new version."""

    queryset = PromptSet.objects.select_related("feature")
    serializer_class = s.PromptSetSerializer
    filterset_fields = ["name", "feature"]

    @extend_schema(request=s.PromptSetImportSerializer, responses={201: s.PromptSetVersionSerializer})
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_file(self, request):
        body = s.PromptSetImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        upload = data.pop("file")
        version = services.prompt_set_import(actor=request.user, file=upload, filename=upload.name, **data)
        return Response(s.PromptSetVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class PromptSetVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Immutable versions of prompt sets (no update or delete). Cases and a coverage check per version."""

    queryset = PromptSetVersion.objects.select_related("prompt_set")
    serializer_class = s.PromptSetVersionSerializer
    filterset_fields = ["prompt_set"]

    @extend_schema(responses=s.PromptCaseSerializer(many=True))
    @action(detail=True, methods=["get"])
    def cases(self, request, pk=None):
        page = self.paginate_queryset(self.get_object().cases.all())
        return self.get_paginated_response(s.PromptCaseSerializer(page, many=True).data)

    @extend_schema(request=s.CoverageRequestSerializer, responses=s.CoverageSerializer)
    @action(detail=True, methods=["post"])
    def coverage(self, request, pk=None):
        """Compare this version's segment mix for one field with production (entered counts or observations)."""
        body = s.CoverageRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = selectors.prompt_set_coverage(
            self.get_object(),
            field=data["field"],
            production=data.get("production_counts"),
            since=data.get("since"),
            until=data.get("until"),
        )
        return Response(s.CoverageSerializer(result).data)


class ReportViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Behaviour-diff reports. Create with multipart (two output files) or JSON (source=live)."""

    queryset = selectors.reports_for_list()
    filterset_fields = ["status", "verdict", "prompt_set_version", "release_a", "release_b"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        if self.action == "retrieve":
            return BehaviourReport.objects.select_related(
                "release_a__feature", "release_b__feature", "prompt_set_version__prompt_set", "created_by"
            ).defer("result")
        if self.action in ("result", "cancel", "link"):
            return BehaviourReport.objects.all()
        return super().get_queryset()

    def get_serializer_class(self):
        return s.ReportDetailSerializer if self.action == "retrieve" else s.ReportSerializer

    @extend_schema(request=s.ReportRequestSerializer, responses={201: s.ReportSerializer})
    def create(self, request):
        body = s.ReportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        report = services.report_request(
            actor=request.user,
            prompt_set_version=data["prompt_set_version"],
            release_a=data["release_a"],
            release_b=data["release_b"],
            source=data["source"],
            samples=data["samples"],
            options=data.get("options") or {},
            title=data["title"],
            outputs_a=_upload(data.get("outputs_a")),
            outputs_b=_upload(data.get("outputs_b")),
        )
        return Response(s.ReportSerializer(report).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CancelSerializer, responses=s.ReportSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        body = s.CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = services.report_cancel(actor=request.user, report=self.get_object(), **body.validated_data)
        return Response(s.ReportSerializer(report).data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def result(self, request, pk=None):
        """The engine's full report (with per-case distributions) once the report succeeded; 404 before."""
        report = self.get_object()
        if report.result is None:
            return Response({"detail": f"The report is {report.status}; it has no result."}, status=404)
        return Response(report.result)

    @extend_schema(request=s.ReportLinkSerializer, responses={201: s.ReportLinkSerializer})
    @action(detail=True, methods=["post"])
    def link(self, request, pk=None):
        """Attach the report as evidence (incident layer) or as a rollout gate."""
        body = s.ReportLinkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        link = services.report_link(actor=request.user, report=self.get_object(), **body.validated_data)
        return Response(s.ReportLinkSerializer(link).data, status=status.HTTP_201_CREATED)


class GenerationEndpointViewSet(viewsets.ModelViewSet):
    """Per-release OpenAI-compatible endpoints for live generation. header_env holds env var *names* only."""

    queryset = GenerationEndpoint.objects.select_related("release__feature")
    serializer_class = s.GenerationEndpointSerializer
    filterset_fields = ["release"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        release = data.pop("release")
        serializer.instance = services.generation_endpoint_configure(actor=self.request.user, release=release, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("release", None)
        serializer.instance = services.generation_endpoint_configure(
            actor=self.request.user, release=serializer.instance.release, **data
        )

    def perform_destroy(self, instance):
        services.generation_endpoint_remove(actor=self.request.user, endpoint=instance)
