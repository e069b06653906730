from __future__ import annotations

import json

from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import TokenAuthentication
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response

from core.permissions import can
from rollouts.registry.api.responses import impact_blocked_response
from rollouts.registry.hashing import content_hash
from rollouts.registry.rollbacks import ImpactBlocked
from rollouts.runs import gateway_tokens, webhooks
from rollouts.runs import services as runs
from rollouts.runs.api.routing_poll import not_modified, poll_headers
from rollouts.runs.api.serializers import (
    RollbackSerializer,
    RunActionSerializer,
    RunDetailSerializer,
    RunSerializer,
    RunStartSerializer,
    WebhookTargetSerializer,
)
from rollouts.runs.gateway_formats import FORMATS, RENDERERS
from rollouts.runs.models import RolloutRun, WebhookTarget
from rollouts.runs.routing import routing_read


def _conflict(exc: runs.RunConflict) -> Response:
    body = {"detail": str(exc), "run": exc.run.pk if exc.run else None}
    return Response(body, status=status.HTTP_409_CONFLICT)


class RolloutRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Rollout and rollback runs. POST starts a rollout; promote/pause/resume/abort control it."""

    queryset = RolloutRun.objects.select_related(
        "environment__feature", "stable_release", "candidate_release"
    ).order_by("-created_at", "-id")
    serializer_class = RunSerializer
    filterset_fields = ["environment", "state", "kind"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return RunDetailSerializer
        if self.action == "create":
            return RunStartSerializer
        if self.action in ("promote", "pause", "resume", "abort"):
            return RunActionSerializer
        return RunSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            qs = qs.prefetch_related("transitions", "analyses", "deliveries")
        return qs

    @extend_schema(
        request=RunStartSerializer,
        responses={
            201: RunSerializer,
            409: OpenApiResponse(description="Another run is active, or dependent workflows are not reviewed"),
        },
    )
    def create(self, request, *args, **kwargs):
        data = RunStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            run = runs.run_start(
                actor=request.user,
                environment=v["environment"],
                candidate_release=v["candidate_release"],
                steps=v.get("steps"),
                config=v.get("config"),
                reason=v.get("reason", ""),
                incident_id=v.get("incident_id"),
                idempotency_key=v.get("idempotency_key"),
                override_reason=v.get("override_reason", ""),
                gate_report_id=v.get("gate_report"),
            )
        except runs.RunConflict as exc:
            return _conflict(exc)
        except ImpactBlocked as exc:
            return impact_blocked_response(exc)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)

    def _control(self, request, service) -> Response:
        data = RunActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = self.get_object()
        if not service(run=run, actor=request.user, reason=data.validated_data.get("reason", "")):
            return Response(
                {"detail": f"Run #{run.pk} is {run.get_state_display().lower()}; that action does not apply."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(RunSerializer(RolloutRun.objects.get(pk=run.pk)).data)

    @extend_schema(request=RunActionSerializer, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        return self._control(request, runs.run_promote)

    @extend_schema(request=RunActionSerializer, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._control(request, runs.run_pause)

    @extend_schema(request=RunActionSerializer, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._control(request, runs.run_resume)

    @extend_schema(request=RunActionSerializer, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def abort(self, request, pk=None):
        return self._control(request, runs.run_abort)


@extend_schema(
    request=RollbackSerializer,
    parameters=[
        OpenApiParameter(
            "Idempotency-Key",
            str,
            location=OpenApiParameter.HEADER,
            required=False,
            description="Repeating a request with the same key returns the run the first one made",
        )
    ],
    responses={
        201: RunSerializer,
        200: RunSerializer,
        409: OpenApiResponse(description="Another run, or dependent workflows not reviewed"),
    },
)
@api_view(["POST"])
def rollback(request):
    """Roll a feature environment back: to the last known good release by default, or to ``to_release``
    (a release number); ``layer`` reverts only that layer. Repeated requests return the run in flight; with
    ``from_release`` a request made after someone else already rolled back is refused (409), and an
    ``Idempotency-Key`` header returns the run an earlier request with the same key made."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 100:
        return Response({"Idempotency-Key": ["At most 100 characters."]}, status=status.HTTP_400_BAD_REQUEST)
    data = RollbackSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    environment = v["environment_obj"]
    try:
        run, created = runs.rollback_request(
            actor=request.user,
            environment=environment,
            to_release=v.get("to_release_obj"),
            mode=v["mode"],
            layer=v.get("layer") or None,
            reason=v["reason"],
            override_reason=v.get("override_reason", ""),
            incident_id=v.get("incident_id"),
            from_release=v.get("from_release_obj"),
            idempotency_key=f"rollback:{request.user.pk}:{key}" if key else None,
        )
    except runs.RunConflict as exc:
        return _conflict(exc)
    except ImpactBlocked as exc:
        return impact_blocked_response(exc)
    return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class WebhookTargetViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Gateways that receive signed weight changes for an environment."""

    queryset = WebhookTarget.objects.select_related("environment").order_by("id")
    serializer_class = WebhookTargetSerializer
    filterset_fields = ["environment", "active"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = webhooks.webhook_target_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = webhooks.webhook_target_update(
            actor=self.request.user, target=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        webhooks.webhook_target_delete(actor=self.request.user, target=instance)


_token_auth = TokenAuthentication()


def _gateway_user(request):
    """Token (gateways) or session (people). A plain Django view: the routing table is polled hard, and a token
    that passed is remembered for the next polls (rollouts.runs.gateway_tokens)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")  # META, not request.headers: that parses every header
    if header:
        user = gateway_tokens.remembered_user(header)
        if user is not None:
            return user
        generation = gateway_tokens.generation()  # before the lookup: a change committed meanwhile wins
        try:
            found = _token_auth.authenticate(request)
        except AuthenticationFailed:
            return None
        if found:
            gateway_tokens.remember(header, found[0], generation)
            return found[0]
    return request.user if request.user.is_authenticated else None


