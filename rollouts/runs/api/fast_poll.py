"""The gateway's poll of the routing table, answered before the session, CSRF, messages and auth middleware.

Gateways poll `GET /api/v1/routing/<feature>/<environment>` many times a second with a token; none of them has a
session, a CSRF cookie or a flash message, yet every request paid for loading and saving those, and for URL
resolution, which took about half of the request's CPU. This middleware sits right after SecurityMiddleware
(so HTTPS redirects and security headers still apply), validates the Host header as CommonMiddleware would, and
hands token-authenticated polls straight to the same view the URL maps to. People (session cookies) and every
other path go through the full stack unchanged.
"""

from __future__ import annotations

import re

from rollouts.runs.api.views import routing_table

PREFIX = "/api/v1/routing/"
ROUTE = re.compile(r"/api/v1/routing/(?P<feature>[-a-zA-Z0-9_]+)/(?P<environment>[-a-zA-Z0-9_]+)")


class RoutingPollMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.method in ("GET", "HEAD")
            and request.path_info.startswith(PREFIX)
            and request.META.get("HTTP_AUTHORIZATION", "")[:6].lower() == "token "
        ):
            match = ROUTE.fullmatch(request.path_info)
            if match:
                request.get_host()  # raises DisallowedHost (400) for a host outside ALLOWED_HOSTS
                return routing_table(request, **match.groupdict())
        return self.get_response(request)
