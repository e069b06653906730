"""Diagnosis board actions. Plain POST forms that come back to the incident page's board."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.models import User
from core.permissions import permission_required
from diagnostics import services
from diagnostics.models import LayerDiagnosis


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
@permission_required("diagnosis.update")
def assign_owner(request, pk: int):
    diagnosis = get_object_or_404(LayerDiagnosis, pk=pk)
    owner = User.objects.filter(pk=request.POST.get("owner") or 0, is_active=True).first()
    if owner is None:
        messages.error(request, f"{diagnosis.get_layer_display()}: choose one person as owner.")
        return _back(diagnosis)
    return _run(request, diagnosis, services.layer_assign_owner, owner=owner, reason=request.POST.get("reason", ""))


@require_POST
@permission_required("diagnosis.update")
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
@permission_required("diagnosis.update")
def add_evidence(request, pk: int):
    diagnosis = get_object_or_404(LayerDiagnosis, pk=pk)
    return _run(
        request,
        diagnosis,
        services.evidence_add,
        text=request.POST.get("text", ""),
        url=request.POST.get("url", ""),
        kind=request.POST.get("kind", "note") or "note",
    )


@require_POST
@permission_required("diagnosis.update")
def answer_checklist(request, pk: int):
    diagnosis = get_object_or_404(LayerDiagnosis, pk=pk)
    return _run(
        request,
        diagnosis,
        services.checklist_answer,
        key=request.POST.get("key", ""),
        answer=request.POST.get("answer", ""),
    )
