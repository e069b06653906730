"""Rollout runs: start, control (promote/pause/resume/abort), rollback, and the step engine the workers drive.

Every state change is a conditional update on (pk, state[, step_index]) — a row count of 0 means another request
or worker won — followed by a RolloutTransition row, an audit entry and, if linked, an incident timeline entry.
Workers claim a run with a lease; a lease that expired belonged to a worker that died, and the tick reclaims it.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from core.actors import system_actor
from core.audit import audit_record
from core.permissions import require
from core.tasks import enqueue_on_commit
from rollouts.impact.services import impact_followup_start
from rollouts.judging import clock, plan
from rollouts.judging.models import Analysis
from rollouts.registry.compatibility import check_manifest
from rollouts.registry.models import DeploymentEvent, Environment, Layer, Release, Source
from rollouts.registry.rollbacks import is_older, rollback_permission, rollback_require
from rollouts.registry.services import _refuse_or_override, deployment_record, release_create
from rollouts.runs import analysis, gates
from rollouts.runs.models import ACTIVE_RUN_STATES, RolloutRun, RolloutTransition, RunKind, RunMode, RunState
from rollouts.runs.routing import routing_publish
from rollouts.runs.signals import run_transitioned, weight_changed
from rollouts.runs.webhooks import deliver_due, deliveries_create, next_attempt_at

DEFAULT_WEIGHTS = (1, 5, 25, 50, 100)
# The worker-side engine: steps, the judge's verdicts, recording the outcome of a run a person started.
ENGINE = system_actor("rollout engine")
STEP_TYPES = {"weight", "pause", "analysis", "bake"}


class RunConflict(Exception):
    """Another run is active in this environment."""

    def __init__(self, message: str, run: RolloutRun | None = None):
        super().__init__(message)
        self.run = run


class RollbackAlreadyDone(RunConflict):
    """The release the request expected to be live is no longer live: someone else rolled back first."""


def default_steps() -> list[dict]:
    """1 → 5 → 25 → 50 % with an analysis after each, then 100 % and a bake (judged against a stable holdback)."""
    steps: list[dict] = []
    for weight in DEFAULT_WEIGHTS[:-1]:
        steps += [{"type": "weight", "weight": weight}, {"type": "analysis"}]
    steps += [{"type": "weight", "weight": DEFAULT_WEIGHTS[-1]}, {"type": "bake"}]
    return steps


def validate_steps(steps: list) -> list[dict]:
    if not isinstance(steps, list) or not steps:
        raise ValidationError({"steps": ["Give a non-empty list of steps."]})
    errors, last_weight = [], 0
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
            errors.append(f"Step {i + 1}: type must be one of {', '.join(sorted(STEP_TYPES))}.")
            continue
        if step["type"] == "weight":
            w = step.get("weight")
            if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 100:
                errors.append(f"Step {i + 1}: weight must be an integer percent from 0 to 100.")
            else:
                last_weight = w
        seconds = step.get("seconds")
        if seconds is not None and (not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0):
            errors.append(f"Step {i + 1}: seconds must be a non-negative number.")
        if step["type"] == "bake" and last_weight != 100:
            errors.append(f"Step {i + 1}: bake needs the candidate at 100 % first.")
    if not errors and last_weight != 100:
        errors.append("The last weight step must send 100 % to the candidate.")
    if errors:
        raise ValidationError({"steps": errors})
    return steps


def run_settings(run: RolloutRun) -> dict:
    return {**settings.REWIND_ROLLOUT, **{k: v for k, v in run.config.items() if k in settings.REWIND_ROLLOUT}}


# --- transitions -----------------------------------------------------------------------------------------


def _actor_label(actor) -> str:
    return actor.get_username()


def _record(run: RolloutRun, old: str, new: str, *, actor, reason: str, action: str) -> None:
    RolloutTransition.objects.create(
        run=run,
        old_state=old,
        new_state=new,
        step_index=run.step_index,
        reason=reason,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=_actor_label(actor),
    )
    audit_record(
        actor=actor,
        action=action,
        obj=run,
        before={"state": old},
        after={"state": new, "step_index": run.step_index, "candidate_weight": run.candidate_weight},
        reason=reason,
    )
    run_transitioned.send(
        sender=RolloutRun,
        run=run,
        old=old,
        new=new,
        reason=reason,
        actor=actor,
        kind="rollback"
        if run.kind == RunKind.ROLLBACK or new in (RunState.ROLLING_BACK, RunState.ROLLED_BACK)
        else "rollout",
    )


@transaction.atomic(savepoint=False)  # no rollback to a savepoint is ever needed: a failure fails the caller
def _transition(run: RolloutRun, old: str | tuple, new: str, *, actor, reason: str, action: str, **fields) -> bool:
    """Conditional update from ``old`` (a state or tuple of states) to ``new``. False if someone else won."""
    olds = old if isinstance(old, tuple) else (old,)
    updated = RolloutRun.objects.filter(pk=run.pk, state__in=olds).update(state=new, state_reason=reason, **fields)
    if updated != 1:
        return False
    current = run.state
    run.state, run.state_reason = new, reason
    for name, value in fields.items():
        setattr(run, name, value)
    _record(run, current, new, actor=actor, reason=reason, action=action)
    run._routing_table = routing_publish(run.environment, run)
    return True


def _enqueue(run_id: int) -> None:
    enqueue_on_commit("rollouts.run_advance", run_id)


# --- starting runs --------------------------------------------------------------------------------------


def _create_run(**fields) -> RolloutRun:
    try:
        with transaction.atomic():
            run = RolloutRun.objects.create(**fields)
    except IntegrityError as exc:
        existing = RolloutRun.objects.filter(environment=fields["environment"], state__in=ACTIVE_RUN_STATES).first()
        key = fields.get("idempotency_key")
        if key:
            same = RolloutRun.objects.filter(idempotency_key=key).first()
            if same is not None:
                raise RunConflict("A run with this idempotency key exists.", same) from exc
        raise RunConflict(f"{fields['environment']} already has an active run.", existing) from exc
    return run


@transaction.atomic
def run_start(
    *,
    actor,
    environment: Environment,
    candidate_release: Release,
    steps: list | None = None,
    config: dict | None = None,
    reason: str = "",
    incident_id: int | None = None,
    idempotency_key: str | None = None,
    override_reason: str = "",
    gate_report_id: int | None = None,
) -> RolloutRun:
    """Start a staged rollout of ``candidate_release``. With ``gate_report_id`` the run starts only if that
    behaviour-diff report (candidate as side B) finished without a regression."""
    require(actor, "rollout.start")
    if idempotency_key:
        existing = RolloutRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    if candidate_release.feature_id != environment.feature_id:
        raise ValidationError({"candidate_release": [f"Release {candidate_release} belongs to another feature."]})
    stable = DeploymentEvent.objects.filter(environment=environment).order_by("-live_at", "-id").first()
    stable_release = stable.release if stable else None
    if stable_release and stable_release.pk == candidate_release.pk:
        raise ValidationError({"candidate_release": [f"Release #{candidate_release.number} is already live."]})
    if is_older(candidate_release, than=stable_release):
        # Rolling out an older release moves traffic back: the rollback rule applies, whatever the door.
        rollback_require(actor=actor, environment=environment, current=stable_release, target=candidate_release)
    _check_target(candidate_release, actor=actor, override_reason=override_reason)
    steps = validate_steps(steps if steps is not None else default_steps())
    problems = analysis.validate_config(config or {})
    if problems:
        raise ValidationError({"config": problems})
    if gate_report_id is not None:
        gate_problem = gates.report_gate_problem(report_id=gate_report_id, candidate_release=candidate_release)
        if gate_problem:
            raise ValidationError({"gate_report": [gate_problem]})
    run = _create_run(
        environment=environment,
        stable_release=stable_release,
        candidate_release=candidate_release,
        kind=RunKind.ROLLOUT,
        mode=RunMode.STAGED,
        steps=steps,
        config=config or {},
        requested_by=actor if getattr(actor, "pk", None) else None,
        reason=reason,
        incident_id=incident_id,
        idempotency_key=idempotency_key or None,
        override_reason=override_reason.strip(),
    )
    if gate_report_id is not None:
        gates.report_gate_link(actor=actor, report_id=gate_report_id, run=run)
    _begin(run, actor=actor)
    return run


def _begin(run: RolloutRun, *, actor) -> None:
    audit_record(
        actor=actor,
        action=f"{run.kind}.request",
        obj=run,
        after={
            "environment": str(run.environment),
            "stable": run.stable_release.number if run.stable_release else None,
            "candidate": run.candidate_release.number,
            "mode": run.mode,
            "steps": run.steps,
        },
        reason=run.reason,
    )
    now = clock.now()
    _transition(
        run,
        RunState.PENDING,
        RunState.RUNNING,
        actor=actor,
        reason=run.reason or "started",
        action=f"{run.kind}.start",
        started_at=now,
        step_started_at=now,
        next_check_at=now,
    )
    _enqueue(run.pk)


def _check_target(release: Release, *, actor, override_reason: str) -> None:
    violations = check_manifest(
        model=release.model,
        adapters=release.ordered_adapters(),
        index=release.index,
        query_encoder=release.query_encoder,
    )
    _refuse_or_override(violations, actor=actor, override_reason=override_reason)


# --- rollback --------------------------------------------------------------------------------------------


def last_known_good(environment: Environment, *, exclude: Release | None = None) -> Release | None:
    """The newest release that became live and was not then rolled back (derived from deployment events)."""
    events = list(
        DeploymentEvent.objects.filter(environment=environment)
        .select_related("release__model", "release__index")
        .order_by("-live_at", "-id")
    )
    for i, event in enumerate(events):
        replaced_by_rollback = i > 0 and events[i - 1].is_rollback
        if replaced_by_rollback or (exclude is not None and event.release_id == exclude.pk):
            continue
        return event.release
    return None


def _layer_reverted(*, actor, current: Release, target: Release, layer: str, override_reason: str) -> Release:
    parts = {
        "model": current.model,
        "prompt": current.prompt,
        "adapters": current.ordered_adapters(),
        "index": current.index,
        "query_encoder": current.query_encoder,
    }
    if layer == Layer.MODEL:
        parts["model"] = target.model
    elif layer == Layer.PROMPT:
        parts["prompt"] = target.prompt
    elif layer == Layer.ADAPTERS:
        parts["adapters"] = target.ordered_adapters()
    elif layer == Layer.INDEX:
        parts["index"], parts["query_encoder"] = target.index, target.query_encoder
    release, _ = release_create(
        actor=actor,
        feature=current.feature,
        parent=current,
        source=Source.ROLLOUT,
        notes=f"Partial rollback of the {layer} layer of #{current.number} to #{target.number}",
        override_reason=override_reason,
        **parts,
    )
    return release


@transaction.atomic
def rollback_request(
    *,
    actor,
    environment: Environment,
    to_release: Release | None = None,
    mode: str = RunMode.IMMEDIATE,
    layer: str | None = None,
    reason: str,
    override_reason: str = "",
    incident_id: int | None = None,
    config: dict | None = None,
    steps: list | None = None,
    from_release: Release | None = None,
    idempotency_key: str | None = None,
) -> tuple[RolloutRun, bool]:
    """Roll an environment back. Returns (run, created). ``steps`` (staged mode only) replaces the full canary
    steps, e.g. a fast preset (rollouts.runs.presets). A rollout in flight is rolled back in place (traffic
    returns to its stable release); a rollback already in flight is returned as is, so repeated or concurrent
    requests make one run.

    ``from_release`` is the release the requester saw live (the web and Slack plans fill it in): once it is no
    longer live the request is refused with who rolled back to what and when, instead of rolling back further or
    toggling back. ``idempotency_key`` returns the run an earlier request with the same key made."""
    require(actor, rollback_permission(environment))
    # One request at a time per feature environment: concurrent double clicks queue here and then see the
    # first one's run (SQLite serialises writers anyway; PostgreSQL needs the row lock).
    Environment.objects.select_for_update().filter(pk=environment.pk).first()
    if idempotency_key:
        earlier = RolloutRun.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is not None:
            if earlier.environment_id != environment.pk or earlier.kind != RunKind.ROLLBACK:
                raise RunConflict("This Idempotency-Key was used for another request.", earlier)
            return earlier, False
    if not reason.strip():
        raise ValidationError({"reason": ["Say why you roll back."]})
    if mode not in RunMode.values:
        raise ValidationError({"mode": [f"Mode must be one of {', '.join(RunMode.values)}."]})
    if layer and layer not in Layer.values:
        raise ValidationError({"layer": [f"Layer must be one of {', '.join(Layer.values)}."]})
    active = RolloutRun.objects.filter(environment=environment, state__in=ACTIVE_RUN_STATES).first()
    if active is not None:
        if from_release is not None and active.kind == RunKind.ROLLBACK and active.stable_release_id != from_release.pk:
            raise _already_done(environment, from_release, active)
        return _rollback_active(active, actor=actor, reason=reason), False
    current_event = (
        DeploymentEvent.objects.filter(environment=environment)
        .select_related("release__model", "release__index", "actor")
        .order_by("-live_at", "-id")
        .first()
    )
    if current_event is None:
        raise ValidationError({"environment": [f"Nothing is live in {environment}; there is nothing to roll back."]})
    current = current_event.release
    if from_release is not None and from_release.pk != current.pk:
        raise _already_done(environment, from_release, current_event)
    if to_release is not None and to_release.feature_id != environment.feature_id:
        raise ValidationError({"to_release": [f"Release {to_release} belongs to another feature."]})
    target = to_release or last_known_good(environment, exclude=current)
    if target is None:
        raise ValidationError({"to_release": ["No earlier known-good release; name the release to roll back to."]})
    if layer:
        target = _layer_reverted(
            actor=actor, current=current, target=target, layer=layer, override_reason=override_reason
        )
    if target.pk == current.pk:
        raise ValidationError({"to_release": [f"Release #{target.number} is already live in {environment}."]})
    rollback_require(actor=actor, environment=environment, current=current, target=target)
    _check_target(target, actor=actor, override_reason=override_reason)
    if mode == RunMode.IMMEDIATE:
        steps = [{"type": "weight", "weight": 100}]
    else:  # a staged rollback takes the caller's steps (a preset) or the full canary steps
        steps = validate_steps(steps) if steps is not None else default_steps()
    try:
        run = _create_run(
            environment=environment,
            stable_release=current,
            candidate_release=target,
            kind=RunKind.ROLLBACK,
            mode=mode,
            steps=steps,
            config=config or {},
            requested_by=actor if getattr(actor, "pk", None) else None,
            reason=reason,
            incident_id=incident_id,
            override_reason=override_reason.strip(),
            rollback_started_at=clock.now(),
            idempotency_key=idempotency_key or None,
            # Traffic moves when this request commits, not when a worker gets to it: gateways see an immediate
            # rollback at once even if every worker is busy or down. The worker then delivers the webhooks
            # (created in this transaction) and records the deployment; re-applying the step is a no-op.
            candidate_weight=100 if mode == RunMode.IMMEDIATE else 0,
        )
    except RunConflict as conflict:
        if conflict.run is not None and conflict.run.kind == RunKind.ROLLBACK:
            return conflict.run, False
        raise
    _begin(run, actor=actor)
    if mode == RunMode.IMMEDIATE:
        _deliveries_for_weight(run, "step0", table=run._routing_table)
    return run, True


def _already_done(environment: Environment, expected: Release, since) -> RollbackAlreadyDone:
    """Who moved the environment off ``expected``, to what and when: a deployment event or a run in flight."""
    if isinstance(since, RolloutRun):
        who = since.requested_by.get_username() if since.requested_by else "system"
        number, when, what = since.candidate_release.number, since.rollback_started_at or since.created_at, "rolling"
    else:
        run = RolloutRun.objects.filter(pk=since.rollout_run_id).select_related("requested_by").first()
        person = (run.requested_by if run and run.requested_by else None) or since.actor
        who = person.get_username() if person else since.get_via_display()
        number, when, what = since.release.number, since.live_at, "rolled" if since.is_rollback else "moved"
    return RollbackAlreadyDone(
        f"Not rolled back: release #{expected.number} is no longer live in {environment}; already {what} back to "
        f"#{number} by {who} at {when:%Y-%m-%d %H:%M:%S} UTC."
        if what != "moved"
        else f"Not rolled back: release #{expected.number} is no longer live in {environment}; #{number} is, "
        f"deployed by {who} at {when:%Y-%m-%d %H:%M:%S} UTC.",
        since if isinstance(since, RolloutRun) else None,
    )


def _rollback_active(run: RolloutRun, *, actor, reason: str) -> RolloutRun:
    if run.kind == RunKind.ROLLBACK or run.state == RunState.ROLLING_BACK:
        return run
    if run.state == RunState.PENDING:
        raise RunConflict("A run is starting in this environment; try again in a moment.", run)
    run_roll_back(run=run, actor=actor, reason=reason)
    return RolloutRun.objects.get(pk=run.pk)


def run_roll_back(*, run: RolloutRun, actor, reason: str, aborting: bool = False) -> bool:
    """Send the run's traffic back to its stable release (a failed canary, a person's rollback or an abort)."""
    if run.stable_release_id is None:
        return _transition(
            run,
            (RunState.PENDING, RunState.RUNNING, RunState.PAUSED),
            RunState.ABORTED if aborting else RunState.FAILED,
            actor=actor,
            reason=f"{reason} (no earlier release to return to)",
            action="rollout.abort" if aborting else "rollout.fail",
            finished_at=clock.now(),
            lease_owner="",
            lease_expires_at=None,
        )
    now = clock.now()
    moved = _transition(
        run,
        (RunState.RUNNING, RunState.PAUSED),
        RunState.ROLLING_BACK,
        actor=actor,
        reason=reason,
        action="rollout.abort" if aborting else "rollout.rollback",
        aborting=aborting,
        rollback_started_at=now,
        next_check_at=now,
        paused_from="",
    )
    if moved:
        _enqueue(run.pk)
    return moved


# --- people's controls ------------------------------------------------------------------------------------


def moves_back(run: RolloutRun) -> bool:
    """A rollback, or a rollout whose candidate is older than the release it replaces."""
    return run.kind == RunKind.ROLLBACK or (
        run.stable_release is not None and is_older(run.candidate_release, than=run.stable_release)
    )


def control_permission(run: RolloutRun) -> str:
    """Pausing, resuming, promoting or aborting a production rollback steers production traffic back: it needs
    the same role as starting it."""
    if moves_back(run):
        return rollback_permission(run.environment)
    return "rollout.control"


def run_promote(*, run: RolloutRun, actor, reason: str = "") -> bool:
    """Skip the current step (e.g. an analysis that waits for data a person has seen elsewhere)."""
    require(actor, control_permission(run))
    with transaction.atomic():
        updated = RolloutRun.objects.filter(
            pk=run.pk, state__in=(RunState.RUNNING, RunState.PAUSED), step_index=run.step_index
        ).update(
            state=RunState.RUNNING,
            step_index=run.step_index + 1,
            step_started_at=clock.now(),
            step_looks=0,
            step_tested_looks=0,
            next_check_at=clock.now(),
            paused_from="",
        )
        if updated != 1:
            return False
        old = run.state
        run.refresh_from_db()
        _record(run, old, RunState.RUNNING, actor=actor, reason=reason or "promoted", action="rollout.promote")
        _enqueue(run.pk)
    return True


def run_pause(*, run: RolloutRun, actor, reason: str = "") -> bool:
    require(actor, control_permission(run))
    return _pause(run, actor=actor, reason=reason or "paused by hand")


def _pause(run: RolloutRun, *, actor, reason: str) -> bool:
    return _transition(
        run,
        run.state if run.state in (RunState.RUNNING, RunState.ROLLING_BACK) else RunState.RUNNING,
        RunState.PAUSED,
        actor=actor,
        reason=reason,
        action="rollout.pause",
        paused_from=run.state if run.state in (RunState.RUNNING, RunState.ROLLING_BACK) else RunState.RUNNING,
        lease_owner="",
        lease_expires_at=None,
    )


def run_resume(*, run: RolloutRun, actor, reason: str = "") -> bool:
    require(actor, control_permission(run))
    step = run.current_step or {}
    back_to = run.paused_from or RunState.RUNNING
    fields = {"next_check_at": clock.now(), "paused_from": ""}
    if back_to == RunState.RUNNING and step.get("type") == "pause" and step.get("seconds") is None:
        # Resuming is what an open-ended pause step waits for.
        fields.update(step_index=run.step_index + 1, step_started_at=clock.now(), step_looks=0, step_tested_looks=0)
    elif back_to == RunState.RUNNING and step.get("type") in ("analysis", "bake"):
        # The analysis goes on where it stopped: same window start, same run-wide look numbers and budget. Only the
        # step's wait for data starts afresh (a person resumed it because data should now be there).
        fields.update(step_looks=run.step_tested_looks)
    moved = _transition(
        run, RunState.PAUSED, back_to, actor=actor, reason=reason or "resumed", action="rollout.resume", **fields
    )
    if moved:
        with transaction.atomic():
            _enqueue(run.pk)
    return moved


def run_abort(*, run: RolloutRun, actor, reason: str = "") -> bool:
    require(actor, control_permission(run))
    if run.state == RunState.PENDING:
        return _transition(
            run, RunState.PENDING, RunState.ABORTED, actor=actor, reason=reason or "aborted", action="rollout.abort"
        )
    return run_roll_back(run=run, actor=actor, reason=reason or "aborted", aborting=True)


# --- the engine -------------------------------------------------------------------------------------------


def run_advance(*, run_id: int, worker: str = "worker") -> None:
    """Drive a run as far as it can go now. Safe to call any number of times, from any number of workers."""
    token = f"{worker[:40]}:{uuid.uuid4().hex[:12]}"
    # Claim first (the run's own lease length is known once it is read; the first move then sets it).
    now = clock.now()
    claimed = (
        RolloutRun.objects.filter(pk=run_id, state__in=(RunState.RUNNING, RunState.ROLLING_BACK))
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_owner=token, lease_expires_at=now + timedelta(seconds=settings.REWIND_ROLLOUT["lease_seconds"]))
    )
    if claimed != 1:
        return
    try:
        for move in itertools.count():
            run = RolloutRun.objects.select_related("environment__feature", "stable_release", "candidate_release").get(
                pk=run_id
            )
            if run.lease_owner != token or run.state not in (RunState.RUNNING, RunState.ROLLING_BACK):
                return
            lease = timedelta(seconds=run_settings(run)["lease_seconds"])
            if move or lease.total_seconds() != settings.REWIND_ROLLOUT["lease_seconds"]:
                RolloutRun.objects.filter(pk=run_id, lease_owner=token).update(lease_expires_at=clock.now() + lease)
            if not _drive(run) or move >= len(run.steps) + 2:  # bounded: about one move per step
                return
    finally:
        RolloutRun.objects.filter(pk=run_id, lease_owner=token).update(lease_owner="", lease_expires_at=None)


def _drive(run: RolloutRun) -> bool:
    """One move. True if the run moved on and the engine should look again now."""
    if run.state == RunState.ROLLING_BACK:
        return _drive_rollback(run)
    step = run.current_step
    if step is None:
        _succeed(run)
        return False
    kind = step["type"]
    if kind == "weight":
        return _drive_weight(run, step)
    if kind == "pause":
        return _drive_pause(run, step)
    return _drive_judged(run, step)


def _set_weight(run: RolloutRun, weight: int, phase: str) -> bool:
    """Apply a weight as the lease holder. False if the run changed hands or state meanwhile (a person paused or
    aborted it): then a stale worker must not move traffic."""
    with transaction.atomic(savepoint=False):
        if run.candidate_weight != weight:
            moved = RolloutRun.objects.filter(pk=run.pk, state=run.state, lease_owner=run.lease_owner).update(
                candidate_weight=weight
            )
            if moved != 1:
                return False
            before = run.candidate_weight
            run.candidate_weight = weight
            audit_record(
                actor=ENGINE,
                action="rollout.weight",
                obj=run,
                before={"candidate_weight": before},
                after={"candidate_weight": weight, "step_index": run.step_index},
            )
            weight_changed.send(sender=RolloutRun, run=run, phase=phase, weight=weight)
        _deliveries_for_weight(run, phase)
    return True


def _deliveries_for_weight(run: RolloutRun, phase: str, table=None) -> None:
    """Publish the routing table for the run's current weight and queue its webhooks (same transaction)."""
    with transaction.atomic(savepoint=False):
        table = table or routing_publish(run.environment, run)
        deliveries_create(
            run=run,
            phase=phase,
            payload={
                "run": run.pk,
                "phase": phase,
                "routing_version": table.version,
                "routing": table.body,
            },
        )


