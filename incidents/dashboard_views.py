"""Manager dashboard: the page (htmx swaps the results region when filters change), CSV export and the API."""

from __future__ import annotations

import csv

from django import forms
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import Team
from core.permissions import RolePermission, read_required
from incidents.dashboard import DashboardFilters, action_items_in_scope, dashboard_compute
from incidents.models import ACTIVE_ACTION_STATUSES
from rollouts.models import Feature


class DashboardFilterForm(forms.Form):
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), to_field_name="slug", required=False, empty_label="All teams"
    )
    feature = forms.ModelChoiceField(
        queryset=Feature.objects.order_by("name"), to_field_name="slug", required=False, empty_label="All features"
    )
    date_from = forms.DateField(required=False, label="Impact from", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> DashboardFilters:
        data = self.cleaned_data
        return DashboardFilters(
            team=data.get("team"),
            feature=data.get("feature"),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


def _form(params) -> DashboardFilterForm:
    # Unknown parameters (e.g. htmx's own) are ignored; empty values mean "no filter".
    return DashboardFilterForm({k: params.get(k, "") for k in ("team", "feature", "date_from", "date_to")})


@require_GET
@read_required()
def dashboard(request):
    form = _form(request.GET)
    board = dashboard_compute(form.filters()) if form.is_valid() else None
    template = "incidents/dashboard.html#results" if request.htmx else "incidents/dashboard.html"
    query = request.GET.urlencode()
    response = render(
        request,
        template,
        {"form": form, "board": board, "query": query, "tables": EXPORT_TABLES},
        status=200 if board else 400,
    )
    return response


EXPORT_TABLES = {
    "open_by_owner": "Open and overdue by owner",
    "open_by_team": "Open and overdue by team",
    "open_by_layer": "Open and overdue by layer",
    "aging": "Aging of open items",
    "on_time_by_month": "On-time completion by month",
    "root_cause_by_layer": "Incidents by root-cause layer",
    "detect_restore_by_month": "Time to detect / restore by month",
    "open_items": "Open action items (rows)",
}
OPEN_ITEM_COLUMNS = ("id", "incident_id", "title", "layer", "owner__username", "due_date", "status", "priority")


class _Echo:
    def write(self, value):
        return value


@require_GET
@read_required()
def dashboard_export(request):
    """CSV of one aggregate table, or the underlying open action items (streamed: may be many rows)."""
    form = _form(request.GET)
    table = request.GET.get("table", "open_by_owner")
    if table not in EXPORT_TABLES:
        return HttpResponse(
            f"Unknown table {table!r}; choose one of: {', '.join(EXPORT_TABLES)}.\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in form.errors.items())
        return HttpResponse(errors + "\n", status=400, content_type="text/plain; charset=utf-8")
    filename = f"rewind-dashboard-{table}.csv"
    if table == "open_items":
        rows = (
            action_items_in_scope(form.filters())
            .filter(status__in=ACTIVE_ACTION_STATUSES)
            .order_by("due_date", "id")
            .values_list(*OPEN_ITEM_COLUMNS)
        )
        writer = csv.writer(_Echo())
        header = ["id", "incident", "title", "layer", "owner", "due_date", "status", "priority"]
        stream = (writer.writerow(row) for row in _with_header(header, rows.iterator(chunk_size=2000)))
        response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    else:
        board = dashboard_compute(form.filters(), figures=False)
        response = HttpResponse(board.tables()[table].to_csv(index=False), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _with_header(header, rows):
    yield header
    yield from rows


class DashboardAPIView(APIView):
    """The dashboard's numbers as JSON, with the same filters as the page."""

    permission_classes = [RolePermission]

    @extend_schema(
        operation_id="dashboard_retrieve",
        parameters=[
            OpenApiParameter("team", str, description="Team slug: incidents affecting the team's features"),
            OpenApiParameter("feature", str, description="Feature slug"),
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="Impact started on or after"),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="Impact started on or before"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        form = _form(request.query_params)
        if not form.is_valid():
            return Response({name: list(msgs) for name, msgs in form.errors.items()}, status=400)
        return Response(dashboard_compute(form.filters(), figures=False).as_json())


urlpatterns = [
    path("dashboard/", dashboard, name="dashboard"),
    path("dashboard/export.csv", dashboard_export, name="dashboard_export"),
]
api_urlpatterns = [path("dashboard/", DashboardAPIView.as_view(), name="api-dashboard")]
