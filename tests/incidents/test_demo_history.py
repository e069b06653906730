from __future__ import annotations

from core.demo import load_people
from core.models import AuditEntry
from incidents import demo
from incidents.dashboard import DashboardFilters, dashboard_compute
from incidents.demo_history import HISTORY
from incidents.models import ActionItem, Incident, PostmortemRevision
from rollouts.models import Environment, Feature


def _load_twice(feature):
    invoice = Feature.objects.create(slug="invoice-extractor", name="Invoice extractor", team=feature.team)
    Environment.objects.create(feature=invoice, name="production", is_production=True)
    people = load_people()
    demo.load(people)
    counts = (Incident.objects.count(), ActionItem.objects.count(), AuditEntry.objects.count())
    demo.load(people)
    assert (Incident.objects.count(), ActionItem.objects.count(), AuditEntry.objects.count()) == counts
    return people


def test_the_history_loads_once_and_gives_the_dashboard_a_story(feature, production, deployed, web_as):
    people = _load_twice(feature)
    history = Incident.objects.filter(title__in=[p.title for p in HISTORY])
    assert history.count() == len(HISTORY) >= 30
    assert history.filter(status="closed").count() >= 25
    assert PostmortemRevision.objects.filter(postmortem__incident__in=history).count() >= 25
    # Historical times really are historical, and consistent.
    oldest = history.order_by("impact_started_at").first()
    assert (history.order_by("-impact_started_at").first().impact_started_at - oldest.impact_started_at).days > 200
    for incident in history.exclude(status="cancelled"):
        assert incident.impact_started_at <= incident.detected_at <= incident.mitigated_at
        assert incident.created_at == incident.detected_at
    items = ActionItem.objects.filter(incident__in=history)
    assert {"done", "wont_do", "open", "in_progress"} <= set(items.values_list("status", flat=True))
    assert items.filter(status="wont_do").exclude(wont_do_reason="").exists()
    assert items.overdue().exists()

    board = dashboard_compute(DashboardFilters(), figures=False)
    months = board.detect_restore_by_month
    assert len(months) >= 7 and months["detect_median_h"].notna().all() and months["restore_median_h"].notna().all()
    # Detection got faster: the last three months beat the first three.
    assert months["detect_median_h"].tail(3).max() < months["detect_median_h"].head(3).min()
    assert board.totals["recurrence_rate"] > 0
    assert 0 < board.totals["on_time_rate"] < 1
    assert board.totals["unowned"] == 0
    assert set(board.root_cause_by_layer["layer"]) >= {"model", "data", "prompt", "product"}

    response = web_as(people["maya"]).get("/dashboard/")
    assert response.status_code == 200 and b"Recurrence" in response.content
