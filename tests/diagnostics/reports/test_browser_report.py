"""Headless Chromium on the report page: plotly draws from the local file, the segment filter swaps via htmx."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and os.environ.get("REWIND_REQUIRE_BROWSER") != "1",
        reason="no /usr/bin/chromium",
    ),
]


def test_the_report_page_draws_its_charts_and_filters_by_segment(live_server, viewer, finished_report):
    from playwright.sync_api import sync_playwright

    report = finished_report()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        external = []
        page.on("request", lambda req: external.append(req.url) if not req.url.startswith(live_server.url) else None)
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", viewer.username)
        page.fill("input[name=password]", "pw-" + viewer.username)
        page.click("button[type=submit], input[type=submit]")
        page.goto(f"{live_server.url}/reports/{report.pk}/")
        page.wait_for_selector("#segment-heatmap .main-svg", timeout=15000)
        page.wait_for_selector("#dist-1 .main-svg", timeout=15000)
        assert page.locator("#overall-verdict").inner_text() == "regression"
        assert "Gern helfe ich" in page.locator("#segment-view").inner_text()
        page.select_option("#segment-filter", "locale=en")
        page.wait_for_function("!document.querySelector('#segment-view').innerText.includes('Gern helfe ich')")
        assert "answer one" in page.locator("#segment-view").inner_text()
        assert page.url.endswith("segment=locale%3Den")
        browser.close()
    assert external == []
