"""Reads for incidents: the list, the merged timeline, what changed, similar past incidents."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from diagnostics.models import DiagnosisLayer, LayerDiagnosis, Verdict
from incidents.models import (
    ACTIVE_ACTION_STATUSES,
    OPEN_STATUSES,
    ActionItem,
    ChangeEvent,
    Incident,
    TimelineEvent,
    TimelineKind,
)
from rollouts.models import DeploymentEvent, Feature, Release
from rollouts.registry.selectors import release_diff, releases_with_parts

# How far before impact the timeline looks for deployments: the change that caused it usually came first.
DEPLOY_LEAD = dt.timedelta(hours=24)
DEFAULT_LOOKBACK_DAYS = 14
MAX_LOOKBACK_DAYS = 180

# A release's component layers, seen from the four diagnosis layers.
RELEASE_LAYER_TO_DIAGNOSIS = {
    "model": DiagnosisLayer.MODEL,
    "adapters": DiagnosisLayer.MODEL,
    "index": DiagnosisLayer.DATA,
    "prompt": DiagnosisLayer.PROMPT,
}


def incident_list(
    *, status: str = "", severity: str = "", feature: str = "", q: str = "", open_only: bool = False
) -> QuerySet[Incident]:
    """Filtered incidents, newest first, with what the list shows joined or prefetched (constant queries)."""
    qs = Incident.objects.select_related("commander").prefetch_related(Prefetch("features", queryset=_feature_qs()))
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=OPEN_STATUSES)
    if severity:
        qs = qs.filter(severity=severity)
    if feature:
        # A correlated EXISTS on the feature's id (not IN over a join on the slug): the planner then reads the
        # feature's share from the link table's statistics and walks the newest-first index, where the IN form
        # misjudged the match count by 20x and sorted every match of a large feature.
        feature_id = Feature.objects.filter(slug=feature).values("pk")[:1]
        qs = qs.filter(
            Exists(
                Incident.features.through.objects.filter(incident_id=OuterRef("pk"), feature_id=Subquery(feature_id))
            )
        )
    if q:
        term = q.strip()
        match = re.fullmatch(r"(?i)inc-?(\d+)", term)
        qs = qs.filter(pk=int(match.group(1))) if match else qs.filter(search_text__icontains=term)
    return qs.order_by("-created_at", "-id")


@dataclass
class IncidentPage:
    """A keyset page: newest first, continuing strictly before a (created_at, id) cursor. No COUNT(*) and no
    OFFSET, so page 1 and page 4,000 cost the same on 100k incidents."""

    items: list
    next_cursor: str | None
    cursor: str | None

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def parse_cursor(raw: str | None) -> tuple[dt.datetime, int] | None:
    if not raw or "~" not in raw:
        return None
    stamp, _, pk = raw.rpartition("~")
    try:
        when = dt.datetime.fromisoformat(stamp.replace(" ", "+"))
        return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)), int(pk)
    except ValueError:
        return None


def make_cursor(incident: Incident) -> str:
    return f"{incident.created_at.isoformat()}~{incident.pk}"


def incident_page(queryset: QuerySet[Incident], *, cursor: str | None, size: int) -> IncidentPage:
    position = parse_cursor(cursor)
    if position:
        when, pk = position
        # Written as a range plus an exclusion (not an OR) so Postgres walks the (created_at, id) index.
        queryset = queryset.filter(created_at__lte=when).exclude(created_at=when, pk__gte=pk)
    rows = list(queryset[: size + 1])
    items = rows[:size]
    return IncidentPage(items, make_cursor(items[-1]) if len(rows) > size else None, cursor if position else None)


def _feature_qs():
    return Feature.objects.only("id", "slug", "name")


@dataclass
class TimelineEntry:
    occurred_at: dt.datetime
    kind: str
    text: str
    actor: str = ""
    event: TimelineEvent | None = None
    data: dict = field(default_factory=dict)

    @property
    def kind_label(self) -> str:
        return TimelineKind(self.kind).label


def timeline_window(incident: Incident) -> tuple[dt.datetime, dt.datetime]:
    end = incident.closed_at or incident.resolved_at or timezone.now()
    return incident.impact_started_at - DEPLOY_LEAD, end


def incident_timeline(incident: Incident, *, kinds: list[str] | None = None) -> list[TimelineEntry]:
    """Recorded events merged with the deployments and rollbacks of the affected environments (read from the
    deployment log, not copied), oldest first."""
    kinds = [k for k in (kinds or []) if k in TimelineKind.values]
    events = TimelineEvent.objects.filter(incident=incident).select_related("actor")
    if kinds:
        events = events.filter(kind__in=kinds)
    entries = [
        TimelineEntry(e.occurred_at, e.kind, e.text, e.actor.username if e.actor else "", e, e.data) for e in events
    ]
    if not kinds or {TimelineKind.DEPLOYMENT, TimelineKind.ROLLBACK} & set(kinds):
        start, end = timeline_window(incident)
        deployments = (
            DeploymentEvent.objects.filter(
                environment__in=incident.feature_environments.all(), live_at__gte=start, live_at__lte=end
            )
            .select_related("environment__feature", "release", "actor")
            .order_by("live_at", "id")
        )
        for d in deployments:
            kind = TimelineKind.ROLLBACK if d.is_rollback else TimelineKind.DEPLOYMENT
            if kinds and kind not in kinds:
                continue
            verb = "rolled back to" if d.is_rollback else "deployed"
            entries.append(
                TimelineEntry(
                    d.live_at,
                    kind,
                    f"{d.environment}: {verb} release #{d.release.number} via {d.get_via_display()}",
                    d.actor.username if d.actor else "",
                    None,
                    {"deployment": d.pk, "release": d.release_id},
                )
            )
    entries.sort(key=lambda e: (e.occurred_at, e.event.pk if e.event else 0))
    return entries


@dataclass
class WhatChangedItem:
    when: dt.datetime
    layer: str
    title: str
    summary: str
    where: str = ""
    details: list[str] = field(default_factory=list)
    prompt_diff: list[str] = field(default_factory=list)
    is_rollback: bool = False
    source: str = "release"  # or "change_event"
    url: str = ""
    release_from: int | None = None
    release_to: int | None = None


@dataclass
class WhatChanged:
    start: dt.datetime
    end: dt.datetime
    days: int
    by_layer: dict[str, list[WhatChangedItem]]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_layer.values())

    def columns(self):
        return [(layer, label, self.by_layer[layer]) for layer, label in DiagnosisLayer.choices]


_DATETIME_REPR = re.compile(r"datetime\.datetime\((\d+), (\d+), (\d+)(?:, [^()]*)?\)")


def _readable(line: str) -> str:
    """Release diffs print reprs; show datetimes as dates."""
    return _DATETIME_REPR.sub(lambda m: f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}", line)


def clamp_days(raw) -> int:
    try:
        days = int(raw)
    except (TypeError, ValueError):
        return DEFAULT_LOOKBACK_DAYS
    return max(1, min(days, MAX_LOOKBACK_DAYS))


def what_changed(incident: Incident, *, days: int = DEFAULT_LOOKBACK_DAYS) -> WhatChanged:
    """Every change in the look-back window before impact (up to now, or the end of the incident), grouped by
    diagnosis layer: release diffs between consecutive deployments, plus change events posted from outside."""
    end = incident.resolved_at or timezone.now()
    start = incident.impact_started_at - dt.timedelta(days=days)
    by_layer: dict[str, list[WhatChangedItem]] = {layer: [] for layer in DiagnosisLayer.values}
    environments = list(incident.feature_environments.select_related("feature"))
    pairs: list[tuple[DeploymentEvent, int | None]] = []
    for env in environments:
        baseline = (
            DeploymentEvent.objects.filter(environment=env, live_at__lte=start)
            .order_by("-live_at", "-id")
            .values_list("release_id", flat=True)
            .first()
        )
        previous = baseline
        for event in DeploymentEvent.objects.filter(environment=env, live_at__gt=start, live_at__lte=end).order_by(
            "live_at", "id"
        ):
            event.environment = env
            if previous is not None and previous != event.release_id:
                pairs.append((event, previous))
            previous = event.release_id
    release_ids = {e.release_id for e, _ in pairs} | {p for _, p in pairs if p}
    releases: dict[int, Release] = {r.pk: r for r in releases_with_parts().filter(pk__in=release_ids)}
    for event, previous_id in pairs:
        old, new = releases[previous_id], releases[event.release_id]
        for change in release_diff(old, new).layers:
            layer = RELEASE_LAYER_TO_DIAGNOSIS[change.layer]
            by_layer[layer].append(
                WhatChangedItem(
                    when=event.live_at,
                    layer=layer,
                    title=f"{change.layer}: {change.summary}" + (" (rollback)" if event.is_rollback else ""),
                    summary=f"{change.before} → {change.after}",
                    where=f"{event.environment} #{old.number} → #{new.number}",
                    details=[_readable(line) for line in change.details],
                    prompt_diff=change.prompt_diff,
                    is_rollback=event.is_rollback,
                    release_from=old.pk,
                    release_to=new.pk,
                )
            )
    feature_ids = {env.feature_id for env in environments}
    changes = ChangeEvent.objects.filter(occurred_at__gte=start, occurred_at__lte=end).filter(
        Q(feature_id__in=feature_ids) | Q(feature__isnull=True)
    )
    for change in changes.select_related("environment", "feature").order_by("occurred_at"):
        by_layer[change.layer].append(
            WhatChangedItem(
                when=change.occurred_at,
                layer=change.layer,
                title=change.title,
                summary=change.description,
                where=str(change.environment or change.feature or "all features")
                + (f" · {change.system}" if change.system else ""),
                source="change_event",
                url=change.url,
            )
        )
    for items in by_layer.values():
        items.sort(key=lambda i: i.when, reverse=True)
    return WhatChanged(start=start, end=end, days=days, by_layer=by_layer)


# ----- recurrence ----------------------------------------------------------------------------------------------

_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "after",
        "before",
        "from",
        "by",
        "is",
        "was",
        "are",
        "were",
        "be",
        "it",
        "its",
        "this",
        "that",
        "as",
        "at",
        "not",
        "got",
        "get",
        "gets",
        "into",
        "than",
        "then",
        "our",
        "their",
        "answers",
        "answer",
    ]
)
_TOKEN = re.compile(r"[a-z0-9]+")


def text_tokens(text: str) -> set[str]:
    return {t for t in _TOKEN.findall((text or "").lower()) if len(t) > 2 and t not in _STOP}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass
class SimilarIncident:
    incident: Incident
    score: float
    reasons: list[str]
    interval: dt.timedelta

    @property
    def interval_days(self) -> int:
        return self.interval.days


TEXT_SIMILARITY_THRESHOLD = 0.2
RECURRENCE_CANDIDATES = 300


def root_cause_layers(incident_ids) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    rows = LayerDiagnosis.objects.filter(incident_id__in=incident_ids, status=Verdict.ROOT_CAUSE).values_list(
        "incident_id", "layer"
    )
    for incident_id, layer in rows:
        out.setdefault(incident_id, set()).add(layer)
    return out


def similar_incidents(incident: Incident, *, limit: int = 5) -> list[SimilarIncident]:
    """Past incidents that look like this one: same feature, same root-cause layer, or similar words
    (token-set Jaccard over title and summary). Bounded: the most recent candidates only."""
    feature_ids = list(incident.features.values_list("pk", flat=True))
    mine = root_cause_layers([incident.pk]).get(incident.pk, set())
    earlier = Incident.objects.filter(created_at__lt=incident.created_at).exclude(pk=incident.pk)
    candidate_ids = set(
        earlier.filter(features__in=feature_ids)
        .order_by("-created_at")
        .values_list("pk", flat=True)[:RECURRENCE_CANDIDATES]
    )
    candidate_ids |= set(earlier.order_by("-created_at").values_list("pk", flat=True)[:RECURRENCE_CANDIDATES])
    candidates = list(
        Incident.objects.filter(pk__in=candidate_ids).prefetch_related(Prefetch("features", queryset=_feature_qs()))
    )
    layers = root_cause_layers(candidate_ids)
    tokens = text_tokens(f"{incident.title} {incident.summary}")
    found = []
    for other in candidates:
        reasons, score = [], 0.0
        shared = [f for f in other.features.all() if f.pk in feature_ids]
        if shared:
            reasons.append(f"same feature: {', '.join(f.slug for f in shared)}")
            score += 0.4
        same_layers = mine & layers.get(other.pk, set())
        if same_layers:
            reasons.append(
                "same root-cause layer: " + ", ".join(DiagnosisLayer(layer).label for layer in sorted(same_layers))
            )
            score += 0.3
        similarity = jaccard(tokens, text_tokens(f"{other.title} {other.summary}"))
        if similarity >= TEXT_SIMILARITY_THRESHOLD:
            reasons.append(f"similar text ({similarity:.0%} shared words)")
        score += similarity
        if similarity >= TEXT_SIMILARITY_THRESHOLD or same_layers or (shared and similarity > 0):
            found.append(SimilarIncident(other, round(score, 3), reasons, incident.created_at - other.created_at))
    found.sort(key=lambda s: (-s.score, s.interval))
    return found[:limit]


def action_item_counts(incident_ids) -> dict[int, int]:
    rows = (
        ActionItem.objects.filter(incident_id__in=incident_ids, status__in=ACTIVE_ACTION_STATUSES)
        .values("incident_id")
        .annotate(n=Count("id"))
    )
    return {r["incident_id"]: r["n"] for r in rows}
