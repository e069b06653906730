"""Manager dashboard analysis: action-item health and incident outcomes, aggregated in SQL, shaped in pandas,
drawn with plotly. Views only render what ``dashboard_compute`` returns, so this is tested without HTTP.

Only aggregates leave the database (a few hundred rows at most), so the cost does not grow with the number of
action items beyond the SQL scans themselves (see docs/benchmarks.md, "Manager dashboard").
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace

import pandas as pd
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from core.models import Team, User
from diagnostics.models import DiagnosisLayer, LayerDiagnosis, Verdict
from incidents.models import ACTIVE_ACTION_STATUSES, ActionItem, ActionStatus, Incident, Status
from rollouts.models import Feature

# Open items older than this are the ones a manager chases; the buckets are the aging chart's bars.
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("0-7 days", 7),
    ("8-30 days", 30),
    ("31-90 days", 90),
    ("over 90 days", None),
)
# "Similar earlier incident" for the recurrence rate: same feature and same root-cause layer, started at most
# this long before. (incidents.selectors.similar_incidents also compares text, one incident at a time; the rate
# needs a set-based rule that runs in one query over every incident in range.)
RECURRENCE_WINDOW = dt.timedelta(days=90)
LAYER_LABELS = dict(DiagnosisLayer.choices)
LAYERS = list(DiagnosisLayer.values)
NO_TEAM = "(no team)"
OFFENDERS_SHOWN = 20
OWNERS_SHOWN = 25
SHORT_LAYER_LABELS = {
    "model": "Model",
    "data": "Data",
    "prompt": "Prompt",
    "product": "Product",
    "undetermined": "Not yet",
}
CLOSED_INCIDENT_STATUSES = (Status.CLOSED, Status.CANCELLED)


@dataclass(frozen=True)
class DashboardFilters:
    team: Team | None = None
    feature: Feature | None = None
    date_from: dt.date | None = None  # impact started on or after
    date_to: dt.date | None = None  # impact started on or before

    @property
    def is_empty(self) -> bool:
        return not (self.team or self.feature or self.date_from or self.date_to)

    def as_params(self) -> dict[str, str]:
        params = {
            "team": self.team.slug if self.team else "",
            "feature": self.feature.slug if self.feature else "",
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {k: v for k, v in params.items() if v}


@dataclass
class Dashboard:
    filters: DashboardFilters
    today: dt.date
    totals: dict[str, float | int | None]
    open_by_owner: pd.DataFrame
    open_by_team: pd.DataFrame
    open_by_layer: pd.DataFrame
    aging: pd.DataFrame
    on_time_by_month: pd.DataFrame
    root_cause_by_layer: pd.DataFrame
    detect_restore_by_month: pd.DataFrame
    unowned_layers: list[dict] = field(default_factory=list)
    unowned_items: list[dict] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)

    @property
    def owners_shown(self) -> pd.DataFrame:
        """The owners the page lists (most overdue first); the CSV export has everyone."""
        return self.open_by_owner.head(OWNERS_SHOWN)

    @property
    def owners_hidden(self) -> int:
        return max(0, len(self.open_by_owner) - OWNERS_SHOWN)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The aggregates a manager can export as CSV, by name."""
        return {
            "open_by_owner": self.open_by_owner,
            "open_by_team": self.open_by_team,
            "open_by_layer": self.open_by_layer,
            "aging": self.aging,
            "on_time_by_month": self.on_time_by_month,
            "root_cause_by_layer": self.root_cause_by_layer,
            "detect_restore_by_month": self.detect_restore_by_month,
        }

    def as_json(self) -> dict:
        return {
            "filters": self.filters.as_params(),
            "today": self.today.isoformat(),
            "totals": self.totals,
            **{name: _records(df) for name, df in self.tables().items()},
            "unowned_layers": self.unowned_layers,
            "unowned_action_items": self.unowned_items,
        }


def _records(df: pd.DataFrame) -> list[dict]:
    # Through JSON so numpy scalars and NaN become plain numbers and null.
    return json.loads(df.to_json(orient="records", date_format="iso"))


