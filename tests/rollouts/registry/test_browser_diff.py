"""Headless Chromium on the release diff page: pick two releases, the htmx fragment swaps in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rollouts.conftest import index_v, model_v, prompt_v
from tests.support.browser import external_requests, launch, log_in, requires_chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    requires_chromium,
]


def test_choosing_two_releases_swaps_in_their_diff(live_server, responder, viewer, release_factory):
    from playwright.sync_api import sync_playwright

    r1 = release_factory()
    int4 = model_v(responder, precision="int4", quantization="AWQ", base_model="meta-llama/Llama-3.1-8B-Instruct")
    release_factory(model=int4)
    r3 = release_factory(
        model=int4,
        prompt=prompt_v(
            responder,
            system_prompt="You are a support assistant.\nCite the article id for every claim.\nNever promise refunds.",
            message="Stop promising refunds",
        ),
        index=index_v(responder, embedding_model="BAAI/bge-m3", embedding_model_version="", dimension=1024),
    )
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        external = external_requests(page, live_server)
        log_in(page, live_server, viewer)
        page.goto(f"{live_server.url}/features/support-assistant/diff/")
        assert page.locator("#diff").inner_text().startswith("#2 → #3")

        page.select_option("#old", str(r1.pk))
        page.wait_for_function("document.querySelector('#diff p').innerText.startsWith('#1')")
        page.select_option("#new", str(r3.pk))
        page.wait_for_function("document.querySelector('#diff p').innerText.startsWith('#1 → #3')")
        layers = page.locator("#diff [data-layer]").evaluate_all("els => els.map(e => e.dataset.layer)")
        assert layers == ["model", "prompt", "index"]
        assert page.locator("#diff .diff-add").filter(has_text="Never promise refunds.").count() == 1
        assert page.locator("#diff .diff-del").filter(has_text="Cite sources.").count() == 1
        assert f"old={r1.pk}" in page.url  # hx-push-url keeps the comparison linkable
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "release_diff.png"), full_page=True)
        browser.close()
    assert external == []
