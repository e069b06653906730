from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import WorkerHeartbeat
from diagnostics.models import ReportStatus

pytestmark = pytest.mark.django_db


def _beat(seconds_ago: float) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker="w1@test", defaults={"seen_at": timezone.now() - timedelta(seconds=seconds_ago)}
    )


def test_a_queued_report_page_warns_while_no_worker_is_alive(finished_report, web_as, viewer):
    report = finished_report(status=ReportStatus.QUEUED)
    client = web_as(viewer)
    assert "This report will not move" in client.get(f"/reports/{report.pk}/").content.decode()
    _beat(1)
    assert 'id="worker-banner"' not in client.get(f"/reports/{report.pk}/").content.decode()


def test_a_finished_report_page_has_no_worker_banner(finished_report, web_as, viewer):
    report = finished_report()
    assert 'id="worker-banner"' not in web_as(viewer).get(f"/reports/{report.pk}/").content.decode()
