from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.permissions import permission_required
from rollouts.models import Feature


@require_GET
@permission_required("view")
def feature_list(request):
    features = Feature.objects.select_related("team").order_by("name")
    return render(request, "rollouts/feature_list.html", {"features": features})
