"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, and broker health."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqlalchemy

# Kombu's virtual transports poll an idle queue; its default 1 s would make every rollout step a second late.
# The SQLAlchemy transport hands all its options to create_engine, so the interval lives on a subclass.
POLLING_SECONDS = 0.1


class EmbeddedTransport(kombu_sqlalchemy.Transport):
    polling_interval = POLLING_SECONDS


TRANSPORT_ALIASES.setdefault("rewind-sqla", "core.broker:EmbeddedTransport")


def embedded_broker_url(path: Path) -> str:
    """The broker URL for a SQLite file, switched to WAL so readers never wait for a writer (WAL is kept in
    the file, so doing it once per process is enough and cheap)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    return f"rewind-sqla+sqlite:///{path}"


def broker_answers(timeout: float = 2.0) -> str | None:
    """None when the broker accepts a connection, else why not."""
    from celery import current_app

    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # what a broker raises depends on the transport
        return f"broker does not answer: {type(exc).__name__}: {exc}"[:300]
    return None


def embedded_broker_prune(*, older_than_seconds: float = 3600.0) -> int:
    """Kombu's SQLAlchemy transport keeps delivered messages (visible = false) for good; drop old ones."""
    from celery import current_app

    url = current_app.conf.broker_url or ""
    prefix = "rewind-sqla+sqlite:///"
    if not url.startswith(prefix):
        return 0
    with sqlite3.connect(url.removeprefix(prefix), timeout=30) as conn:
        try:
            cur = conn.execute(
                "DELETE FROM kombu_message WHERE visible = 0 AND timestamp < datetime('now', ?)",
                (f"-{int(older_than_seconds)} seconds",),
            )
        except sqlite3.OperationalError:  # no table yet: nothing was ever sent
            return 0
        return cur.rowcount
