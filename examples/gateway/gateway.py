"""A minimal OpenAI-compatible gateway in front of a canary, using the Rewind client.

Each ``POST /v1/chat/completions`` is assigned to a release by the request's ``X-Rewind-Key`` header (a user,
tenant or conversation id; stickiness is Rewind's published hash), forwarded to that release's upstream with the
release's model, and observed: latency and error go to Rewind in batches. The answer carries ``X-Rewind-Release``.

    REWIND_URL=http://127.0.0.1:8000 REWIND_TOKEN=... REWIND_FEATURE=support-assistant \
    REWIND_ENVIRONMENT=production UPSTREAM_URL=http://127.0.0.1:9000 \
    python examples/gateway/gateway.py --port 8080

``UPSTREAM_URL_<release number>`` overrides the upstream of one release (for self-hosted models per release).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))

from rewind_client import ObservationBatcher, RoutingClient


class Gateway:
    def __init__(
        self,
        *,
        rewind_url: str,
        token: str,
        feature: str,
        environment: str,
        upstream: str,
        upstreams: dict[int, str] | None = None,
        poll_seconds: float = 2.0,
    ):
        self.feature, self.environment = feature, environment
        self.upstream, self.upstreams = upstream.rstrip("/"), upstreams or {}
        self.routing = RoutingClient(rewind_url, token, feature, environment, interval=poll_seconds)
        self.observations = ObservationBatcher(rewind_url, token, flush_interval=1.0)

    def start(self) -> Gateway:
        self.routing.start()
        return self

    def stop(self) -> None:
        self.routing.stop()
        self.observations.close()

    def serve(self, body: dict, key: str) -> tuple[int, dict, int | None]:
        release = self.routing.release_for(key or uuid.uuid4().hex)
        if release is None:
            return 503, {"error": {"message": "No release is live for this feature environment."}}, None
        model = (self.routing.table.manifest(release) or {}).get("model", {})
        body = {**body, "model": model.get("resolved_snapshot") or body.get("model")}
        started, at = time.monotonic(), datetime.now(UTC)
        url = f"{self.upstreams.get(release, self.upstream)}/v1/chat/completions"
        request = urllib.request.Request(  # noqa: S310 - the configured upstream
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                status, answer = response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, {"error": {"message": f"upstream answered {exc.code}"}}
        except OSError as exc:
            status, answer = 502, {"error": {"message": f"upstream unreachable: {exc}"}}
        usage = answer.get("usage", {}) if isinstance(answer, dict) else {}
        self.observations.add(
            {
                "feature": self.feature,
                "environment": self.environment,
                "release": release,
                "time": at.isoformat(),
                "latency_ms": (time.monotonic() - started) * 1000,
                "error": status >= 500,
                "tokens_in": int(usage.get("prompt_tokens", 0)),
                "tokens_out": int(usage.get("completion_tokens", 0)),
                "request_id": uuid.uuid4().hex,
            }
        )
        return status, answer, release


def handler_for(gateway: Gateway):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found"}}, None)
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            self._send(*gateway.serve(body, self.headers.get("X-Rewind-Key", "")))

        def _send(self, status: int, payload: dict, release: int | None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if release is not None:
                self.send_header("X-Rewind-Release", str(release))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    upstreams = {int(k.rsplit("_", 1)[1]): v for k, v in os.environ.items() if k.startswith("UPSTREAM_URL_")}
    gateway = Gateway(
        rewind_url=os.environ["REWIND_URL"],
        token=os.environ["REWIND_TOKEN"],
        feature=os.environ["REWIND_FEATURE"],
        environment=os.environ["REWIND_ENVIRONMENT"],
        upstream=os.environ["UPSTREAM_URL"],
        upstreams=upstreams,
    ).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(gateway))
    print(f"gateway on http://127.0.0.1:{args.port} for {gateway.feature}/{gateway.environment}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()


if __name__ == "__main__":
    main()
