"""Diagnosis board actions. Plain POST forms that come back to the incident page's board."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.models import User
from core.permissions import can, read_required, signed_in
from diagnostics import services
from diagnostics.models import DiagnosisLayer, LayerDiagnosis
from rollouts.models import Feature


def _back(diagnosis: LayerDiagnosis):
    return redirect(reverse("incidents:detail", args=[diagnosis.incident_id]) + f"#layer-{diagnosis.layer}")


def _run(request, diagnosis, fn, **kwargs):
    try:
        fn(actor=request.user, diagnosis=diagnosis, **kwargs)
    except ValidationError as exc:
        text = (
            " ".join(m for msgs in exc.message_dict.values() for m in msgs)
            if hasattr(exc, "error_dict")
            else " ".join(exc.messages)
        )
        messages.error(request, f"{diagnosis.get_layer_display()}: {text}")
    return _back(diagnosis)


@require_POST
@signed_in
def assign_owner(request, pk: int):
    diagnosis = get_object_or_404(LayerDiagnosis, pk=pk)
    owner = User.objects.filter(pk=request.POST.get("owner") or 0, is_active=True).first()
    if owner is None:
        messages.error(request, f"{diagnosis.get_layer_display()}: choose one person as owner.")
        return _back(diagnosis)
    return _run(request, diagnosis, services.layer_assign_owner, owner=owner, reason=request.POST.get("reason", ""))


@require_POST
@signed_in
def set_verdict(request, pk: int):
    diagnosis = get_object_or_404(LayerDiagnosis, pk=pk)
    return _run(
        request,
        diagnosis,
        services.layer_set_verdict,
        status=request.POST.get("status", ""),
        evidence_note=request.POST.get("evidence_note", ""),
    )


@require_POST
@signed_in
def add_evidence(request, pk: int):
    diagnosis = get_object_or_404(LayerDiagnosis, pk=pk)
    return _run(
        request,
        diagnosis,
        services.evidence_add,
        text=request.POST.get("text", ""),
        url=request.POST.get("url", ""),
        kind=request.POST.get("kind", "note") or "note",
        data={k: int(v) for k in ("release_from", "release_to") if (v := request.POST.get(k, "")).isdigit()},
    )


@require_POST
@signed_in
def answer_checklist(request, pk: int):
    diagnosis = get_object_or_404(LayerDiagnosis, pk=pk)
    return _run(
        request,
        diagnosis,
        services.checklist_answer,
        key=request.POST.get("key", ""),
        answer=request.POST.get("answer", ""),
    )


@require_GET
@read_required()
def ownership_map(request):
    """Every feature's ownership map: who owns each of the four layers. New incidents start from it."""
    features = Feature.objects.select_related("team").prefetch_related("layer_owners__owner", "layer_owners__team")
    rows = []
    for feature in features:
        owners = {entry.layer: entry for entry in feature.layer_owners.all()}
        rows.append(
            {
                "feature": feature,
                "cells": [(layer, label, owners.get(layer)) for layer, label in DiagnosisLayer.choices],
            }
        )
    return render(
        request,
        "diagnostics/ownership_map.html",
        {
            "rows": rows,
            "layers": DiagnosisLayer.choices,
            "people": User.objects.filter(is_active=True).order_by("username"),
            "can_manage": can(request.user, "ownership.manage"),
        },
    )


@require_POST
@signed_in
def ownership_set(request):
    feature = get_object_or_404(Feature, slug=request.POST.get("feature", ""))
    owner = User.objects.filter(pk=request.POST.get("owner") or 0, is_active=True).first()
    if owner is None:
        messages.error(request, "Choose one person.")
    else:
        try:
            services.ownership_map_set(
                actor=request.user,
                feature=feature,
                layer=request.POST.get("layer", ""),
                owner=owner,
                team=owner.teams.first(),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(m for msgs in exc.message_dict.values() for m in msgs))
    return redirect("diagnostics:ownership_map")
