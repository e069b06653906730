"""Append-only records: versions, releases, deployment events, audit entries.

Corrections are new records; the ORM refuses updates and deletes of existing rows.
"""

from __future__ import annotations

from django.db import models


class ImmutableRecordError(Exception):
    pass


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableRecordError(f"{self.model.__name__} records are immutable; create a new one instead")

    def delete(self):
        raise ImmutableRecordError(f"{self.model.__name__} records cannot be deleted")


class ImmutableModel(models.Model):
    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecordError(f"{type(self).__name__} #{self.pk} is immutable; create a new record")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError(f"{type(self).__name__} records cannot be deleted")


# The database holds the same rule, so that SQL written around the ORM (a shell, a script, another service)
# cannot change history either. Row triggers do not fire on TRUNCATE, which is how test databases are reset.
APPEND_ONLY_FUNCTION = "rewind_append_only_refuse"


def _create_triggers_sql(tables: tuple[str, ...]) -> list[str]:
    statements = [
        f"""
        CREATE OR REPLACE FUNCTION {APPEND_ONLY_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% on %: rows are append-only; corrections are new records', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'integrity_constraint_violation';
        END
        $$
        """
    ]
    for table in tables:
        statements.append(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
        statements.append(
            f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION {APPEND_ONLY_FUNCTION}()"
        )
    return statements


def append_only_triggers(*tables: str):
    """A migration operation: on PostgreSQL, triggers that refuse UPDATE and DELETE on these tables (SQLite
    has only the ORM's refusal)."""
    from django.db import migrations

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for statement in _create_triggers_sql(tables):
                cursor.execute(statement)  # no parameters: the % in the function body stay as written

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')

    return migrations.RunPython(forward, backward, elidable=False)
