from __future__ import annotations

from celery import shared_task

from diagnostics.runner import report_run


@shared_task(name="diagnostics.report_run", ignore_result=True, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def report_run_task(report_id: int) -> None:
    """Thin: the runner claims the report with a conditional update, so a redelivery does nothing twice."""
    report_run(report_id=report_id)
