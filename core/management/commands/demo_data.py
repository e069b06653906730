"""Loads demo data; idempotent (running it twice changes nothing). Each app adds its part: its AppConfig names
a ``demo_loader`` (dotted path of ``load(people)``), run in INSTALLED_APPS order, so core never imports the
apps above it."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

from core.demo import load_people


class Command(BaseCommand):
    help = "Load demo people, features, releases and incidents (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        people = load_people()
        for config in apps.get_app_configs():
            loader = getattr(config, "demo_loader", "")
            if loader:
                import_string(loader)(people)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins (password = demo-rewind):"))
        for user in people.values():
            self.stdout.write(f"  {user.username:<8} {user.effective_role}")
