"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright (never a downloaded one)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # the machine's network is closed: no background calls to Google
    "--disable-component-update",
    "--no-first-run",
]

# CI sets REWIND_REQUIRE_BROWSER=1, so a missing chromium fails there instead of skipping.
requires_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("REWIND_REQUIRE_BROWSER") != "1",
    reason="no /usr/bin/chromium",
)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def log_in(page, live_server, user, *, next_path: str = "") -> None:
    """Log in through the login form with the cast's password convention (pw-<username>)."""
    page.goto(f"{live_server.url}/login/" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-" + user.username)
    page.click("button[type=submit], input[type=submit]")


def external_requests(page, live_server) -> list[str]:
    """Collects every request that leaves the live server (there must be none: no CDN)."""
    seen: list[str] = []
    page.on("request", lambda req: seen.append(req.url) if not req.url.startswith(live_server.url) else None)
    return seen


# Journey screenshots are part of the docs (docs/screenshots/, linked from docs/web-journeys.md): kept to the top of
# the page at a laptop width so each PNG stays small.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot(page, name: str, *, max_height: int = 1800, element: str = "") -> Path:
    """The top of the page, or just ``element`` (a selector) when the journey's point is one region."""
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = DOCS_SCREENSHOTS / f"{name}.png"
    if element:
        page.locator(element).screenshot(path=str(path))
        return path
    width = page.viewport_size["width"]
    height = min(page.evaluate("document.documentElement.scrollHeight"), max_height)
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
    return path


# Each chart's container: its box, the card around it, and plotly's drawing inside it.
CHART_BOXES = """() => Array.from(document.querySelectorAll('.chart')).map(el => {
  const box = el.getBoundingClientRect(), card = el.parentElement.getBoundingClientRect();
  const svg = el.querySelector('.main-svg');
  return {height: box.height, width: box.width, right: box.right, cardRight: card.right - 1,
          bottom: box.bottom, cardBottom: card.bottom - 1, svgHeight: svg ? svg.getBoundingClientRect().height : null};
})"""


def assert_charts_fit(page) -> list[dict]:
    """Every chart container sits inside its card and plotly's drawing fills it (no spill, no collapse)."""
    boxes = page.evaluate(CHART_BOXES)
    assert boxes
    for box in boxes:
        assert box["right"] <= box["cardRight"] and box["bottom"] <= box["cardBottom"], box  # nothing spills
        assert box["svgHeight"] is None or abs(box["svgHeight"] - box["height"]) <= 1, box  # the drawing fills it
    return boxes


def assert_charts_keep_their_size_on_resize(page, *, narrow: int = 900) -> None:
    """Resizing the window: every container keeps its height and stays inside its card; plotly follows the width."""
    wide = page.viewport_size
    before = assert_charts_fit(page)
    page.set_viewport_size({"width": narrow, "height": wide["height"]})
    page.wait_for_timeout(400)  # plotly's responsive resize is debounced
    after = assert_charts_fit(page)
    assert [b["height"] for b in after] == [b["height"] for b in before]
    assert all(a["width"] < b["width"] for a, b in zip(after, before, strict=True))
    page.set_viewport_size(wide)
    page.wait_for_timeout(400)
    assert [b["height"] for b in assert_charts_fit(page)] == [b["height"] for b in before]


def wait_until(page, expression: str, *, timeout: float = 30_000) -> None:
    """Wait until a JavaScript expression is true. Playwright's wait_for_function re-evaluates its predicate with
    eval inside the page, which the app's Content-Security-Policy forbids; page.evaluate goes through the
    browser's debugging protocol instead, which the policy does not govern."""
    import time

    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            if page.evaluate(expression):
                return
        except Error as exc:  # a navigation (e.g. htmx's client redirect) replaced the page: look at the new one
            if "Execution context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        page.wait_for_timeout(50)