# ----- SQL building blocks ------------------------------------------------------------------------------------


class MedianAndP90(Aggregate):
    """PostgreSQL's ordered-set aggregate: [median, p90] of an expression within each group, from one sort."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = ArrayField(FloatField())


class EpochSeconds(Func):
    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


def incidents_in_scope(filters: DashboardFilters) -> QuerySet[Incident]:
    """Incidents the filters select: affecting the team's features / the feature, impact started in the range."""
    qs = Incident.objects.all()
    through = Incident.features.through.objects
    if filters.feature:
        qs = qs.filter(pk__in=through.filter(feature=filters.feature).values("incident_id"))
    if filters.team:
        qs = qs.filter(pk__in=through.filter(feature__team=filters.team).values("incident_id"))
    if filters.date_from:
        qs = qs.filter(impact_started_at__gte=_start_of(filters.date_from))
    if filters.date_to:
        qs = qs.filter(impact_started_at__lt=_start_of(filters.date_to + dt.timedelta(days=1)))
    return qs


def action_items_in_scope(filters: DashboardFilters) -> QuerySet[ActionItem]:
    """Items on the incidents in scope; with a team, also every item the team's people own (whatever feature it
    came from), so the team's row in "By team" and the team filter count the same items."""
    qs = ActionItem.objects.all()
    if filters.is_empty:
        return qs
    if not filters.team:
        return qs.filter(incident_id__in=incidents_in_scope(filters).values("pk"))
    others = replace(filters, team=None)
    if not others.is_empty:
        qs = qs.filter(incident_id__in=incidents_in_scope(others).values("pk"))
    members = Team.members.through.objects.filter(team=filters.team).values("user_id")
    return qs.filter(Q(incident_id__in=incidents_in_scope(filters).values("pk")) | Q(owner_id__in=members))


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


# ----- the analysis -------------------------------------------------------------------------------------------


def dashboard_compute(filters: DashboardFilters, *, now: dt.datetime | None = None, figures: bool = True) -> Dashboard:
    now = now or timezone.now()
    today = now.date()
    items = action_items_in_scope(filters)
    incidents = incidents_in_scope(filters)

    open_rows = _open_item_rows(items, today=today)
    age_rows = _open_age_rows(items, now=now, today=today)
    by_owner, by_team, by_layer = _open_breakdowns(open_rows)
    aging = _aging(age_rows)
    on_time = _on_time_by_month(age_rows, incidents=None if filters.is_empty else incidents)
    detect_restore = _detect_restore_by_month(incidents)
    incident_count = int(detect_restore["incidents"].sum())
    cause_counts, with_root_cause, recurrent = _root_causes_and_recurrence(incidents, scoped=not filters.is_empty)
    root_causes = _root_cause_table(cause_counts, incident_count, with_root_cause)
    inactive = _inactive_people()
    unowned_layers, unowned_layer_count = _unowned_layers(incidents, inactive)
    unowned_items, unowned_item_count = _unowned_items(items, inactive)

    on_time_done = int(on_time["on_time"].sum()) if len(on_time) else 0
    on_time_judged = int(on_time["judged"].sum()) if len(on_time) else 0
    totals = {
        "open_action_items": int(by_layer["open"].sum()),
        "overdue_action_items": int(by_layer["overdue"].sum()),
        "on_time_rate": round(on_time_done / on_time_judged, 4) if on_time_judged else None,
        "on_time_judged": on_time_judged,
        "unowned": unowned_layer_count + unowned_item_count,
        "unowned_layers": unowned_layer_count,
        "unowned_action_items": unowned_item_count,
        "incidents": incident_count,
        "incidents_with_root_cause": with_root_cause,
        "recurrent_incidents": recurrent,
        "recurrence_rate": round(recurrent / with_root_cause, 4) if with_root_cause else None,
    }
    board = Dashboard(
        filters=filters,
        today=today,
        totals=totals,
        open_by_owner=by_owner,
        open_by_team=by_team,
        open_by_layer=by_layer,
        aging=aging,
        on_time_by_month=on_time,
        root_cause_by_layer=root_causes,
        detect_restore_by_month=detect_restore,
        unowned_layers=unowned_layers,
        unowned_items=unowned_items,
    )
    if figures:
        board.figures = dashboard_figures(board)
    return board


