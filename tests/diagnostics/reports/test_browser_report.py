"""Headless Chromium on the report page: plotly draws from the local file into containers that keep their size when
the window is resized, the segment filter swaps via htmx. Saves docs/screenshots/report.png."""

from __future__ import annotations

import pytest

from tests.support.browser import (
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


def test_the_report_page_draws_its_charts_and_filters_by_segment(live_server, viewer, finished_report):
    from playwright.sync_api import sync_playwright

    report = finished_report()
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        external = external_requests(page, live_server)
        log_in(page, live_server, viewer)
        page.goto(f"{live_server.url}/reports/{report.pk}/")
        page.wait_for_selector("#segment-heatmap .main-svg", timeout=15000)
        page.wait_for_selector("#dist-1 .main-svg", timeout=15000)
        assert_charts_keep_their_size_on_resize(page)
        screenshot(page, "report")
        assert page.locator("#overall-verdict").inner_text() == "regression"
        assert "Gern helfe ich" in page.locator("#segment-view").inner_text()
        page.select_option("#segment-filter", "locale=en")
        wait_until(page, "!document.querySelector('#segment-view').innerText.includes('Gern helfe ich')")
        assert "answer one" in page.locator("#segment-view").inner_text()
        assert page.url.endswith("segment=locale%3Den")
        browser.close()
    assert external == []
