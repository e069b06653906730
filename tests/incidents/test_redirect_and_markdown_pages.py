"""Redirects after a form stay on this site; the print view renders Markdown through the sanitiser."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from incidents.action_item_services import action_item_create
from incidents.models import ActionItem, Postmortem, PostmortemRevision

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(incident, responder, layer_owners):
    return action_item_create(
        actor=responder,
        incident=incident,
        title="Pin the snapshot",
        owner=layer_owners["model"],
        due_date=timezone.localdate() + dt.timedelta(days=3),
        layer="model",
    )


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "https:evil.example", "javascript:alert(1)"],
)
def test_the_status_form_never_redirects_off_site(web_as, responder, item, target):
    response = web_as(responder).post(f"/action-items/{item.pk}/status/", {"status": "in_progress", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/action-items/"


def test_the_status_form_returns_to_the_board_page_it_came_from(web_as, responder, item):
    back = "/action-items/?owner=mo&status=open"
    response = web_as(responder).post(f"/action-items/{item.pk}/status/", {"status": "in_progress", "next": back})
    assert response["Location"] == back
    assert ActionItem.objects.get(pk=item.pk).status == "in_progress"


def test_the_print_view_sanitises_markdown_even_from_a_revision_stored_with_raw_html(web_as, approver, incident):
    postmortem = Postmortem.objects.create(incident=incident)
    PostmortemRevision.objects.create(
        postmortem=postmortem,
        number=1,
        snapshot={},
        markdown="# Title\n\n<script>alert(1)</script><img src=x onerror=alert(2)>\n\n"
        "[good](https://runbook.example/x) [bad](javascript:alert(3)) <a href='JAVASCRIPT:alert(4)'>raw</a>\n\n"
        "| a | b |\n|---|---|\n| <b onclick=alert(5)>1</b> | 2 |\n",
    )
    html = web_as(approver).get(f"/incidents/{incident.pk}/postmortem/print/").content.decode()
    article = html.split('<article class="print-doc">')[1].split("</article>")[0]
    assert "<h1>Title</h1>" in article and "<table>" in article
    assert '<a href="https://runbook.example/x" rel="noopener noreferrer nofollow">good</a>' in article
    assert "<script" not in article and "<img" not in article and "onerror" not in article
    assert "onclick" not in article and "javascript:" not in article.lower()


def test_every_response_carries_the_security_headers(client, api_as, viewer):
    for response in (client.get("/login/"), api_as(viewer).get("/api/v1/incidents/"), client.get("/healthz")):
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
