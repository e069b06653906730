from __future__ import annotations

import pytest

from diagnostics import demo
from diagnostics.models import BehaviourReport, PromptSet, ReportStatus

pytestmark = pytest.mark.django_db


def test_the_demo_loads_a_prompt_set_and_a_finished_report_once(releases, responder):
    demo.load({"priya": responder})
    demo.load({"priya": responder})
    assert PromptSet.objects.get().name == demo.SET_NAME
    report = BehaviourReport.objects.get()
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert report.verdict == "regression"
    regressed = {(s["field"], s["value"]) for s in report.result["segments"] if s["verdict"] == "regression"}
    assert ("intent", "billing") in regressed and ("intent", "account") not in regressed


def test_the_demo_skips_when_the_support_assistant_feature_is_absent(responder):
    demo.load({"priya": responder})
    assert not PromptSet.objects.exists()
