from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from core.markdown_text import markdown_text
from core.permissions import can, read_required, signed_in
from diagnostics.behaviour.answers import AnswerFileError, read_answers
from diagnostics.behaviour.export import report_csv, report_markdown
from diagnostics.models import BehaviourReport, DiagnosisLayer, GenerationEndpoint, PromptSet, PromptSetVersion
from diagnostics.reports import selectors, services
from diagnostics.reports.compare import compare_files, pattern_hits
from diagnostics.reports.forms import (
    CompareForm,
    CoverageForm,
    GenerationEndpointForm,
    PromptSetImportForm,
    ReportLinkForm,
    ReportRequestForm,
    pattern_lines,
)
from diagnostics.reports.runner import summarise
from diagnostics.reports.services import OutputFile
from diagnostics.reports.uploads import read_outputs


def _form_errors(form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form fields it names (others go to the top)."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for field, messages_ in errors.items():
        form.add_error(field if field in form.fields else None, messages_)


# --- Prompt sets ---


@require_http_methods(["GET", "POST"])
@read_required()
def prompt_set_list(request):
    form = PromptSetImportForm()
    if request.method == "POST":
        form = PromptSetImportForm(request.POST, request.FILES)
        if form.is_valid():
            data = dict(form.cleaned_data)
            upload = data.pop("file")
            try:
                version = services.prompt_set_import(actor=request.user, file=upload, filename=upload.name, **data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Imported {version.case_count} cases as {version}.")
                return redirect("diagnostics:prompt_set_version_detail", pk=version.pk)
    sets = PromptSet.objects.prefetch_related("versions").select_related("feature")
    return render(
        request,
        "diagnostics/prompt_set_list.html",
        {"prompt_sets": sets, "form": form, "can_import": can(request.user, "prompt_set.import")},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@read_required()
def prompt_set_version_detail(request, pk: int):
    """The version's cases and a coverage check (POST computes it; nothing is stored)."""
    version = get_object_or_404(PromptSetVersion.objects.select_related("prompt_set"), pk=pk)
    form = CoverageForm(request.POST or None, version=version)
    coverage = None
    if request.method == "POST" and form.is_valid():
        try:
            coverage = selectors.prompt_set_coverage(
                version, field=form.cleaned_data["field"], production=form.cleaned_data["production_counts"]
            )
        except ValidationError as exc:
            _form_errors(form, exc)
    context = {
        "version": version,
        "cases": version.cases.all()[:50],
        "form": form,
        "coverage": coverage,
    }
    return render(request, "diagnostics/prompt_set_version_detail.html", context, status=400 if form.errors else 200)


# --- Reports ---


@require_http_methods(["GET", "POST"])
@read_required()
def report_compare(request):
    """Compare two answer files at once: the report's rendering without a prompt set, feature or release."""
    form = CompareForm(request.POST or None, request.FILES or None)
    context: dict = {"form": form, "verdict_badge": selectors.VERDICT_BADGE}
    if request.method == "POST" and "preview" in request.POST:
        text_field, id_field = request.POST.get("text_field") or None, request.POST.get("id_field") or None

        def answers(upload):
            try:
                return read_answers(upload.read(), filename=upload.name, text_field=text_field, id_field=id_field)
            except AnswerFileError as exc:
                raise ValidationError(str(exc)) from None

        sides = {side: (request.POST.get(f"label_{side}", ""), f"file_{side}", answers) for side in ("a", "b")}
        return _render_preview(request, "diagnostics/report_compare.html", context, _pattern_preview(request, sides))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result, pairing = compare_files(
                actor=request.user,
                file_a=data["file_a"],
                file_b=data["file_b"],
                prompts=data.get("prompts"),
                segment_fields=data["segment_fields"],
                label_a=data["label_a"],
                label_b=data["label_b"],
                text_field=data["text_field"] or None,
                id_field=data["id_field"] or None,
                refusal_patterns=data["refusal_patterns"],
                alpha=data["alpha"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            export = request.POST.get("export")
            if export == "json":
                response = JsonResponse(result, json_dumps_params={"ensure_ascii": False})
                response["Content-Disposition"] = 'attachment; filename="compare.json"'
                return response
            if export == "md":
                response = HttpResponse(report_markdown(result), content_type="text/markdown; charset=utf-8")
                response["Content-Disposition"] = 'attachment; filename="compare.md"'
                return response
            summary = summarise(result)
            context.update(
                summary=summary,
                metrics=summary.get("metrics") or [],
                flips=summary.get("flip_matrices") or {},
                segment_rows=selectors.report_segment_rows(summary),
                changes=[_change_sides(c) for c in selectors.report_top_changes(summary)],
                heatmap=selectors.report_heatmap(summary),
                distributions=selectors.report_distributions(summary),
                label_a=pairing.label_a,
                label_b=pairing.label_b,
                pairing_note=pairing.note,
            )
    return render(request, "diagnostics/report_compare.html", context, status=400 if form.errors else 200)


@require_GET
@read_required()
def report_list(request):
    reports = list(selectors.reports_for_list()[:200])
    context = {
        "reports": reports,
        "can_create": can(request.user, "report.create"),
        # While something runs, the table refreshes itself (progress and verdicts appear without a reload).
        "any_running": any(not r.is_finished for r in reports),
    }
    template = "diagnostics/report_list.html#report-table" if request.htmx else "diagnostics/report_list.html"
    return render(request, template, context)


def _pattern_preview(request, sides: dict[str, tuple[str, str, object]]) -> dict:
    """Hit counts of the typed refusal patterns on the uploaded answer files, before anything runs.

    ``sides``: side -> (label, upload field, reader of the upload into records with ``.text``)."""
    patterns = pattern_lines(request.POST.get("refusal_patterns", ""))
    if not patterns:
        return {"message": "Type refusal patterns (one per line) to see how many answers each matches."}
    texts, labels = {}, {}
    try:
        for side, (label, field, read) in sides.items():
            upload = request.FILES.get(field)
            if upload is None:
                return {"message": "Choose both answer files to count pattern hits."}
            texts[side] = [r.text for r in read(upload)]
            labels[side] = label or upload.name
        return {"rows": pattern_hits(patterns, texts), "label_a": labels["a"], "label_b": labels["b"]}
    except ValidationError as exc:
        return {"message": " ".join(exc.messages)}


def _render_preview(request, template: str, context: dict, preview: dict):
    if request.htmx:
        return render(request, "diagnostics/_pattern_preview.html", {"preview": preview})
    return render(request, template, {**context, "preview": preview})


@require_http_methods(["GET", "POST"])
@read_required("report.create")
def report_new(request):
    # Prefilled from the incident page ("start a diff" for the feature's last two releases).
    initial = {k: request.GET[k] for k in ("release_a", "release_b", "title") if request.GET.get(k)}
    incident_id = request.POST.get("incident") or request.GET.get("incident") or ""
    form = ReportRequestForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and "preview" in request.POST:

        def outputs(side: str):
            return lambda upload: read_outputs(upload, filename=upload.name, field_name=f"outputs_{side}")

        preview = _pattern_preview(request, {side: ("", f"outputs_{side}", outputs(side)) for side in ("a", "b")})
        return _render_preview(request, "diagnostics/report_new.html", {"form": form}, preview)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = services.report_request(
                actor=request.user,
                prompt_set_version=data["prompt_set_version"],
                release_a=data["release_a"],
                release_b=data["release_b"],
                source=data["source"],
                samples=data["samples"],
                options=form.options(),
                title=data["title"],
                outputs_a=OutputFile(data["outputs_a"], data["outputs_a"].name) if data.get("outputs_a") else None,
                outputs_b=OutputFile(data["outputs_b"], data["outputs_b"].name) if data.get("outputs_b") else None,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            url = report.get_absolute_url() + (f"?incident={int(incident_id)}" if incident_id.isdigit() else "")
            return redirect(url)
    ctx = {"form": form, "incident_id": incident_id if incident_id.isdigit() else ""}
    return render(request, "diagnostics/report_new.html", ctx, status=400 if form.errors else 200)


def _change_sides(change: dict) -> dict:
    """Split a word diff into the A column (kept + deleted words) and the B column (kept + inserted words)."""
    left, right = [], []
    for op, text in change.get("word_diff") or []:
        kind = str(op).lower()
        if kind in ("insert", "+", "add", "1"):
            right.append(("diff-add", text))
        elif kind in ("delete", "-", "del", "-1") or kind in ("replace",):
            left.append(("diff-del", text))
        else:
            left.append(("", text))
            right.append(("", text))
    return {**change, "left": left, "right": right}


@require_GET
@read_required()
def report_detail(request, pk: int):
    report = get_object_or_404(
        BehaviourReport.objects.select_related(
            "release_a__feature",
            "release_b__feature",
            "release_a__model",
            "release_b__model",
            "prompt_set_version__prompt_set",
            "created_by",
        ).defer("result"),
        pk=pk,
    )
    if request.htmx and request.htmx.target == "report-progress":
        response = render(request, "diagnostics/report_detail.html#progress", {"report": report})
        if report.is_finished:
            response["HX-Refresh"] = "true"  # reload once so the results (or the error) replace the progress bar
        return response
    summary = report.summary or {}
    segment = request.GET.get("segment") or None
    segment_values = selectors.report_segment_values(summary)
    if segment not in segment_values:
        segment = None
    context = {
        "report": report,
        "summary": summary,
        "metrics": summary.get("metrics") or [],
        "flips": summary.get("flip_matrices") or {},
        "segment": segment,
        "segment_values": segment_values,
        "segment_rows": selectors.report_segment_rows(summary, segment),
        "changes": [_change_sides(c) for c in selectors.report_top_changes(summary, segment)],
        "verdict_badge": selectors.VERDICT_BADGE,
        "can_cancel": can(request.user, "report.cancel") and not report.is_finished,
        "can_link": can(request.user, "report.link"),
        "links": selectors.report_link_targets(report.links.all()),
        "incident_choices": selectors.recent_incidents(),
        "for_incident": request.GET.get("incident", ""),
        "layer_choices": DiagnosisLayer.choices,
        "link_form": ReportLinkForm(),
        "gate_passes": services.report_gate_passes(report),
    }
    context["label_a"], context["label_b"] = selectors.report_side_labels(report)
    if request.htmx and request.htmx.target == "segment-view":
        return render(request, "diagnostics/_report_results.html#segment-view", context)
    context["heatmap"] = selectors.report_heatmap(summary)
    context["distributions"] = selectors.report_distributions(summary)
    return render(request, "diagnostics/report_detail.html", context)


@require_POST
@signed_in
def report_cancel(request, pk: int):
    report = get_object_or_404(BehaviourReport.objects.defer("result", "summary"), pk=pk)
    try:
        services.report_cancel(actor=request.user, report=report, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, "Cancelled." if report.status == "cancelled" else "Cancelling: the worker stops soon."
        )
    if request.htmx:
        return HttpResponseClientRedirect(report.get_absolute_url())
    return redirect(report.get_absolute_url())


@require_POST
@signed_in
def report_link(request, pk: int):
    """Attach the report as evidence for an incident layer or as a rollout gate (the no-JavaScript form)."""
    report = get_object_or_404(BehaviourReport.objects.defer("result", "summary"), pk=pk)
    form = ReportLinkForm(request.POST)
    if form.is_valid():
        try:
            services.report_link(actor=request.user, report=report, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
    if form.errors:
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        messages.error(request, f"Not linked. {problems}")
    else:
        messages.success(request, "Linked.")
    return redirect(report.get_absolute_url())


@require_GET
@read_required()
def report_export(request, pk: int, fmt: str):
    if fmt not in ("json", "csv", "md"):
        raise Http404("Export as .json, .csv or .md.")
    report = get_object_or_404(
        BehaviourReport.objects.select_related(
            "release_a__feature", "release_b__feature", "release_a__model", "release_b__model", "prompt_set_version"
        ),
        pk=pk,
    )
    if report.result is None:
        return HttpResponse(f"The report is {report.status}; there is nothing to export yet.", status=409)
    name = slugify(str(report))[:60] or f"report-{report.pk}"
    if fmt == "json":
        response = JsonResponse(report.result, json_dumps_params={"ensure_ascii": False})
    elif fmt == "csv":
        response = HttpResponse(report_csv(report.result), content_type="text/csv; charset=utf-8")
    else:
        label_a, label_b = selectors.report_side_labels(report)
        header = (
            f"# {markdown_text(report)}\n\n- A: {markdown_text(label_a)}\n- B: {markdown_text(label_b)}\n"
            f"- Prompt set: {markdown_text(report.prompt_set_version)}\n\n"
        )
        body = header + report_markdown(report.result, label_a=label_a, label_b=label_b)
        response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@require_http_methods(["GET", "POST"])
@read_required()
def endpoint_list(request):
    """Live-generation endpoints per release; approvers add or change one (same release = change)."""
    form = GenerationEndpointForm()
    if request.method == "POST":
        form = GenerationEndpointForm(request.POST)
        form.instance = (
            GenerationEndpoint.objects.filter(release_id=request.POST.get("release")).first() or form.instance
        )
        if form.is_valid():
            data = dict(form.cleaned_data)
            release = data.pop("release")
            try:
                services.generation_endpoint_configure(actor=request.user, release=release, **data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Endpoint for {release} saved.")
                return redirect("diagnostics:endpoint_list")
    endpoints = GenerationEndpoint.objects.select_related("release__feature").order_by("release__feature", "release")
    return render(
        request,
        "diagnostics/endpoint_list.html",
        {"endpoints": endpoints, "form": form, "can_manage": can(request.user, "generation_endpoint.manage")},
        status=400 if form.errors else 200,
    )
