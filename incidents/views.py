"""Incident pages: the list, opening one, its detail page (timeline, layers, what changed, action items) and its
edits. One view serves a page and its htmx fragment; every form also works without JavaScript. Action items'
own pages are in action_item_views.py, the postmortem's in postmortem_views.py."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.models import User
from core.permissions import can, read_required, signed_in
from diagnostics.checklists import checklist_for
from diagnostics.models import LayerDiagnosis, Verdict, layer_sorted
from diagnostics.reports.incident_views import evidence_reports_ctx
from diagnostics.suggestions import suggest_layers
from incidents import action_item_services, selectors, services
from incidents.forms import ActionItemCreateForm, IncidentEditForm, IncidentForm, NoteForm, error_text, form_errors
from incidents.models import (
    SEVERITY_DEFINITIONS,
    Incident,
    Postmortem,
    Severity,
    Status,
    TimelineEvent,
    TimelineKind,
)
from rollouts.models import Feature

PAGE_SIZE = 25


@require_GET
@read_required()
def incident_list(request):
    filters = {
        "status": request.GET.get("status", ""),
        "severity": request.GET.get("severity", ""),
        "feature": request.GET.get("feature", ""),
        "q": request.GET.get("q", "").strip(),
    }
    if filters["status"] not in Status.values:
        filters["status"] = ""
    if filters["severity"] not in Severity.values:
        filters["severity"] = ""
    page = selectors.incident_page(selectors.incident_list(**filters), cursor=request.GET.get("before"), size=PAGE_SIZE)
    query = urlencode({k: v for k, v in filters.items() if v})
    ctx = {
        "page": page,
        "filters": filters,
        "query": query,
        "statuses": Status.choices,
        "severities": Severity.choices,
        "features": Feature.objects.order_by("slug").values_list("slug", flat=True),
    }
    template = "incidents/incident_list.html#results" if request.htmx else "incidents/incident_list.html"
    return render(request, template, ctx)


@require_http_methods(["GET", "POST"])
@read_required("incident.create")
def incident_create(request):
    form = IncidentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            incident = services.incident_open(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"{incident.reference} opened; layer owners filled from the ownership map.")
            return redirect("incidents:detail", pk=incident.pk)
    return render(
        request,
        "incidents/incident_form.html",
        {"form": form, "definitions": [(Severity(k).label, v) for k, v in SEVERITY_DEFINITIONS.items()]},
    )


def _incident(pk: int) -> Incident:
    return get_object_or_404(
        Incident.objects.select_related("commander", "reporter").prefetch_related(
            "features", "feature_environments__feature", "linked_releases__feature"
        ),
        pk=pk,
    )


def _timeline_ctx(request, incident: Incident) -> dict:
    kinds = [k for k in request.GET.getlist("kind") if k in TimelineKind.values]
    entries = selectors.incident_timeline(incident, kinds=kinds)
    return {
        "incident": incident,
        "entries": entries,
        "kinds": kinds,
        "kind_choices": TimelineKind.choices,
        "kind_query": "&".join(f"kind={k}" for k in kinds),
        "show_dates": incident.spans_days,
        "can_edit": can(request.user, "incident.update"),
    }


def _board(incident: Incident) -> list[dict]:
    diagnoses = (
        LayerDiagnosis.objects.filter(incident=incident)
        .select_related("owner")
        .prefetch_related("evidence__actor", "assignments__from_owner", "assignments__to_owner", "assignments__actor")
    )
    return [{"d": d, "checklist": checklist_for(d.layer, d.checklist or {})} for d in layer_sorted(diagnoses)]


def _detail_ctx(request, incident: Incident, overrides: dict | None = None) -> dict:
    days = selectors.clamp_days(request.GET.get("days", selectors.DEFAULT_LOOKBACK_DAYS))
    changed = selectors.what_changed(incident, days=days)
    board = _board(incident)
    ctx = {
        **_timeline_ctx(request, incident),
        **_what_changed_ctx(request, incident, changed, days),
        "board": board,
        "suggestions": suggest_layers(incident, changed, [b["d"] for b in board]),
        "similar": selectors.similar_incidents(incident),
        **_action_items_ctx(request, incident),
        "postmortem": Postmortem.objects.filter(incident=incident).first(),
        "transitions": [(s, Status(s).label) for s in incident.allowed_transitions],
        "verdicts": Verdict.choices,
        "people": _people(),
        "incident_form": IncidentEditForm(
            initial={
                "title": incident.title,
                "summary": incident.summary,
                "severity": incident.severity,
                "commander": incident.commander_id,
            }
        ),
        "note_form": NoteForm(),
        "can_update": can(request.user, "incident.update"),
        "unowned": [b["d"].get_layer_display() for b in board if b["d"].owner_id is None],
        **evidence_reports_ctx(request, incident),
    }
    ctx.update(overrides or {})
    return ctx


def _what_changed_ctx(request, incident: Incident, changed, days: int) -> dict:
    return {
        "incident": incident,
        "changed": changed,
        "day_choices": sorted({1, 3, 7, 14, 30, 60, 90, days}),
        "diagnosis_ids": dict(LayerDiagnosis.objects.filter(incident=incident).values_list("layer", "pk")),
        "can_diagnose": can(request.user, "diagnosis.update"),
    }


def _action_items_ctx(request, incident: Incident, form=None, added=None) -> dict:
    return {
        "incident": incident,
        "action_items": list(incident.action_items.select_related("owner")),
        "action_form": form or ActionItemCreateForm(),
        "action_added": added,
        "can_act": can(request.user, "action_item.edit"),
        "needs_confirmation": bool(form is not None and form.has_error("title", code="duplicate")),
    }


@require_GET
@read_required()
def incident_detail(request, pk: int):
    incident = _incident(pk)
    if request.htmx and request.GET.get("panel") == "what-changed":
        days = selectors.clamp_days(request.GET.get("days", selectors.DEFAULT_LOOKBACK_DAYS))
        changed = selectors.what_changed(incident, days=days)
        return render(
            request, "incidents/incident_detail.html#what-changed", _what_changed_ctx(request, incident, changed, days)
        )
    if request.htmx and request.GET.get("panel") == "evidence-reports":
        return render(
            request, "incidents/incident_detail.html#evidence-reports", evidence_reports_ctx(request, incident)
        )
    return render(request, "incidents/incident_detail.html", _detail_ctx(request, incident))


def _people():
    return list(User.objects.filter(is_active=True).order_by("username"))


@require_GET
@read_required()
def incident_timeline(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    template = "incidents/timeline_page.html"
    if request.htmx:
        part = "timeline-entries" if request.GET.get("part") == "entries" else "timeline"
        template = f"incidents/incident_detail.html#{part}"
    return render(request, template, _timeline_ctx(request, incident))


@require_POST
@signed_in
def incident_transition(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    try:
        services.incident_transition(
            actor=request.user,
            incident=incident,
            to_status=request.POST.get("to_status", ""),
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{incident.reference} is now {incident.get_status_display()}.")
    return redirect("incidents:detail", pk=pk)


@require_POST
@signed_in
def incident_edit(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    form = IncidentEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not saved: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    else:
        try:
            services.incident_update(actor=request.user, incident=incident, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, error_text(exc))
    return redirect("incidents:detail", pk=pk)


@require_POST
@signed_in
def incident_add_note(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        services.incident_add_note(actor=request.user, incident=incident, text=form.cleaned_data["text"])
    elif not request.htmx:
        messages.error(request, "A note cannot be empty.")
    if request.htmx:
        return render(request, "incidents/incident_detail.html#timeline", _timeline_ctx(request, incident))
    return redirect(reverse("incidents:detail", args=[pk]) + "#timeline")


@require_POST
@signed_in
def note_edit(request, pk: int):
    event = get_object_or_404(TimelineEvent.objects.select_related("incident"), pk=pk)
    try:
        services.timeline_note_edit(actor=request.user, event=event, text=request.POST.get("text", ""))
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    return redirect(reverse("incidents:detail", args=[event.incident_id]) + "#timeline")


@require_POST
@signed_in
def action_item_create(request, pk: int):
    """Adds an item and says so. A refused form comes back with what was typed and the field messages; a duplicate
    title comes back asking for confirmation."""
    incident = _incident(pk)
    form = ActionItemCreateForm(request.POST)
    item = None
    if form.is_valid():
        try:
            item = action_item_services.action_item_create(actor=request.user, incident=incident, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
    if item is not None:
        added = f"Added “{item.title}” for {item.owner}, due {item.due_date.isoformat()}."
        if request.htmx:
            return render(
                request,
                "incidents/incident_detail.html#action-items",
                _action_items_ctx(request, incident, added=added),
            )
        messages.success(request, added)
        return redirect(reverse("incidents:detail", args=[pk]) + "#action-items")
    if request.htmx:
        return render(
            request, "incidents/incident_detail.html#action-items", _action_items_ctx(request, incident, form=form)
        )
    ctx = _detail_ctx(request, incident, _action_items_ctx(request, incident, form=form))
    return render(request, "incidents/incident_detail.html", ctx, status=400)
