"""Nothing a user types runs in another user's browser.

A corpus of payloads (script tags, event handlers, javascript: links, raw HTML inside Markdown, Slack control
sequences) goes into every free-text field, through the web forms and the API. Then headless Chromium opens every
page that shows them and counts dialogs, payload executions and Content-Security-Policy violations (all zero),
checks the page's DOM holds no handler attribute, no javascript: link and no script but the app's own, and that
the CSP header is on every page. The Markdown export is checked too: it must carry no live markup."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import markdown
import pytest
from django.test import Client
from django.utils import timezone

from diagnostics.checklists import checklist_for
from diagnostics.models import LayerDiagnosis
from diagnostics.reports import services as report_services
from incidents.models import ActionItem, Incident, Postmortem
from rollouts.models import Release
from tests.conftest import api_client_for
from tests.diagnostics.reports.conftest import contract_result, jsonl
from tests.support.browser import launch, log_in, requires_chromium, wait_until

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]

# Each payload, if it ever ran, would open a dialog or call window.__xss (counted by the page).
CORPUS = [
    "<script>__xss('script')</script>",
    "<img src=x onerror=\"__xss('img')\">",
    "<svg onload=alert('svg')></svg>",
    "\"><b onmouseover=alert('attr') autofocus onfocus=alert('focus')>x</b>",
    "<a href=\"javascript:alert('href')\">a link</a>",
    "[a Markdown link](javascript:alert('md'))",
    "[another](JaVaScRiPt:__xss('md2'))",
    "<details open ontoggle=\"__xss('details')\">d</details>",
    "<iframe srcdoc=\"<script>parent.__xss('iframe')</script>\"></iframe>",
    "<style>body{display:none}</style><form action=javascript:alert('form')><button>go</button></form>",
    "# Heading <img src=x onerror=alert('md-html')> **bold** `code`",
    "<!channel> <!here> <@U999> <https://evil.example|click>",
]
TEXT = "\n\n".join(CORPUS)
SHORT = "<img src=x onerror=alert('t')><script>__xss('t')</script> [x](javascript:alert(1)) <!here>"

INIT = """
window.__xssCount = 0;
window.__xss = function () { window.__xssCount += 1; };
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
});
"""

# What a page's DOM may not contain once the payloads are in it.
DOM_CHECK = """() => {
  const handlers = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) { if (/^on/i.test(attr.name)) handlers.push(el.tagName + ' ' + attr.name); }
  }
  const links = [...document.querySelectorAll('[href],[src],[action],[formaction]')]
    .map(el => el.getAttribute('href') || el.getAttribute('src') || el.getAttribute('action') || el.getAttribute('formaction'))
    .filter(v => /^\\s*javascript:/i.test(v || ''));
  const scripts = [...document.querySelectorAll('script')]
    .filter(s => !(s.type === 'application/json' || (s.src && new URL(s.src).origin === location.origin)))
    .map(s => s.outerHTML.slice(0, 80));
  const frames = document.querySelectorAll('iframe, object, embed').length;
  return {handlers, links, scripts, frames};
}"""


def _fill_every_field(admin_user, responder, approver, layer_owners, production, deployed) -> dict:
    """Payloads in every free-text field; returns the ids of what the pages show."""
    api = api_client_for(admin_user)
    web = Client()
    web.force_login(admin_user)

    # Incident: title and summary through the API, a second one through the web form.
    created = api.post(
        "/api/v1/incidents/",
        {"title": SHORT, "severity": "sev2", "summary": TEXT, "feature_environments": ["support-assistant/production"]},
    )
    assert created.status_code == 201, created.json()
    incident = Incident.objects.get(pk=created.json()["id"])
    form = web.post(
        "/incidents/new/",
        {"title": SHORT, "severity": "sev3", "summary": TEXT, "feature_environments": [production.pk]},
    )
    assert form.status_code == 302, form.content.decode()[:500]

    # Timeline: notes (web and API), a transition reason, an owner-change reason.
    assert web.post(f"/incidents/{incident.pk}/notes/", {"text": TEXT}).status_code == 302
    assert api.post(f"/api/v1/incidents/{incident.pk}/notes/", {"text": TEXT}).status_code in (200, 201)
    to = web.post(f"/incidents/{incident.pk}/transition/", {"to_status": "investigating", "reason": TEXT})
    assert to.status_code == 302
    # Diagnosis: evidence, verdict notes, checklist answers, owner reasons on every layer.
    for diagnosis in LayerDiagnosis.objects.filter(incident=incident):
        assert web.post(f"/diagnoses/{diagnosis.pk}/evidence/", {"text": TEXT}).status_code == 302
        verdict = {"status": "ruled_out" if diagnosis.layer != "prompt" else "root_cause", "evidence_note": TEXT}
        assert web.post(f"/diagnoses/{diagnosis.pk}/verdict/", verdict).status_code == 302
        key = checklist_for(diagnosis.layer, diagnosis.checklist)[0]["key"]
        assert web.post(f"/diagnoses/{diagnosis.pk}/checklist/", {"key": key, "answer": TEXT}).status_code == 302
        owner = {"owner": layer_owners[diagnosis.layer].pk, "reason": TEXT}
        assert web.post(f"/diagnoses/{diagnosis.pk}/assign/", owner).status_code == 302

    # Action items: one through the API (with a tracker link), one through the web form; a won't-do reason.
    due = (timezone.localdate() + dt.timedelta(days=7)).isoformat()
    item = api.post(
        "/api/v1/action-items/",
        {"incident": incident.pk, "title": SHORT, "owner": layer_owners["model"].username, "due_date": due,
         "layer": "model", "tracker_url": "https://tracker.example/RW-1"},
    )  # fmt: skip
    assert item.status_code == 201, item.json()
    web_item = {"title": SHORT, "layer": "data", "owner": layer_owners["data"].pk, "due_date": due,
                "priority": "p2", "kind": "corrective", "confirm_duplicate": "on"}  # fmt: skip
    assert web.post(f"/incidents/{incident.pk}/action-items/", web_item).status_code == 302
    wont = ActionItem.objects.filter(incident=incident).order_by("id").last()
    status = web.post(f"/action-items/{wont.pk}/status/", {"status": "wont_do", "wont_do_reason": TEXT})
    assert status.status_code == 302

    # Postmortem: every section through the web form, one again through the API.
    from incidents.models import POSTMORTEM_TEXT_FIELDS

    sections = dict.fromkeys(POSTMORTEM_TEXT_FIELDS, TEXT)
    assert web.post(f"/incidents/{incident.pk}/postmortem/", sections).status_code in (200, 302)
    postmortem = Postmortem.objects.get(incident=incident)
    patched = api.patch(f"/api/v1/postmortems/{postmortem.pk}/", {"lessons": TEXT + "\n\n" + SHORT})
    assert patched.status_code == 200, patched.json()

    # Releases: a prompt and a release with payloads, deployed to staging.
    r1, r2 = deployed
    prompt = api.post(
        "/api/v1/prompt-versions/",
        {"name": "support", "system_prompt": TEXT, "template": TEXT, "author": SHORT, "message": SHORT},
    )
    assert prompt.status_code == 201, prompt.json()
    release = api.post(
        "/api/v1/releases/",
        {"feature": "support-assistant", "model": r2.model_id, "prompt": prompt.json()["id"], "index": r2.index_id,
         "query_encoder": r2.query_encoder, "source": "ci", "notes": TEXT},
    )  # fmt: skip
    assert release.status_code == 201, release.json()
    deployment = {"feature": "support-assistant", "environment": "staging", "release": release.json()["id"]}
    assert api.post("/api/v1/deployments/", deployment).status_code == 201

    # A behaviour-diff report whose cases and answers carry payloads, linked to the incident with a payload note.
    cases = [{"case_id": f"c{i}", "input": SHORT, "locale": "en"} for i in range(6)]
    version = report_services.prompt_set_import(
        actor=responder, name="payloads", file=io.BytesIO(jsonl(cases)), filename="cases.jsonl"
    )
    outputs = [{"case_id": f"c{i}", "output": TEXT} for i in range(6)]
    report = report_services.report_request(
        actor=responder,
        prompt_set_version=version,
        release_a=r1,
        release_b=r2,
        outputs_a=report_services.OutputFile(io.BytesIO(jsonl(outputs)), "a.jsonl"),
        outputs_b=report_services.OutputFile(io.BytesIO(jsonl(outputs)), "b.jsonl"),
        title=SHORT,
    )
    result = contract_result()
    for change in result["top_changes"]:
        change.update(output_a=TEXT, output_b=TEXT)
    from diagnostics.reports.runner import RUNNER, summarise

    report_services.report_transition(actor=RUNNER, report=report, old="queued", new="running")
    report_services.report_transition(
        actor=RUNNER, report=report, old="running", new="succeeded", result=result, summary=summarise(result),
        verdict=result["verdict"], progress=1.0,
    )  # fmt: skip
    link = {"purpose": "evidence", "object_type": "incidents.incident", "object_id": incident.pk, "layer": "prompt",
            "note": TEXT}  # fmt: skip
    assert web.post(f"/reports/{report.pk}/links/", link).status_code == 302

    release = Release.objects.get(pk=release.json()["id"])
    return {"incident": incident, "report": report, "release": release, "first_release": r1}


def _pages(world) -> list[str]:
    incident, report, release = world["incident"], world["report"], world["release"]
    return [
        "/incidents/",
        f"/incidents/{incident.pk}/",
        f"/incidents/{incident.pk}/timeline/",
        f"/incidents/{incident.pk}/postmortem/",
        f"/incidents/{incident.pk}/postmortem/print/",
        "/action-items/",
        "/dashboard/",
        "/ownership/",
        "/reports/",
        f"/reports/{report.pk}/",
        f"/features/{release.feature.slug}/",
        release.get_absolute_url(),
        f"/features/{release.feature.slug}/diff/?old={world['first_release'].pk}&new={release.pk}",
        f"/features/{release.feature.slug}/staging/rollback/plan",
        "/rollouts/",
        "/api/docs/",
    ]


def test_no_payload_runs_on_any_page_and_every_page_carries_the_csp(
    live_server, admin_user, responder, approver, layer_owners, production, deployed
):
    from playwright.sync_api import sync_playwright

    world = _fill_every_field(admin_user, responder, approver, layer_owners, production, deployed)
    pages, report_id = _pages(world), world["report"].pk
    dialogs: list[str] = []
    problems: dict[str, object] = {}
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.add_init_script(INIT)
        page.on("dialog", lambda d: (dialogs.append(f"{page.url}: {d.message}"), d.dismiss()))
        log_in(page, live_server, approver)
        page.wait_for_url(f"{live_server.url}/**")
        for path in pages:
            response = page.goto(live_server.url + path)
            assert response.status == 200, path
            csp = response.headers.get("content-security-policy", "")
            assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
            assert response.headers.get("x-content-type-options") == "nosniff"
            assert response.headers.get("referrer-policy") == "same-origin"
            page.wait_for_load_state("networkidle")
            page.mouse.move(5, 5)
            page.mouse.move(400, 300)  # hover handlers would fire here
            executed = page.evaluate("window.__xssCount")
            violations = page.evaluate("window.__violations")
            dom = page.evaluate(DOM_CHECK)
            if executed or violations or any(dom.values()):
                problems[path] = {"executed": executed, "violations": violations, "dom": dom}
        # The dashboard and the report draw their plotly charts under the policy.
        page.goto(f"{live_server.url}/dashboard/")
        wait_until(page, "document.querySelectorAll('[data-figure] .main-svg').length >= 5")
        page.goto(f"{live_server.url}/reports/{report_id}/")
        wait_until(page, "document.querySelectorAll('.main-svg').length >= 1")
        assert page.evaluate("window.__violations") == []
        browser.close()
    assert dialogs == []
    assert problems == {}


def test_the_markdown_export_carries_no_live_markup(
    live_server, admin_user, responder, approver, layer_owners, production, deployed
):
    world = _fill_every_field(admin_user, responder, approver, layer_owners, production, deployed)
    web = Client()
    web.force_login(approver)
    response = web.get(f"/incidents/{world['incident'].pk}/postmortem.md")
    assert response.status_code == 200
    text = response.content.decode()
    assert text.count("&lt;script&gt;") >= 9  # every section is in it, escaped
    assert "<" not in text.replace("<!--", "")  # no raw HTML at all, not even a Slack-style <!here>
    assert not re.search(r"\]\(\s*javascript:", text, re.IGNORECASE)
    # Rendered by a plain Markdown renderer (no sanitiser of its own), it is still inert.
    html = markdown.markdown(text, extensions=["tables"])
    assert not re.search(r"<(script|img|svg|iframe|style|form|details)\b", html, re.IGNORECASE)
    assert not re.search(r"<[a-z][^>]*\son\w+\s*=", html, re.IGNORECASE)
    assert not re.search(r"<a\b[^>]*href=\"\s*javascript:", html, re.IGNORECASE)
    # The behaviour-diff report's export too.
    report_md = web.get(f"/reports/{world['report'].pk}/export.md")
    assert report_md.status_code == 200
    assert "<script" not in report_md.content.decode() and "<img" not in report_md.content.decode()
    json.loads(web.get(f"/reports/{world['report'].pk}/export.json").content)
