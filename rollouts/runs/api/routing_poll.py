"""The gateway's poll of the routing table: its HTTP answer, and a thin WSGI layer that gives it in front of Django.

Gateways poll `GET /api/v1/routing/<feature>/<environment>` many times a second with a token. Through Django,
the handler, the middleware and URL resolution cost several times what the answer itself does. `RoutingPolls`
wraps the project's WSGI application (config/wsgi.py) and answers a poll itself only when everything it needs is
already in this process: a token that passed recently (rollouts.runs.gateway_tokens), the viewer role by the
same rule as everywhere (core.permissions.can), and the table Redis names as current (routing_cached). Every
other request, and every poll it cannot answer so (no or unknown token, a changed or unknown table, a query
string, a host outside ALLOWED_HOSTS, plain HTTP where HTTPS is required, a method other than GET), goes to
Django unchanged, whose routing view gives the same answer and fills those caches.

Its answers carry the headers Django's answer does: the routing view's (`poll_headers`), Content-Length, and those
the security, CSP and clickjacking middleware add, computed by those middleware themselves (as settings.MIDDLEWARE
lists them) once per path, scheme and status.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.module_loading import import_string

from core.permissions import can
from rollouts.runs import gateway_tokens
from rollouts.runs.routing import routing_cached

PREFIX = "/api/v1/routing/"
ROUTE = re.compile(r"/api/v1/routing/(?P<feature>[-a-zA-Z0-9_]+)/(?P<environment>[-a-zA-Z0-9_]+)")


def not_modified(if_none_match: str, etag: str) -> bool:
    return etag in [t.strip() for t in if_none_match.split(",")]


def poll_headers(etag: str) -> list[tuple[str, str]]:
    """What the routing view adds to its 200 and 304 answers."""
    return [("ETag", etag), ("Cache-Control", "no-cache")]


class _Shell(WSGIRequest):
    """Just enough of a request for Django's own host and scheme rules (get_host, is_secure) without parsing
    the rest of it."""

    def __init__(self, environ):
        self.environ = self.META = environ


def _response(status: int) -> HttpResponse:
    if status == 304:
        return HttpResponseNotModified()
    return HttpResponse(b"", content_type="application/json")


def _unused(_request):
    raise AssertionError("only the middleware's process_response is used")


# The middleware whose only work on a poll's answer is to add headers (the others load sessions, check CSRF
# tokens, flash messages: what a gateway's poll has none of).
HEADER_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)
_middleware: list = []
_added: dict[tuple[str, bool, int], list[tuple[str, str]]] = {}


def _middleware_headers(environ, secure: bool, status: int) -> list[tuple[str, str]]:
    """The headers the header middleware put on this answer, applied innermost first as Django does."""
    key = (environ["PATH_INFO"], secure, status)
    added = _added.get(key)
    if added is None:
        if not _middleware:  # made on first use, after settings are loaded: they read them when made
            _middleware.extend(import_string(p)(_unused) for p in settings.MIDDLEWARE if p in HEADER_MIDDLEWARE)
        request = WSGIRequest(environ)
        response = _response(status)
        before = set(response.headers)
        for middleware in reversed(_middleware):
            response = middleware.process_response(request, response)
        added = [(k, v) for k, v in response.items() if k not in before]
        if len(_added) > 2000:
            _added.clear()
        _added[key] = added
    return added


# What Django's host and scheme rules read from a request (with SECURE_PROXY_SSL_HEADER's header): their verdict
# is the same for the same values, and a gateway sends the same ones on every poll.
_ORIGIN_KEYS = (
    "HTTP_HOST",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "SERVER_NAME",
    "SERVER_PORT",
    "wsgi.url_scheme",
)
_origins: dict[tuple, bool | None] = {}


def _secure(environ) -> bool | None:
    """Whether the poll came over HTTPS by Django's rule, or None when Django must answer it: a host outside
    ALLOWED_HOSTS (400), or plain HTTP where SECURE_SSL_REDIRECT sends it to HTTPS."""
    proxy = settings.SECURE_PROXY_SSL_HEADER
    key = (*(environ.get(k) for k in _ORIGIN_KEYS), environ.get(proxy[0]) if proxy else None)
    try:
        return _origins[key]
    except KeyError:
        pass
    shell = _Shell(environ)
    try:
        shell.get_host()
    except DisallowedHost:
        secure = None
    else:
        secure = shell.is_secure()
        if settings.SECURE_SSL_REDIRECT and not secure:
            secure = None
    if len(_origins) > 1000:  # hosts come from the client: keep the memo small
        _origins.clear()
    _origins[key] = secure
    return secure


_answers: dict[tuple[str, bool, str], tuple[list, list]] = {}


def _headers(environ, secure: bool, etag: str, length: int) -> tuple[list, list]:
    """(200 headers, 304 headers) of one version of one table."""
    key = (environ["PATH_INFO"], secure, etag)
    found = _answers.get(key)
    if found is None:
        ok = [("Content-Type", "application/json"), ("Content-Length", str(length)), *poll_headers(etag)]
        not_modified_ = [("Content-Length", "0"), *poll_headers(etag)]
        found = (
            [*ok, *_middleware_headers(environ, secure, 200)],
            [*not_modified_, *_middleware_headers(environ, secure, 304)],
        )
        if len(_answers) > 2000:
            _answers.clear()
        _answers[key] = found
    return found


def answer(environ) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """(status line, headers, body) for a poll answerable without Django, else None."""
    authorization = environ.get("HTTP_AUTHORIZATION")
    if not authorization or environ.get("QUERY_STRING"):
        return None
    match = ROUTE.fullmatch(environ.get("PATH_INFO", ""))
    if match is None:
        return None
    secure = _secure(environ)
    if secure is None:
        return None
    user = gateway_tokens.remembered_user(authorization)
    if user is None or not can(user, "view"):
        return None
    found = routing_cached(match["feature"], match["environment"])
    if found is None:
        return None
    etag, body = found
    ok, not_modified_ = _headers(environ, secure, etag, len(body))
    if not_modified(environ.get("HTTP_IF_NONE_MATCH", ""), etag):
        return "304 Not Modified", not_modified_, b""
    return "200 OK", ok, body


class RoutingPolls:
    """WSGI: answer the gateway polls `answer` can, hand everything else to ``application`` (Django)."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO", "").startswith(PREFIX):
            found = answer(environ)
            if found is not None:
                status, headers, body = found
                start_response(status, list(headers))  # the same lists answer every poll of this version
                return [body]
        return self.application(environ, start_response)
