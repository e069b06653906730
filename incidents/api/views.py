from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from diagnostics.api.serializers import LayerSuggestionSerializer
from diagnostics.suggestions import suggest_layers
from incidents import action_item_services, postmortem_services, selectors, services
from incidents.api.serializers import (
    ActionItemCreateSerializer,
    ActionItemSerializer,
    ActionItemUpdateSerializer,
    ChangeEventSerializer,
    IncidentListSerializer,
    IncidentOpenSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    NoteEditSerializer,
    NoteSerializer,
    PostmortemEditSerializer,
    PostmortemRevisionSerializer,
    PostmortemSerializer,
    SimilarIncidentSerializer,
    TimelineEntrySerializer,
    TimelineEventSerializer,
    TransitionSerializer,
)
from incidents.models import ActionItem, ChangeEvent, Incident, IncidentSource, Postmortem, TimelineEvent
from incidents.postmortems import postmortem_markdown, postmortem_snapshot


class IncidentCursorPagination(CursorPagination):
    """Newest first, no COUNT(*) and no OFFSET: constant cost at any depth of 100k+ incidents."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


class IncidentFilter(filters.FilterSet):
    feature = filters.CharFilter(method="by_feature")
    q = filters.CharFilter(method="search")

    class Meta:
        model = Incident
        fields = ["status", "severity", "source"]

    def by_feature(self, queryset, name, value):
        return queryset.filter(
            pk__in=Incident.features.through.objects.filter(feature__slug=value).values("incident_id")
        )

    def search(self, queryset, name, value):
        return selectors.incident_list(q=value).filter(pk__in=queryset.values("pk"))


class IncidentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents. Create opens one (owners from the ownership map, releases linked); status moves only through
    the `transition` action."""

    queryset = Incident.objects.all()
    filterset_class = IncidentFilter
    pagination_class = IncidentCursorPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if self.action == "list":
            return selectors.incident_list()
        return Incident.objects.select_related("commander", "reporter").prefetch_related(
            "features", "feature_environments__feature", "linked_releases", "layer_diagnoses__owner"
        )

    def get_serializer_class(self):
        return {
            "list": IncidentListSerializer,
            "create": IncidentOpenSerializer,
            "partial_update": IncidentUpdateSerializer,
            "transition": TransitionSerializer,
            "add_note": NoteSerializer,
        }.get(self.action, IncidentSerializer)

    @extend_schema(request=IncidentOpenSerializer, responses={201: IncidentSerializer})
    def create(self, request, *args, **kwargs):
        data = self._valid(IncidentOpenSerializer)
        incident = services.incident_open(actor=request.user, source=IncidentSource.API, **data)
        return Response(IncidentSerializer(self._fresh(incident)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=IncidentUpdateSerializer, responses=IncidentSerializer)
    def partial_update(self, request, *args, **kwargs):
        incident = self.get_object()
        data = self._valid(IncidentUpdateSerializer)
        services.incident_update(actor=request.user, incident=incident, **data)
        return Response(IncidentSerializer(self._fresh(incident)).data)

    @extend_schema(request=TransitionSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        incident = self.get_object()
        data = self._valid(TransitionSerializer)
        services.incident_transition(actor=request.user, incident=incident, **data)
        return Response(IncidentSerializer(self._fresh(incident)).data)

    @extend_schema(request=NoteSerializer, responses={201: TimelineEventSerializer})
    @action(detail=True, methods=["post"], url_path="notes")
    def add_note(self, request, pk=None):
        incident = self.get_object()
        data = self._valid(NoteSerializer)
        event = services.incident_add_note(actor=request.user, incident=incident, source=IncidentSource.API, **data)
        return Response(TimelineEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, many=True, description="Filter by kind (repeatable)")],
        responses=TimelineEntrySerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def timeline(self, request, pk=None):
        incident = self.get_object()
        entries = selectors.incident_timeline(incident, kinds=request.query_params.getlist("kind"))
        return Response(TimelineEntrySerializer(entries, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="Look-back window in days (default 14)")],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"], url_path="what-changed")
    def what_changed(self, request, pk=None):
        incident = self.get_object()
        days = selectors.clamp_days(request.query_params.get("days", selectors.DEFAULT_LOOKBACK_DAYS))
        changed = selectors.what_changed(incident, days=days)
        return Response(
            {
                "start": changed.start,
                "end": changed.end,
                "days": changed.days,
                "layers": {
                    layer: [
                        {
                            "when": i.when,
                            "title": i.title,
                            "summary": i.summary,
                            "where": i.where,
                            "details": i.details,
                            "prompt_diff": i.prompt_diff,
                            "is_rollback": i.is_rollback,
                            "source": i.source,
                            "url": i.url,
                            "release_from": i.release_from,
                            "release_to": i.release_to,
                        }
                        for i in items
                    ]
                    for layer, items in changed.by_layer.items()
                },
            }
        )

    @extend_schema(responses=SimilarIncidentSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def similar(self, request, pk=None):
        incident = self.get_object()
        return Response(
            [
                {
                    "id": s.incident.pk,
                    "reference": s.incident.reference,
                    "title": s.incident.title,
                    "score": s.score,
                    "reasons": s.reasons,
                    "days_since": s.interval_days,
                }
                for s in selectors.similar_incidents(incident)
            ]
        )

    @extend_schema(responses=LayerSuggestionSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, url_path="layer-suggestions")
    def layer_suggestions(self, request, pk=None):
        incident = self.get_object()
        ranked = suggest_layers(incident, selectors.what_changed(incident), list(incident.layer_diagnoses.all()))
        return Response(LayerSuggestionSerializer(ranked, many=True).data)

    def _valid(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _fresh(self, incident):
        return self.get_queryset().get(pk=incident.pk) if self.action != "list" else incident


class TimelineEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Recorded timeline events (deployments are merged in by /incidents/{id}/timeline/). Only notes can be
    edited, and only their text."""

    queryset = TimelineEvent.objects.select_related("actor").order_by("occurred_at", "id")
    serializer_class = TimelineEventSerializer
    filterset_fields = ["incident", "kind"]
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(request=NoteEditSerializer, responses=TimelineEventSerializer)
    def partial_update(self, request, *args, **kwargs):
        event = self.get_object()
        serializer = NoteEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = services.timeline_note_edit(actor=request.user, event=event, text=serializer.validated_data["text"])
        return Response(TimelineEventSerializer(event).data)


class ActionItemFilter(filters.FilterSet):
    owner = filters.CharFilter(field_name="owner__username")
    overdue = filters.BooleanFilter(method="by_overdue")

    class Meta:
        model = ActionItem
        fields = ["incident", "status", "layer", "priority", "kind"]

    def by_overdue(self, queryset, name, value):
        overdue = ActionItem.objects.overdue().values("pk")
        return queryset.filter(pk__in=overdue) if value else queryset.exclude(pk__in=overdue)


class ActionItemViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Action items: one owner (a person) and a due date each; status won't-do needs a reason."""

    queryset = ActionItem.objects.select_related("owner").order_by("due_date", "id")
    filterset_class = ActionItemFilter
    # The service decides updates: a viewer who owns the item may update it (core.permissions.OWNER_RULES).
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        return {"create": ActionItemCreateSerializer, "partial_update": ActionItemUpdateSerializer}.get(
            self.action, ActionItemSerializer
        )

    @extend_schema(request=ActionItemCreateSerializer, responses={201: ActionItemSerializer})
    def create(self, request, *args, **kwargs):
        serializer = ActionItemCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = action_item_services.action_item_create(actor=request.user, **serializer.validated_data)
        return Response(ActionItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ActionItemUpdateSerializer, responses=ActionItemSerializer)
    def partial_update(self, request, *args, **kwargs):
        item = self.get_object()
        serializer = ActionItemUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = action_item_services.action_item_update(actor=request.user, item=item, **serializer.validated_data)
        return Response(ActionItemSerializer(item).data)


class ChangeEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Changes Rewind does not version (monitoring thresholds, UI releases, pipeline runs), tagged with a layer.
    Append-only: no update or delete."""

    queryset = ChangeEvent.objects.select_related("feature", "actor")
    serializer_class = ChangeEventSerializer
    filterset_fields = ["layer", "feature__slug"]

    def perform_create(self, serializer):
        serializer.instance = services.change_event_record(actor=self.request.user, **serializer.validated_data)


class PostmortemViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Postmortems: draft → in review → published (an immutable revision). Editing a published one starts the
    next revision. Start one with POST /postmortems/start/ {incident}."""

    queryset = Postmortem.objects.select_related("incident").prefetch_related("revisions")
    serializer_class = PostmortemSerializer
    filterset_fields = ["status", "incident"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        return PostmortemEditSerializer if self.action == "partial_update" else PostmortemSerializer

    @extend_schema(request=PostmortemEditSerializer, responses=PostmortemSerializer)
    def partial_update(self, request, *args, **kwargs):
        postmortem = self.get_object()
        serializer = PostmortemEditSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        postmortem_services.postmortem_update(actor=request.user, postmortem=postmortem, **serializer.validated_data)
        return Response(PostmortemSerializer(self.get_queryset().get(pk=postmortem.pk)).data)

    @extend_schema(request=None, responses={201: PostmortemSerializer})
    @action(detail=False, methods=["post"], url_path=r"start/(?P<incident_id>\d+)")
    def start(self, request, incident_id=None):
        incident = get_object_or_404(Incident, pk=incident_id)
        postmortem = postmortem_services.postmortem_start(actor=request.user, incident=incident)
        return Response(PostmortemSerializer(postmortem).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PostmortemSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        postmortem = postmortem_services.postmortem_submit(actor=request.user, postmortem=self.get_object())
        return Response(PostmortemSerializer(self.get_queryset().get(pk=postmortem.pk)).data)

    @extend_schema(request=None, responses={201: PostmortemRevisionSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        revision = postmortem_services.postmortem_publish(actor=request.user, postmortem=self.get_object())
        return Response(PostmortemRevisionSerializer(revision).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=PostmortemRevisionSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def revisions(self, request, pk=None):
        return Response(PostmortemRevisionSerializer(self.get_object().revisions.all(), many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("revision", int, description="A published revision; default the latest")],
        responses={(200, "text/markdown"): OpenApiTypes.STR},
    )
    @action(detail=True, methods=["get"])
    def markdown(self, request, pk=None):
        return markdown_response(self.get_object(), request.query_params.get("revision"))


def markdown_response(postmortem: Postmortem, revision: str | None) -> HttpResponse:
    """The latest published revision (or the one asked for); a draft never published renders live."""
    revisions = postmortem.revisions.all()
    chosen = revisions.filter(number=int(revision)).first() if revision and revision.isdigit() else revisions.first()
    if revision and chosen is None:
        return HttpResponse("No such revision.\n", status=404, content_type="text/plain")
    text = chosen.markdown if chosen else postmortem_markdown(postmortem_snapshot(postmortem))
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    suffix = f"-r{chosen.number}" if chosen else "-draft"
    response["Content-Disposition"] = f'attachment; filename="{postmortem.incident.reference}-postmortem{suffix}.md"'
    return response