def _deliveries_settled(run: RolloutRun, phase: str) -> bool:
    """Deliver this phase's webhooks. True when all are delivered; pauses the run if a target gave up."""
    pending, failed = deliver_due(run=run, phase=phase, settings=run_settings(run))
    if failed is not None:
        run.refresh_from_db()
        _pause(
            run,
            actor=ENGINE,
            reason=f"Webhook to {failed.target.url} failed {failed.attempts} times ({failed.last_error}); "
            "fix the target and resume.",
        )
        return False
    if pending:
        RolloutRun.objects.filter(pk=run.pk).update(next_check_at=next_attempt_at(run=run, phase=phase))
        return False
    return True


def _drive_weight(run: RolloutRun, step: dict) -> bool:
    phase = f"step{run.step_index}"
    weight = step["weight"]
    following = run.steps[run.step_index + 1] if run.step_index + 1 < len(run.steps) else {}
    if weight == 100 and following.get("type") == "bake" and run.stable_release_id is not None:
        # The bake keeps a small stable share as its control; full traffic comes when the bake has passed.
        weight = plan.holdback_weight(run_settings(run))
    if not _set_weight(run, weight, phase) or not _deliveries_settled(run, phase):
        return False
    return _next_step(run, reason=f"candidate at {weight} %")