def _open_item_rows(items: QuerySet[ActionItem], *, today: dt.date) -> pd.DataFrame:
    """Open items counted per owner, layer and overdue flag (an index-only scan of action_open_owner_layer_idx
    into a few thousand groups at most)."""
    overdue = Case(When(due_date__lt=today, then=Value(1)), default=Value(0))
    rows = (
        items.filter(status__in=ACTIVE_ACTION_STATUSES)
        .values("owner_id", "layer")
        .annotate(overdue=overdue, n=Count("*"))
        .order_by()
        .values_list("owner_id", "layer", "overdue", "n")
    )
    return pd.DataFrame(list(rows), columns=["owner_id", "layer", "overdue", "n"])


def _open_age_rows(items: QuerySet[ActionItem], *, now: dt.datetime, today: dt.date) -> pd.DataFrame:
    """Open items counted per age bucket and, for overdue ones, due date: feeds the aging chart and the
    overdue part of the on-time share. Grouping by day, not month, keeps date arithmetic out of the scan."""
    whens = [
        When(created_at__gte=now - dt.timedelta(days=days), then=Value(i))
        for i, (_, days) in enumerate(AGE_BUCKETS)
        if days is not None
    ]
    bucket = Case(*whens, default=Value(len(AGE_BUCKETS) - 1))
    overdue_due = Case(When(due_date__lt=today, then=F("due_date")), default=None)
    rows = (
        items.filter(status__in=ACTIVE_ACTION_STATUSES)
        .annotate(bucket=bucket, overdue_due=overdue_due)
        .values("bucket", "overdue_due")
        .annotate(n=Count("*"))
        .order_by()
        .values_list("bucket", "overdue_due", "n")
    )
    return pd.DataFrame(list(rows), columns=["bucket", "overdue_due", "n"])


def _aging(rows: pd.DataFrame) -> pd.DataFrame:
    labels = [label for label, _ in AGE_BUCKETS]
    aging = rows.groupby("bucket")["n"].sum().reindex(range(len(labels)), fill_value=0)
    return pd.DataFrame({"age": labels, "open": aging.astype(int).to_numpy()})


