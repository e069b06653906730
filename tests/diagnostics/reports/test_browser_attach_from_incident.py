"""Headless Chromium: a responder on the incident page finds a finished behaviour-diff report by its release pair,
attaches it to the model layer, and follows the readable link to the report, which links back to the incident.
Saves docs/screenshots/attach-report.png and attached-report.png."""

from __future__ import annotations

import pytest

from diagnostics.models import Evidence
from incidents.services import incident_open
from rollouts.models import Environment
from tests.support.browser import external_requests, launch, log_in, requires_chromium, screenshot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]


def test_a_responder_attaches_a_report_from_the_incident_page(
    live_server, responder, finished_report, releases, monkeypatch
):
    from playwright.sync_api import sync_playwright

    # sync_playwright runs an event loop in this thread; the ORM checks below are plain sync reads.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    production = Environment.objects.create(feature=releases[0].feature, name="production", is_production=True)
    incident = incident_open(
        actor=responder, title="Refusals up in German", severity="sev2", feature_environments=[production]
    )
    report = finished_report()
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        external = external_requests(page, live_server)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, live_server, responder, next_path=f"/incidents/{incident.pk}/")
        page.wait_for_selector("#evidence-reports")
        # htmx binds the search box when the document has loaded; typing before that would go unheard.
        wait_until(page, "document.readyState === 'complete' && !!window.htmx")

        # Search by the release pair (either order), swapped in by htmx as one types.
        page.fill("#reports-q", "nothing like this")
        page.wait_for_selector("#report-results:has-text('No report matches')")
        page.fill("#reports-q", "#2 → #1")
        page.wait_for_selector(f"#report-results a[href='/reports/{report.pk}/']")
        assert page.locator("h1").count() == 1  # a fragment, not a page in the page
        assert "Start a diff: support-assistant #1 → #2" in page.locator("#evidence-reports").inner_text()
        result = page.locator("#report-results li").first
        result.locator("select[name=layer]").select_option("model")
        screenshot(page, "attach-report", element="#evidence-reports")
        result.locator("button:has-text('Attach as evidence')").click()

        # Back on the incident, at the model layer: the evidence is a readable link to the report.
        page.wait_for_selector("#messages li.success:has-text('as evidence on the Model layer')")
        assert page.url.endswith(f"/incidents/{incident.pk}/#layer-model")
        link = page.locator(f"#layer-model li.evidence-report a[href='/reports/{report.pk}/']")
        assert link.inner_text().startswith(f"Behaviour-diff report #{report.pk} (support-assistant #1 → ")
        assert Evidence.objects.filter(diagnosis__incident=incident, diagnosis__layer="model").count() == 1
        screenshot(page, "attached-report", element="#diagnosis-board")

        # The report names the incident and the layer, and links back.
        link.click()
        page.wait_for_selector("#report-links")
        back = page.locator("#report-links .report-link a")
        assert back.inner_text() == f"{incident.reference} Refusals up in German · Model layer"
        back.click()
        page.wait_for_url(f"**/incidents/{incident.pk}/#layer-model")
        browser.close()
    assert external == [] and errors == []
