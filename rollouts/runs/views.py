"""Rollout pages: list, a run's live page (htmx polls its progress), controls, and the rollback planner."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from core.audit import audit_trail
from core.permissions import can, permission_required
from rollouts.registry.models import Environment, Layer, Release
from rollouts.registry.rollbacks import ImpactBlocked
from rollouts.runs import services as runs
from rollouts.runs.models import RunMode
from rollouts.runs.plan import rollback_plan as rollback_plan_build
from rollouts.runs.selectors import analysis_figure, run_for_page, run_steps, runs_for_list

CONTROLS = {
    "promote": runs.run_promote,
    "pause": runs.run_pause,
    "resume": runs.run_resume,
    "abort": runs.run_abort,
}


@require_GET
@permission_required("view")
def run_list(request):
    return render(request, "rollouts/run_list.html", {"runs": runs_for_list()[:100]})


@require_GET
@permission_required("view")
def run_detail(request, pk: int):
    run = run_for_page(pk)
    if run is None:
        raise Http404("No such run.")
    analyses = list(run.analyses.all())
    ctx = {
        "run": run,
        "steps": run_steps(run, settings.REWIND_ROLLOUT),
        "transitions": list(run.transitions.all()),
        "analyses": analyses,
        "latest": analyses[-1] if analyses else None,
        "figure": analysis_figure(analyses),
        "deliveries": list(run.deliveries.all()),
        "can_control": can(request.user, runs.control_permission(run)),
        "controls": sorted(CONTROLS),
    }
    if request.htmx:
        return render(request, "rollouts/run_detail.html#live", ctx)
    ctx["entries"] = audit_trail(run)[:50]
    return render(request, "rollouts/run_detail.html", ctx)


@require_POST
@permission_required("rollout.control")
def run_control(request, pk: int, action: str):
    if action not in CONTROLS:
        raise Http404("No such action.")
    run = get_object_or_404(runs_for_list(), pk=pk)
    reason = request.POST.get("reason", "").strip()[:2000]
    if CONTROLS[action](run=run, actor=request.user, reason=reason):
        messages.success(request, f"{action.capitalize()}: done.")
    else:
        messages.error(request, f"Run #{run.pk} is {run.get_state_display().lower()}; {action} does not apply.")
    url = f"/rollouts/{run.pk}/"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _environment(slug: str, env: str) -> Environment:
    return get_object_or_404(Environment.objects.select_related("feature"), feature__slug=slug, name=env)


@require_GET
@permission_required("view")
def rollback_plan(request, slug: str, env: str):
    environment = _environment(slug, env)
    error, to_number = "", None
    number = request.GET.get("to", "").strip()
    layer = request.GET.get("layer", "").strip()
    if layer and layer not in Layer.values:
        error, layer = f"Unknown layer {layer!r}.", ""
    if number:
        if number.isdigit():
            to_number = int(number)
        else:
            error = "Release must be a number."
    plan = rollback_plan_build(environment=environment, to_number=to_number)
    ctx = {
        "environment": environment,
        "plan": plan,
        "current": plan.current,
        "target": plan.target,
        "diff": plan.diff,
        "violations": plan.violations,
        "gate": plan.gate,
        "workflows": plan.workflows,
        "layer": layer,
        "layers": Layer.choices,
        "modes": RunMode.choices,
        "error": error or (plan.problem if plan.current else ""),
        "releases": Release.objects.filter(feature=environment.feature).order_by("-number")[:50],
        "can_rollback": can(request.user, plan.permission),
    }
    return render(request, "rollouts/rollback_plan.html", ctx)


@require_POST
def rollback_submit(request, slug: str, env: str):
    if not request.user.is_authenticated:
        return redirect(f"/login/?next=/features/{slug}/{env}/rollback/plan")
    environment = _environment(slug, env)
    number = request.POST.get("to_release", "").strip()
    to_release = None
    plan_url = f"/features/{slug}/{env}/rollback/plan"
    try:
        if number:
            to_release = Release.objects.filter(
                feature=environment.feature, number=int(number) if number.isdigit() else 0
            ).first()
            if to_release is None:
                raise ValidationError({"to_release": [f"No release #{number}."]})
        run, _ = runs.rollback_request(
            actor=request.user,
            environment=environment,
            to_release=to_release,
            mode=request.POST.get("mode", RunMode.IMMEDIATE),
            layer=request.POST.get("layer") or None,
            reason=request.POST.get("reason", ""),
            override_reason=request.POST.get("override_reason", ""),
        )
    except (ValidationError, runs.RunConflict, ImpactBlocked) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, f"Rollback refused: {text}")
        return HttpResponseClientRedirect(plan_url) if request.htmx else redirect(plan_url)
    url = f"/rollouts/{run.pk}/"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
