from __future__ import annotations

import pytest

from rollouts import routing


@pytest.fixture(autouse=True)
def _fresh_routing_mirror():
    """Each test has its own database state: forget routing tables mirrored by earlier tests."""
    routing._bodies.clear()
    client = routing._mirror()
    if client is not None:
        keys = list(client.scan_iter("rewind:routing:*"))
        if keys:
            client.delete(*keys)
    yield
