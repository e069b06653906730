"""Production settings: the published development key is refused, HTTPS-only cookies, HSTS and the proxy
header follow REWIND_PRODUCTION, `check --deploy` has nothing to say, and demo data stays out."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.models import User

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path, **values) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE", "DEBUG")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        REWIND_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.pop("REDIS_URL", None)
    env.update(values)
    return env


def _manage(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=_env(tmp_path, **env), capture_output=True, text=True
    )


def _production(**extra) -> dict:
    return {
        "REWIND_PRODUCTION": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "rewind.example.com",
        **extra,
    }


def test_check_deploy_passes_without_a_warning_under_production_settings(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **_production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr and "System check identified no issues" in result.stdout


@pytest.mark.parametrize("debug", ["0", "1"])
def test_the_development_key_is_refused_in_production_whatever_debug_says(tmp_path, debug):
    result = _manage(tmp_path, "check", **_production(SECRET_KEY="insecure-dev-key-change-me", DEBUG=debug))
    assert result.returncode != 0 and "published development key" in result.stderr


def test_with_debug_off_the_development_key_and_no_key_are_refused(tmp_path):
    refused = _manage(tmp_path, "check", SECRET_KEY="insecure-dev-key-change-me")
    assert refused.returncode != 0 and "published development key" in refused.stderr
    missing = _manage(tmp_path, "check")
    assert missing.returncode != 0 and "SECRET_KEY is required" in missing.stderr


def test_development_with_debug_on_needs_no_key(tmp_path):
    result = _manage(tmp_path, "check", DEBUG="1")
    assert result.returncode == 0, result.stderr


PROBE = """
import django
django.setup()
from django.test import Client
client = Client()
plain = client.get("/healthz")
login = client.get("/login/", secure=True, HTTP_HOST="rewind.example.com")
forwarded = client.get("/login/", HTTP_HOST="rewind.example.com", HTTP_X_FORWARDED_PROTO="https")
redirect = client.get("/login/", HTTP_HOST="rewind.example.com")
print(login.cookies["csrftoken"]["secure"] is True or login.cookies["csrftoken"]["secure"] == True)
print(login.headers.get("Strict-Transport-Security"))
print(forwarded.status_code, redirect.status_code, redirect.headers.get("Location"))
"""


def test_production_cookies_are_https_only_with_hsts_and_plain_http_redirected(tmp_path):
    migrate = _manage(tmp_path, "migrate", "-v0", **_production())
    assert migrate.returncode == 0, migrate.stderr
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=_env(tmp_path, **_production()), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    secure_cookie, hsts, redirects = result.stdout.strip().splitlines()
    assert secure_cookie == "True"
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    # Behind the TLS proxy (X-Forwarded-Proto: https) the page is served; plain HTTP is sent to HTTPS.
    assert redirects == "200 301 https://rewind.example.com/login/"


def test_the_hardening_can_be_turned_off_one_setting_at_a_time(tmp_path):
    probe = "import django; django.setup(); from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=_env(
            tmp_path, **_production(SESSION_COOKIE_SECURE="0", SECURE_HSTS_SECONDS="0", SECURE_PROXY_SSL_HEADER="none")
        ),
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["False", "0", "None"], result.stderr


@pytest.mark.django_db
def test_demo_data_refuses_to_run_in_production(settings):
    settings.REWIND_PRODUCTION = True
    with pytest.raises(CommandError, match="REWIND_PRODUCTION=1"):
        call_command("demo_data")
    assert not User.objects.exists()
