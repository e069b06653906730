"""Where to send the browser after a form: a user-supplied ``next`` only when it stays on this site."""

from __future__ import annotations

from django.utils.http import url_has_allowed_host_and_scheme


def next_url(request, default: str) -> str:
    """The ``next`` field (POST, else GET) if it is a URL on this host (https-only when the request is);
    otherwise ``default``. An off-site ``next`` would turn Rewind into a link that forwards to anywhere."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default
