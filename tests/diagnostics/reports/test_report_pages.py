from __future__ import annotations

import csv
import io
import re

import pytest

from diagnostics.models import ReportStatus
from tests.diagnostics.reports.conftest import contract_result

pytestmark = pytest.mark.django_db


def test_the_report_page_shows_verdict_metrics_flips_segments_and_word_diffs(web_as, viewer, finished_report):
    report = finished_report()
    html = web_as(viewer).get(f"/reports/{report.pk}/").content.decode()
    assert 'id="overall-verdict">regression<' in html
    assert "3 answers became refusals, none stopped" in html
    assert '<td class="diff-add">3</td>' in html  # B-only refusals in the flip matrix
    assert "locale=de" in html and 'id="segment-heatmap"' in html and 'id="heatmap-data"' in html
    assert '<span class="diff-add">I cannot help with that</span>' in html
    assert '<span class="diff-del">Gern helfe ich</span>' in html
    # Plotly is served by us, never from a CDN.
    assert "/static/plotly/plotly.min.js" in html
    # No asset from another host (a random CSRF token may well contain the letters "cdn").
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html)


def test_plotly_js_is_served_locally(client, db):
    response = client.get("/static/plotly/plotly.min.js")
    assert response.status_code == 200
    assert b"plotly" in b"".join(response.streaming_content)[:5000].lower()


def test_the_segment_filter_returns_only_the_fragment_for_htmx(web_as, viewer, finished_report):
    report = finished_report()
    client = web_as(viewer)
    fragment = client.get(
        f"/reports/{report.pk}/?segment=locale%3Den", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="segment-view"
    ).content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="segment-view">')
    assert "c1" in fragment and "c0" not in fragment
    full = client.get(f"/reports/{report.pk}/?segment=locale%3Den").content.decode()
    assert "<html" in full and '<option value="locale=en" selected>' in full


def test_a_running_report_polls_its_progress_and_refreshes_when_done(web_as, viewer, finished_report):
    report = finished_report(status=ReportStatus.RUNNING)
    client = web_as(viewer)
    html = client.get(f"/reports/{report.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in html and "<progress" in html
    assert "plotly.min.js" not in html
    poll = client.get(f"/reports/{report.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="report-progress")
    assert "<html" not in poll.content.decode() and "HX-Refresh" not in poll
    report.__class__.objects.filter(pk=report.pk).update(status=ReportStatus.SUCCEEDED)
    poll = client.get(f"/reports/{report.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="report-progress")
    assert poll["HX-Refresh"] == "true"


def test_exports_in_json_csv_and_markdown(web_as, viewer, finished_report):
    report = finished_report()
    client = web_as(viewer)
    as_json = client.get(f"/reports/{report.pk}/export.json")
    assert as_json.json()["distributions"]["length_chars"]["a"] == [8.0] * 6
    assert as_json["Content-Disposition"].endswith('.json"')
    rows = list(csv.DictReader(io.StringIO(client.get(f"/reports/{report.pk}/export.csv").content.decode())))
    assert rows[0]["scope"] == "overall" and rows[0]["metric"] == "refusal" and rows[0]["ci_low"] == "0.2"
    assert any(r["scope"] == "segment" and r["value"] == "de" and r["verdict"] == "regression" for r in rows)
    markdown = client.get(f"/reports/{report.pk}/export.md").content.decode()
    assert markdown.startswith(
        "# 0314 vs 0613\n\n- A: support-assistant #1 (gpt-4-0314)\n- B: support-assistant #2 (gpt-4-0613)"
    )
    assert (
        "**Verdict: regression** over 6 cases" in markdown and "- locale=de (n=3): refusal +100 pp: worse" in markdown
    )
    assert client.get(f"/reports/{report.pk}/export.xml").status_code == 404


def test_exports_of_an_unfinished_report_say_why_there_is_nothing(web_as, viewer, finished_report):
    report = finished_report(status=ReportStatus.QUEUED)
    response = web_as(viewer).get(f"/reports/{report.pk}/export.json")
    assert response.status_code == 409 and b"queued" in response.content


def test_the_list_page_uses_a_constant_number_of_queries(
    web_as, viewer, finished_report, django_assert_max_num_queries
):
    for _ in range(3):
        finished_report()
    client = web_as(viewer)
    with django_assert_max_num_queries(4):
        html = client.get("/reports/").content.decode()
    assert html.count("0314 vs 0613") == 3


def test_the_api_detail_carries_the_summary_and_the_result_action_the_full_report(api_as, viewer, finished_report):
    report = finished_report(contract_result(verdict="no_significant_change"))
    client = api_as(viewer)
    detail = client.get(f"/api/v1/reports/{report.pk}/").json()
    assert detail["verdict"] == "no_significant_change" and detail["gate_passes"] is True
    assert "distributions" not in detail["summary"] and detail["summary"]["histograms"]["length_chars"]["a"][0] == 6
    assert client.get(f"/api/v1/reports/{report.pk}/result/").json()["n_cases"] == 6


def test_the_heat_map_colours_worse_red_whatever_the_metric_unit():
    from diagnostics.reports.selectors import report_heatmap

    summary = {
        "metrics": [
            {"name": "refusal", "direction": "up_is_worse"},
            {"name": "json_valid", "direction": "down_is_worse"},
        ],
        "segments": [
            {"field": "locale", "value": "de", "metric": "refusal", "delta": 0.5, "verdict": "regression"},
            {"field": "locale", "value": "en", "metric": "refusal", "delta": 0.1, "verdict": "no_significant_change"},
            {"field": "locale", "value": "de", "metric": "json_valid", "delta": -0.2, "verdict": "regression"},
            {"field": "locale", "value": "en", "metric": "json_valid", "delta": 0.4, "verdict": "improvement"},
        ],
    }
    trace = report_heatmap(summary)["data"][0]
    assert trace["y"] == ["locale=de", "locale=en"] and trace["x"] == ["json_valid", "refusal"]
    # Plotly's RdBu: -1 is blue (better), +1 red (worse); each metric scaled by its own largest |delta|.
    assert trace["z"] == [[0.5, 1.0], [-1.0, 0.2]]
    assert trace["text"][0][1] == "+0.5 ▼" and trace["text"][1][0] == "+0.4 ▲"


def test_api_lists_and_the_prompt_set_page_use_a_constant_number_of_queries(
    api_as, web_as, viewer, finished_report, django_assert_max_num_queries
):
    for _ in range(3):
        finished_report()
    client = api_as(viewer)
    for url in ("/api/v1/reports/", "/api/v1/prompt-sets/", "/api/v1/prompt-set-versions/"):
        with django_assert_max_num_queries(4):
            assert client.get(url).json()["count"] >= 1
    browser = web_as(viewer)
    with django_assert_max_num_queries(4):
        page = browser.get("/prompt-sets/").content.decode()
    assert page.count("v3") == 1


def test_the_list_refreshes_itself_only_while_a_report_runs(web_as, viewer, finished_report):
    finished_report()
    client = web_as(viewer)
    assert "hx-trigger" not in client.get("/reports/").content.decode()
    finished_report(status=ReportStatus.RUNNING)
    assert 'hx-trigger="every 3s"' in client.get("/reports/").content.decode()
    fragment = client.get("/reports/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith('<table class="table" id="report-list"')