def _open_breakdowns(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = rows.assign(overdue_n=rows["n"] * rows["overdue"])
    # Layers always list every category, so charts and CSVs keep the same shape with no data.
    by_layer = (
        rows.groupby("layer")[["n", "overdue_n"]]
        .sum()
        .reindex(LAYERS, fill_value=0)
        .rename(columns={"n": "open", "overdue_n": "overdue"})
        .rename_axis("layer")
        .reset_index()
    )
    by_layer.insert(1, "layer_label", by_layer["layer"].map(LAYER_LABELS))

    per_owner = rows.groupby("owner_id")[["n", "overdue_n"]].sum().rename(columns={"n": "open", "overdue_n": "overdue"})
    owner_ids = [int(pk) for pk in per_owner.index]
    people = {
        u["id"]: u for u in User.objects.filter(pk__in=owner_ids).values("id", "username", "first_name", "last_name")
    }
    memberships = pd.DataFrame(
        list(
            Team.members.through.objects.filter(user_id__in=owner_ids).values_list("user_id", "team__name").order_by()
        ),
        columns=["owner_id", "team"],
    )
    by_owner = per_owner.reset_index()
    by_owner.insert(1, "owner", [_name(people.get(pk)) for pk in by_owner["owner_id"]])
    by_owner = by_owner.sort_values(["overdue", "open", "owner"], ascending=[False, False, True]).reset_index(drop=True)

    # An owner in two teams counts for both: each team sees everything its people carry.
    with_team = per_owner.reset_index().merge(memberships, on="owner_id", how="left")
    with_team["team"] = with_team["team"].fillna(NO_TEAM)
    by_team = (
        with_team.groupby("team")[["open", "overdue"]]
        .sum()
        .reset_index()
        .sort_values(["overdue", "open", "team"], ascending=[False, False, True])
        .reset_index(drop=True)
    )
    for df in (by_owner, by_team, by_layer):
        df["open"] = df["open"].astype(int)
        df["overdue"] = df["overdue"].astype(int)
    return by_owner, by_team, by_layer


def _name(person: dict | None) -> str:
    if not person:
        return "?"
    full = f"{person['first_name']} {person['last_name']}".strip()
    return f"{full} ({person['username']})" if full else person["username"]


def _on_time_by_month(age_rows: pd.DataFrame, *, incidents: QuerySet[Incident] | None) -> pd.DataFrame:
    """Share of items completed by their due date, per due month. Judged: items done (on time or late) and
    open items already past due; items not yet due and won't-do items are not judged.

    On PostgreSQL the done items come from the trigger-kept rollup (migration 0004), the overdue ones live."""
    overdue = age_rows.dropna(subset=["overdue_due"])
    overdue_df = pd.DataFrame(
        {"month": pd.to_datetime(overdue["overdue_due"]).dt.strftime("%Y-%m"), "overdue": overdue["n"]}
    )
    if connection.vendor == "postgresql":
        sql = "SELECT due_month, SUM(on_time), SUM(late) FROM incidents_dashboard_completion"
        params: tuple = ()
        if incidents is not None:
            scope_sql, params = incidents.values("pk").query.sql_with_params()
            sql += f" WHERE incident_id IN ({scope_sql})"
        with connection.cursor() as cursor:
            cursor.execute(sql + " GROUP BY due_month", params)
            done_rows = cursor.fetchall()
    else:
        done = ActionItem.objects.filter(status=ActionStatus.DONE)
        if incidents is not None:
            done = done.filter(incident__in=incidents.values("pk"))
        done_rows = list(
            done.annotate(month=TruncMonth("due_date"))
            .values("month")
            .annotate(
                on_time=Count("id", filter=Q(completed_at__date__lte=F("due_date"))),
                late=Count("id", filter=~Q(completed_at__date__lte=F("due_date"))),
            )
            .order_by()
            .values_list("month", "on_time", "late")
        )
    done_df = pd.DataFrame(done_rows, columns=["month", "on_time", "late_done"])
    done_df["month"] = pd.to_datetime(done_df["month"], utc=True).dt.strftime("%Y-%m")
    df = (
        done_df.groupby("month")[["on_time", "late_done"]]
        .sum()
        .join(overdue_df.groupby("month")["overdue"].sum(), how="outer")
        .fillna(0)
        .astype(int)
        .sort_index()
        .reset_index()
    )
    df["late"] = df["late_done"] + df["overdue"]
    df["judged"] = df["on_time"] + df["late"]
    df = df[df["judged"] > 0][["month", "on_time", "late", "judged"]].reset_index(drop=True)
    df["on_time_rate"] = (df["on_time"] / df["judged"]).round(4)
    return df


def _root_cause_table(counts: dict[str, int], total: int, with_root: int) -> pd.DataFrame:
    """Incidents per root-cause layer (an incident with two root-cause layers counts in both), and those
    without a root cause yet."""
    return pd.DataFrame(
        {
            "layer": [*LAYERS, "undetermined"],
            "layer_label": [*(LAYER_LABELS[layer] for layer in LAYERS), "Not determined yet"],
            "incidents": [*(int(counts.get(layer, 0)) for layer in LAYERS), total - with_root],
        }
    )


def _detect_restore_by_month(incidents: QuerySet[Incident]) -> pd.DataFrame:
    """Time to detect (detected - impact start) and to restore (mitigated, else resolved - impact start), in
    hours, median and p90 per month of impact start."""
    restored = Coalesce("mitigated_at", "resolved_at")
    detect = ExpressionWrapper(F("detected_at") - F("impact_started_at"), output_field=DurationField())
    restore = ExpressionWrapper(restored - F("impact_started_at"), output_field=DurationField())
    scope = incidents.exclude(status=Status.CANCELLED).annotate(month=TruncMonth("impact_started_at"))
    columns = ["month", "incidents", "detect_median_h", "detect_p90_h", "restored", "restore_median_h", "restore_p90_h"]
    if connection.vendor == "postgresql":
        has_restore = Q(mitigated_at__isnull=False) | Q(resolved_at__isnull=False)
        rows = list(
            scope.values("month")
            .annotate(
                incidents=Count("pk"),
                detect=MedianAndP90(EpochSeconds(detect)),
                restored=Count("pk", filter=has_restore),
                restore=MedianAndP90(EpochSeconds(restore), filter=has_restore),
            )
            .order_by("month")
            .values_list("month", "incidents", "detect", "restored", "restore")
        )
        df = pd.DataFrame(
            [(m, n, *(d or (None, None))[:2], r, *(t or (None, None))[:2]) for m, n, d, r, t in rows], columns=columns
        )
        for col in ("detect_median_h", "detect_p90_h", "restore_median_h", "restore_p90_h"):
            df[col] = (df[col].astype(float) / 3600).round(2)
    else:
        # SQLite (the embedded no-server mode) has no ordered-set aggregates: percentiles in pandas instead.
        raw = pd.DataFrame(
            list(scope.values_list("month", "impact_started_at", "detected_at", "mitigated_at", "resolved_at")),
            columns=["month", "start", "detected", "mitigated", "resolved"],
        )
        when = {col: pd.to_datetime(raw[col], utc=True) for col in ("start", "detected", "mitigated", "resolved")}
        raw["detect"] = (when["detected"] - when["start"]).dt.total_seconds() / 3600
        raw["restore"] = (when["mitigated"].fillna(when["resolved"]) - when["start"]).dt.total_seconds() / 3600
        grouped = raw.groupby("month")
        df = pd.DataFrame(
            {
                "incidents": grouped.size(),
                "detect_median_h": grouped["detect"].quantile(0.5),
                "detect_p90_h": grouped["detect"].quantile(0.9),
                "restored": grouped["restore"].count(),
                "restore_median_h": grouped["restore"].quantile(0.5),
                "restore_p90_h": grouped["restore"].quantile(0.9),
            }
        ).reset_index()[columns]
        df[columns[2:]] = df[columns[2:]].astype(float).round(2)
    df["month"] = pd.to_datetime(df["month"], utc=True).dt.strftime("%Y-%m")
    return df


ROOT_CAUSE_SQL = """
WITH root AS (
    SELECT d.incident_id, d.layer, f.feature_id, i.impact_started_at AS started,
           LAG(i.impact_started_at) OVER (
               PARTITION BY f.feature_id, d.layer ORDER BY i.impact_started_at, i.id
           ) AS previous
      FROM diagnostics_layerdiagnosis d
      JOIN incidents_incident i ON i.id = d.incident_id
      LEFT JOIN incidents_incident_features f ON f.incident_id = i.id
     WHERE d.status = 'root_cause' AND i.status <> 'cancelled'
)
SELECT GROUPING(layer), layer, COUNT(DISTINCT incident_id),
       COUNT(DISTINCT incident_id) FILTER (WHERE feature_id IS NOT NULL AND previous >= started - %s)
  FROM root
 {scope}
 GROUP BY GROUPING SETS ((layer), ())
"""


def _root_causes_and_recurrence(incidents: QuerySet[Incident], *, scoped: bool) -> tuple[dict[str, int], int, int]:
    """Incidents per root-cause layer, how many have any root cause, and how many of those repeat an earlier
    incident: same feature, same root-cause layer, impact started at most RECURRENCE_WINDOW before. Earlier
    incidents count even when the filters leave them out: a repeat is a repeat."""
    if connection.vendor == "postgresql":
        # One pass: the previous incident per (feature, layer) comes from a window function (one sort of the
        # root-cause rows, not a lookup per incident); the grouping sets give per-layer and overall counts.
        params: list = [RECURRENCE_WINDOW]
        scope = ""
        if scoped:
            scope_sql, scope_params = incidents.values("pk").query.sql_with_params()
            scope = f"WHERE incident_id IN ({scope_sql})"
            params += list(scope_params)
        with connection.cursor() as cursor:
            cursor.execute(ROOT_CAUSE_SQL.format(scope=scope), params)
            rows = cursor.fetchall()
        counts = {layer: n for overall, layer, n, _ in rows if not overall}
        overall = next((row for row in rows if row[0]), (1, None, 0, 0))
        return counts, int(overall[2]), int(overall[3])
    scope = incidents.exclude(status=Status.CANCELLED)
    roots = LayerDiagnosis.objects.filter(status=Verdict.ROOT_CAUSE, incident__in=scope.values("pk"))
    counts = dict(
        roots.values("layer").annotate(n=Count("incident_id", distinct=True)).order_by().values_list("layer", "n")
    )
    earlier = LayerDiagnosis.objects.filter(
        status=Verdict.ROOT_CAUSE,
        layer=OuterRef("layer"),
        incident__features=OuterRef("incident__features"),
        incident__impact_started_at__lt=OuterRef("incident__impact_started_at"),
        incident__impact_started_at__gte=OuterRef("incident__impact_started_at") - RECURRENCE_WINDOW,
    ).exclude(incident__status=Status.CANCELLED)
    with_root = roots.values("incident_id").distinct().count()
    recurrent = roots.filter(Exists(earlier)).values("incident_id").distinct().count()
    return counts, with_root, recurrent


def _inactive_people() -> list[int]:
    # Few people leave: fetched once as a literal IN-list, so the owner indexes (and the partial index on
    # unowned layers) can be OR-ed together instead of a filter over every row.
    return list(User.objects.filter(is_active=False).values_list("pk", flat=True))


def _unowned_layers(incidents: QuerySet[Incident], inactive: list[int]) -> tuple[list[dict], int]:
    """Layers of live incidents with nobody (or a deactivated account) answering for them."""
    nobody = Q(owner__isnull=True) | Q(owner_id__in=inactive) if inactive else Q(owner__isnull=True)
    qs = LayerDiagnosis.objects.filter(
        nobody,
        incident__in=incidents.exclude(status__in=CLOSED_INCIDENT_STATUSES).values("pk"),
    )
    shown = list(
        qs.order_by("-incident_id", "layer").values("incident_id", "incident__title", "layer")[:OFFENDERS_SHOWN]
    )
    count = qs.count() if len(shown) == OFFENDERS_SHOWN else len(shown)
    return [
        {
            "incident": row["incident_id"],
            "reference": f"INC-{row['incident_id']}",
            "title": row["incident__title"],
            "layer": row["layer"],
            "layer_label": LAYER_LABELS[row["layer"]],
            "url": f"/incidents/{row['incident_id']}/",
        }
        for row in shown
    ], count


def _unowned_items(items: QuerySet[ActionItem], inactive: list[int]) -> tuple[list[dict], int]:
    """Open action items whose owner can no longer act (the database already forbids no owner at all)."""
    qs = items.filter(owner_id__in=inactive, status__in=ACTIVE_ACTION_STATUSES)
    shown = list(
        qs.order_by("due_date", "id").values("id", "title", "incident_id", "owner__username")[:OFFENDERS_SHOWN]
    )
    count = qs.count() if len(shown) == OFFENDERS_SHOWN else len(shown)
    return [
        {
            "action_item": row["id"],
            "title": row["title"],
            "incident": row["incident_id"],
            "owner": row["owner__username"] or "",
            "url": f"/incidents/{row['incident_id']}/",
        }
        for row in shown
    ], count


# ----- figures ------------------------------------------------------------------------------------------------

LAYER_COLOURS = {"model": "#7f56d9", "data": "#0e9384", "prompt": "#dc6803", "product": "#2e90fa"}


def _layout(title: str, **extra) -> dict:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 48, "r": 16, "t": 40, "b": 40},
        "height": 280,
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def _list(series) -> list:
    # Plain Python values (NaN -> None) so the figure is JSON as it stands.
    return [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in series]


