"""Headless Chromium as a viewer: controls they cannot use are greyed with the reason on hover, and a page they
open anyway answers with a styled 403 that gives the reason and a way back. Saves docs/screenshots/viewer-*.png."""

from __future__ import annotations

import pytest

from tests.support.browser import external_requests, launch, log_in, requires_chromium, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]


def test_a_viewer_sees_why_and_gets_back(live_server, viewer, responder, incident):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        external = external_requests(page, live_server)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, live_server, viewer, next_path="/incidents/")
        page.wait_for_selector("text=File an incident")

        # "File an incident" is shown greyed, not as a link, and says why on hover.
        control = page.locator("[aria-disabled=true]:has-text('File an incident')")
        assert control.get_attribute("title") == "This needs the responder role (incident.create)."
        assert page.locator("a:has-text('File an incident')").count() == 0
        control.hover()
        screenshot(page, "viewer-incidents")

        # On the incident, the action-item form is replaced by a disabled control with the reason.
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
        disabled = page.locator("#action-items [aria-disabled=true]:has-text('Add action item')")
        assert disabled.get_attribute("title") == "This needs the responder role (action_item.edit)."
        assert page.locator("#action-item-form").count() == 0

        # Typing the URL anyway: a styled 403 with the reason, the navigation, and "Back" to where they were.
        page.goto(f"{live_server.url}/incidents/new/", referer=f"{live_server.url}/incidents/{incident.pk}/")
        assert page.locator("#error-reason").inner_text() == "This needs the responder role (incident.create)."
        assert page.locator("header.topbar nav a:has-text('Incidents')").count() == 1
        screenshot(page, "viewer-refused")
        page.click("#error-back")
        page.wait_for_url(f"**/incidents/{incident.pk}/")

        # A page that does not exist: a styled 404 with a way back too.
        response = page.goto(f"{live_server.url}/incidents/999999/")
        assert response.status == 404
        assert page.locator("#error-page h1").inner_text() == "Not found"
        browser.close()
    assert external == [] and errors == []
