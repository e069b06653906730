"""Gateway polls of the routing table through the project's WSGI application (config.wsgi), as gunicorn serves
it: a token poll this process can answer is answered in front of Django, with Django's answer; everything else,
people's sessions included, goes through Django unchanged."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.authtoken.models import Token

from config.wsgi import application
from rollouts.runs import gateway_tokens
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db
URL = "/api/v1/routing/support-assistant/staging"
ROOT = Path(__file__).resolve().parents[3]
NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes, through_django: bool):
        self.status_code = int(status.split()[0])
        self.headers = dict(headers)
        self.body = body
        self.through_django = through_django

    def json(self):
        return json.loads(self.body)


def wsgi(path: str = URL, *, token: str | None = None, method: str = "GET", query: str = "", **headers) -> Answer:
    """One request through config.wsgi.application. Like Django's test client, it keeps the request signals from
    closing the test's database connection (the test runs inside a transaction)."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        **({"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}),
        **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
    }
    started = []

    def note(**_kwargs):
        started.append(True)

    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer.update(status=status, headers=response_headers)

    request_started.connect(note)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = application(environ, start_response)
        body = b"".join(result)
        with contextlib.suppress(AttributeError):
            result.close()
    finally:
        request_started.disconnect(note)
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return Answer(answer["status"], answer["headers"], body, through_django=bool(started))


@pytest.fixture
def staging(team, approver):
    feature, staging, _ = feature_with_envs(team)
    deploy(approver, staging, release(approver, feature, prompt="v1"))
    return staging


@pytest.fixture
def token(viewer):
    return Token.objects.create(user=viewer).key


def test_a_repeated_token_poll_is_answered_before_django_with_djangos_answer(staging, token, django_assert_num_queries):
    first = wsgi(token=token)
    assert first.through_django and first.status_code == 200
    assert first.json()["releases"][0]["weight"] == 100
    with django_assert_num_queries(0):
        again = wsgi(token=token)
        not_modified = wsgi(token=token, if_none_match=first.headers["ETag"])
    assert not again.through_django and again.status_code == 200
    assert again.body == first.body and again.headers == first.headers
    assert again.headers["Content-Type"] == "application/json" and again.headers["Cache-Control"] == "no-cache"
    assert again.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in again.headers
    assert not not_modified.through_django and not_modified.status_code == 304 and not_modified.body == b""
    assert not_modified.headers["ETag"] == first.headers["ETag"]
    among_others = wsgi(token=token, if_none_match=f'"other", {first.headers["ETag"]}')
    assert not among_others.through_django and among_others.status_code == 304
    gateway_tokens._remembered.clear()  # a process that has not seen the token yet: Django answers the 304
    through_django = wsgi(token=token, if_none_match=first.headers["ETag"])
    assert through_django.through_django and through_django.headers == not_modified.headers


def test_the_short_path_gives_the_new_table_after_a_routing_change(
    staging, token, responder, team, approver, django_capture_on_commit_callbacks
):
    first = wsgi(token=token)
    stable = first.json()["releases"][0]["release"]
    candidate = release(approver, staging.feature, prompt="v2")
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.run_start(
            actor=responder,
            environment=staging,
            candidate_release=candidate,
            steps=[{"type": "weight", "weight": 5}, {"type": "pause"}, {"type": "weight", "weight": 100}],
        )
        runs.run_advance(run_id=run.pk)
    changed = wsgi(token=token, if_none_match=first.headers["ETag"])
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    assert [(r["release"], r["weight"]) for r in changed.json()["releases"]] == [(stable, 95), (candidate.number, 5)]
    again = wsgi(token=token, if_none_match=changed.headers["ETag"])
    assert not again.through_django and again.status_code == 304


def test_a_bad_token_is_refused_with_the_same_answer_as_django(staging):
    refused = wsgi(token="not-a-real-token")
    assert refused.through_django and refused.status_code == 401 and refused.json() == NOT_AUTHENTICATED
    assert wsgi().status_code == 401


def test_a_deactivated_user_or_a_deleted_token_is_refused_at_once(
    staging, token, viewer, django_capture_on_commit_callbacks
):
    assert wsgi(token=token).status_code == 200
    assert not wsgi(token=token).through_django
    with django_capture_on_commit_callbacks(execute=True):
        viewer.is_active = False
        viewer.save()
    refused = wsgi(token=token)
    assert refused.status_code == 401 and refused.json() == NOT_AUTHENTICATED

    with django_capture_on_commit_callbacks(execute=True):
        viewer.is_active = True
        viewer.save()
    assert wsgi(token=token).status_code == 200 and not wsgi(token=token).through_django
    with django_capture_on_commit_callbacks(execute=True):
        Token.objects.filter(key=token).delete()
    assert wsgi(token=token).status_code == 401


def test_a_login_does_not_make_every_process_look_tokens_up_again(
    staging, token, viewer, client, django_capture_on_commit_callbacks
):
    wsgi(token=token)
    with django_capture_on_commit_callbacks(execute=True):
        client.force_login(viewer)  # saves last_login only
    assert not wsgi(token=token).through_django
    with django_capture_on_commit_callbacks(execute=True):
        viewer.first_name = "Vera Lynn"
        viewer.save()  # any other change is looked up again
    assert wsgi(token=token).through_django


@pytest.mark.django_db(transaction=True)
def test_a_user_deactivated_in_another_process_is_refused_within_the_generation_time(
    team, approver, viewer, responder, monkeypatch
):
    # Starting another Django process can take longer than TOKEN_SECONDS on a busy machine: what is tested here
    # is the generation, not the expiry.
    monkeypatch.setattr(gateway_tokens, "TOKEN_SECONDS", 600.0)
    feature, staging, _ = feature_with_envs(team)
    deploy(approver, staging, release(approver, feature, prompt="v1"))
    token = Token.objects.create(user=viewer).key
    other_gateway = Token.objects.create(user=responder).key
    assert wsgi(token=token).status_code == 200 and not wsgi(token=token).through_django
    database = settings.DATABASES["default"]
    script = (
        "import django; django.setup(); from core.models import User; "
        f"u = User.objects.get(pk={viewer.pk}); u.is_active = False; u.save()"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        check=True,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        },
    )
    time.sleep(gateway_tokens.GENERATION_SECONDS * 2)
    # Another gateway's poll keeps the table current in this process (it expires from Redis after a while).
    assert wsgi(token=other_gateway).status_code == 200 and not wsgi(token=other_gateway).through_django
    refused = wsgi(token=token)
    assert refused.through_django and refused.status_code == 401


def test_a_signed_in_person_and_everything_else_goes_through_django(staging, token, viewer, client):
    assert wsgi(token=token).status_code == 200  # the token and the table are now held in this process
    client.force_login(viewer)
    person = wsgi(cookie=f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}")
    assert person.through_django and person.status_code == 200
    assert person.json() == wsgi(token=token).json()
    for answer, status in [
        (wsgi(token=token, method="POST"), 403),  # Django's CSRF check, before the view's 405
        (wsgi(token=token, method="HEAD"), 405),
        (wsgi("/api/v1/routing/support-assistant/nope", token=token), 404),
        (wsgi("/api/v1/routing/nope/staging", token=token), 404),
        (wsgi(token=token, query="format=litellm"), 200),
        (wsgi(token=token, host="evil.example"), 400),
    ]:
        assert answer.through_django and answer.status_code == status
