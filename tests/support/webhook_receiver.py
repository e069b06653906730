"""A gateway stand-in on 127.0.0.1 that speaks Rewind's webhook wire format: verifies the HMAC signature,
applies each idempotency key once (repeats are acknowledged, not applied), and can be told to be slow or fail."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self, secret: str):
        self.secret = secret
        self.arrivals: Counter[str] = Counter()  # key -> times it arrived
        self.applied: list[tuple[str, dict]] = []  # (key, body) applied once each, in order
        self.bad_signatures = 0
        self.slow: dict[str, float] = {}  # key substring -> seconds to stall on first arrival
        self.fail_all = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.handle(self, body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/rewind"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        key = request.headers.get("Idempotency-Key", "")
        timestamp = request.headers.get("X-Rewind-Timestamp", "")
        expected = (
            "sha256=" + hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers.get("X-Rewind-Signature", "")):
            with self.lock:
                self.bad_signatures += 1
            request.send_response(401)
            request.end_headers()
            return
        with self.lock:
            self.arrivals[key] += 1
            first = self.arrivals[key] == 1
        stall = next((s for part, s in self.slow.items() if part in key), 0) if first else 0
        if stall:
            time.sleep(stall)
        if self.fail_all:
            request.send_response(503)
            request.end_headers()
            return
        with self.lock:
            if key not in {k for k, _ in self.applied}:
                self.applied.append((key, json.loads(body)))
        request.send_response(200)
        request.send_header("Content-Length", "2")
        request.end_headers()
        request.wfile.write(b"ok")