def _bar(x, y, **extra) -> dict:
    return {"type": "bar", "x": _list(x), "y": _list(y), **extra}


def _line(name: str, x, y, **extra) -> dict:
    return {"type": "scatter", "name": name, "x": _list(x), "y": _list(y), **extra}


def dashboard_figures(board: Dashboard) -> dict[str, dict]:
    """Plotly figures as JSON ({data, layout}) for the page's plotly.js. Built as plain dicts: constructing
    plotly.graph_objects validates every property and costs more than all the SQL together; the tests check
    each figure against plotly's schema (go.Figure(fig)) instead."""
    layer, aging, causes = board.open_by_layer, board.aging, board.root_cause_by_layer
    tr, ot = board.detect_restore_by_month, board.on_time_by_month
    dotted = {"mode": "lines", "line": {"dash": "dot"}}
    figures = {
        "open_by_layer": {
            "data": [
                _bar(layer["layer_label"], layer["open"], name="Open", marker={"color": "#98a2b3"}),
                _bar(layer["layer_label"], layer["overdue"], name="Overdue", marker={"color": "#c01048"}),
            ],
            "layout": _layout("Open and overdue action items by layer", barmode="group"),
        },
        "aging": {
            "data": [_bar(aging["age"], aging["open"], name="Open", marker={"color": "#3a5bd9"})],
            "layout": _layout("Age of open action items", showlegend=False),
        },
        "root_cause": {
            "data": [
                _bar(
                    causes["layer"].map(SHORT_LAYER_LABELS),
                    causes["incidents"],
                    name="Incidents",
                    marker={"color": [LAYER_COLOURS.get(k, "#d0d5dd") for k in causes["layer"]]},
                )
            ],
            "layout": _layout("Incidents by root-cause layer", showlegend=False),
        },
        "detect_restore": {
            "data": [
                _line("Detect, median", tr["month"], tr["detect_median_h"], mode="lines+markers"),
                _line("Detect, p90", tr["month"], tr["detect_p90_h"], **dotted),
                _line("Restore, median", tr["month"], tr["restore_median_h"], mode="lines+markers"),
                _line("Restore, p90", tr["month"], tr["restore_p90_h"], **dotted),
            ],
            "layout": _layout(
                "Time to detect and to restore", xaxis={"type": "category"}, yaxis={"title": {"text": "hours"}}
            ),
        },
        "on_time": {
            "data": [
                _line(
                    "Completed by due date",
                    ot["month"],
                    ot["on_time_rate"],
                    mode="lines+markers",
                    line={"color": "#12805c"},
                )
            ],
            "layout": _layout(
                "Action items completed by their due date",
                showlegend=False,
                yaxis={"tickformat": ".0%", "range": [0, 1.05]},
                xaxis={"type": "category"},
            ),
        },
    }
    for name, figure in figures.items():
        if not _has_data(figure, zero_is_data=name in ("detect_restore", "on_time")):
            figure["empty"] = EMPTY_FIGURE_TEXT[name]
    return figures


EMPTY_FIGURE_TEXT = {
    "open_by_layer": "No open action items for these filters.",
    "aging": "No open action items for these filters.",
    "root_cause": "No incident with a root cause for these filters yet.",
    "detect_restore": "No incidents in range.",
    "on_time": "No action item done or past due in range yet.",
}


def _has_data(figure: dict, *, zero_is_data: bool) -> bool:
    """A chart is worth drawing when some trace has a value (a count chart: a value above zero; a 0 % on-time
    month is data). Otherwise the page shows the empty state instead of a bare -1..1 axis."""
    empty = (None,) if zero_is_data else (None, 0)
    return any(v not in empty for trace in figure["data"] for v in trace.get("y") or [])
