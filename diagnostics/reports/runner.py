"""Running a report in a worker: generate (live source), build the frame in chunks, analyse, store.

Status moves queued -> running -> succeeded | failed | cancelled by conditional updates only, so a duplicate
delivery or a cancel racing the worker can never overwrite someone else's transition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from core.actors import system_actor
from core.audit import audit_record
from core.tasks import enqueue
from diagnostics.behaviour.engine import CHUNK_PAIRS, AnalysisOptions, analyse_source
from diagnostics.behaviour.metrics import REFUSAL_WINDOW
from diagnostics.models import BehaviourReport, GenerationEndpoint, Output, OutputSource, PromptCase, ReportStatus, Side
from diagnostics.reports.generation import Answer, EndpointConfig, GenerationError, Prompt, generate
from diagnostics.reports.refusal_judge import judge_or_reason, judge_pairs
from diagnostics.reports.services import CHUNK, report_transition

log = logging.getLogger(__name__)
HISTOGRAM_BINS = 30
# Longer than any silent stretch of a healthy run (the engine reports progress between its phases).
STALE_AFTER_SECONDS = 15 * 60

# The worker that generates and compares answers, and beat resuming reports whose worker died.
RUNNER = system_actor("behaviour-diff runner")


class ReportCancelled(Exception):
    pass


class Progress:
    """Persists progress (throttled) and raises ReportCancelled once a cancel was requested.

    One UPDATE does both: it only matches a running, not-cancelled report.
    """

    def __init__(self, report_id: int, start: float = 0.0, end: float = 1.0, every: float = 0.3):
        self.report_id, self.start, self.end, self.every = report_id, start, end, every
        self._last = 0.0

    def span(self, start: float, end: float) -> Progress:
        """The part ``start`` to ``end`` of this one's range (so a phase inside a phase never moves progress back)."""
        width = self.end - self.start
        return Progress(self.report_id, self.start + width * start, self.start + width * end, self.every)

    def __call__(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        overall = self.start + (self.end - self.start) * min(max(float(fraction), 0.0), 1.0)
        alive = BehaviourReport.objects.filter(
            pk=self.report_id, status=ReportStatus.RUNNING, cancel_requested=False
        ).update(progress=round(overall, 4), progress_message=message[:300], heartbeat_at=timezone.now())
        if not alive:
            raise ReportCancelled


def _claim(report: BehaviourReport, resume_stale_after: float | None) -> bool:
    """Queued -> running; or, when resuming, take over a running report whose worker went silent."""
    now = timezone.now()
    if report_transition(
        actor=RUNNER, report=report, old=ReportStatus.QUEUED, new=ReportStatus.RUNNING, started_at=now, heartbeat_at=now
    ):
        return True
    if resume_stale_after is None or report.status != ReportStatus.RUNNING:
        return False
    silent_since = now - timedelta(seconds=resume_stale_after)
    taken = BehaviourReport.objects.filter(
        Q(heartbeat_at__lt=silent_since) | Q(heartbeat_at__isnull=True),
        pk=report.pk,
        status=ReportStatus.RUNNING,
        cancel_requested=False,
    ).update(heartbeat_at=now)
    if taken:
        audit_record(
            actor=RUNNER,
            action="behaviour_report.resume",
            obj=report,
            reason=f"no progress from its worker for over {resume_stale_after:g} s",
        )
    return bool(taken)


def report_run(*, report_id: int, resume_stale_after: float | None = None) -> None:
    report = BehaviourReport.objects.filter(pk=report_id).select_related("prompt_set_version").first()
    if report is None or not _claim(report, resume_stale_after):
        return
    progress = Progress(report.pk)
    try:
        progress(0.0, "Starting", force=True)
        if report.source == OutputSource.LIVE:
            _generate_outputs(report, progress.span(0.0, 0.5))
            progress = progress.span(0.5, 1.0)
        else:
            progress = progress.span(0.02, 1.0)
        result = _analyse(report, progress.span(0.0, 0.98))
        progress(1.0, "Saving", force=True)
    except ReportCancelled:
        report.refresh_from_db(fields=["status"])
        report_transition(
            actor=RUNNER,
            report=report,
            old=ReportStatus.RUNNING,
            new=ReportStatus.CANCELLED,
            reason="cancelled while running",
            finished_at=timezone.now(),
        )
        return
    except Exception as exc:
        log.exception("behaviour report %s failed", report.pk)
        message = str(exc) if isinstance(exc, GenerationError | ValueError) else f"{type(exc).__name__}: {exc}"
        report_transition(
            actor=RUNNER,
            report=report,
            old=ReportStatus.RUNNING,
            new=ReportStatus.FAILED,
            reason=message[:500],
            error=message,
            finished_at=timezone.now(),
        )
        return
    report_transition(
        actor=RUNNER,
        report=report,
        old=ReportStatus.RUNNING,
        new=ReportStatus.SUCCEEDED,
        result=result,
        summary=summarise(result),
        verdict=str(result.get("verdict", "")),
        progress=1.0,
        progress_message="Done",
        finished_at=timezone.now(),
    )


def reports_resume_stale(*, stale_after: float = STALE_AFTER_SECONDS) -> list[int]:
    """Run by beat: reports whose worker died (no progress for ``stale_after`` s) are cancelled if a cancel was
    asked for, otherwise handed to a worker again (live generation resumes after the answers already stored)."""
    silent_since = timezone.now() - timedelta(seconds=stale_after)
    stale = BehaviourReport.objects.filter(status=ReportStatus.RUNNING).filter(
        Q(heartbeat_at__lt=silent_since) | Q(heartbeat_at__isnull=True, started_at__lt=silent_since)
    )
    resumed = []
    for report in stale.only("pk", "status", "cancel_requested"):
        if report.cancel_requested:
            report_transition(
                actor=RUNNER,
                report=report,
                old=ReportStatus.RUNNING,
                new=ReportStatus.CANCELLED,
                reason="cancel requested; its worker had stopped",
                finished_at=timezone.now(),
            )
            continue
        enqueue("diagnostics.report_run", report.pk, resume_stale_after=stale_after)
        resumed.append(report.pk)
    return resumed


def _analyse(report: BehaviourReport, progress: Progress) -> dict:
    from diagnostics.reports.selectors import release_label

    opts = report.options or {}
    label_a, label_b = release_label(report.release_a), release_label(report.release_b)
    if label_a == label_b:
        label_a, label_b = f"{label_a} (A)", f"{label_b} (B)"
    options = AnalysisOptions(
        segment_fields=list(opts.get("segment_fields", [])),
        alpha=opts.get("alpha", 0.05),
        bootstrap=opts.get("bootstrap", 2000),
        top_n=opts.get("top_n", 20),
        refusal_patterns=opts.get("refusal_patterns"),
        seed=opts.get("seed", 0),
        refusal_window=opts.get("refusal_window", REFUSAL_WINDOW),
        directions=opts.get("directions"),
        label_a=label_a,
        label_b=label_b,
    )
    judged, account = _judge_refusals(report, progress.span(0.0, 0.5)) if opts.get("refusal_judge") else (None, None)
    if account:
        progress = progress.span(0.5, 1.0)
    # Measured in this process: a task worker's forked children would share its database connection.
    result = analyse_source(
        OutputPairs(report),
        options,
        embedding_backend=embedding_backend(),
        progress=progress,
        workers=1,
        judged_refusals=judged,
    )
    if account:
        result["refusal_judge"] = account
    return result


def _judge_refusals(report: BehaviourReport, progress: Progress) -> tuple:
    """Every stored answer of both sides judged by the deployment's refusal judge, shown its case's prompt (a
    redelivered report asks again: verdicts are not stored)."""
    config, reason = judge_or_reason()
    if config is None:
        raise ValueError(f"The report asks for the refusal judge. {reason}")
    source = OutputPairs(report, with_prompts=True)
    total = source.size or 1

    def tick(pairs: int) -> None:
        progress(pairs / total, f"refusal judge: {pairs:,} of {total:,} pairs judged")

    return judge_pairs(source.chunks(), config, should_stop=tick)


def embedding_backend():
    """The configured embedding backend (REWIND_EMBEDDING_BACKEND), or None for word-set similarity."""
    path = getattr(settings, "REWIND_EMBEDDING_BACKEND", "")
    return import_string(path)() if path else None


def _generate_outputs(report: BehaviourReport, progress: Progress) -> None:
    cases = report.prompt_set_version.cases
    total = report.prompt_set_version.case_count * report.samples * 2
    done = 0
    for side, release_id in ((Side.A, report.release_a_id), (Side.B, report.release_b_id)):
        endpoint = GenerationEndpoint.objects.get(release_id=release_id)
        config = EndpointConfig(
            base_url=endpoint.base_url,
            model=endpoint.model,
            header_env=endpoint.header_env,
            temperature=endpoint.temperature,
            max_tokens=endpoint.max_tokens,
            timeout_seconds=endpoint.timeout_seconds,
            max_retries=endpoint.max_retries,
            concurrency=endpoint.concurrency,
        )
        # Resume after a redelivery: skip answers already stored.
        have = set(report.outputs.filter(side=side).values_list("case_id", "sample"))
        prompts = (
            Prompt(key=pk, text=text, sample=k)
            for pk, text in cases.order_by("pk").values_list("pk", "input").iterator(chunk_size=CHUNK)
            for k in range(report.samples)
            if (pk, k) not in have
        )
        done += len(have)
        batch: list[Output] = []
        answer: Answer
        for answer in generate(config, prompts):
            batch.append(
                Output(
                    report=report,
                    case_id=answer.key,
                    side=side,
                    sample=answer.sample,
                    text=answer.text,
                    latency_ms=answer.latency_ms,
                )
            )
            done += 1
            if len(batch) >= 200:
                Output.objects.bulk_create(batch, ignore_conflicts=True)
                batch = []
            progress(done / max(total, 1), f"Generating answers: {done} of {total}")
        Output.objects.bulk_create(batch, ignore_conflicts=True)


def _frame_rows(
    report: BehaviourReport, fields: list[str], cases: list[int] | None = None, *, with_prompts: bool = False
) -> Iterator[dict]:
    """Pair A and B answers per (case, sample) from rows ordered by case, sample, side (``with_prompts``: and
    each case's input as ``prompt``)."""
    prompt_cases = PromptCase.objects.filter(version_id=report.prompt_set_version_id)
    outputs = Output.objects.filter(report=report)
    if cases is not None:
        prompt_cases, outputs = prompt_cases.filter(pk__in=cases), outputs.filter(case_id__in=cases)
    case_info = {
        pk: (case_id, segments, schema)
        for pk, case_id, segments, schema in prompt_cases.values_list(
            "pk", "case_id", "segments", "json_schema"
        ).iterator(chunk_size=CHUNK)
    }
    inputs = dict(prompt_cases.values_list("pk", "input").iterator(chunk_size=CHUNK)) if with_prompts else {}
    current: tuple | None = None
    pair: dict = {}
    rows = (
        outputs.order_by("case_id", "sample", "side")
        .values_list("case_id", "sample", "side", "text", "latency_ms", "cost")
        .iterator(chunk_size=CHUNK)
    )
    for case_pk, sample, side, text, latency, cost in rows:
        key = (case_pk, sample)
        if key != current:
            if "output_a" in pair and "output_b" in pair:
                yield pair
            current = key
            case_id, segments, schema = case_info[case_pk]
            pair = {"case_id": case_id, "sample": sample, "schema": schema, "_case": case_pk}
            if with_prompts:
                pair["prompt"] = inputs.get(case_pk)
            pair.update({f: (segments or {}).get(f, "(none)") for f in fields})
        pair[f"output_{side}"] = text
        pair[f"latency_{side}"] = latency
        pair[f"cost_{side}"] = cost
    if "output_a" in pair and "output_b" in pair:
        yield pair


class OutputPairs:
    """A report's stored answers as the engine's stream: pairs read from the Output table chunk by chunk, each
    chunk's texts dropped once measured; the few quoted in full are read again by (case, sample)."""

    def __init__(self, report: BehaviourReport, chunk: int = CHUNK_PAIRS, *, with_prompts: bool = False):
        self.report, self._chunk, self._with_prompts = report, chunk, with_prompts
        self.fields = list((report.options or {}).get("segment_fields", []))
        self.size = report.outputs.count() // 2 or None
        self._keys: list[np.ndarray] = []

    def _frame(self, rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame.from_records(rows).drop(columns=["_case"]) if rows else pd.DataFrame()

    def chunks(self) -> Iterator[pd.DataFrame]:
        self._keys = []
        buffer: list[dict] = []
        for row in _frame_rows(self.report, self.fields, with_prompts=self._with_prompts):
            buffer.append(row)
            if len(buffer) >= self._chunk:
                yield self._take(buffer)
                buffer = []
        if buffer:
            yield self._take(buffer)
        if not self._keys:
            raise ValueError("No paired outputs to compare.")

    def _take(self, rows: list[dict]) -> pd.DataFrame:
        self._keys.append(np.array([(row["_case"], row["sample"]) for row in rows], dtype=np.int64).reshape(-1, 2))
        return self._frame(rows)

    def rows(self, positions) -> pd.DataFrame:
        keys = np.concatenate(self._keys)[list(positions)]
        wanted = {(int(case), int(sample)) for case, sample in keys}
        found = {
            (row["_case"], row["sample"]): row
            for row in _frame_rows(self.report, self.fields, cases=sorted({case for case, _ in wanted}))
            if (row["_case"], row["sample"]) in wanted
        }
        return self._frame([found[int(case), int(sample)] for case, sample in keys])


def report_frame(report: BehaviourReport) -> pd.DataFrame:
    """Every pair of a report in one frame (what the engine streams, for inspection and benchmarks)."""
    source = OutputPairs(report)
    try:
        return pd.concat(list(source.chunks()), ignore_index=True)
    except ValueError:
        return pd.DataFrame()


def summarise(result: dict) -> dict:
    """What the report page needs: everything but raw per-case values, which become histograms.

    A 100k-case result carries millions of numbers; the page must not parse them to draw a chart.
    """
    summary = {k: v for k, v in result.items() if k != "distributions"}
    histograms = {}
    for metric, sides in (result.get("distributions") or {}).items():
        a = np.asarray([x for x in sides.get("a", []) if x is not None], dtype=float)
        b = np.asarray([x for x in sides.get("b", []) if x is not None], dtype=float)
        both = np.concatenate([a, b]) if a.size + b.size else np.asarray([0.0])
        both = both[np.isfinite(both)]
        if both.size == 0:
            continue
        edges = np.histogram_bin_edges(both, bins=HISTOGRAM_BINS)
        histograms[metric] = {
            "edges": [round(float(e), 6) for e in edges],
            "a": np.histogram(a[np.isfinite(a)], bins=edges)[0].tolist(),
            "b": np.histogram(b[np.isfinite(b)], bins=edges)[0].tolist(),
        }
    summary["histograms"] = histograms
    return summary
