"""Posting observations in batches, with retry and back-pressure."""

from __future__ import annotations

import collections
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request

log = logging.getLogger("rewind_client")

RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


class ObservationBatcher:
    """Queue observations (dicts in Rewind's record format) and post them to ``/api/v1/observations``.

    * A batch is sent when ``batch_size`` records are queued or ``flush_interval`` seconds passed.
    * 429, 5xx and connection errors are retried with exponential back-off and jitter (honouring
      ``Retry-After``), up to ``max_attempts``; then the batch is counted in ``dropped``.
    * 400 means the batch itself is bad: it is logged with the server's first error and dropped (retrying cannot
      help), counted in ``rejected``.
    * Back-pressure: the queue holds at most ``max_queue`` records; ``add`` returns False (and counts
      ``refused``) when it is full, so a gateway whose Rewind is down sheds observations, never requests or memory.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 50_000,
        max_attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 10.0,
    ):
        self.url = f"{base_url.rstrip('/')}/api/v1/observations"
        self.token = token
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self.sent = self.stored = self.duplicates = self.rejected = self.dropped = self.refused = 0
        self.attempts = 0
        self._queue: collections.deque[dict] = collections.deque()
        self._lock = threading.Condition()
        self._stop = False
        self._in_flight = 0
        self._thread = threading.Thread(target=self._run, name="rewind-observations", daemon=True)
        self._thread.start()

    def add(self, record: dict) -> bool:
        with self._lock:
            if len(self._queue) >= self.max_queue:
                self.refused += 1
                return False
            self._queue.append(record)
            if len(self._queue) >= self.batch_size:
                self._lock.notify()
        return True

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue) + self._in_flight

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued record was sent (or given up on). True when the queue drained in time."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._lock.notify()
        while time.monotonic() < deadline:
            if self.queued == 0:
                return True
            with self._lock:
                self._lock.notify()
            time.sleep(0.02)
        return False

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._thread.join(timeout=timeout)

    def _take(self) -> list[dict]:
        with self._lock:
            if not self._queue:
                self._lock.wait(self.flush_interval)
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stop and not self._queue:
                    return
            batch = self._take()
            if batch:
                self._send(batch)
                with self._lock:
                    self._in_flight = 0

    def _send(self, batch: list[dict]) -> None:
        data = json.dumps({"records": batch}).encode()
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        for attempt in range(1, self.max_attempts + 1):
            self.attempts += 1
            delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    result = json.loads(response.read())
                self.sent += len(batch)
                self.stored += result.get("stored", 0)
                self.duplicates += result.get("duplicates", 0)
                return
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRYABLE:
                    self.rejected += len(batch)
                    log.error(
                        "Rewind refused a batch of %d observations (%s): %s",
                        len(batch),
                        exc.code,
                        exc.read()[:500].decode(errors="replace"),
                    )
                    return
                retry_after = exc.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            except (OSError, ValueError) as exc:
                log.warning("posting observations failed (%s); attempt %d of %d", exc, attempt, self.max_attempts)
            if attempt < self.max_attempts:
                time.sleep(delay)
        self.dropped += len(batch)
        log.error("gave up on a batch of %d observations after %d attempts", len(batch), self.max_attempts)
