"""On PostgreSQL the append-only tables refuse UPDATE and DELETE in the database itself, so SQL written around
the ORM cannot rewrite history either; TRUNCATE (how test databases are reset) still works."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.immutable import ImmutableModel
from incidents.action_item_services import action_item_create
from incidents.postmortem_services import postmortem_publish
from tests.diagnostics.test_forced_ownership import _ready_postmortem

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="triggers are installed on PostgreSQL only")

TABLES = importlib.import_module("core.migrations.0003_append_only_triggers").APPEND_ONLY_TABLES
# The records the design names append-only; each must have rows in the world below.
NAMED = ["rollouts_modelversion", "rollouts_promptversion", "rollouts_indexversion", "rollouts_release",
         "rollouts_deploymentevent", "core_auditentry", "incidents_postmortemrevision"]  # fmt: skip


def _first_row(table: str):
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY id LIMIT 1')  # noqa: S608 - our table names
        return cursor.fetchone()


def _refused(sql: str) -> str:
    with pytest.raises(IntegrityError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    return str(refused.value)


@pytest.fixture
def history(incident, responder, approver, layer_owners):
    """Versions, releases and deployments (the incident world), audit entries, evidence, owner assignments and
    a published postmortem revision, all through the services."""
    postmortem = _ready_postmortem(incident, responder, approver, layer_owners)
    action_item_create(
        actor=responder,
        incident=incident,
        title="Alert on citation mismatch",
        owner=layer_owners["product"],
        due_date=timezone.localdate() + dt.timedelta(days=14),
        layer="product",
    )
    return postmortem_publish(actor=approver, postmortem=postmortem)


def test_every_immutable_model_has_its_table_guarded():
    immutable = {m._meta.db_table for m in apps.get_models() if issubclass(m, ImmutableModel)}
    assert immutable == set(TABLES)


@pytest.mark.django_db
def test_update_and_delete_are_refused_on_every_append_only_table_with_rows(history):
    checked = []
    for table in TABLES:
        before = _first_row(table)
        if before is None:
            continue
        message = _refused(f'UPDATE "{table}" SET id = id WHERE id = {before[0]}')  # noqa: S608
        assert "append-only" in message and table in message
        assert "append-only" in _refused(f'DELETE FROM "{table}" WHERE id = {before[0]}')  # noqa: S608
        assert _first_row(table) == before
        checked.append(table)
    assert set(NAMED) <= set(checked), checked


@pytest.mark.django_db
def test_a_published_revision_cannot_be_rewritten_with_sql(history):
    _refused(f"UPDATE incidents_postmortemrevision SET markdown = 'rewritten' WHERE id = {history.pk}")  # noqa: S608
    _refused("DELETE FROM incidents_postmortemrevision")
    history.refresh_from_db()
    assert history.markdown != "rewritten" and "Alert on citation mismatch" in history.markdown


@pytest.mark.django_db(transaction=True)
def test_outside_a_test_transaction_too_and_the_database_can_still_be_flushed(history):
    """Committed rows are guarded as well; the flush after this test (TRUNCATE) must still empty the tables."""
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET action = 'forged'")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM core_auditentry WHERE action = 'forged'")
        assert cursor.fetchone() == (0,)


@pytest.mark.django_db
def test_other_tables_are_not_affected(history, incident):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE incidents_incident SET title = 'renamed' WHERE id = %s", [incident.pk])
    incident.refresh_from_db()
    assert incident.title == "renamed"
