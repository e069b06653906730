"""Action item pages: the read-only row, editing in place, the status buttons and the board across incidents."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.permissions import can, read_required, refusal, signed_in
from core.redirects import next_url
from diagnostics.models import DiagnosisLayer
from incidents import action_item_services
from incidents.forms import ActionItemEditForm, ActionStatusForm, error_text, form_errors
from incidents.models import ActionItem, ActionStatus


def _row(request, item: ActionItem, *, form=None, status: int = 200):
    template = "incidents/_action_item_edit.html" if form is not None else "incidents/_action_item_row.html"
    return render(request, template, {"a": item, "form": form, "next": request.POST.get("next", "")}, status=status)


@require_GET
@read_required()
def action_item_row(request, pk: int):
    """The read-only row (what "Cancel" in the edit row swaps back in)."""
    return _row(request, get_object_or_404(ActionItem.objects.select_related("owner"), pk=pk))


@require_http_methods(["GET", "POST"])
@read_required()
def action_item_edit(request, pk: int):
    """Edit in place: GET swaps the row for a form, POST saves (the service checks role or ownership)."""
    item = get_object_or_404(ActionItem.objects.select_related("owner", "incident"), pk=pk)
    if request.method == "GET":
        if reason := refusal(request.user, "action_item.edit", item):
            raise PermissionDenied(reason)  # no edit row to show: the 403 says why (the service decides saving)
        form = ActionItemEditForm(
            initial={f: getattr(item, f) for f in ("title", "due_date", "priority", "status", "wont_do_reason")}
            | {"owner": item.owner_id}
        )
        return _row(request, item, form=form) if request.htmx else redirect(_incident_anchor(item))
    form = ActionItemEditForm(request.POST)
    if form.is_valid():
        try:
            item = action_item_services.action_item_update(actor=request.user, item=item, **form.cleaned_data)
        except ValidationError as exc:
            form_errors(form, exc)
    if form.errors:
        if request.htmx:
            return _row(request, item, form=form)  # 200: htmx swaps it in, with the messages beside the fields
        messages.error(request, "Not saved: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect(_incident_anchor(item))
    if request.htmx:
        return _row(request, item)
    messages.success(request, f"Saved “{item.title}”.")
    return redirect(_incident_anchor(item))


def _incident_anchor(item: ActionItem) -> str:
    return reverse("incidents:detail", args=[item.incident_id]) + "#action-items"


@require_POST
@signed_in
def action_item_status(request, pk: int):
    item = get_object_or_404(ActionItem.objects.select_related("owner"), pk=pk)
    form = ActionStatusForm(request.POST)
    if form.is_valid():
        try:
            action_item_services.action_item_update(actor=request.user, item=item, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, error_text(exc))
    else:
        messages.error(request, "Choose a valid status.")
    return redirect(next_url(request, reverse("incidents:action_item_board")))


@require_GET
@read_required()
def action_item_board(request):
    items = ActionItem.objects.select_related("owner", "incident").order_by("due_date", "id")
    owner = request.GET.get("owner", "")
    if owner:
        items = items.filter(owner__username=owner)
    layer = request.GET.get("layer", "")
    if layer in DiagnosisLayer.values:
        items = items.filter(layer=layer)
    if request.GET.get("overdue") == "1":
        items = items.overdue()
    columns = {status: [] for status in ActionStatus.values}
    # Bounded: the board is for what is in flight; finished items show the most recent 50.
    for item in items.filter(status__in=[ActionStatus.OPEN, ActionStatus.IN_PROGRESS])[:500]:
        columns[item.status].append(item)
    for item in items.filter(status__in=[ActionStatus.DONE, ActionStatus.WONT_DO]).order_by("-completed_at")[:50]:
        columns[item.status].append(item)
    ctx = {
        "columns": [(s, ActionStatus(s).label, columns[s]) for s in ActionStatus.values],
        "statuses": ActionStatus.choices,
        "layers": DiagnosisLayer.choices,
        "filters": {"owner": owner, "layer": layer, "overdue": request.GET.get("overdue", "")},
        "can_act": can(request.user, "action_item.edit"),
    }
    return render(request, "incidents/action_item_board.html", ctx)
