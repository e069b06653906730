"""Loads demo data; idempotent (running it twice changes nothing). Each app adds its part in demo.py."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.demo import load_people


class Command(BaseCommand):
    help = "Load demo people, features, releases and incidents (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        if settings.REWIND_PRODUCTION:
            # The demo logins share a password printed in the README: never on a production database.
            raise CommandError(
                "demo_data refuses to run with REWIND_PRODUCTION=1 (its logins have a published password)"
            )
        people = load_people()
        loaders = []
        for module in ("rollouts.demo", "incidents.demo", "diagnostics.demo"):
            try:
                loaders.append(__import__(module, fromlist=["load"]).load)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
        for load in loaders:
            load(people)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins (password = demo-rewind):"))
        for user in people.values():
            self.stdout.write(f"  {user.username:<8} {user.effective_role}")
