from __future__ import annotations

from celery import shared_task

from diagnostics.reports.runner import STALE_AFTER_SECONDS, report_run, reports_resume_stale


@shared_task(name="diagnostics.report_run", ignore_result=True, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def report_run_task(report_id: int, resume_stale_after: float | None = None) -> None:
    """Thin: the runner claims the report with a conditional update, so a redelivery does nothing twice."""
    report_run(report_id=report_id, resume_stale_after=resume_stale_after)


@shared_task(name="diagnostics.reports_resume_stale", ignore_result=True, time_limit=120)
def reports_resume_stale_task(stale_after: float = STALE_AFTER_SECONDS) -> None:
    reports_resume_stale(stale_after=stale_after)
