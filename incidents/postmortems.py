"""The postmortem document: a snapshot (everything a published revision shows) and its Markdown."""

from __future__ import annotations

from django.utils import timezone

from core.display import timestamp
from core.markdown_text import markdown_text as esc
from diagnostics.checklists import checklist_for
from diagnostics.models import LayerDiagnosis, layer_sorted
from incidents.models import POSTMORTEM_TEXT_FIELDS, ActionItem, Postmortem
from incidents.selectors import incident_timeline

SECTION_TITLES = {
    "summary": "Summary",
    "impact": "Impact",
    "users_affected": "Users affected",
    "workflows_affected": "Workflows affected",
    "root_cause": "Root cause",
    "contributing_factors": "Contributing factors",
    "went_well": "What went well",
    "went_poorly": "What went poorly",
    "lessons": "Lessons",
}


def _iso(value):
    return value.isoformat() if value else None


def _duration(start, end) -> str:
    if not start or not end:
        return "ongoing"
    minutes = int((end - start).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = ([f"{days}d"] if days else []) + ([f"{hours}h"] if hours else []) + [f"{mins}m"]
    return " ".join(parts)


def postmortem_snapshot(postmortem: Postmortem) -> dict:
    """Everything the document shows, frozen at this moment (JSON-serialisable)."""
    incident = postmortem.incident
    diagnoses = layer_sorted(
        LayerDiagnosis.objects.filter(incident=incident).select_related("owner").prefetch_related("evidence")
    )
    items = ActionItem.objects.filter(incident=incident).select_related("owner")
    impact_end = incident.mitigated_at or incident.resolved_at
    return {
        "incident": {
            "id": incident.pk,
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.get_severity_display(),
            "status": incident.get_status_display(),
            "impact_started_at": _iso(incident.impact_started_at),
            "detected_at": _iso(incident.detected_at),
            "mitigated_at": _iso(incident.mitigated_at),
            "resolved_at": _iso(incident.resolved_at),
            "impact_duration": _duration(incident.impact_started_at, impact_end),
            "time_to_detect": _duration(incident.impact_started_at, incident.detected_at),
            "environments": [str(e) for e in incident.feature_environments.select_related("feature")],
            "commander": str(incident.commander) if incident.commander else None,
        },
        "fields": {name: getattr(postmortem, name) for name in POSTMORTEM_TEXT_FIELDS},
        "timeline": [
            {"at": e.occurred_at.isoformat(), "kind": e.kind, "text": e.text, "actor": e.actor}
            for e in incident_timeline(incident)
        ],
        "diagnosis": [
            {
                "layer": d.layer,
                "label": d.get_layer_display(),
                "owner": str(d.owner) if d.owner else None,
                "verdict": d.get_status_display(),
                "evidence": [ev.text or ev.url for ev in d.evidence.all()],
                "checklist": [c for c in checklist_for(d.layer, d.checklist) if c.get("answer")],
            }
            for d in diagnoses
        ],
        "action_items": [
            {
                "title": a.title,
                "layer": a.get_layer_display(),
                "owner": str(a.owner),
                "due_date": a.due_date.isoformat(),
                "priority": a.get_priority_display(),
                "kind": a.get_kind_display(),
                "status": a.get_status_display(),
                "tracker_url": a.tracker_url,
            }
            for a in items
        ],
        "generated_at": timezone.now().isoformat(),
    }


def _block(text: str) -> str:
    return esc(text.strip()) if text and text.strip() else "_Not written._"


def _cell(text: str | None) -> str:
    """User text inside a table cell: escaped, on one line, no column breaks."""
    return esc(text).replace("|", "\\|").replace("\n", " ")


def postmortem_markdown(snapshot: dict) -> str:
    inc = snapshot["incident"]
    revision = snapshot.get("revision")
    lines = [
        f"# Postmortem: {inc['reference']} {esc(inc['title']).replace(chr(10), ' ')}",
        "",
        f"- Severity: {inc['severity']}",
        f"- Impact: {timestamp(inc['impact_started_at'])} → "
        f"{timestamp(inc['mitigated_at'] or inc['resolved_at']) or 'ongoing'}"
        f" ({inc['impact_duration']}); detected after {inc['time_to_detect']}",
        f"- Affected: {esc(', '.join(inc['environments'])) or '—'}",
        f"- Commander: {esc(inc['commander']) or '—'}",
    ]
    if revision:
        lines.append(f"- Revision: {revision}")
    for name, title in SECTION_TITLES.items():
        lines += ["", f"## {title}", "", _block(snapshot["fields"].get(name, ""))]
    lines += ["", "## Four-layer diagnosis", "", "| Layer | Owner | Verdict | Evidence |", "|---|---|---|---|"]
    for d in snapshot["diagnosis"]:
        evidence = "; ".join(_cell(e) for e in d["evidence"]) or "—"
        lines.append(f"| {d['label']} | {_cell(d['owner']) or '**unowned**'} | {d['verdict']} | {evidence} |")
    for d in snapshot["diagnosis"]:
        if d["checklist"]:
            lines += ["", f"### {d['label']} checklist", ""]
            lines += [f"- {c['question']} — {esc(c['answer']).replace(chr(10), ' ')}" for c in d["checklist"]]
    lines += ["", "## Action items", ""]
    if snapshot["action_items"]:
        lines += ["| Action | Layer | Owner | Due | Priority | Type | Status |", "|---|---|---|---|---|---|---|"]
        for a in snapshot["action_items"]:
            title = _cell(f"[{a['title']}]({a['tracker_url']})" if a["tracker_url"] else a["title"])
            lines.append(
                f"| {title} | {a['layer']} | {_cell(a['owner'])} | {a['due_date']} | {a['priority']} | {a['kind']} | "
                f"{a['status']} |"
            )
    else:
        lines.append("_None._")
    lines += ["", "## Timeline", ""]
    lines += [
        f"- {timestamp(e['at'])} · {e['kind']} · {esc(e['text']).replace(chr(10), ' ')}" for e in snapshot["timeline"]
    ]
    return "\n".join(lines) + "\n"
