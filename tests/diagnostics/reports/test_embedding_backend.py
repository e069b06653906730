from __future__ import annotations

import numpy as np
import pytest

from diagnostics.models import BehaviourReport, ReportStatus
from diagnostics.reports.runner import report_run

pytestmark = pytest.mark.django_db


class LetterCounts:
    """A tiny deterministic 'embedding': letter frequencies."""

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float)


def test_a_configured_embedding_backend_is_used_for_similarity(settings, finished_report):
    settings.REWIND_EMBEDDING_BACKEND = "tests.diagnostics.reports.test_embedding_backend.LetterCounts"
    report = finished_report(status=ReportStatus.QUEUED)
    report_run(report_id=report.pk)  # what the worker's task calls
    report = BehaviourReport.objects.get(pk=report.pk)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert report.result["similarity"]["backend"] == "embedding"


def test_without_a_backend_similarity_is_word_overlap(settings, finished_report):
    settings.REWIND_EMBEDDING_BACKEND = ""
    report = finished_report(status=ReportStatus.QUEUED)
    report_run(report_id=report.pk)
    assert BehaviourReport.objects.get(pk=report.pk).result["similarity"]["backend"] == "word_jaccard"
