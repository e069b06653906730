"""``POST /hooks/<kind>/<source-slug>``: where senders deliver. Refused requests (401, 400) store no alert, no
notification and no incident — only a one-line reason on the source's page."""

from __future__ import annotations

import json

from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from incidents.alerts import formats, services
from incidents.alerts.auth import refusal_reason
from incidents.models import AlertSource


def _refuse(source: AlertSource, request, status: int, reason: str) -> JsonResponse:
    services.refusal_record(
        source=source, status_code=status, reason=reason, remote_addr=request.META.get("REMOTE_ADDR", "")
    )
    return JsonResponse({"detail": reason}, status=status)


@csrf_exempt  # machine-to-machine: authenticated by the source's secret or signature instead
@require_POST
def receive(request, kind: str, slug: str):
    source = AlertSource.objects.filter(slug=slug, kind=kind, active=True).first()
    if source is None:
        raise Http404("No active alert source with this kind and name.")
    body = request.body
    reason = refusal_reason(source, headers=request.headers, body=body)
    if reason:
        return _refuse(source, request, 401, reason)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _refuse(source, request, 400, f"The body is not JSON: {exc}.")
    try:
        notification = formats.parse(source.kind, payload, mapping=source.field_mapping)
    except formats.PayloadError as exc:
        return _refuse(source, request, 400, str(exc))
    note = services.notification_receive(source=source, notification=notification, payload=payload)
    return JsonResponse(
        {
            "outcome": note.outcome,
            "reason": note.reason,
            "incident": note.incident.reference if note.incident_id else None,
        }
    )
