"""Writes for behaviour-diff reports: prompt sets, outputs, report lifecycle, links. Every service audits."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.audit import audit_record
from core.permissions import require
from core.tasks import enqueue_on_commit
from diagnostics.behaviour.engine import DOWN_IS_WORSE, METRICS, NEUTRAL, UP_IS_WORSE
from diagnostics.behaviour.metrics import REFUSAL_WINDOW
from diagnostics.models import (
    BehaviourReport,
    EvidenceKind,
    GenerationEndpoint,
    LayerDiagnosis,
    LinkPurpose,
    Output,
    OutputSource,
    PromptCase,
    PromptSet,
    PromptSetVersion,
    ReportLink,
    ReportStatus,
    Side,
)
from diagnostics.reports.refusal_judge import judge_or_reason
from diagnostics.reports.uploads import FileProblems, read_cases, read_outputs
from diagnostics.services import evidence_add
from rollouts.models import Release

CHUNK = 2000
PASSING_VERDICTS = {"no_significant_change", "improvement"}
# Every option a report accepts (docs/behaviour-diff-reports.md lists the same).
OPTION_NAMES = (
    "segment_fields",
    "alpha",
    "bootstrap",
    "top_n",
    "refusal_patterns",
    "seed",
    "refusal_window",
    "directions",
    "refusal_judge",
)
DIRECTIONS = (UP_IS_WORSE, DOWN_IS_WORSE, NEUTRAL)


def _rewind(file: IO[bytes]) -> IO[bytes]:
    file.seek(0)
    return file


# --- Prompt sets ---


@transaction.atomic
def prompt_set_import(
    *,
    actor,
    name: str,
    file: IO[bytes],
    filename: str,
    description: str = "",
    feature=None,
    sampled_from: datetime | None = None,
    sampled_until: datetime | None = None,
    sampling_filters: dict | None = None,
    sampling_notes: str = "",
) -> PromptSetVersion:
    """A new immutable version of the named set from a JSONL/CSV file, read twice line by line.

    The first pass validates everything (so a bad line 90,000 stores nothing), the second writes in chunks.
    """
    require(actor, "prompt_set.import")
    if sampled_from and sampled_until and sampled_from > sampled_until:
        raise ValidationError({"sampled_until": ["The sampling window ends before it starts."]})
    if sampling_filters is not None and not isinstance(sampling_filters, dict):
        raise ValidationError({"sampling_filters": ["Filters must be an object of field -> value."]})
    count, fields = 0, set()
    for case in read_cases(_rewind(file), filename=filename):
        count += 1
        fields.update(case.segments)

    prompt_set, created = PromptSet.objects.get_or_create(
        name=name,
        defaults={"description": description, "feature": feature, "created_by": _user(actor)},
    )
    if created:
        prompt_set.full_clean()
        audit_record(actor=actor, action="prompt_set.create", obj=prompt_set, after={"name": name})
    prompt_set = PromptSet.objects.select_for_update().get(pk=prompt_set.pk)
    number = (prompt_set.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = PromptSetVersion(
        prompt_set=prompt_set,
        number=number,
        case_count=count,
        segment_fields=sorted(fields),
        sampled_from=sampled_from,
        sampled_until=sampled_until,
        sampling_filters=sampling_filters or {},
        sampling_notes=sampling_notes,
        source_filename=filename[:200],
        created_by=_user(actor),
    )
    version.save()
    batch: list[PromptCase] = []
    for case in read_cases(_rewind(file), filename=filename):
        batch.append(
            PromptCase(
                version=version,
                case_id=case.case_id,
                input=case.input,
                segments=case.segments,
                expected=case.expected,
                json_schema=case.json_schema,
            )
        )
        if len(batch) >= CHUNK:
            PromptCase.objects.bulk_create(batch)
            batch = []
    PromptCase.objects.bulk_create(batch)
    audit_record(
        actor=actor,
        action="prompt_set_version.create",
        obj=version,
        after={"cases": count, "segment_fields": version.segment_fields, "file": filename},
    )
    return version


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


# --- Reports ---


@dataclass
class ReportOptions:
    segment_fields: list[str]
    alpha: float = 0.05
    bootstrap: int = 2000
    top_n: int = 20
    refusal_patterns: list[str] | None = None
    seed: int = 0
    refusal_window: int | None = REFUSAL_WINDOW
    directions: dict[str, str] | None = None
    refusal_judge: bool = False

    @classmethod
    def validated(cls, raw: dict[str, Any], version: PromptSetVersion) -> ReportOptions:
        errors: dict[str, list[str]] = {}
        fields = raw.get("segment_fields")
        if fields is None:
            fields = list(version.segment_fields)
        unknown = sorted(set(fields) - set(version.segment_fields)) if isinstance(fields, list) else []
        if not isinstance(fields, list) or unknown:
            errors["segment_fields"] = [
                f"Unknown segment fields {unknown}; this prompt set has {version.segment_fields}."
                if unknown
                else "A list of segment field names."
            ]
        alpha = _num(raw.get("alpha", 0.05), float, 0.001, 0.2, "alpha", errors)
        bootstrap = _num(raw.get("bootstrap", 2000), int, 100, 20000, "bootstrap", errors)
        top_n = _num(raw.get("top_n", 20), int, 1, 200, "top_n", errors)
        seed = _num(raw.get("seed", 0), int, 0, 2**31, "seed", errors)
        patterns = raw.get("refusal_patterns")
        if patterns is not None:
            if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
                errors["refusal_patterns"] = ["A list of regular expressions."]
            else:
                for pattern in patterns:
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        errors.setdefault("refusal_patterns", []).append(f"{pattern!r} is not a valid regex: {exc}.")
        window = raw.get("refusal_window", REFUSAL_WINDOW)
        if window is not None:
            window = _num(window, int, 50, 100_000, "refusal_window", errors)
        directions = raw.get("directions")
        if directions is not None:
            bad = (
                "A map of metric -> up_is_worse, down_is_worse or neutral."
                if not isinstance(directions, dict)
                else next(
                    (
                        f"{metric!r}: " + ("unknown metric." if metric not in METRICS else f"unknown direction {d!r}.")
                        for metric, d in directions.items()
                        if metric not in METRICS or d not in DIRECTIONS
                    ),
                    None,
                )
            )
            if bad:
                errors["directions"] = [bad]
        judge = raw.get("refusal_judge", False)
        if not isinstance(judge, bool):
            errors["refusal_judge"] = ["true or false."]
        elif judge:
            errors.update(_refusal_judge_errors())
        unknown_keys = sorted(set(raw) - set(OPTION_NAMES))
        if unknown_keys:
            errors["options"] = [f"Unknown options: {', '.join(unknown_keys)}; known: {', '.join(OPTION_NAMES)}."]
        if errors:
            raise ValidationError(errors)
        return cls(fields, alpha, bootstrap, top_n, patterns, seed, window, directions, judge is True)


def _refusal_judge_errors() -> dict[str, list[str]]:
    _, reason = judge_or_reason()
    return {"refusal_judge": [reason]} if reason else {}


def _num(value, kind, low, high, name: str, errors: dict) -> Any:
    try:
        parsed = kind(value)
        if not low <= parsed <= high:
            raise ValueError
        return parsed
    except (TypeError, ValueError):
        errors[name] = [f"{name} must be a number between {low} and {high}."]
        return None


@dataclass
class OutputFile:
    file: IO[bytes]
    filename: str


@transaction.atomic
def report_request(
    *,
    actor,
    prompt_set_version: PromptSetVersion,
    release_a: Release,
    release_b: Release,
    source: str = OutputSource.UPLOAD,
    outputs_a: OutputFile | None = None,
    outputs_b: OutputFile | None = None,
    samples: int = 1,
    options: dict | None = None,
    title: str = "",
    enqueue: bool = True,
) -> BehaviourReport:
    """Queue a report. Uploaded outputs are validated and paired by case id before anything is stored.

    ``enqueue=False`` leaves it queued for the caller to run in-process (demo data, benchmarks).
    """
    require(actor, "report.create")
    opts = ReportOptions.validated(options or {}, prompt_set_version)
    if not 1 <= samples <= 20:
        raise ValidationError({"samples": ["K samples per case must be between 1 and 20."]})
    if source == OutputSource.UPLOAD:
        missing = {
            n: ["Upload the outputs file."]
            for n, f in (("outputs_a", outputs_a), ("outputs_b", outputs_b))
            if f is None
        }
        if missing:
            raise ValidationError(missing)
        samples = _check_outputs(prompt_set_version, outputs_a, outputs_b)
    elif source == OutputSource.LIVE:
        absent = [
            f"release_{side}"
            for side, release in (("a", release_a), ("b", release_b))
            if not GenerationEndpoint.objects.filter(release=release).exists()
        ]
        if absent:
            raise ValidationError({name: ["This release has no generation endpoint configured."] for name in absent})
    else:
        raise ValidationError({"source": [f"Unknown source {source!r}."]})

    report = BehaviourReport.objects.create(
        title=title[:200],
        release_a=release_a,
        release_b=release_b,
        prompt_set_version=prompt_set_version,
        source=source,
        samples=samples,
        options=opts.__dict__,
        created_by=_user(actor),
    )
    if source == OutputSource.UPLOAD:
        case_pks = dict(prompt_set_version.cases.values_list("case_id", "pk"))
        for side, upload in ((Side.A, outputs_a), (Side.B, outputs_b)):
            _store_outputs(report, side, upload, case_pks)
    audit_record(
        actor=actor,
        action="behaviour_report.request",
        obj=report,
        after={"status": report.status, "source": source, "samples": samples, "options": report.options},
    )
    if enqueue:
        enqueue_on_commit("diagnostics.report_run", report.pk)
    return report


def _check_outputs(version: PromptSetVersion, outputs_a: OutputFile, outputs_b: OutputFile) -> int:
    """Validate both files and their pairing; return K. Keeps only keys in memory."""
    known = set(version.cases.values_list("case_id", flat=True))
    keys: dict[str, set[tuple[str, int]]] = {}
    for name, upload in (("outputs_a", outputs_a), ("outputs_b", outputs_b)):
        keys[name] = set()
        unknown: list[str] = []
        for record in read_outputs(_rewind(upload.file), filename=upload.filename, field_name=name):
            if record.case_id not in known:
                unknown.append(f"line {record.line}: {record.case_id!r}")
            keys[name].add((record.case_id, record.sample))
        if unknown:
            shown = "; ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise FileProblems(name, [f"{len(unknown)} case ids are not in {version}: {shown}."])
    only_a = sorted(keys["outputs_a"] - keys["outputs_b"])
    only_b = sorted(keys["outputs_b"] - keys["outputs_a"])
    errors: dict[str, list[str]] = {}
    for name, side_only, other in (("outputs_a", only_a, "B"), ("outputs_b", only_b, "A")):
        if side_only:
            shown = ", ".join(f"{c!r}" + (f" sample {s}" if s else "") for c, s in side_only[:10])
            more = f" and {len(side_only) - 10} more" if len(side_only) > 10 else ""
            errors[name] = [f"{len(side_only)} outputs have no pair in release {other}'s file: {shown}{more}."]
    if errors:
        raise ValidationError(errors)
    per_case = Counter(case_id for case_id, _ in keys["outputs_a"])
    return max(per_case.values())


def _store_outputs(report: BehaviourReport, side: str, upload: OutputFile, case_pks: dict[str, int]) -> None:
    batch: list[Output] = []
    for record in read_outputs(_rewind(upload.file), filename=upload.filename, field_name=f"outputs_{side}"):
        batch.append(
            Output(
                report=report,
                case_id=case_pks[record.case_id],
                side=side,
                sample=record.sample,
                text=record.text,
                latency_ms=record.latency_ms,
                cost=record.cost,
            )
        )
        if len(batch) >= CHUNK:
            Output.objects.bulk_create(batch)
            batch = []
    Output.objects.bulk_create(batch)


@transaction.atomic
def report_transition(*, actor, report: BehaviourReport, old: str, new: str, reason: str = "", **fields) -> bool:
    """Conditional update: returns False when someone else moved the report first."""
    changed = BehaviourReport.objects.filter(pk=report.pk, status=old).update(status=new, **fields)
    if changed != 1:
        return False
    report.status = new
    for name, value in fields.items():
        setattr(report, name, value)
    audit_record(
        actor=actor,
        action=f"behaviour_report.{new}",
        obj=report,
        before={"status": old},
        after={"status": new},
        reason=reason,
    )
    return True


@transaction.atomic
def report_cancel(*, actor, report: BehaviourReport, reason: str = "") -> BehaviourReport:
    """A queued report stops at once; a running one is flagged and its worker stops at the next progress step."""
    require(actor, "report.cancel")
    if report_transition(
        actor=actor,
        report=report,
        old=ReportStatus.QUEUED,
        new=ReportStatus.CANCELLED,
        reason=reason,
        finished_at=timezone.now(),
    ):
        return report
    flagged = BehaviourReport.objects.filter(pk=report.pk, status=ReportStatus.RUNNING, cancel_requested=False).update(
        cancel_requested=True
    )
    report.refresh_from_db(fields=["status", "cancel_requested"])
    if flagged:
        audit_record(
            actor=actor,
            action="behaviour_report.cancel_request",
            obj=report,
            after={"cancel_requested": True},
            reason=reason,
        )
        return report
    if report.cancel_requested and report.status == ReportStatus.RUNNING:
        return report
    raise ValidationError({"status": [f"The report has already {report.status}; it cannot be cancelled."]})


# --- Links: evidence for incidents, gates for rollouts ---


def report_gate_passes(report: BehaviourReport) -> bool:
    """A rollout may use a report as a gate: it passes only when it finished and found no regression."""
    return report.status == ReportStatus.SUCCEEDED and report.verdict in PASSING_VERDICTS


def report_gate_problem(*, report_id: int, candidate_release: Release) -> str:
    """Why a behaviour-diff report does not let ``candidate_release`` roll out, or '' when it does.

    A gate report must answer the prompt set with the candidate as side B, have finished and found no
    regression (``report_gate_passes``)."""
    report = BehaviourReport.objects.filter(pk=report_id).select_related("release_a", "release_b").first()
    if report is None:
        return f"No behaviour-diff report #{report_id}."
    if report.release_b_id != candidate_release.pk:
        return (
            f"Report #{report.pk} compares {report.release_a} with {report.release_b}; the gate needs the "
            f"candidate release #{candidate_release.number} as side B."
        )
    if not report_gate_passes(report):
        verdict = report.verdict or "no verdict"
        return f"Report #{report.pk} does not pass the gate ({report.get_status_display().lower()}, {verdict})."
    return ""


def report_gate_link(*, actor, report_id: int, run) -> None:
    """Record on the report that this rollout run was gated by it (a ReportLink with purpose "gate", audited)."""
    report = BehaviourReport.objects.get(pk=report_id)
    report_link(
        actor=actor, report=report, object_type="rollouts.rolloutrun", object_id=str(run.pk), purpose=LinkPurpose.GATE
    )


def _find(model, pk):
    try:
        return model._default_manager.filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):  # e.g. "abc" for an integer key
        return None


@transaction.atomic
def report_attach_to_incident(*, actor, report: BehaviourReport, incident, layer: str, note: str = "") -> ReportLink:
    """Evidence for one layer of an incident: an Evidence row on that layer's diagnosis (it shows on the incident
    timeline) and a ReportLink back from the report. Attaching the same report to the same layer twice is a no-op."""
    require(actor, "report.link")
    if report.status != ReportStatus.SUCCEEDED:
        raise ValidationError({"report": [f"The report has {report.status}; only a finished report is evidence."]})
    diagnosis = LayerDiagnosis.objects.filter(incident=incident, layer=layer).first()
    if diagnosis is None:
        raise ValidationError(
            {"layer": [f"INC-{incident.pk} has no {layer!r} layer; use model, data, prompt or product."]}
        )
    existing = ReportLink.objects.filter(
        report=report,
        object_type="diagnostics.layerdiagnosis",
        object_id=str(diagnosis.pk),
        purpose=LinkPurpose.EVIDENCE,
    ).first()
    if existing:
        return existing
    reason = (report.summary or {}).get("reason", "")
    text = f"Behaviour-diff report #{report.pk} ({report.release_a} → {report.release_b}): {report.verdict}. {reason}"
    evidence_add(
        actor=actor,
        diagnosis=diagnosis,
        kind=EvidenceKind.REPORT,
        text=(text[:600] + (f"\n{note}" if note else "")).strip(),
        url=f"{settings.SITE_URL.rstrip('/')}{report.get_absolute_url()}",
        data={"report": report.pk, "verdict": report.verdict},
    )
    link = ReportLink.objects.create(
        report=report,
        object_type="diagnostics.layerdiagnosis",
        object_id=str(diagnosis.pk),
        purpose=LinkPurpose.EVIDENCE,
        layer=layer,
        note=note,
        created_by=_user(actor),
    )
    audit_record(
        actor=actor,
        action="behaviour_report.link",
        obj=report,
        after={"object": f"incidents.incident#{incident.pk}", "purpose": "evidence", "layer": layer},
    )
    return link


@transaction.atomic
def report_link(
    *, actor, report: BehaviourReport, object_type: str, object_id: str, purpose: str, layer: str = "", note: str = ""
) -> ReportLink:
    """Point any object at the report. Evidence for an incident goes through ``report_attach_to_incident``."""
    require(actor, "report.link")
    if object_type == "incidents.incident" and purpose == LinkPurpose.EVIDENCE and apps.is_installed("incidents"):
        incident = _find(apps.get_model("incidents", "Incident"), object_id)
        if incident is None:
            raise ValidationError({"object_id": [f"No incident with id {object_id}."]})
        return report_attach_to_incident(actor=actor, report=report, incident=incident, layer=layer, note=note)
    errors: dict[str, list[str]] = {}
    if purpose not in LinkPurpose.values:
        errors["purpose"] = [f"One of {', '.join(LinkPurpose.values)}."]
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        errors["object_type"] = [f"Unknown object type {object_type!r} (use app_label.model)."]
    else:
        if _find(model, object_id) is None:
            errors["object_id"] = [f"No {object_type} with id {object_id}."]
    if purpose == LinkPurpose.EVIDENCE and layer not in {"model", "data", "prompt", "product"}:
        errors["layer"] = ["Evidence points at a layer: model, data, prompt or product."]
    if purpose == LinkPurpose.GATE and report.status != ReportStatus.SUCCEEDED:
        errors["report"] = ["Only a finished report can be a gate."]
    if errors:
        raise ValidationError(errors)
    link, created = ReportLink.objects.get_or_create(
        report=report,
        object_type=object_type,
        object_id=str(object_id),
        purpose=purpose,
        defaults={"layer": layer, "note": note, "created_by": _user(actor)},
    )
    if created:
        audit_record(
            actor=actor,
            action="behaviour_report.link",
            obj=report,
            after={"object": f"{object_type}#{object_id}", "purpose": purpose, "layer": layer},
        )
    return link


# --- Live generation endpoints ---

ENDPOINT_FIELDS = (
    "base_url",
    "model",
    "header_env",
    "temperature",
    "max_tokens",
    "timeout_seconds",
    "max_retries",
    "concurrency",
)


@transaction.atomic
def generation_endpoint_configure(*, actor, release: Release, **fields) -> GenerationEndpoint:
    """Create or change a release's endpoint. Headers are stored as names of environment variables only."""
    require(actor, "generation_endpoint.manage")
    unknown = sorted(set(fields) - set(ENDPOINT_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    endpoint = GenerationEndpoint.objects.select_for_update().filter(release=release).first()
    before = {f: getattr(endpoint, f) for f in ENDPOINT_FIELDS} if endpoint else None
    endpoint = endpoint or GenerationEndpoint(release=release)
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        actor=actor,
        action="generation_endpoint.configure",
        obj=endpoint,
        before=before,
        after={f: getattr(endpoint, f) for f in ENDPOINT_FIELDS},
    )
    return endpoint


@transaction.atomic
def generation_endpoint_remove(*, actor, endpoint: GenerationEndpoint) -> None:
    require(actor, "generation_endpoint.manage")
    audit_record(
        actor=actor,
        action="generation_endpoint.remove",
        obj=endpoint,
        before={f: getattr(endpoint, f) for f in ENDPOINT_FIELDS},
    )
    endpoint.delete()
