from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rewind")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_ready.connect
def _announce_ready(**_kwargs) -> None:
    """Tests start real worker processes and wait for this file before sending work."""
    ready_file = os.environ.get("REWIND_WORKER_READY_FILE")
    if ready_file:
        with open(ready_file, "w") as fh:
            fh.write(str(os.getpid()))