def _next_step(run: RolloutRun, *, reason: str) -> bool:
    now = clock.now()
    with transaction.atomic():
        updated = RolloutRun.objects.filter(
            pk=run.pk, state=RunState.RUNNING, step_index=run.step_index, lease_owner=run.lease_owner
        ).update(
            step_index=run.step_index + 1, step_started_at=now, step_looks=0, step_tested_looks=0, next_check_at=now
        )
        if updated != 1:
            return False
        RolloutTransition.objects.create(
            run=run, old_state=run.state, new_state=run.state, step_index=run.step_index + 1, reason=reason
        )
    return True


def _drive_pause(run: RolloutRun, step: dict) -> bool:
    seconds = step.get("seconds")
    if seconds is None:
        _pause(run, actor=ENGINE, reason="Waiting for someone to resume (pause step).")
        return False
    due = run.step_started_at + timedelta(seconds=seconds)
    if clock.now() < due:
        RolloutRun.objects.filter(pk=run.pk).update(next_check_at=due)
        return False
    return _next_step(run, reason=f"paused {seconds:g} s")


def _drive_judged(run: RolloutRun, step: dict) -> bool:
    """One look of an analysis or bake step, when due. The run has one error budget (rollouts.judging.plan):
    looks are numbered across the run, only tested looks spend alpha, and a step ends on the evidence:

    - a critical metric fails -> roll back; a non-critical one fails, or the split is off -> pause for a person;
    - an analysis step that made its planned tested looks without a failure -> next step (no evidence of harm
      at the run's error budget; a Marginal look is reported on the way, it does not stop the run);
    - a bake that lasted its duration with at least one tested look -> full traffic, next step;
    - too little data to test (too few samples) -> keep looking, up to ``max_wait_looks``, then pause;
    - the budget is spent (every planned tested look used, e.g. after resumes) -> pause: a person decides.
    """
    cfg = run_settings(run)
    now = clock.now()
    since = max(run.last_look_at or run.step_started_at, run.step_started_at)
    due = since + timedelta(seconds=plan.look_interval(step, cfg))
    if now < due:
        RolloutRun.objects.filter(pk=run.pk).update(next_check_at=due)
        return False
    budget = plan.planned_looks(run.steps, cfg)
    result = analysis.judge_window(
        run=run, start=run.step_started_at, end=now, tested_look=run.tested_looks + 1, max_looks=budget
    )
    verdict, tested = result.get("verdict", "inconclusive"), bool(result.get("tested"))
    look = run.looks + 1
    with transaction.atomic():
        # The look number is claimed on the run row (compare-and-set on ``looks``), so its Analysis row is new.
        updated = RolloutRun.objects.filter(pk=run.pk, step_index=run.step_index, looks=run.looks).update(
            looks=look,
            step_looks=run.step_looks + 1,
            tested_looks=run.tested_looks + tested,
            step_tested_looks=run.step_tested_looks + tested,
            last_look_at=now,
        )
        if updated != 1:
            return False
        Analysis.objects.create(
            run=run,
            step_index=run.step_index,
            look=look,
            window_start=run.step_started_at,
            window_end=now,
            verdict=verdict,
            result=result,
        )
    run.looks, run.step_looks, run.last_look_at = look, run.step_looks + 1, now
    run.tested_looks += tested
    run.step_tested_looks += tested
    reason = result.get("reason") or verdict
    where = f"look {look} (tested {run.tested_looks} of {budget})"
    if verdict == "fail":
        run_roll_back(run=run, actor=ENGINE, reason=f"Canary judge: fail at {where}. {reason}")
        return False
    broken_split = result.get("srm", {}).get("ok") is False
    regressed = [m for m in result.get("metrics", []) if m.get("verdict") == "fail"]
    if broken_split or regressed:
        what = "the traffic split is off" if broken_split else "a non-critical metric regressed"
        _pause(run, actor=ENGINE, reason=f"Canary judge at {where}: {what}; a person decides. {reason}")
        return False
    if step["type"] == "bake":
        if now >= run.step_started_at + timedelta(seconds=plan.bake_duration(step, cfg)) and run.step_tested_looks:
            phase = f"step{run.step_index}-full"
            if not _set_weight(run, 100, phase) or not _deliveries_settled(run, phase):
                return False
            return _next_step(
                run, reason=f"baked with a stable holdback, {run.step_tested_looks} tested looks, last {verdict}"
            )
    elif run.step_tested_looks >= plan.analysis_looks(step, cfg):
        return _next_step(
            run, reason=f"no evidence of harm in {run.step_tested_looks} tested looks (last {verdict} at {where})"
        )
    if not tested:
        if run.tested_looks >= budget:
            _pause(
                run, actor=ENGINE, reason=f"The run's error budget is spent ({budget} tested looks); a person decides."
            )
            return False
        if run.step_looks - run.step_tested_looks >= plan.max_wait_looks(step, cfg):
            _pause(
                run,
                actor=ENGINE,
                reason=f"Judge still waiting for data after {run.step_looks} looks, too little traffic: {reason}",
            )
            return False
    # Keep looking: the next look is due one interval from this one (set here rather than by another pass).
    RolloutRun.objects.filter(pk=run.pk, state=RunState.RUNNING, looks=run.looks).update(
        next_check_at=now + timedelta(seconds=plan.look_interval(step, cfg))
    )
    return False


