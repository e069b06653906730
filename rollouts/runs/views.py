"""Rollout pages: list, a run's live page (htmx polls its progress), controls, and the rollback planner."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from core.audit import audit_trail
from core.permissions import can, read_required, refusal, signed_in
from rollouts.registry.compatibility import check_manifest
from rollouts.registry.models import Environment, Layer, Release
from rollouts.registry.rollbacks import ImpactBlocked
from rollouts.registry.selectors import live_release_at, release_diff, releases_with_parts
from rollouts.runs import services as runs
from rollouts.runs.forms import RollbackForm, RolloutStartForm
from rollouts.runs.models import RunMode
from rollouts.runs.plan import rollback_plan as rollback_plan_build
from rollouts.runs.presets import (
    DEFAULT_ROLLBACK_PRESET,
    DEFAULT_ROLLOUT_PRESET,
    ROLLBACK_PRESETS,
    ROLLOUT_PRESETS,
    describe,
    parse_steps,
)
from rollouts.runs.selectors import analysis_figure, run_for_page, run_steps, runs_for_list

CONTROLS = {
    "promote": runs.run_promote,
    "pause": runs.run_pause,
    "resume": runs.run_resume,
    "abort": runs.run_abort,
}


@require_GET
@read_required()
def run_list(request):
    return render(request, "rollouts/run_list.html", {"runs": runs_for_list()[:100]})


@require_GET
@read_required()
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
@signed_in
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


def _plan_ctx(request, environment, *, number: str, layer: str, form=None) -> dict:
    """The rollback plan (rollouts.runs.plan) and the form: presets, and what was typed when a request came back."""
    error, to_number = "", None
    if layer and layer not in Layer.values:
        error, layer = f"Unknown layer {layer!r}.", ""
    if number:
        if number.isdigit():
            to_number = int(number)
        else:
            error = "Release must be a number."
    plan = rollback_plan_build(environment=environment, to_number=to_number)
    return {
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
        "presets": list(ROLLBACK_PRESETS.values()),
        "form": form or RollbackForm(initial={"preset": DEFAULT_ROLLBACK_PRESET}),
        "error": error or (plan.problem if plan.current else ""),
        "releases": Release.objects.filter(feature=environment.feature).order_by("-number")[:50],
        "can_rollback": can(request.user, plan.permission),
        "rollback_refusal": refusal(request.user, plan.permission),
    }


@require_GET
@read_required()
def rollback_plan(request, slug: str, env: str):
    environment = _environment(slug, env)
    ctx = _plan_ctx(
        request, environment, number=request.GET.get("to", "").strip(), layer=request.GET.get("layer", "").strip()
    )
    return render(request, "rollouts/rollback_plan.html", ctx)


@require_POST
def rollback_submit(request, slug: str, env: str):
    """Roll back with a preset (fast staged by default). A refusal shows the plan again with what was typed."""
    if not request.user.is_authenticated:
        return redirect(f"/login/?next=/features/{slug}/{env}/rollback/plan")
    environment = _environment(slug, env)
    form = RollbackForm(request.POST)
    number = request.POST.get("to_release", "").strip()
    layer = request.POST.get("layer", "").strip()
    try:
        if not form.is_valid():
            raise ValidationError(form.errors)
        preset = ROLLBACK_PRESETS[form.cleaned_data["preset"]]
        to_release = None
        if number:
            to_release = Release.objects.filter(
                feature=environment.feature, number=int(number) if number.isdigit() else 0
            ).first()
            if to_release is None:
                raise ValidationError({"to_release": [f"No release #{number}."]})
        expected = request.POST.get("from_release", "").strip()
        from_release = None
        if expected:
            from_release = Release.objects.filter(
                feature=environment.feature, number=int(expected) if expected.isdigit() else 0
            ).first()
            if from_release is None:
                raise ValidationError({"from_release": [f"No release #{expected}."]})
        run, _ = runs.rollback_request(
            actor=request.user,
            environment=environment,
            to_release=to_release,
            mode=preset.mode,
            steps=preset.step_list() if preset.mode != RunMode.IMMEDIATE else None,
            layer=layer or None,
            reason=form.cleaned_data["reason"],
            override_reason=form.cleaned_data["override_reason"],
            from_release=from_release,
        )
    except (ValidationError, runs.RunConflict, ImpactBlocked) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        # Plan again around a target that exists (else the default one), so the form and its typing stay.
        known = number.isdigit() and Release.objects.filter(feature=environment.feature, number=int(number)).exists()
        ctx = _plan_ctx(request, environment, number=number if known else "", layer=layer, form=form)
        ctx["refused"] = f"Rollback refused: {text}"
        return render(request, "rollouts/rollback_plan.html", ctx, status=400)
    messages.success(request, f"{preset.label.split(' (')[0]} rollback to #{run.candidate_release.number} started.")
    url = f"/rollouts/{run.pk}/"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- starting a rollout ---------------------------------------------------------------------------------------


def _check_ctx(form_data) -> dict:
    """What the form will do, before it is sent: live release, compatibility of the candidate, the steps."""
    environment = Environment.objects.select_related("feature").filter(pk=_int(form_data.get("environment"))).first()
    candidate = releases_with_parts().filter(pk=_int(form_data.get("candidate_release"))).first()
    ctx: dict = {"environment": environment, "candidate": candidate, "problems": []}
    if environment is None or candidate is None:
        ctx["problems"].append("Pick a feature environment and a candidate release.")
        return ctx
    if candidate.feature_id != environment.feature_id:
        ctx["problems"].append(
            f"{candidate} is a release of {candidate.feature.slug}, not of {environment.feature.slug}."
        )
        return ctx
    current = live_release_at(environment, timezone.now())
    ctx["current"] = current
    if current is not None and current.pk == candidate.pk:
        ctx["problems"].append(f"#{candidate.number} is already live in {environment}.")
    ctx["violations"] = check_manifest(
        model=candidate.model,
        adapters=candidate.ordered_adapters(),
        index=candidate.index,
        query_encoder=candidate.query_encoder,
    )
    if current is not None and current.pk != candidate.pk:
        ctx["diff"] = release_diff(current, candidate)
    preset = form_data.get("preset") or DEFAULT_ROLLOUT_PRESET
    if preset == "custom":
        steps = parse_steps(form_data.get("custom_steps", ""))
        try:
            runs.validate_steps(steps)
        except ValidationError as exc:
            ctx["problems"] += exc.messages
    else:
        steps = ROLLOUT_PRESETS.get(preset, ROLLOUT_PRESETS[DEFAULT_ROLLOUT_PRESET]).step_list()
    ctx["steps_text"] = describe(steps) if steps else ""
    return ctx


def _int(value) -> int:
    return int(value) if str(value or "").isdigit() else 0


@require_GET
@read_required()
def run_new_check(request):
    """The compatibility check and step preview beside the form (htmx, on every change)."""
    return render(request, "rollouts/run_new.html#check", {"check": _check_ctx(request.GET)})


@require_http_methods(["GET", "POST"])
@read_required()
def run_new(request):
    """Start a rollout: feature environment, candidate, steps (preset or custom), optional gating report, judge
    settings. A refusal keeps everything typed and says why."""
    initial = {"preset": DEFAULT_ROLLOUT_PRESET}
    if request.GET.get("environment"):
        initial["environment"] = request.GET["environment"]
    form = RolloutStartForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = runs.run_start(
                actor=request.user,
                environment=data["environment"],
                candidate_release=data["candidate_release"],
                steps=form.steps(),
                config=form.config(),
                reason=data["reason"],
                override_reason=data["override_reason"],
                gate_report_id=data["gate_report"],
                idempotency_key=request.POST.get("idempotency_key") or None,
            )
        except runs.RunConflict as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Rollout #{run.pk} of #{run.candidate_release.number} started.")
            return redirect("rollouts:run_detail", pk=run.pk)
    data = request.POST if request.method == "POST" else {**initial, **request.GET.dict()}
    ctx = {
        "form": form,
        "check": _check_ctx(data),
        "can_start": can(request.user, "rollout.start"),
        "start_refusal": refusal(request.user, "rollout.start"),
        "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
    }
    return render(request, "rollouts/run_new.html", ctx, status=400 if form.errors else 200)


def _form_errors(form, exc: ValidationError) -> None:
    fields = {"steps": "custom_steps", "config": None, "gate_report": "gate_report", "candidate_release": None}
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for field, msgs in errors.items():
        name = fields.get(field, field)
        form.add_error(name if name in form.fields else None, msgs)
