"""A local stand-in for Slack's Web API (and response_url hooks) on 127.0.0.1, speaking Slack's JSON.

Records every call; answers the methods the bot uses. `rate_limit(method, times)` makes the next calls to a
method answer 429 with Retry-After: 1, as Slack does.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops bursts of 20 concurrent calls and the client retries SYN after 1 s.
    request_queue_size = 128


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.users: dict[str, dict] = {}  # slack user id -> profile (e.g. {"email": ...})
        self.history: dict[tuple[str, str], dict] = {}  # (channel, ts) -> message
        self.errors: dict[str, str] = {}  # method -> Slack error code to answer with
        self._rate_limited: dict[str, int] = {}
        self._ts = itertools.count(1)
        self._channels = itertools.count(1)
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def start(self) -> FakeSlack:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def rate_limit(self, method: str, times: int = 1) -> None:
        self._rate_limited[method] = times

    def calls_to(self, method: str) -> list[dict]:
        return [c for c in self.calls if c["method"] == method]

    def hooks(self) -> list[dict]:
        return [c["args"] for c in self.calls if c["method"].startswith("hooks/")]

    def answer(self, method: str, args: dict) -> tuple[int, dict]:
        if method.startswith("hooks/"):
            return 200, {"ok": True}
        if method == "_counts":  # for benchmarks running the fake in another process
            counts: dict[str, int] = {}
            for call in self.calls:
                counts[call["method"]] = counts.get(call["method"], 0) + 1
            return 200, {"ok": True, "counts": counts}
        if self._rate_limited.get(method):
            self._rate_limited[method] -= 1
            return 429, {"ok": False, "error": "ratelimited"}
        if method in self.errors:
            return 200, {"ok": False, "error": self.errors[method]}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            ts = f"1700000000.{next(self._ts):06d}"
            return 200, {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"text": args.get("text")}}
        if method == "chat.update":
            return 200, {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "views.open":
            return 200, {"ok": True, "view": {"id": "V1", **(args.get("view") or {})}}
        if method == "users.info":
            profile = self.users.get(args.get("user", ""))
            if profile is None:
                return 200, {"ok": False, "error": "user_not_found"}
            return 200, {"ok": True, "user": {"id": args["user"], "profile": profile}}
        if method == "conversations.create":
            return 200, {"ok": True, "channel": {"id": f"CINC{next(self._channels):04d}", "name": args.get("name")}}
        if method == "conversations.open":
            return 200, {"ok": True, "channel": {"id": "D" + str(args.get("users", "")).split(",")[0]}}
        if method == "conversations.history":
            message = self.history.get((args.get("channel", ""), args.get("latest", "")))
            return 200, {"ok": True, "messages": [message] if message else [], "has_more": False}
        return 200, {"ok": True}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                args = {k: v[0] for k, v in parse_qs(url.query).items()}
                ctype = self.headers.get("Content-Type", "")
                if raw and "json" in ctype:
                    args.update(json.loads(raw))
                elif raw:
                    args.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
                method = url.path.removeprefix("/api/").lstrip("/")
                with fake._lock:
                    status, body = fake.answer(method, args)
                    fake.calls.append(
                        {"method": method, "args": args, "status": status, "auth": self.headers.get("Authorization")}
                    )
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve

        return Handler


if __name__ == "__main__":
    # `python -m tests.slackbot.fake_slack`: serve until killed; prints the URL on the first line.
    import sys
    import time

    fake = FakeSlack().start()
    print(fake.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sys.exit(0)
