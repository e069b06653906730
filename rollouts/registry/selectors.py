"""Reads over the release registry: what was live when, what changed between two times, release diffs."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.db import connection
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from rollouts.registry.models import DeploymentEvent, Environment, Feature, Release, ReleaseAdapter


def releases_with_parts() -> QuerySet[Release]:
    return Release.objects.select_related("feature", "model", "prompt", "index", "author").prefetch_related(
        Prefetch("adapter_links", queryset=ReleaseAdapter.objects.select_related("adapter"))
    )


def environments_with_current_release() -> QuerySet[Environment]:
    """Each environment annotated with the release live now (number, id, since): one query for all."""
    newest = DeploymentEvent.objects.filter(environment=OuterRef("pk")).order_by("-live_at", "-id")
    return Environment.objects.annotate(
        live_release_id=Subquery(newest.values("release_id")[:1]),
        live_release_number=Subquery(newest.values("release__number")[:1]),
        live_since=Subquery(newest.values("live_at")[:1]),
    ).order_by("-is_production", "name")


def features_with_current_releases() -> QuerySet[Feature]:
    return (
        Feature.objects.select_related("team")
        .prefetch_related(Prefetch("environments", queryset=environments_with_current_release()))
        .order_by("name")
    )


def feature_history(feature: Feature, *, per_environment: int = 100) -> list[tuple[Environment, list]]:
    """Each environment of a feature with its newest ``per_environment`` deployments, in three queries whatever
    the number of environments: one index range scan per environment (deploy_env_live_idx), glued by UNION ALL."""
    environments = list(environments_with_current_release().filter(feature=feature))
    by_env: dict[int, list] = {env.pk: [] for env in environments}
    if not environments:
        return []
    newest_first = ("-live_at", "-id")
    parts = [
        DeploymentEvent.objects.filter(environment=env)
        .order_by(*newest_first)
        .values_list("id", flat=True)[:per_environment]
        for env in environments
    ]
    if len(parts) > 1 and connection.features.supports_slicing_ordering_in_compound:
        ids = list(parts[0].union(*parts[1:], all=True))
    else:  # SQLite (the embedded default) cannot LIMIT inside UNION: one small query per environment
        ids = [pk for part in parts for pk in part]
    events = DeploymentEvent.objects.filter(pk__in=ids).select_related("release", "actor").order_by(*newest_first)
    for event in events:
        by_env[event.environment_id].append(event)
    return [(env, by_env[env.pk]) for env in environments]


@cache
def _live_event_sql(vendor: str) -> tuple[str, list, list, int]:
    event_fields, release_fields = DeploymentEvent._meta.concrete_fields, Release._meta.concrete_fields
    columns = [f'd."{f.column}"' for f in event_fields] + [f'r."{f.column}"' for f in release_fields]
    # Identifiers come from model metadata, values are parameters.
    sql = (
        f"SELECT {', '.join(columns)} FROM {DeploymentEvent._meta.db_table} d "  # noqa: S608
        f"JOIN {Release._meta.db_table} r ON r.id = d.release_id "
        "WHERE d.environment_id = %s AND d.live_at <= %s ORDER BY d.live_at DESC, d.id DESC LIMIT 1"
    )
    fields = [*event_fields, *release_fields]
    converters = []  # (position, column, converter functions) for the columns this backend converts
    for i, f in enumerate(fields):
        col = f.get_col(f.model._meta.db_table)
        found = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
        if found:
            converters.append((i, col, found))
    return sql, [f.attname for f in fields], converters, len(event_fields)


def live_event_at(environment: Environment, at: datetime) -> DeploymentEvent | None:
    """The deployment event in force at ``at`` (with its release): one index range scan on deploy_env_live_idx.

    Written as SQL because gateways and the timeline call it constantly: the database answers in ~0.05 ms, and
    compiling the equivalent ORM query cost ~1.3 ms of CPU per call (see docs/benchmarks.md, Release registry).
    The ORM form is ``filter(environment=e, live_at__lte=at).select_related("release").order_by("-live_at", "-id")``.
    """
    sql, names, converters, split = _live_event_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [environment.pk, connection.ops.adapt_datetimefield_value(at)])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for i, col, functions in converters:
        for convert in functions:
            values[i] = convert(values[i], col, connection)
    event = DeploymentEvent.from_db(connection.alias, names[:split], values[:split])
    event.release = Release.from_db(connection.alias, names[split:], values[split:])
    return event


def live_release_at(environment: Environment, at: datetime) -> Release | None:
    event = live_event_at(environment, at)
    return event.release if event else None


def deployments_between(environment: Environment, start: datetime, end: datetime) -> list[DeploymentEvent]:
    """Events in (start, end], oldest first: one indexed range query."""
    return list(
        DeploymentEvent.objects.filter(environment=environment, live_at__gt=start, live_at__lte=end)
        .select_related("release__feature", "actor", "environment__feature")
        .order_by("live_at", "id")
    )


@dataclass
class LayerChange:
    layer: str
    summary: str
    before: str
    after: str
    details: list[str] = field(default_factory=list)
    prompt_diff: list[str] = field(default_factory=list)

    @property
    def prompt_diff_lines(self) -> list[tuple[str, str]]:
        """(css class, line) for the template: added, removed, hunk header or context."""
        out = []
        for line in self.prompt_diff:
            if line.startswith(("+++", "---")):
                css = "diff-hunk"
            elif line.startswith("+"):
                css = "diff-add"
            elif line.startswith("-"):
                css = "diff-del"
            elif line.startswith("@@"):
                css = "diff-hunk"
            else:
                css = ""
            out.append((css, line))
        return out


@dataclass
class ReleaseDiff:
    old: Release
    new: Release
    layers: list[LayerChange]

    @property
    def changed_layers(self) -> list[str]:
        return [c.layer for c in self.layers]

    @property
    def is_empty(self) -> bool:
        return not self.layers


def _field_changes(old_obj, new_obj, fields) -> list[str]:
    changes = []
    for name in fields:
        a, b = getattr(old_obj, name), getattr(new_obj, name)
        if a != b:
            changes.append(f"{name}: {a!r} → {b!r}")
    return changes


def prompt_line_diff(old_text: str, new_text: str, *, old_label: str = "before", new_label: str = "after") -> list[str]:
    return list(
        difflib.unified_diff(old_text.splitlines(), new_text.splitlines(), old_label, new_label, lineterm="", n=2)
    )


def release_diff(old: Release, new: Release) -> ReleaseDiff:
    """Per layer (model, prompt, adapters, index) what changed; prompt text as a line diff."""
    layers: list[LayerChange] = []
    if old.model_id != new.model_id:
        details = _field_changes(old.model, new.model, list(old.model.CONTENT_FIELDS))
        summary = "model changed"
        if old.model.requested_alias == new.model.requested_alias and (
            old.model.resolved_snapshot != new.model.resolved_snapshot
        ):
            summary = f"alias {new.model.requested_alias} re-resolved"
        elif old.model.precision != new.model.precision or old.model.quantization != new.model.quantization:
            summary = "precision/quantization changed"
        layers.append(LayerChange("model", summary, str(old.model), str(new.model), details))
    if old.prompt_id != new.prompt_id:
        diff = []
        for part in ("system_prompt", "template"):
            a, b = getattr(old.prompt, part), getattr(new.prompt, part)
            if a != b:
                diff += prompt_line_diff(a, b, old_label=f"{part} (#{old.number})", new_label=f"{part} (#{new.number})")
        details = _field_changes(old.prompt, new.prompt, ["name", "variables"])
        if new.prompt.message:
            details.append(f"message: {new.prompt.message}")
        layers.append(LayerChange("prompt", "prompt edited", str(old.prompt), str(new.prompt), details, diff))
    old_adapters, new_adapters = old.ordered_adapters(), new.ordered_adapters()
    if [a.pk for a in old_adapters] != [a.pk for a in new_adapters]:
        old_ids, new_ids = {a.pk for a in old_adapters}, {a.pk for a in new_adapters}
        details = [f"added {a}" for a in new_adapters if a.pk not in old_ids]
        details += [f"removed {a}" for a in old_adapters if a.pk not in new_ids]
        if not details:
            details.append("order changed")
        layers.append(
            LayerChange(
                "adapters",
                "adapters changed",
                ", ".join(map(str, old_adapters)) or "none",
                ", ".join(map(str, new_adapters)) or "none",
                details,
            )
        )
    if old.index_id != new.index_id or old.query_encoder != new.query_encoder:
        details = []
        if old.index and new.index:
            details = _field_changes(old.index, new.index, list(old.index.CONTENT_FIELDS))
        if old.query_encoder != new.query_encoder:
            details.append(f"query_encoder: {old.query_encoder!r} → {new.query_encoder!r}")
        summary = "index rebuilt"
        if old.index and new.index and old.index.encoder != new.index.encoder:
            summary = "embedding model changed (index rebuilt)"
        layers.append(LayerChange("index", summary, str(old.index or "none"), str(new.index or "none"), details))
    return ReleaseDiff(old=old, new=new, layers=layers)


def release_layers(release: Release) -> list[LayerChange]:
    """Every layer as 'introduced': the change a first deployment makes."""
    adapters = ", ".join(map(str, release.ordered_adapters())) or "none"
    return [
        LayerChange("model", "first deployment", "none", str(release.model)),
        LayerChange("prompt", "first deployment", "none", str(release.prompt)),
        LayerChange("adapters", "first deployment", "none", adapters),
        LayerChange("index", "first deployment", "none", str(release.index or "none")),
    ]


@dataclass
class TimelineChange:
    event: DeploymentEvent
    previous: Release | None
    layers: list[LayerChange]

    @property
    def changed_layers(self) -> list[str]:
        return [c.layer for c in self.layers]


@dataclass
class Timeline:
    live_at_start: Release | None
    changes: list[TimelineChange]


def changes_between(environment: Environment, start: datetime, end: datetime) -> Timeline:
    """What changed in an environment between two times, layer by layer: the release live at ``start``, then each
    deployment in (start, end] with its diff from the release it replaced. A fixed number of queries."""
    start_event = live_event_at(environment, start)
    events = deployments_between(environment, start, end)
    ids = {e.release_id for e in events} | ({start_event.release_id} if start_event else set())
    releases = releases_with_parts().in_bulk(ids)
    previous = releases[start_event.release_id] if start_event else None
    changes = []
    for event in events:
        current = releases[event.release_id]
        layers = release_diff(previous, current).layers if previous else release_layers(current)
        changes.append(TimelineChange(event=event, previous=previous, layers=layers))
        previous = current
    return Timeline(live_at_start=releases[start_event.release_id] if start_event else None, changes=changes)
