"""The rollout page in a real browser: the live region follows the run through htmx polling, and a control
asks for confirmation before it posts."""

from __future__ import annotations

import pytest
from django.db import connections

from rollouts.models import RolloutRun, RunState
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release
from tests.support.browser import launch, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        yield page
        page.goto("about:blank")  # stop the 2 s polling before the live server and database go away
        browser.close()
        # Under Playwright's running loop the test's ORM calls got their own connection (asgiref context); close
        # it here, or the test database cannot be dropped at the end of the session.
        connections.close_all()


def test_the_run_page_updates_live_and_confirms_controls(live_server, browser_page, team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    deploy(approver, staging, release(approver, feature, prompt="v1"))
    candidate = release(approver, feature, prompt="v2")
    steps = [{"type": "weight", "weight": 10}, {"type": "pause"}, {"type": "weight", "weight": 100}]
    run = runs.run_start(actor=responder, environment=staging, candidate_release=candidate, steps=steps)
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rafa")
    page.fill("input[name=password]", "pw-rafa")
    page.click("button[type=submit], input[type=submit]")
    page.goto(f"{live_server.url}/rollouts/{run.pk}/")
    assert page.inner_text("#weight") == "0 %"
    runs.run_advance(run_id=run.pk)  # what a worker does: 10 %, then the pause step waits for a person
    page.wait_for_function("document.querySelector('#weight').textContent.trim() === '10 %'", timeout=10_000)
    assert "Paused" in page.inner_text("#run-live")
    dialogs: list[str] = []
    answer = {"accept": False}

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.accept() if answer["accept"] else dialog.dismiss()

    page.on("dialog", on_dialog)
    page.click("#controls form[action$='/resume/'] button")
    page.wait_for_timeout(500)
    assert dialogs and "Resume run" in dialogs[0]
    assert RolloutRun.objects.get(pk=run.pk).state == RunState.PAUSED  # dismissed: nothing posted
    answer["accept"] = True
    page.click("#controls form[action$='/resume/'] button")
    page.wait_for_function("document.body.innerText.includes('Resume: done.')", timeout=10_000)
    run.refresh_from_db()
    assert run.state == RunState.RUNNING and run.step_index == 2
