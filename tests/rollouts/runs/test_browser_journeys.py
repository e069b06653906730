"""Headless Chromium: a responder starts a canary from /rollouts/new/ (the compatibility check shows before
submitting) and watches it move; an approver rolls production back with the fast default preset.
Saves docs/screenshots/rollout-new.png, rollout-watch.png, rollback-plan.png and rollback-run.png."""

from __future__ import annotations

import pytest
from django.db import connections

from rollouts.models import RolloutRun
from rollouts.runs import services as runs
from rollouts.runs.presets import ROLLBACK_PRESETS
from tests.rollouts.factories import deploy, feature_with_envs, release
from tests.support.browser import external_requests, launch, log_in, requires_chromium, screenshot, wait_until

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(monkeypatch, live_server):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.external = external_requests(page, live_server)
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("dialog", lambda dialog: dialog.accept())
        yield page
        page.goto("about:blank")  # stop the run page's polling before the server goes away
        browser.close()
        connections.close_all()
    assert page.external == [] and page.errors == []


def test_a_responder_starts_a_canary_and_watches_it(page, live_server, team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    deploy(approver, staging, release(approver, feature, prompt="v1"))
    candidate = release(approver, feature, prompt="v2")
    log_in(page, live_server, responder, next_path="/rollouts/")
    page.click("a:has-text('Start a rollout')")
    page.wait_for_url("**/rollouts/new/")
    page.select_option("select[name=environment]", str(staging.pk))
    page.select_option("select[name=candidate_release]", str(candidate.pk))
    page.select_option("select[name=preset]", "quick")
    # The check beside the form follows every change (htmx), before anything is sent.
    page.wait_for_selector("#check #compat-ok")
    page.wait_for_selector("#steps-preview:has-text('10 % → judged → 50 % → judged → 100 %')")
    assert "support-assistant #1" in page.locator("#check").inner_text()
    page.fill("input[name=reason]", "shorter answers")
    screenshot(page, "rollout-new")
    page.click("#start-rollout")
    page.wait_for_url("**/rollouts/*/")
    run = RolloutRun.objects.get()
    assert run.candidate_release == candidate and run.reason == "shorter answers"
    assert page.inner_text("#weight") == "0 %"
    runs.run_advance(run_id=run.pk)  # what a worker does: the first step sends 10 %
    wait_until(page, "document.querySelector('#weight').textContent.trim() === '10 %'", timeout=10_000)
    screenshot(page, "rollout-watch")


def test_an_approver_rolls_production_back_with_the_fast_default(page, live_server, team, approver):
    feature, _, production = feature_with_envs(team)
    deploy(approver, production, release(approver, feature, prompt="v1"))
    deploy(approver, production, release(approver, feature, prompt="v2"))
    log_in(page, live_server, approver, next_path=f"/features/{feature.slug}/")
    page.click("#env-production a:has-text('Plan a rollback')")
    page.wait_for_selector("#rollback-form")
    assert page.is_checked("input[name=preset][value=fast]")
    assert "Rolling back to #1" in page.locator("main").inner_text()
    page.fill("#rollback-form textarea[name=reason]", "v2 refuses German questions")
    screenshot(page, "rollback-plan")
    page.click("#rollback-form button:has-text('Roll back to #1')")
    page.wait_for_url("**/rollouts/*/")
    run = RolloutRun.objects.get()
    assert run.kind == "rollback" and run.steps == ROLLBACK_PRESETS["fast"].step_list()
    runs.run_advance(run_id=run.pk)  # 50 %, then the one-minute look before 100 %
    wait_until(page, "document.querySelector('#weight').textContent.trim() === '50 %'", timeout=10_000)
    screenshot(page, "rollback-run")
