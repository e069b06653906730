"""Admin pages: alert sources and their routing rules, change-event targets, and what each received or sent."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.permissions import read_required, signed_in
from incidents.alerts import selectors, services
from incidents.alerts.forms import RouteForm, SecretForm, SourceForm, TargetForm
from incidents.models import AlertRoute, AlertSource
from rollouts.runs.change_events import services as change_services
from rollouts.runs.change_events.models import ChangeEventTarget


def _form_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def hook_url(source: AlertSource) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("alert_hook", args=[source.kind, source.slug])


@require_GET
@read_required("alert_source.manage")
def integrations(request):
    return render(
        request,
        "incidents/alerts/integrations.html",
        {"sources": selectors.sources_for_list(), "targets": selectors.targets_for_list()},
    )


@require_http_methods(["GET", "POST"])
@read_required("alert_source.manage")
def source_create(request):
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source, secret = services.alert_source_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return _show_secret(request, source, secret)
    return render(request, "incidents/alerts/form.html", {"form": form, "title": "New alert source"})


def _show_secret(request, source: AlertSource, secret: str):
    # Shown on this response only: a bearer secret is stored as a hash and cannot be shown again.
    ctx = {"source": source, "secret": secret, "hook_url": hook_url(source), **selectors.source_log(source)}
    ctx.update({"route_form": RouteForm(), "secret_form": SecretForm()})
    return render(request, "incidents/alerts/source_detail.html", ctx)


@require_GET
@read_required("alert_source.manage")
def source_detail(request, slug: str):
    source = get_object_or_404(AlertSource.objects.select_related("environment__feature"), slug=slug)
    ctx = {"source": source, "hook_url": hook_url(source), **selectors.source_log(source)}
    ctx.update({"route_form": RouteForm(), "secret_form": SecretForm()})
    if request.htmx:
        return render(request, "incidents/alerts/source_detail.html#log", ctx)
    return render(request, "incidents/alerts/source_detail.html", ctx)


@require_POST
@signed_in
def source_rotate_secret(request, slug: str):
    source = get_object_or_404(AlertSource, slug=slug)
    form = SecretForm(request.POST)
    if form.is_valid():
        try:
            secret = services.alert_source_rotate_secret(
                actor=request.user, source=source, secret=form.cleaned_data["secret"]
            )
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            source.refresh_from_db()
            return _show_secret(request, source, secret)
    return redirect("alert_source_detail", slug=slug)


@require_POST
@signed_in
def route_create(request, slug: str):
    source = get_object_or_404(AlertSource, slug=slug)
    form = RouteForm(request.POST)
    if form.is_valid():
        try:
            services.alert_route_create(actor=request.user, source=source, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "Routing rule added.")
            return redirect("alert_source_detail", slug=slug)
    ctx = {"source": source, "hook_url": hook_url(source), **selectors.source_log(source)}
    ctx.update({"route_form": form, "secret_form": SecretForm()})
    return render(request, "incidents/alerts/source_detail.html", ctx, status=400)


@require_POST
@signed_in
def route_delete(request, pk: int):
    route = get_object_or_404(AlertRoute.objects.select_related("source", "environment"), pk=pk)
    slug = route.source.slug
    services.alert_route_delete(actor=request.user, route=route)
    messages.success(request, "Routing rule removed.")
    return redirect("alert_source_detail", slug=slug)


@require_http_methods(["GET", "POST"])
@read_required("change_event_target.manage")
def target_create(request):
    form = TargetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            target, secret = change_services.change_target_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            # Shown on this response only, never put in a message cookie or a URL.
            ctx = {"target": target, "secret": secret, "deliveries": []}
            return render(request, "incidents/alerts/target_detail.html", ctx)
    return render(request, "incidents/alerts/form.html", {"form": form, "title": "New change-event target"})


@require_GET
@read_required("change_event_target.manage")
def target_detail(request, pk: int):
    target = get_object_or_404(ChangeEventTarget.objects.select_related("feature"), pk=pk)
    ctx = {"target": target, "deliveries": selectors.target_log(target)}
    if request.htmx:
        return render(request, "incidents/alerts/target_detail.html#deliveries", ctx)
    return render(request, "incidents/alerts/target_detail.html", ctx)
