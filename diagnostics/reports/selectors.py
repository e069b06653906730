"""Reads for behaviour-diff reports: coverage against production, and chart data for the report page."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Count

from diagnostics.models import BehaviourReport, PromptSetVersion
from diagnostics.reports.coverage import coverage_compare
from rollouts.models import Observation

VERDICT_BADGE = {
    "regression": "bad",
    "improvement": "ok",
    "no_significant_change": "muted",
    "inconclusive": "warn",
    "changed": "",  # a neutral metric (length, formatting) moved: worth a look, not a regression
}


def production_counts(
    field: str, *, feature=None, since: datetime | None = None, until: datetime | None = None
) -> dict[str, int]:
    """Requests per segment value in production environments (of the feature, when the set has one)."""
    rows = Observation.objects.filter(environment__is_production=True)
    if feature is not None:
        rows = rows.filter(release__feature=feature)
    if since:
        rows = rows.filter(time__gte=since)
    if until:
        rows = rows.filter(time__lt=until)
    key = f"segment__{field}"
    grouped = rows.values(key).annotate(n=Count("pk"))
    return {str(r[key]): int(r["n"] or 0) for r in grouped if r[key] not in (None, "")}


def set_segment_counts(version: PromptSetVersion, field: str) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for segments in version.cases.values_list("segments", flat=True).iterator(chunk_size=5000):
        value = (segments or {}).get(field)
        if value not in (None, ""):
            counts[str(value)] += 1
    return dict(counts)


def prompt_set_coverage(
    version: PromptSetVersion,
    *,
    field: str,
    production: dict[str, int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict:
    if field not in version.segment_fields:
        raise ValidationError(
            {"field": [f"{version} has no segment field {field!r}; it has {version.segment_fields}."]}
        )
    source = "entered"
    if production is None:
        feature = version.prompt_set.feature
        production, source = production_counts(field, feature=feature, since=since, until=until), "observations"
    result = coverage_compare(set_segment_counts(version, field), production)
    return {"field": field, "source": source, **result}


# --- Report page ---


def report_heatmap(summary: dict, segment_field: str | None = None) -> dict | None:
    """Plotly heat map: segment value (rows) x metric (columns).

    Metrics have different units (characters vs rates), so the colour is each cell's delta scaled by the largest
    |delta| of its metric, signed so that red is worse and blue better (plotly's RdBu runs blue -> grey -> red;
    neutral metrics stay grey); the text shows the raw delta and a mark where the cell is significant.
    """
    rows = [s for s in summary.get("segments") or [] if not segment_field or s.get("field") == segment_field]
    if not rows:
        return None
    direction = {m.get("name"): m.get("direction") for m in summary.get("metrics") or []}
    ys = sorted({f"{s['field']}={s['value']}" for s in rows})
    xs = sorted({s["metric"] for s in rows})
    index = {(f"{s['field']}={s['value']}", s["metric"]): s for s in rows}
    scale = {x: max((abs(s.get("delta") or 0) for s in rows if s["metric"] == x), default=0) or 1 for x in xs}
    sign = {"up_is_worse": 1.0, "down_is_worse": -1.0}
    z, text = [], []
    for y in ys:
        z_row, t_row = [], []
        for x in xs:
            cell = index.get((y, x)) or {}
            delta = cell.get("delta")
            z_row.append(None if delta is None else delta / scale[x] * sign.get(direction.get(x), 0.0))
            verdict = cell.get("verdict", "")
            mark = {"regression": " ▼", "improvement": " ▲", "changed": " •"}.get(verdict, "")
            t_row.append("" if delta is None else f"{delta:+.3g}{mark}")
        z.append(z_row)
        text.append(t_row)
    return {
        "data": [
            {
                "type": "heatmap",
                "x": xs,
                "y": ys,
                "z": z,
                "zmin": -1,
                "zmax": 1,
                "text": text,
                "texttemplate": "%{text}",
                "colorscale": "RdBu",
                "colorbar": {"title": {"text": "better ← → worse"}, "tickvals": []},
                "hovertemplate": "%{y}<br>%{x}: %{text}<extra></extra>",
            }
        ],
        "layout": {
            "height": max(240, 28 * len(ys) + 120),
            "margin": {"l": 180, "r": 20, "t": 20, "b": 120},
            "xaxis": {"tickangle": -40},
        },
    }


def report_distributions(summary: dict) -> list[dict]:
    """One overlaid bar chart per metric from the stored histograms (A vs B)."""
    figures = []
    for metric, h in sorted((summary.get("histograms") or {}).items()):
        edges = h["edges"]
        mids = [(edges[i] + edges[i + 1]) / 2 for i in range(len(edges) - 1)]
        figures.append(
            {
                "metric": metric,
                "figure": {
                    "data": [
                        {"type": "bar", "name": "A", "x": mids, "y": h["a"], "opacity": 0.6},
                        {"type": "bar", "name": "B", "x": mids, "y": h["b"], "opacity": 0.6},
                    ],
                    "layout": {
                        "barmode": "overlay",
                        "height": 220,
                        "margin": {"l": 40, "r": 10, "t": 30, "b": 30},
                        "title": {"text": metric, "font": {"size": 13}},
                        "showlegend": False,
                    },
                },
            }
        )
    return figures


def release_label(release) -> str:
    """A release as a reader knows it: feature, number and the model snapshot it runs."""
    snapshot = getattr(getattr(release, "model", None), "resolved_snapshot", "")
    return f"{release} ({snapshot})" if snapshot else str(release)


def report_side_labels(report: BehaviourReport) -> tuple[str, str]:
    """Sides named after their releases; the labels the report was computed with when it has them."""
    sides = (report.summary or {}).get("sides") if hasattr(report, "summary") else None
    if sides and sides.get("a") and sides.get("b") and sides["a"] != "A":
        return sides["a"], sides["b"]
    a, b = release_label(report.release_a), release_label(report.release_b)
    return (a, b) if a != b else (f"{a} (A)", f"{b} (B)")


def report_segment_values(summary: dict) -> list[str]:
    return sorted({f"{s['field']}={s['value']}" for s in summary.get("segments") or []})


def report_top_changes(summary: dict, segment: str | None = None) -> list[dict]:
    changes = summary.get("top_changes") or []
    if not segment:
        return changes
    field, _, value = segment.partition("=")

    def matches(change: dict) -> bool:
        seg = change.get("segment")
        if isinstance(seg, dict):
            return str(seg.get(field)) == value
        return str(seg) in (value, segment)

    return [c for c in changes if matches(c)]


def report_segment_rows(summary: dict, segment: str | None = None) -> list[dict]:
    rows = summary.get("segments") or []
    if segment:
        field, _, value = segment.partition("=")
        rows = [s for s in rows if s.get("field") == field and str(s.get("value")) == value]
    return rows


def reports_for_list():
    return BehaviourReport.objects.select_related(
        "release_a__feature", "release_b__feature", "prompt_set_version__prompt_set", "created_by"
    ).defer("result", "summary")
