"""A local OpenAI-compatible chat-completions server for tests (real HTTP on 127.0.0.1, real wire format).

``script[prompt]`` is a list of what to do on successive calls for that prompt: "429" (rate limited, with
Retry-After), "500", "slow" (sleep past the client's timeout), or "ok". ``answer(model, prompt)`` makes the text.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class OpenAIServer:
    def __init__(
        self,
        answer: Callable[[str, str], str] | None = None,
        *,
        retry_after: str = "1",
        slow_seconds: float = 2.0,
        delay: float = 0.0,
    ):
        self.answer = answer or (lambda model, prompt: f"{model} says: {prompt}")
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.delay = delay
        self.script: dict[str, list[str]] = {}
        self.requests: list[dict] = []
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_for(self, prompt: str) -> list[dict]:
        return [r for r in self.requests if r["prompt"] == prompt]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                prompt = body["messages"][-1]["content"]
                with server._lock:
                    n = server.calls[prompt]
                    server.calls[prompt] += 1
                    server.requests.append(
                        {"prompt": prompt, "body": body, "headers": dict(self.headers), "at": time.monotonic()}
                    )
                    steps = server.script.get(prompt, [])
                    step = steps[n] if n < len(steps) else "ok"
                if server.delay:
                    time.sleep(server.delay)
                if step == "429":
                    self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": server.retry_after})
                elif step == "500":
                    self._send(500, {"error": {"message": "boom"}})
                elif step == "slow":
                    time.sleep(server.slow_seconds)
                    self._send(200, server._completion(body, prompt))
                else:
                    self._send(200, server._completion(body, prompt))

            def _send(self, status: int, payload: dict, headers: dict | None = None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): that is the point of the "slow" step

        return Handler

    def _completion(self, body: dict, prompt: str) -> dict:
        text = self.answer(body["model"], prompt)
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()), "total_tokens": 0},
        }
