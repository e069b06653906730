"""Reads for the integrations pages: sources with their latest activity, a source's log, a target's deliveries."""

from __future__ import annotations

from django.db.models import Count, Max, Q

from incidents.models import AlertNotification, AlertSource
from rollouts.models import DeliveryStatus
from rollouts.runs.change_events.models import ChangeEventDelivery, ChangeEventTarget

RECENT = 25


def sources_for_list():
    return AlertSource.objects.select_related("environment__feature").annotate(
        last_received_at=Max("notifications__received_at"),
        refused=Count("refusals", distinct=True),
    )


def targets_for_list():
    return ChangeEventTarget.objects.select_related("feature").annotate(
        last_sent_at=Max("deliveries__delivered_at"),
        pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING), distinct=True),
        failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED), distinct=True),
    )


def source_log(source: AlertSource) -> dict:
    return {
        "notifications": list(
            AlertNotification.objects.filter(source=source)
            .select_related("incident")
            .order_by("-received_at", "-id")[:RECENT]
        ),
        "refusals": list(source.refusals.all()[:RECENT]),
        "routes": list(source.routes.select_related("environment__feature")),
    }


def target_log(target: ChangeEventTarget) -> list[ChangeEventDelivery]:
    return list(target.deliveries.select_related("environment__feature").order_by("-created_at", "-id")[:RECENT])
