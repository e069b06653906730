from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from rollouts.registry.rollbacks import ImpactBlocked


def impact_blocked_response(exc: ImpactBlocked) -> Response:
    """A blocked user-impact gate: 409 with the workflows still to review; nothing was changed."""
    return Response({"detail": str(exc), "pending_workflows": exc.gate.pending}, status=status.HTTP_409_CONFLICT)
