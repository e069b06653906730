"""Shared cast and helpers. Build state through services, not raw ORM writes."""

from __future__ import annotations

import os

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.models import Role, Team, User
from tests.support.worker import CeleryWorker

pytest_plugins: list[str] = []


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at Django's default iterations costs ~0.5 s per user on a busy CI machine; tests need no strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections_before_teardown(django_db_setup, django_db_blocker):
    """Live-server threads and browser polls can leave a session open on the test database, which makes its
    DROP at teardown fail. End them first (PostgreSQL only)."""
    yield
    with django_db_blocker.unblock():
        from django.db import OperationalError, connection

        if connection.vendor != "postgresql":
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        except OperationalError:
            # A run of tests that never touch the database has no test database to clean up after.
            pass


def _person(username: str, role: Role, **extra) -> User:
    return User.objects.create_user(
        username=username, password="pw-" + username, email=f"{username}@example.com", role=role, **extra
    )


@pytest.fixture
def team(db) -> Team:
    return Team.objects.create(slug="ml-platform", name="ML Platform")


@pytest.fixture
def viewer(db) -> User:
    return _person("vera", Role.VIEWER, first_name="Vera")


@pytest.fixture
def responder(db) -> User:
    return _person("rafa", Role.RESPONDER, first_name="Rafa")


@pytest.fixture
def approver(db) -> User:
    return _person("ana", Role.APPROVER, first_name="Ana")


@pytest.fixture
def admin_user(db) -> User:
    return _person("ada", Role.ADMIN, first_name="Ada")


def api_client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api_as():
    """api_as(user) -> an APIClient authenticated with the user's token (None: anonymous)."""
    return api_client_for


@pytest.fixture
def web_as(client):
    """web_as(user) -> the Django test client logged in as the user."""

    def login(user: User):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real Celery worker process on the configured broker (Redis in CI), reading the test database.

    Tests that use it must be transactional so the worker sees committed rows.
    """
    worker = CeleryWorker()
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def requires_browser() -> bool:
    return os.path.exists("/usr/bin/chromium")
