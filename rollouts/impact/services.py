"""User-impact tracker: the workflows a rollback would change under someone's feet.

Before a production rollback the plan lists dependent workflows, entered by hand or detected from observations
(per-minute rollups keyed by workflow id):
  (a) ``traffic``        — the workflow has traffic on the release to be rolled back;
  (b) ``first_seen_after_live`` — first seen after that release went live: it only knows this behaviour;
  (c) ``success_improved`` — its success (1 - error rate, or 1 - negative feedback rate) is higher under the
      release than under the rollback target, by at least IMPROVEMENT with MIN_REQUESTS on each side.
The rollback waits (``rollback_gate``) until each is reviewed — notified, accepted or pinned — unless an
approver waives the gate with a reason. After the rollback, ``impact_followup`` follows each workflow's error
rate for a window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from core.audit import audit_record
from core.permissions import require
from rollouts.impact.models import (
    Behaviour,
    DependentWorkflow,
    ImpactFollowup,
    ImpactSource,
    ImpactStatus,
    ImpactWaiver,
)
from rollouts.judging.models import WorkflowRollup
from rollouts.registry.models import DeploymentEvent, Environment, Release

LOOKBACK_DAYS = getattr(settings, "IMPACT_LOOKBACK_DAYS", 30)
MIN_REQUESTS = getattr(settings, "IMPACT_MIN_REQUESTS", 30)
IMPROVEMENT = getattr(settings, "IMPACT_IMPROVEMENT", 0.02)
WAIVER_MINUTES = getattr(settings, "IMPACT_WAIVER_MINUTES", 60)
FOLLOWUP_WORSE_BY = 0.01

TRAFFIC, FIRST_SEEN, IMPROVED = "traffic", "first_seen_after_live", "success_improved"
REASON_LABELS = {
    TRAFFIC: "Traffic on the release",
    FIRST_SEEN: "First seen after it went live",
    IMPROVED: "Success improved under it",
}
DESCRIPTIVE_FIELDS = (
    "name",
    "customer",
    "team",
    "behaviour",
    "downstream_system",
    "contact",
    "migration_path",
    "evidence",
)


@dataclass
class Gate:
    blocked: bool
    reason: str
    pending: list[DependentWorkflow] = field(default_factory=list)
    waived: bool = False


@dataclass
class Detected:
    workflow_id: str
    customer: str
    reasons: list[str]
    detection: dict
    evidence: str


def _check_same_feature(environment: Environment, *releases: Release) -> None:
    for release in releases:
        if release.feature_id != environment.feature_id:
            raise ValidationError({"release": [f"Release {release} belongs to another feature than {environment}."]})


def _rate(events: int, trials: int) -> float | None:
    return events / trials if trials else None


def _went_live(environment: Environment, release: Release) -> datetime | None:
    event = (
        DeploymentEvent.objects.filter(environment=environment, release=release)
        .order_by("live_at")
        .values_list("live_at", flat=True)
        .first()
    )
    return event


def _per_workflow(environment: Environment, release: Release, since: datetime) -> dict[str, dict]:
    rows = (
        WorkflowRollup.objects.filter(environment=environment, release=release, minute__gte=since)
        .values("workflow_id", "tenant")
        .annotate(
            n=Sum("count"),
            errors=Sum("errors"),
            fb=Sum("feedback_count"),
            fb_neg=Sum("feedback_negative"),
            first=Min("minute"),
        )
    )
    out: dict[str, dict] = {}
    for row in rows:
        agg = out.setdefault(
            row["workflow_id"], {"n": 0, "errors": 0, "fb": 0, "fb_neg": 0, "first": row["first"], "tenants": {}}
        )
        for k in ("n", "errors", "fb", "fb_neg"):
            agg[k] += row[k]
        agg["first"] = min(agg["first"], row["first"])
        tenant = row["tenant"]
        if tenant:
            agg["tenants"][tenant] = agg["tenants"].get(tenant, 0) + row["n"]
    return out


def detect_dependent_workflows(
    *, environment: Environment, from_release: Release, to_release: Release | None, now: datetime | None = None
) -> list[Detected]:
    """Apply the three detection rules to the rollups: four queries however many workflows there are."""
    now = now or timezone.now()
    since = now - timedelta(days=LOOKBACK_DAYS)
    current = _per_workflow(environment, from_release, since)
    if not current:
        return []
    went_live = _went_live(environment, from_release) or min(a["first"] for a in current.values())
    first_seen = dict(
        WorkflowRollup.objects.filter(environment=environment, workflow_id__in=list(current))
        .values("workflow_id")
        .annotate(first=Min("minute"))
        .values_list("workflow_id", "first")
    )
    previous = _per_workflow(environment, to_release, since) if to_release else {}

    detected = []
    for workflow_id in sorted(current):
        cur = current[workflow_id]
        prev = previous.get(workflow_id, {"n": 0, "errors": 0, "fb": 0, "fb_neg": 0})
        reasons = [TRAFFIC]
        notes = [f"{cur['n']} requests on #{from_release.number}"]
        seen = first_seen.get(workflow_id, cur["first"])
        if seen >= went_live:
            reasons.append(FIRST_SEEN)
            notes.append(f"first seen {seen:%Y-%m-%d %H:%M}, after #{from_release.number} went live")
        success_now = 1 - cur["errors"] / cur["n"]
        success_before = 1 - prev["errors"] / prev["n"] if prev["n"] else None
        neg_now, neg_before = _rate(cur["fb_neg"], cur["fb"]), _rate(prev["fb_neg"], prev["fb"])
        if to_release and cur["n"] >= MIN_REQUESTS and prev["n"] >= MIN_REQUESTS:
            if success_now - success_before >= IMPROVEMENT:
                reasons.append(IMPROVED)
                notes.append(
                    f"success {success_now:.1%} on #{from_release.number} vs {success_before:.1%} "
                    f"on #{to_release.number}"
                )
            elif cur["fb"] >= MIN_REQUESTS and prev["fb"] >= MIN_REQUESTS and neg_before - neg_now >= IMPROVEMENT:
                reasons.append(IMPROVED)
                notes.append(
                    f"negative feedback {neg_now:.1%} on #{from_release.number} vs {neg_before:.1%} "
                    f"on #{to_release.number}"
                )
        tenants = sorted(cur["tenants"].items(), key=lambda kv: -kv[1])
        detected.append(
            Detected(
                workflow_id=workflow_id,
                customer=tenants[0][0] if tenants else "",
                reasons=reasons,
                detection={
                    "requests": cur["n"],
                    "errors": cur["errors"],
                    "first_seen": seen.isoformat(),
                    "release_live_at": went_live.isoformat(),
                    "success": success_now,
                    "previous_requests": prev["n"],
                    "previous_success": success_before,
                    "negative_feedback": neg_now,
                    "previous_negative_feedback": neg_before,
                    "tenants": dict(tenants),
                },
                evidence="; ".join(notes),
            )
        )
    return detected


def _snapshot(workflow: DependentWorkflow) -> dict:
    return {
        "workflow_id": workflow.workflow_id,
        "release": workflow.release.number,
        "status": workflow.status,
        "source": workflow.source,
        "customer": workflow.customer,
        "behaviour": workflow.behaviour,
        "detected_reasons": list(workflow.detected_reasons),
        "review_note": workflow.review_note,
    }


def workflows_for(environment: Environment, release: Release):
    return (
        DependentWorkflow.objects.filter(environment=environment, release=release)
        .select_related("release", "team", "reviewed_by", "environment__feature")
        .order_by("status", "workflow_id")
    )


@transaction.atomic
def impact_plan_build(
    *, actor, environment: Environment, from_release: Release, to_release: Release | None
) -> list[DependentWorkflow]:
    """Detect dependent workflows and merge them into the stored plan (reviews are kept). Returns the whole
    plan for rolling back ``from_release``: hand-entered and detected workflows."""
    require(actor, "impact.review")
    _check_same_feature(environment, from_release, *([to_release] if to_release else []))
    # One plan builder per environment at a time, so two planners do not both create the same workflow.
    Environment.objects.select_for_update().get(pk=environment.pk)
    existing = {w.workflow_id: w for w in workflows_for(environment, from_release)}
    for found in detect_dependent_workflows(environment=environment, from_release=from_release, to_release=to_release):
        workflow = existing.get(found.workflow_id)
        if workflow is None:
            workflow = DependentWorkflow.objects.create(
                environment=environment,
                release=from_release,
                workflow_id=found.workflow_id,
                customer=found.customer,
                source=ImpactSource.DETECTED,
                detected_reasons=found.reasons,
                detection=found.detection,
                evidence=found.evidence,
            )
            audit_record(actor=actor, action="dependent_workflow.detect", obj=workflow, after=_snapshot(workflow))
            continue
        if workflow.detected_reasons == found.reasons:
            continue
        before = _snapshot(workflow)
        workflow.detected_reasons = found.reasons
        workflow.detection = found.detection
        if workflow.source == ImpactSource.DETECTED:
            workflow.evidence = found.evidence
        workflow.customer = workflow.customer or found.customer
        workflow.save(update_fields=["detected_reasons", "detection", "evidence", "customer", "updated_at"])
        audit_record(
            actor=actor, action="dependent_workflow.redetect", obj=workflow, before=before, after=_snapshot(workflow)
        )
    return list(workflows_for(environment, from_release))


@transaction.atomic
def dependent_workflow_add(
    *,
    actor,
    environment: Environment,
    release: Release,
    workflow_id: str,
    name: str = "",
    customer: str = "",
    team=None,
    behaviour: str = Behaviour.OTHER,
    downstream_system: str = "",
    contact: str = "",
    migration_path: str = "",
    evidence: str = "",
) -> DependentWorkflow:
    """Enter a dependent workflow by hand (it starts pending review)."""
    require(actor, "impact.review")
    _check_same_feature(environment, release)
    workflow = DependentWorkflow(
        environment=environment,
        release=release,
        workflow_id=workflow_id.strip(),
        name=name,
        customer=customer,
        team=team,
        behaviour=behaviour,
        downstream_system=downstream_system,
        contact=contact,
        migration_path=migration_path,
        evidence=evidence,
        source=ImpactSource.MANUAL,
    )
    workflow.full_clean()  # includes the (environment, release, workflow_id) uniqueness check
    workflow.save()
    audit_record(actor=actor, action="dependent_workflow.add", obj=workflow, after=_snapshot(workflow))
    return workflow


@transaction.atomic
def dependent_workflow_update(*, actor, workflow: DependentWorkflow, **changes) -> DependentWorkflow:
    """Edit what people know about a workflow (behaviour, contact, migration path…); not its status."""
    require(actor, "impact.review")
    unknown = set(changes) - set(DESCRIPTIVE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Cannot be changed here."] for name in sorted(unknown)})
    workflow = DependentWorkflow.objects.select_for_update().get(pk=workflow.pk)
    before = {k: str(getattr(workflow, k) or "") for k in changes}
    for name, value in changes.items():
        setattr(workflow, name, value)
    workflow.full_clean()
    workflow.save()
    audit_record(
        actor=actor,
        action="dependent_workflow.update",
        obj=workflow,
        before=before,
        after={k: str(getattr(workflow, k) or "") for k in changes},
    )
    return workflow


@transaction.atomic
def impact_review(*, actor, workflow: DependentWorkflow, status: str, note: str = "") -> DependentWorkflow:
    """Record the review of one workflow: notified, accepted, pinned (or back to pending)."""
    require(actor, "impact.review")
    if status not in ImpactStatus.values:
        raise ValidationError({"status": [f"Must be one of: {', '.join(ImpactStatus.values)}."]})
    current = DependentWorkflow.objects.select_related("release").get(pk=workflow.pk)
    before = _snapshot(current)
    now = timezone.now()
    updated = DependentWorkflow.objects.filter(pk=current.pk, status=current.status).update(
        status=status, review_note=note.strip(), reviewed_by=actor, reviewed_at=now, updated_at=now
    )
    if updated != 1:
        raise ValidationError({"status": ["Someone else reviewed this workflow a moment ago; reload and retry."]})
    current.refresh_from_db()
    audit_record(
        actor=actor,
        action="dependent_workflow.review",
        obj=current,
        before=before,
        after=_snapshot(current),
        reason=note,
    )
    return current


@transaction.atomic
def impact_waive(*, actor, environment: Environment, from_release: Release, reason: str) -> ImpactWaiver:
    """Emergency path: an approver lets the rollback of ``from_release`` proceed without every review."""
    require(actor, "impact.waive")
    _check_same_feature(environment, from_release)
    if not reason or not reason.strip():
        raise ValidationError({"reason": ["Say why the reviews are waived."]})
    pending = DependentWorkflow.objects.filter(
        environment=environment, release=from_release, status=ImpactStatus.PENDING
    ).values_list("workflow_id", flat=True)
    waiver = ImpactWaiver.objects.create(
        environment=environment,
        from_release=from_release,
        reason=reason.strip(),
        actor=actor,
        expires_at=timezone.now() + timedelta(minutes=WAIVER_MINUTES),
    )
    audit_record(
        actor=actor,
        action="impact.waive",
        obj=waiver,
        after={"environment": str(environment), "from_release": from_release.number, "pending": list(pending)},
        reason=waiver.reason,
    )
    return waiver


def rollback_gate(*, environment: Environment, from_release: Release, now: datetime | None = None) -> Gate:
    """May a rollback of ``from_release`` in ``environment`` proceed now? Three queries.

    Workflows with traffic on the release that are not in the stored plan yet count as pending, so a rollback
    cannot slip through because nobody built the plan."""
    if not environment.is_production:
        return Gate(blocked=False, reason=f"{environment.name} is not production: no impact review needed.")
    now = now or timezone.now()
    stored = list(workflows_for(environment, from_release))
    known = {w.workflow_id for w in stored}
    unplanned = (
        WorkflowRollup.objects.filter(
            environment=environment, release=from_release, minute__gte=now - timedelta(days=LOOKBACK_DAYS)
        )
        .exclude(workflow_id__in=known)
        .values_list("workflow_id", flat=True)
        .distinct()
    )
    pending = [w for w in stored if w.status == ImpactStatus.PENDING]
    pending += [
        DependentWorkflow(
            environment=environment,
            release=from_release,
            workflow_id=wf,
            source=ImpactSource.DETECTED,
            detected_reasons=[TRAFFIC],
        )
        for wf in sorted(set(unplanned))
    ]
    waiver = (
        ImpactWaiver.objects.filter(environment=environment, from_release=from_release, expires_at__gt=now)
        .select_related("actor")
        .first()
    )
    if waiver is not None:
        who = waiver.actor.get_username() if waiver.actor else "an approver"
        return Gate(blocked=False, reason=f"Waived by {who}: {waiver.reason}", pending=pending, waived=True)
    if pending:
        names = ", ".join(w.workflow_id for w in pending[:5]) + ("…" if len(pending) > 5 else "")
        unplanned_note = " (some are not in the plan yet: build it)" if any(w.pk is None for w in pending) else ""
        return Gate(
            blocked=True,
            reason=f"{len(pending)} dependent workflow(s) not reviewed{unplanned_note}: {names}",
            pending=pending,
        )
    if stored:
        return Gate(blocked=False, reason=f"All {len(stored)} dependent workflow(s) reviewed.")
    return Gate(blocked=False, reason="No dependent workflows.")


# --- after the rollback -------------------------------------------------------------------------------------


@transaction.atomic
def impact_followup_start(
    *,
    environment: Environment | None = None,
    rolled_back_release: Release | None = None,
    to_release: Release | None = None,
    window_minutes: int = 120,
    started_at: datetime | None = None,
    actor,
    run=None,
) -> ImpactFollowup | None:
    """Start following dependent workflows after a rollback. Idempotent while the window is open, so a
    retried rollback step does not start a second follow-up.

    A finished rollback run may be passed as ``run``: it rolled back its stable release to its candidate."""
    if run is not None:
        environment, rolled_back_release, to_release = run.environment, run.stable_release, run.candidate_release
        started_at = started_at or getattr(run, "finished_at", None)
    if environment is None or rolled_back_release is None or to_release is None:
        return None
    _check_same_feature(environment, rolled_back_release, to_release)
    if window_minutes < 1:
        raise ValidationError({"window_minutes": ["Must be at least 1."]})
    started_at = started_at or timezone.now()
    existing = ImpactFollowup.objects.filter(
        environment=environment,
        rolled_back_release=rolled_back_release,
        to_release=to_release,
        started_at__gt=started_at - timedelta(minutes=window_minutes),
    ).first()
    if existing:
        return existing
    followup = ImpactFollowup.objects.create(
        environment=environment,
        rolled_back_release=rolled_back_release,
        to_release=to_release,
        started_at=started_at,
        window_minutes=window_minutes,
    )
    audit_record(
        actor=actor,
        action="impact.followup_start",
        obj=followup,
        after={
            "rolled_back_release": rolled_back_release.number,
            "to_release": to_release.number,
            "window_minutes": window_minutes,
        },
    )
    return followup


@dataclass
class FollowupRow:
    workflow_id: str
    workflow: DependentWorkflow | None
    before_requests: int
    before_errors: int
    after_requests: int
    after_errors: int

    @property
    def before_error_rate(self) -> float | None:
        return _rate(self.before_errors, self.before_requests)

    @property
    def after_error_rate(self) -> float | None:
        return _rate(self.after_errors, self.after_requests)

    @property
    def worse(self) -> bool:
        before, after = self.before_error_rate, self.after_error_rate
        return before is not None and after is not None and after - before >= FOLLOWUP_WORSE_BY


@dataclass
class FollowupReport:
    followup: ImpactFollowup
    ends_at: datetime
    complete: bool
    rows: list[FollowupRow]


def impact_followup(*, followup: ImpactFollowup, now: datetime | None = None) -> FollowupReport:
    """Each dependent workflow's error rate in the window after the rollback (all releases: what its users got)
    against the same length of time before it. Two queries."""
    now = now or timezone.now()
    start = followup.started_at
    ends_at = start + timedelta(minutes=followup.window_minutes)
    workflows = {w.workflow_id: w for w in workflows_for(followup.environment, followup.rolled_back_release)}
    before_q = Q(minute__gte=start - timedelta(minutes=followup.window_minutes), minute__lt=start)
    after_q = Q(minute__gte=start, minute__lt=min(ends_at, now))
    sums = (
        WorkflowRollup.objects.filter(environment=followup.environment, workflow_id__in=list(workflows))
        .filter(before_q | after_q)
        .values("workflow_id")
        .annotate(
            before_n=Sum("count", filter=before_q),
            before_e=Sum("errors", filter=before_q),
            after_n=Sum("count", filter=after_q),
            after_e=Sum("errors", filter=after_q),
        )
    )
    by_workflow = defaultdict(dict, {row["workflow_id"]: row for row in sums})
    rows = []
    for workflow_id, workflow in sorted(workflows.items()):
        row = by_workflow[workflow_id]
        rows.append(
            FollowupRow(
                workflow_id=workflow_id,
                workflow=workflow,
                before_requests=row.get("before_n") or 0,
                before_errors=row.get("before_e") or 0,
                after_requests=row.get("after_n") or 0,
                after_errors=row.get("after_e") or 0,
            )
        )
    return FollowupReport(followup=followup, ends_at=ends_at, complete=now >= ends_at, rows=rows)
