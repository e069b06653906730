"""Web pages of the user-impact tracker: /features/<slug>/<env>/impact/ and its review/add/waive forms.

The list is a shared fragment (templates/rollouts/_impact_list.html) so the rollback planner can include it;
a review posted from either page returns that fragment for htmx, or redirects back without JavaScript."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from core.forms import LimitedTextMixin
from core.models import Team
from core.permissions import can, read_required, signed_in
from rollouts.impact.models import Behaviour, DependentWorkflow, ImpactFollowup, ImpactStatus
from rollouts.impact.services import (
    REASON_LABELS,
    dependent_workflow_add,
    impact_followup,
    impact_plan_build,
    impact_review,
    impact_waive,
    rollback_gate,
)
from rollouts.registry.models import DeploymentEvent, Environment, Release
from rollouts.registry.selectors import live_release_at


class DependentWorkflowForm(LimitedTextMixin, forms.Form):
    release = forms.ModelChoiceField(queryset=Release.objects.none(), help_text="The release it depends on")
    workflow_id = forms.CharField(max_length=120, label="Workflow id")
    name = forms.CharField(max_length=200, required=False)
    customer = forms.CharField(max_length=120, required=False, label="Customer or tenant")
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    behaviour = forms.ChoiceField(choices=Behaviour.choices, label="Behaviour relied on")
    downstream_system = forms.CharField(max_length=200, required=False)
    contact = forms.CharField(max_length=200, required=False)
    migration_path = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    evidence = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, environment: Environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["release"].queryset = Release.objects.filter(feature=environment.feature_id).order_by("-number")


class WaiveForm(LimitedTextMixin, forms.Form):
    from_release = forms.ModelChoiceField(queryset=Release.objects.none(), label="Release being rolled back")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why reviews cannot wait")

    def __init__(self, *args, environment: Environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_release"].queryset = Release.objects.filter(feature=environment.feature_id).order_by(
            "-number"
        )


def _environment(slug: str, env: str) -> Environment:
    return get_object_or_404(Environment.objects.select_related("feature"), feature__slug=slug, name=env)


def impact_list_context(request, *, environment: Environment, workflows, scope: str = "environment", gate=None):
    """Context the `_impact_list.html` fragment needs; the rollback planner calls this too."""
    return {
        "environment": environment,
        "workflows": list(workflows),
        "impact_scope": scope,
        "impact_gate": gate,
        "can_review": can(request.user, "impact.review"),
        "review_statuses": [s for s in ImpactStatus if s != ImpactStatus.PENDING],
        "reason_labels": REASON_LABELS,
    }


def _workflows(environment: Environment, release: Release | None = None):
    qs = DependentWorkflow.objects.filter(environment=environment).select_related(
        "release", "team", "reviewed_by", "environment__feature"
    )
    if release is not None:
        qs = qs.filter(release=release)
    return qs.order_by("-release__number", "status", "workflow_id")


def _live_gate(environment: Environment):
    """The gate a rollback of what is live now would meet (the page's headline)."""
    live = live_release_at(environment, timezone.now())
    return live, (rollback_gate(environment=environment, from_release=live) if live else None)


def _latest_followup(environment: Environment):
    followup = (
        ImpactFollowup.objects.filter(environment=environment)
        .select_related("rolled_back_release", "to_release")
        .order_by("-started_at")
        .first()
    )
    return impact_followup(followup=followup) if followup else None


def _page(request, environment: Environment, *, form=None, waive_form=None, status: int = 200):
    live, gate = _live_gate(environment)
    ctx = impact_list_context(request, environment=environment, workflows=_workflows(environment), gate=gate)
    ctx.update(
        live_release=live,
        form=form or DependentWorkflowForm(environment=environment, initial={"release": live}),
        waive_form=waive_form or WaiveForm(environment=environment, initial={"from_release": live}),
        can_waive=can(request.user, "impact.waive") and environment.is_production,
        followup=_latest_followup(environment),
    )
    template = "rollouts/_impact_list.html" if request.htmx else "rollouts/impact_page.html"
    return render(request, template, ctx, status=status)


@require_GET
@read_required()
def impact_page(request, slug: str, env: str):
    return _page(request, _environment(slug, env))


@require_POST
@signed_in
def impact_add(request, slug: str, env: str):
    environment = _environment(slug, env)
    form = DependentWorkflowForm(request.POST, environment=environment)
    if form.is_valid():
        try:
            dependent_workflow_add(actor=request.user, environment=environment, **form.cleaned_data)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, messages)
    if form.errors:
        request.htmx = False  # always answer with the whole page, so the form shows its errors
        return _page(request, environment, form=form, status=400)
    return _after_post(request, environment)


@require_POST
@signed_in
def impact_review_view(request, slug: str, env: str, pk: int):
    environment = _environment(slug, env)
    workflow = get_object_or_404(DependentWorkflow, pk=pk, environment=environment)
    error = ""
    try:
        impact_review(
            actor=request.user,
            workflow=workflow,
            status=request.POST.get("status", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        error = "; ".join(exc.messages)
    if request.htmx:
        scope = request.POST.get("scope", "environment")
        if scope == "release":
            workflows = _workflows(environment, workflow.release)
            gate = rollback_gate(environment=environment, from_release=workflow.release)
        else:
            workflows, (_live, gate) = _workflows(environment), _live_gate(environment)
        ctx = impact_list_context(request, environment=environment, workflows=workflows, scope=scope, gate=gate)
        ctx["impact_error"] = error
        return render(request, "rollouts/_impact_list.html", ctx, status=400 if error else 200)
    if error:
        return _page(request, environment, status=400)
    return _after_post(request, environment)


@require_POST
@signed_in
def impact_waive_view(request, slug: str, env: str):
    environment = _environment(slug, env)
    form = WaiveForm(request.POST, environment=environment)
    if form.is_valid():
        try:
            impact_waive(actor=request.user, environment=environment, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
    if form.errors:
        request.htmx = False
        return _page(request, environment, waive_form=form, status=400)
    return _after_post(request, environment)


def _previous_release(environment: Environment, live: Release) -> Release | None:
    """The release live before the current one: what a rollback would most likely go back to."""
    event = (
        DeploymentEvent.objects.filter(environment=environment)
        .exclude(release=live)
        .select_related("release")
        .order_by("-live_at", "-id")
        .first()
    )
    return event.release if event else None


@require_POST
@signed_in
def impact_plan_view(request, slug: str, env: str):
    """Run detection for a rollback of what is live now (to the release before it) and store the plan."""
    environment = _environment(slug, env)
    live = live_release_at(environment, timezone.now())
    if live is not None:
        impact_plan_build(
            actor=request.user,
            environment=environment,
            from_release=live,
            to_release=_previous_release(environment, live),
        )
    return _after_post(request, environment)


def _after_post(request, environment: Environment):
    url = f"/features/{environment.feature.slug}/{environment.name}/impact/"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
