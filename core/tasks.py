from __future__ import annotations

from celery import current_app, shared_task
from django.db import transaction
from django.utils import timezone

from core.models import WorkerHeartbeat


def enqueue(task_name: str, *args, **kwargs) -> None:
    """Queue a task by its registered name.

    Services enqueue by name instead of importing their app's tasks module, because the tasks module imports
    the services it calls: naming keeps imports one way. The names are a contract anyway (queued messages and
    the beat schedule refer to them), so every task declares ``name=`` explicitly."""
    app = current_app
    if app.conf.task_always_eager:
        app.loader.import_default_modules()
        app.tasks[task_name].apply(args=args, kwargs=kwargs, throw=True)
        return
    app.send_task(task_name, args=args, kwargs=kwargs)


def enqueue_on_commit(task_name: str, *args, **kwargs) -> None:
    """Queue a task once the current transaction commits, so the worker sees what the caller wrote."""
    transaction.on_commit(lambda: enqueue(task_name, *args, **kwargs))


@shared_task(name="core.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    hostname = worker_heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(worker=hostname, defaults={"seen_at": timezone.now()})
