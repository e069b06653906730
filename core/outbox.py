"""Transactional outbox: the one way to start a task that a committed change needs.

``outbox_enqueue`` writes an ``OutboxTask`` row in the caller's transaction and sends the task after commit. If
the broker is down the send fails quietly (the change is committed and answers 2xx; the row says "queued"), and
the beat sweep sends it again once the broker answers. The worker marks the row done when the task finishes, so
a task lost in flight (worker killed, message dropped) is sent again after ``REWIND_OUTBOX_REDELIVER_SECONDS``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import timedelta

from celery import current_app, signals
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.models import OutboxTask

log = logging.getLogger(__name__)

HEADER = "rewind_outbox_id"
QUEUED_NOTICE = (
    "Saved. The work it starts is queued: the task broker does not answer right now, and it is sent as soon as it does."
)

# Rows the broker refused during the current request, so the answer can say the work is queued (core.middleware).
_refused: ContextVar[list[int] | None] = ContextVar("outbox_refused", default=None)


def outbox_watch() -> object:
    """Start collecting refused sends for this request; returns a token for ``outbox_refused_since``."""
    return _refused.set([])


def outbox_refused_since(token) -> list[int]:
    refused = _refused.get() or []
    _refused.reset(token)
    return refused


def outbox_enqueue(task, *args, **kwargs) -> OutboxTask:
    """Record ``task(*args, **kwargs)`` with the current transaction and send it once that commits."""
    name = task if isinstance(task, str) else task.name
    row = OutboxTask.objects.create(task=name, args=list(args), kwargs=kwargs)
    transaction.on_commit(lambda: outbox_dispatch(row.pk))
    return row


def outbox_dispatch(row_id: int) -> bool:
    """Send one outbox row to the broker. False (and the error kept on the row) when the broker refused."""
    row = OutboxTask.objects.filter(pk=row_id, done_at__isnull=True).first()
    if row is None:
        return False
    if current_app.conf.task_always_eager:  # tests and one-process demos: run it here and now
        current_app.loader.import_default_modules()
        current_app.tasks[row.task].apply(args=row.args, kwargs=row.kwargs, throw=True)
        OutboxTask.objects.filter(pk=row.pk).update(dispatched_at=timezone.now(), done_at=timezone.now())
        return True
    try:
        current_app.send_task(
            row.task,
            args=row.args,
            kwargs=row.kwargs,
            headers={HEADER: row.pk},
            retry=True,
            retry_policy=settings.REWIND_OUTBOX["publish_retry_policy"],
        )
    except Exception as exc:  # any broker failure: the sweep tries again; the committed change stands
        log.warning("outbox: broker did not take %s: %s", row, exc)
        if (refused := _refused.get()) is not None:
            refused.append(row.pk)
        OutboxTask.objects.filter(pk=row.pk).update(
            dispatch_attempts=F("dispatch_attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return False
    OutboxTask.objects.filter(pk=row.pk).update(
        dispatched_at=timezone.now(), dispatch_attempts=F("dispatch_attempts") + 1, last_error=""
    )
    return True


def outbox_pending():
    """Rows to send (again): never sent, or sent and not done within the redelivery window."""
    now = timezone.now()
    cfg = settings.REWIND_OUTBOX
    # Rows younger than the grace period are still being sent by the request that wrote them.
    grace = now - timedelta(seconds=cfg["grace_seconds"])
    stale = now - timedelta(seconds=cfg["redeliver_seconds"])
    return OutboxTask.objects.filter(done_at__isnull=True, created_at__lt=grace).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale)
    )


def outbox_sweep(*, limit: int = 500) -> dict:
    """Send what the broker did not take or never finished; drop done rows past the retention period."""
    sent = failed = 0
    for row_id in outbox_pending().order_by("created_at").values_list("pk", flat=True)[:limit]:
        if outbox_dispatch(row_id):
            sent += 1
        else:
            failed += 1
            break  # the broker is down: the next sweep tries again
    keep_after = timezone.now() - timedelta(days=settings.REWIND_OUTBOX["keep_done_days"])
    pruned, _ = OutboxTask.objects.filter(done_at__lt=keep_after).delete()
    return {"sent": sent, "failed": failed, "pruned": pruned}


def outbox_mark_done(row_id) -> None:
    OutboxTask.objects.filter(pk=row_id, done_at__isnull=True).update(done_at=timezone.now())


@signals.task_postrun.connect
def _mark_done_after_task(sender=None, task=None, state=None, **_kwargs) -> None:
    """A finished task (success or final failure) closes its row; a retry keeps it open."""
    row_id = getattr(task.request, HEADER, None) if task is not None else None
    if row_id is None or state == "RETRY":
        return
    try:
        outbox_mark_done(int(row_id))
    except Exception:  # never fail the task for its bookkeeping; the sweep re-sends and the task is idempotent
        log.exception("outbox: could not mark row %s done", row_id)
