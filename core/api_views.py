from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response

from core.models import AuditEntry
from core.serializers import AuditEntrySerializer, UserSerializer


@extend_schema(responses=UserSerializer)
@api_view(["GET"])
def me(request):
    return Response(UserSerializer(request.user).data)


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only audit log. Filter with ?object_type=rollouts.release&object_id=3 or ?action=."""

    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    filterset_fields = ["object_type", "object_id", "action", "actor_label"]
