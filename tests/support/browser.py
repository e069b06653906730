"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright (never a downloaded one)."""

from __future__ import annotations

import os

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
