"""Polling the routing table with ETags."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from rewind_client.assignment import release_for

log = logging.getLogger("rewind_client")


@dataclass(frozen=True)
class RoutingTable:
    etag: str
    body: dict

    @property
    def version(self) -> int:
        return int(self.body.get("version", 0))

    def release_for(self, key: str) -> int | None:
        return release_for(self.body, key)

    def manifest(self, release: int) -> dict | None:
        for arm in self.body.get("releases", []):
            if arm["release"] == release:
                return arm.get("manifest")
        return None


class RoutingClient:
    """Keeps the latest routing table of one feature environment.

    ``refresh()`` makes one conditional GET; ``start()`` refreshes every ``interval`` seconds in a daemon thread.
    A failed poll is logged and the last good table stays in use: a gateway keeps serving through a Rewind outage.
    """

    def __init__(
        self, base_url: str, token: str, feature: str, environment: str, *, interval: float = 2.0, timeout: float = 5.0
    ):
        self.url = f"{base_url.rstrip('/')}/api/v1/routing/{feature}/{environment}"
        self.token = token
        self.interval = interval
        self.timeout = timeout
        self.table: RoutingTable | None = None
        self.polls = 0
        self.not_modified = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> RoutingTable | None:
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        if self.table is not None:
            headers["If-None-Match"] = self.table.etag
        request = urllib.request.Request(self.url, headers=headers)  # noqa: S310 - the configured Rewind URL
        self.polls += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                self.table = RoutingTable(etag=response.headers["ETag"], body=json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                self.not_modified += 1
            else:
                log.warning("routing poll of %s answered %s; keeping the last table", self.url, exc.code)
        except (OSError, ValueError) as exc:
            log.warning("routing poll of %s failed (%s); keeping the last table", self.url, exc)
        return self.table

    def release_for(self, key: str) -> int | None:
        table = self.table or self.refresh()
        return table.release_for(key) if table else None

    def start(self) -> RoutingClient:
        self.refresh()

        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="rewind-routing", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + self.interval)

    def wait_for_version(self, version: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.table is not None and self.table.version >= version:
                return True
            time.sleep(0.05)
        return False
