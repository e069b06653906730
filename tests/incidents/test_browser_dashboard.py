"""Headless Chromium opens the manager dashboard over half a year of demo-like history, checks the charts are
drawn by the locally served plotly.js into containers that keep their size (on load and when the window is
resized), filters by team through htmx (a team that owns no feature included), shows empty states, and saves
docs/screenshots/dashboard*.png."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from core.models import Role, Team, User
from diagnostics.models import LayerDiagnosis
from diagnostics.services import layer_set_verdict, ownership_map_set
from incidents.action_item_services import action_item_create, action_item_update
from incidents.models import ActionItem, ActionStatus, Incident
from incidents.services import incident_open
from rollouts.models import Environment, Feature
from tests.support.browser import (
    assert_charts_fit,
    assert_charts_keep_their_size_on_resize,
    external_requests,
    launch,
    log_in,
    requires_chromium,
    screenshot,
    wait_until,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    requires_chromium,
]

TITLES = [
    "Answers cite the wrong help articles",
    "Invoice totals extracted as strings",
    "Refusals on billing questions",
    "Search returns empty results for long queries",
    "Latency p95 doubled after provider update",
    "Summaries cut off mid-sentence",
]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _history(admin: User) -> None:
    """Two teams, three features, 24 incidents over six months with verdicts and action items (services)."""
    rng = random.Random(3)
    people = {
        name: User.objects.create_user(username=name, password="pw", first_name=name.title(), role=Role.RESPONDER)
        for name in ("leo", "priya", "sam", "maya", "omar", "ines")
    }
    assist = Team.objects.create(slug="assist", name="Assist")
    docs = Team.objects.create(slug="documents", name="Documents")
    assist.members.add(people["leo"], people["priya"], people["sam"])
    docs.members.add(people["maya"], people["omar"], people["ines"])
    # A team that owns no feature: its people fix what other teams' incidents found.
    insights = Team.objects.create(slug="product-insights", name="Product Insights")
    people["nora"] = User.objects.create_user(username="nora", password="pw", first_name="Nora", role=Role.RESPONDER)
    insights.members.add(people["nora"])
    envs = []
    for slug, team, owners in (
        ("support-assistant", assist, ("leo", "priya", "sam", "maya")),
        ("search", assist, ("priya", "leo", "sam", "omar")),
        ("invoice-extractor", docs, ("omar", "ines", "maya", "sam")),
    ):
        feature = Feature.objects.create(slug=slug, name=slug.replace("-", " ").title(), team=team)
        envs.append(Environment.objects.create(feature=feature, name="production", is_production=True))
        for layer, name in zip(("model", "data", "prompt", "product"), owners, strict=True):
            ownership_map_set(actor=admin, feature=feature, layer=layer, owner=people[name], team=team)
    now = timezone.now()
    today = timezone.localdate()
    for i in range(24):
        start = now - dt.timedelta(days=180 - i * 7.3, hours=rng.randint(0, 20))
        incident = incident_open(
            actor=admin,
            title=TITLES[i % len(TITLES)],
            severity=rng.choice(["sev2", "sev3", "sev3", "sev4"]),
            feature_environments=[envs[i % 3]],
            impact_started_at=start,
            detected_at=start + dt.timedelta(minutes=rng.randint(10, 400)),
        )
        restored = start + dt.timedelta(hours=rng.uniform(2, 30))
        if restored < now:
            Incident.objects.filter(pk=incident.pk).update(mitigated_at=restored, resolved_at=restored)
        if i < 21:
            layer = rng.choice(["data", "data", "prompt", "prompt", "product"])
            diagnosis = LayerDiagnosis.objects.get(incident=incident, layer=layer)
            layer_set_verdict(actor=admin, diagnosis=diagnosis, status="root_cause", evidence_note="confirmed")
        for j in range(3):
            due = start.date() + dt.timedelta(days=rng.randint(7, 45))
            owner = rng.choice([p for name, p in people.items() if name != "nora"])
            item = action_item_create(
                actor=admin,
                incident=incident,
                title=f"Follow-up {i}.{j}",
                owner=owner,
                due_date=due,
                backdate_reason="history",
                layer=rng.choice(["model", "data", "prompt", "product"]),
            )
            if due < today and rng.random() < 0.75:
                action_item_update(actor=admin, item=item, status=ActionStatus.DONE)
                completed = dt.datetime.combine(due, dt.time(12), tzinfo=dt.UTC) + dt.timedelta(days=rng.randint(-5, 3))
                ActionItem.objects.filter(pk=item.pk).update(completed_at=completed)
            ActionItem.objects.filter(pk=item.pk).update(created_at=start + dt.timedelta(days=1))
        if i >= 17:
            action_item_create(
                actor=admin,
                incident=incident,
                title=f"Insight dashboard {i}",
                owner=people["nora"],
                due_date=today + dt.timedelta(days=i - 20),
                backdate_reason="history",
                layer="product",
            )


def test_the_dashboard_draws_its_charts_and_filters_in_the_browser(live_server, admin_user, viewer, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    _history(admin_user)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        external = external_requests(page, live_server)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, live_server, viewer, next_path="/dashboard/")
        page.wait_for_url("**/dashboard/")

        # Every chart drawn by plotly.js (an SVG inside each figure), the unowned count shown and zero.
        wait_until(page, "document.querySelectorAll('[data-figure] .main-svg').length >= 5")
        assert page.locator("#unowned .kpi").inner_text().strip() == "0"
        assert "allclear" in page.locator("#unowned").get_attribute("class")
        assert page.locator("#by-owner tbody tr").count() >= 3
        screenshot(page, "dashboard")

        assert_charts_keep_their_size_on_resize(page)

        # Filtering swaps the results region in place (htmx), charts redrawn, URL kept shareable.
        all_open = int(page.locator(".kpi").nth(1).inner_text())
        page.select_option("select[name=team]", "documents")
        page.wait_for_url("**team=documents**")
        wait_until(page, "document.querySelectorAll('[data-figure] .main-svg').length >= 5")
        team_open = int(page.locator(".kpi").nth(1).inner_text())
        assert team_open < all_open
        assert page.locator("h1").count() == 1  # a fragment, not a page inside the page
        screenshot(page, "dashboard-team")

        # A team that owns no feature: the KPI counts the items its people own, as its "By team" row does.
        page.select_option("select[name=team]", "product-insights")
        page.wait_for_url("**team=product-insights**")
        page.wait_for_selector("#by-team td:has-text('Product Insights')")
        row = page.locator("#by-team tr:has-text('Product Insights') td.num").first.inner_text()
        assert int(page.locator(".kpi").nth(1).inner_text()) == int(row) == 7
        screenshot(page, "dashboard-product-insights")

        # A range with no incidents: empty states, not bare axes.
        page.select_option("select[name=team]", "")
        page.fill("input[name=date_from]", "2020-01-01")
        page.fill("input[name=date_to]", "2020-01-31")
        page.wait_for_url("**date_to=2020-01-31**")
        page.wait_for_selector(".chart .empty-chart:has-text('No incidents in range.')")
        assert page.locator(".chart .main-svg").count() == 0
        assert_charts_fit(page)
        screenshot(page, "dashboard-empty")

        # A date range ending before it starts: the 400 answer's message is swapped in, not dropped.
        page.fill("input[name=date_from]", "2026-10-10")
        page.fill("input[name=date_to]", "2026-10-01")
        page.wait_for_selector("text=The end date is before the start date.")
        browser.close()
    assert external == []
    assert errors == []
