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
