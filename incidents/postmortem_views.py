"""Postmortem pages: editing the draft, sending it to review, publishing a revision, Markdown and print."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.permissions import can, read_required, signed_in
from diagnostics.models import LayerDiagnosis, layer_sorted
from incidents import postmortem_services
from incidents.api.views import markdown_response
from incidents.forms import PostmortemForm, error_text
from incidents.models import Incident, Postmortem, PostmortemStatus
from incidents.postmortem_services import postmortem_publish_problems
from incidents.postmortems import postmortem_markdown as render_md
from incidents.postmortems import postmortem_snapshot


def _postmortem(pk: int) -> Postmortem:
    incident = get_object_or_404(Incident, pk=pk)
    postmortem = Postmortem.objects.filter(incident=incident).select_related("incident").first()
    if postmortem is None:
        raise Http404("No postmortem yet")
    return postmortem


@require_http_methods(["GET", "POST"])
@read_required()
def postmortem_edit(request, pk: int):
    incident = get_object_or_404(Incident, pk=pk)
    postmortem = Postmortem.objects.filter(incident=incident).first()
    if request.method == "POST":
        if postmortem is None:
            postmortem = postmortem_services.postmortem_start(actor=request.user, incident=incident)
        form = PostmortemForm(request.POST, instance=Postmortem.objects.get(pk=postmortem.pk))
        if form.is_valid():
            postmortem_services.postmortem_update(actor=request.user, postmortem=postmortem, **form.cleaned_data)
            messages.success(request, "Postmortem saved.")
            return redirect("incidents:postmortem", pk=pk)
    else:
        form = PostmortemForm(instance=postmortem)
    ctx = {
        "incident": incident,
        "postmortem": postmortem,
        "form": form,
        "problems": postmortem_publish_problems(postmortem) if postmortem else [],
        "revisions": postmortem.revisions.select_related("published_by") if postmortem else [],
        "diagnoses": layer_sorted(LayerDiagnosis.objects.filter(incident=incident).select_related("owner")),
        "action_count": incident.action_items.count(),
        "can_edit": can(request.user, "postmortem.edit"),
        "can_publish": can(request.user, "postmortem.publish"),
    }
    return render(request, "incidents/postmortem_edit.html", ctx)


@require_POST
@signed_in
def postmortem_submit(request, pk: int):
    try:
        postmortem_services.postmortem_submit(actor=request.user, postmortem=_postmortem(pk))
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    return redirect("incidents:postmortem", pk=pk)


@require_POST
@signed_in
def postmortem_publish(request, pk: int):
    try:
        revision = postmortem_services.postmortem_publish(actor=request.user, postmortem=_postmortem(pk))
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"Revision {revision.number} published.")
    return redirect("incidents:postmortem", pk=pk)


@require_GET
@read_required()
def postmortem_markdown(request, pk: int):
    return markdown_response(_postmortem(pk), request.GET.get("revision"))


@require_GET
@read_required()
def postmortem_print(request, pk: int):
    """Print-friendly: the latest published revision, or the live draft marked as such."""
    postmortem = _postmortem(pk)
    revision = postmortem.revisions.first()
    text = revision.markdown if revision else render_md(postmortem_snapshot(postmortem))
    return render(
        request,
        "incidents/postmortem_print.html",
        {
            "postmortem": postmortem,
            "revision": revision,
            "document": text,
            "draft": revision is None or postmortem.status != PostmortemStatus.PUBLISHED,
        },
    )
