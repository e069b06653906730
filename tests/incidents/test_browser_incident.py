"""Headless Chromium walks a responder's incident end to end: file → owners filled → evidence → action item (added,
then its due date moved in place) → postmortem written and sent to review → an approver publishes → Markdown
export. Saves docs/screenshots/incident.png, action-item-edit.png and postmortem.png."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from incidents.models import ActionItem, Incident, PostmortemRevision
from tests.support.browser import external_requests, launch, log_in, requires_chromium, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    requires_chromium,
]


def test_a_responder_takes_an_incident_to_a_published_postmortem_in_the_browser(
    live_server, responder, approver, production, deployed, monkeypatch
):
    from playwright.sync_api import sync_playwright

    # sync_playwright runs an event loop in this thread; the ORM checks below are plain sync reads.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        external = external_requests(page, live_server)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, live_server, responder)

        # File the incident.
        page.goto(f"{live_server.url}/incidents/new/")
        page.fill("input[name=title]", "Support assistant cites the wrong articles")
        page.check("input[name=severity][value=sev2]")
        page.fill("textarea[name=summary]", "Thumbs-down rate doubled since the index rebuild.")
        page.check(f"input[name=feature_environments][value='{production.pk}']")
        page.fill("input[name=impact_started_at]", (timezone.now() - dt.timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M"))
        page.click("#incident-form button[type=submit]")
        page.wait_for_selector("#diagnosis-board")
        incident = Incident.objects.get()
        assert page.url.endswith(f"/incidents/{incident.pk}/")

        # Owners filled from the ownership map.
        board = page.locator("#diagnosis-board")
        for layer, owner in (("model", "Mo"), ("data", "Dee"), ("prompt", "Pat"), ("product", "Pia")):
            assert owner in board.locator(f"#layer-{layer} .owner").inner_text()
        assert "embedding model changed" in page.locator("#what-changed").inner_text()

        # Evidence and verdicts on the board.
        data = page.locator("#layer-data")
        data.locator("input[name=text]").fill("Recall@5 fell from 0.91 to 0.62 on the golden set")
        data.locator("form[action$='/evidence/'] button").click()
        page.wait_for_selector("#layer-data li:has-text('Recall@5 fell')")
        for layer, verdict, note in (
            ("data", "root_cause", "query encoder still e5-large"),
            ("model", "ruled_out", "same snapshot"),
            ("prompt", "ruled_out", "prompt edit does not change retrieval"),
            ("product", "ruled_out", "alert fired in time"),
        ):
            column = page.locator(f"#layer-{layer}")
            column.locator("select[name=status]").select_option(verdict)
            column.locator("input[name=evidence_note]").fill(note)
            column.locator("form[action$='/verdict/'] button").click()
            page.wait_for_selector(f"#layer-{layer} .badge.v-{verdict}")

        # An action item with one owner and a due date.
        form = page.locator("#action-item-form")
        form.locator("input[name=title]").fill("Refuse deploys whose index and query encoder differ")
        form.locator("select[name=layer]").select_option("data")
        form.locator("select[name=owner]").select_option(label="Dee")
        form.locator("input[name=due_date]").fill((timezone.localdate() + dt.timedelta(days=7)).isoformat())
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#action-added:has-text('Added “Refuse deploys whose index and query encoder differ”')")
        item = ActionItem.objects.get()
        assert item.owner.username == "dee"

        # Edit in place: moving the due date asks why; the row is swapped back with the new date.
        row = page.locator(f"#action-item-{item.pk}")
        row.locator("a:has-text('Edit')").click()
        row.locator("input[name=due_date]").wait_for()
        later = (timezone.localdate() + dt.timedelta(days=14)).isoformat()
        row.locator("input[name=due_date]").fill(later)
        row.locator("button:has-text('Save')").click()
        page.wait_for_selector(f"#action-item-{item.pk} .errorlist:has-text('Say why the due date moves.')")
        screenshot(page, "action-item-edit", element="#action-items")
        row.locator("input[name=reason]").fill("needs the encoder pin from the platform team first")
        row.locator("button:has-text('Save')").click()
        page.wait_for_selector(f"#action-item-{item.pk} td:has-text('{later}')")
        item.refresh_from_db()
        assert item.due_date.isoformat() == later

        # A note through htmx lands in the live timeline without a reload.
        page.fill("#timeline textarea[name=text]", "Rolled production back to release #1")
        page.click("#timeline form[method=post] button[type=submit]")
        page.wait_for_selector("#timeline li:has-text('Rolled production back')")
        # Something posted elsewhere (Slack, a rollout) shows up in the live timeline within one poll.
        from incidents.services import incident_add_note

        incident_add_note(actor=approver, incident=incident, text="Pinned from Slack: canary judge disagrees")
        page.wait_for_selector("#timeline-entries li:has-text('canary judge disagrees')", timeout=15_000)
        screenshot(page, "incident")

        # Postmortem: write, review, publish, export.
        page.goto(f"{live_server.url}/incidents/{incident.pk}/postmortem/")
        page.fill("textarea[name=summary]", "Retrieval returned unrelated articles for 30 hours.")
        page.fill("textarea[name=root_cause]", "Index rebuilt with bge-m3 while queries used e5-large.")
        page.click("#postmortem-form button[type=submit]")
        page.click("button:has-text('Send to review')")
        page.wait_for_selector("text=In review")
        # The responder may not publish: the button is disabled and says why; an approver publishes.
        disabled = page.locator("#publish-disabled")
        assert disabled.is_disabled()
        assert disabled.get_attribute("title") == "This needs the approver role (postmortem.publish)."
        page.context.clear_cookies()
        log_in(page, live_server, approver, next_path=f"/incidents/{incident.pk}/postmortem/")
        page.click("button:has-text('Publish revision 1')")
        page.wait_for_selector("text=Revision 1 published.")
        assert PostmortemRevision.objects.filter(postmortem__incident=incident, number=1).exists()
        with page.expect_download() as download_info:
            page.click("#markdown-export")
        markdown = Path(download_info.value.path()).read_text()
        assert markdown.startswith(f"# Postmortem: INC-{incident.pk} Support assistant cites the wrong articles")
        assert "| Data / retrieval | Dee | Root cause |" in markdown
        assert "Refuse deploys whose index and query encoder differ" in markdown
        screenshot(page, "postmortem")
        browser.close()
    assert external == [] and errors == []
