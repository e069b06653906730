"""Refusals read as pages: the reason the rules gave, a way back, no traceback in the log, each line once."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.django_db


def test_a_viewer_refused_sees_the_role_needed_and_a_way_back(client, viewer):
    client.force_login(viewer)
    response = client.get("/incidents/new/", HTTP_REFERER="http://testserver/incidents/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "This needs the responder role (incident.create)." in html
    assert 'href="http://testserver/incidents/"' in html  # back to where they came from
    assert 'class="topbar"' in html and "Incidents</a>" in html  # the normal navigation


def test_back_never_points_off_site(client, viewer):
    client.force_login(viewer)
    response = client.get("/incidents/new/", HTTP_REFERER="https://evil.example/phish")
    assert "evil.example" not in response.content.decode()


def test_an_htmx_refusal_is_the_reason_as_plain_text(client, viewer):
    client.force_login(viewer)
    response = client.get("/incidents/new/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "This needs the responder role (incident.create)."


def test_a_missing_page_is_a_styled_404(client, viewer):
    client.force_login(viewer)
    response = client.get("/incidents/999999/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Not found" in html and 'id="error-back"' in html
    assert "{" not in html.split('id="error-reason"')[1].split("</p>")[0]


def test_an_unknown_url_says_so_without_resolver_internals(client, viewer):
    client.force_login(viewer)
    html = client.get("/no-such-page/").content.decode()
    assert "There is nothing at /no-such-page/." in html


@pytest.mark.parametrize("debug", ["1", "0"])
def test_each_log_line_is_printed_once(debug):
    """With DEBUG, Django's own console handler and the root handler both printed every django.* line."""
    import os
    import subprocess
    import sys

    code = (
        "import django, logging; django.setup();"
        "logging.getLogger('django.request').warning('line-from-django-request');"
        "logging.getLogger('django.server').info('line-from-django-server');"
        "logging.getLogger('rewind.anything').warning('line-from-the-app')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": debug, "DATABASE_URL": "sqlite://"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    printed = out.stdout + out.stderr
    for line in ("line-from-django-request", "line-from-django-server", "line-from-the-app"):
        assert printed.count(line) == 1, printed


def test_a_refusal_logs_one_line_without_a_traceback(client, viewer, caplog):
    client.force_login(viewer)
    handler = logging.getLogger().handlers[0]
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/incidents/new/")
    record = next(r for r in caplog.records if r.name == "django.request")
    assert record.getMessage() == "Forbidden (Permission denied): /incidents/new/"
    formatted = handler.format(record) if all(f.filter(record) for f in handler.filters) else ""
    assert formatted and "Traceback" not in formatted


def test_a_server_error_keeps_its_traceback():
    from core.logging import ExpectedRefusalFilter

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), sys.exc_info())
    record.status_code = 500
    ExpectedRefusalFilter().filter(record)
    assert record.exc_info is not None


def test_every_page_links_a_favicon_that_exists(client, viewer):
    client.force_login(viewer)
    html = client.get("/incidents/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in html
    assert client.get("/static/favicon.svg").status_code == 200
    assert client.get("/favicon.ico").status_code == 301


def test_swagger_groups_operations_by_resource(client, viewer):
    client.force_login(viewer)
    schema = client.get("/api/schema/?format=json").json()
    tags = {tag for ops in schema["paths"].values() for op in ops.values() for tag in op.get("tags", [])}
    assert {"incidents", "releases", "reports", "action-items", "runs"} <= tags
    assert "v1" not in tags and "api" not in tags