def _drive_rollback(run: RolloutRun) -> bool:
    if not _set_weight(run, 0, "rollback") or not _deliveries_settled(run, "rollback"):
        return False
    now = clock.now()
    return (
        _transition(
            run,
            RunState.ROLLING_BACK,
            RunState.ABORTED if run.aborting else RunState.ROLLED_BACK,
            actor=ENGINE,
            reason="traffic back on the stable release",
            action="rollout.rolled_back",
            finished_at=now,
            time_to_rollback=now - (run.rollback_started_at or now),
            next_check_at=None,
        )
        and False
    )


def _succeed(run: RolloutRun) -> None:
    now = clock.now()
    is_rollback = run.kind == RunKind.ROLLBACK
    try:
        with transaction.atomic():
            fields = {"finished_at": now, "next_check_at": None}
            if is_rollback:
                fields["time_to_rollback"] = now - (run.rollback_started_at or run.created_at)
            if not _transition(
                run,
                RunState.RUNNING,
                RunState.SUCCEEDED,
                actor=ENGINE,
                reason="rolled back" if is_rollback else "candidate serves all traffic",
                action=f"{run.kind}.succeed",
                **fields,
            ):
                return
            deployment_record(
                actor=run.requested_by,
                environment=run.environment,
                release=run.candidate_release,
                via=Source.ROLLOUT,
                is_rollback=is_rollback,
                rollout_run_id=run.pk,
                override_reason=run.override_reason,
                notes=run.reason,
            )
    except ValidationError as exc:
        _transition(
            run,
            RunState.RUNNING,
            RunState.FAILED,
            actor=ENGINE,
            reason=f"Could not record the deployment: {'; '.join(exc.messages)}",
            action=f"{run.kind}.fail",
            finished_at=now,
        )
        return
    if is_rollback:
        impact_followup_start(actor=ENGINE, run=run)


def runs_due(now=None) -> list[int]:
    """Runs the tick should drive: waiting steps that are due, and runs whose worker's lease expired."""
    now = now or clock.now()
    return list(
        RolloutRun.objects.filter(state__in=(RunState.RUNNING, RunState.ROLLING_BACK))
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .values_list("pk", flat=True)[:500]
    )
