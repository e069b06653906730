"""Loads demo data; idempotent (running it twice changes nothing). Each app adds its part in demo.py."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from core.demo import load_people


class Command(BaseCommand):
    help = "Load demo people, features, releases and incidents (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        people = load_people()
        loaders = []
        for module in ("rollouts.demo", "incidents.demo", "diagnostics.demo", "incidents.alerts.demo"):
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
