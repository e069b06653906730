"""Behaviour-diff reports from the incident page: find one (by name or release pair) and attach it as evidence on
a layer, or start a new diff for the affected feature's last two releases."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from core.permissions import can, refusal, signed_in
from diagnostics.models import BehaviourReport, DiagnosisLayer, LinkPurpose, ReportLink, ReportStatus
from diagnostics.reports import selectors, services
from rollouts.models import Release

SEARCH_LIMIT = 10
_NUMBER = re.compile(r"#?(\d+)")


def report_search(incident, query: str) -> list[BehaviourReport]:
    """Reports matching ``query``: two numbers are a release pair ("#3 → #4", "3..4", either order), anything else
    matches the title, the prompt set or the feature. Empty: the latest reports on the incident's features."""
    reports = selectors.reports_for_list().order_by("-created_at", "-id")
    feature_ids = list(incident.features.values_list("pk", flat=True))
    query = (query or "").strip()
    numbers = [int(n) for n in _NUMBER.findall(query)]
    if len(numbers) == 2:
        low, high = sorted(numbers)
        pair = Q(release_a__number=low, release_b__number=high) | Q(release_a__number=high, release_b__number=low)
        words = _NUMBER.sub(" ", query).replace("→", " ").replace("..", " ").replace("vs", " ").split()
        reports = reports.filter(pair)
        for word in words:
            reports = reports.filter(release_a__feature__slug__icontains=word)
        if not words and feature_ids:
            reports = reports.filter(release_a__feature__in=feature_ids)
    elif query:
        reports = reports.filter(
            Q(title__icontains=query)
            | Q(prompt_set_version__prompt_set__name__icontains=query)
            | Q(release_a__feature__slug__icontains=query)
        )
    elif feature_ids:
        reports = reports.filter(release_a__feature__in=feature_ids)
    return list(reports[:SEARCH_LIMIT])


def new_diff_links(incident) -> list[dict]:
    """For each affected feature with two releases: its last two, ready for a new report."""
    links = []
    for feature in incident.features.order_by("slug"):
        last_two = list(Release.objects.filter(feature=feature).select_related("feature").order_by("-number")[:2])
        if len(last_two) == 2:
            newer, older = last_two
            query = urlencode({"release_a": older.pk, "release_b": newer.pk, "incident": incident.pk})
            links.append({"older": older, "newer": newer, "url": f"{reverse('diagnostics:report_new')}?{query}"})
    return links


def evidence_reports_ctx(request, incident) -> dict:
    query = request.GET.get("reports_q", "")
    diagnoses = dict(incident.layer_diagnoses.values_list("pk", "layer"))
    attached = ReportLink.objects.filter(
        object_type="diagnostics.layerdiagnosis",
        object_id__in=[str(pk) for pk in diagnoses],
        purpose=LinkPurpose.EVIDENCE,
    ).select_related("report__release_a__feature", "report__release_b__feature")
    return {
        "incident": incident,
        "reports_q": query,
        "report_results": report_search(incident, query),
        "attached_reports": list(attached),
        "new_diffs": new_diff_links(incident),
        "layer_choices": DiagnosisLayer.choices,
        "can_link": can(request.user, "report.link"),
        "link_refusal": refusal(request.user, "report.link"),
        "can_start_report": can(request.user, "report.create"),
        "finished": ReportStatus.SUCCEEDED,
    }


@require_POST
@signed_in
def incident_report_attach(request):
    """POST report, incident, layer (and an optional note): the report becomes evidence on that layer."""
    incident_pk = request.POST.get("incident", "")
    incident = get_object_or_404(
        apps.get_model("incidents", "Incident"), pk=incident_pk if incident_pk.isdigit() else 0
    )
    report = BehaviourReport.objects.defer("result").filter(pk=request.POST.get("report") or 0).first()
    layer = request.POST.get("layer", "")
    target = reverse("incidents:detail", args=[incident.pk])
    if report is None:
        messages.error(request, "Choose a report to attach.")
    else:
        try:
            services.report_attach_to_incident(
                actor=request.user, report=report, incident=incident, layer=layer, note=request.POST.get("note", "")
            )
        except ValidationError as exc:
            messages.error(request, "Not attached: " + " ".join(exc.messages))
        else:
            label = DiagnosisLayer(layer).label
            messages.success(request, f"Attached “{report}” as evidence on the {label} layer.")
            target += f"#layer-{layer}"
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)