@require_GET
def routing_table(request, feature: str, environment: str):
    """GET /api/v1/routing/<feature>/<environment>: releases with weights and manifests; strong ETag. Token polls
    are mostly answered before Django by rollouts.runs.api.routing_poll, with the same answer."""
    user = _gateway_user(request)
    if user is None:
        return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
    if not can(user, "view"):
        return JsonResponse({"detail": "This needs the viewer role (view)."}, status=403)
    found = routing_read(feature, environment)
    if found is None:
        return JsonResponse({"detail": f"No environment {feature}/{environment}."}, status=404)
    etag, body = found
    rendering = request.GET.get("format")
    if rendering is not None:
        return _rendered(request, rendering, etag, body)
    if not_modified(request.META.get("HTTP_IF_NONE_MATCH", ""), etag):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    for name, value in poll_headers(etag):
        response[name] = value
    return response


def _rendered(request, rendering: str, etag: str, body: bytes):
    """The table in a gateway's own format (``?format=litellm|gateway-api|portkey``), with its own ETag."""
    if rendering not in RENDERERS:
        return JsonResponse({"format": [f"Unknown format {rendering!r}; use one of {', '.join(FORMATS)}."]}, status=400)
    options = {}
    if rendering == "gateway-api":
        options = {k: request.GET[k] for k in ("parent", "namespace") if request.GET.get(k)}
        port = request.GET.get("port", "80")
        if not (port.isdigit() and 1 <= int(port) <= 65535):
            return JsonResponse({"port": ["Must be a port number between 1 and 65535."]}, status=400)
        options["port"] = int(port)
    variant = f'{etag[:-1]}-{rendering}-{content_hash(options)[:8]}"'
    if not_modified(request.META.get("HTTP_IF_NONE_MATCH", ""), variant):
        response = HttpResponseNotModified()
    else:
        response = JsonResponse(RENDERERS[rendering](json.loads(body), **options))
    for name, value in poll_headers(variant):
        response[name] = value
    return response
