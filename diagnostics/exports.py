"""Report exports: CSV (one row per metric and per segment cell) and Markdown (for an incident doc)."""

from __future__ import annotations

import csv
import io

CSV_COLUMNS = [
    "scope",
    "field",
    "value",
    "metric",
    "kind",
    "verdict",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "mean_a",
    "mean_b",
    "n",
    "reason",
]


def _ci(ci) -> tuple:
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return ci[0], ci[1]
    return None, None


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def report_csv(result: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for m in result.get("metrics") or []:
        low, high = _ci(m.get("ci"))
        writer.writerow(
            {
                "scope": "overall",
                **m,
                "metric": m.get("name"),
                "ci_low": low,
                "ci_high": high,
                "n": result.get("n_cases"),
            }
        )
    for s in result.get("segments") or []:
        low, high = _ci(s.get("ci"))
        writer.writerow({"scope": "segment", **s, "effect": s.get("delta"), "ci_low": low, "ci_high": high})
    return out.getvalue()


def report_markdown(result: dict, *, title: str, release_a: str, release_b: str, prompt_set: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"- **A**: {release_a}",
        f"- **B**: {release_b}",
        f"- **Prompt set**: {prompt_set} ({result.get('n_cases')} cases, K={result.get('k_samples')})",
        f"- **Verdict**: {result.get('verdict', '').replace('_', ' ')} — {result.get('reason', '')}",
        "",
        "## Metrics",
        "",
        "| metric | verdict | effect | interval | p (adj.) | A | B | reason |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in result.get("metrics") or []:
        low, high = _ci(m.get("ci"))
        lines.append(
            f"| {m.get('name')} | {str(m.get('verdict', '')).replace('_', ' ')} | {_fmt(m.get('effect'))} "
            f"| [{_fmt(low)}, {_fmt(high)}] | {_fmt(m.get('p_adjusted'))} | {_fmt(m.get('mean_a'))} "
            f"| {_fmt(m.get('mean_b'))} | {m.get('reason', '')} |"
        )
    flagged = [s for s in result.get("segments") or [] if s.get("verdict") in ("regression", "improvement")]
    if flagged:
        lines += ["", "## Segments with a significant change", "", "| segment | metric | verdict | delta | p (adj.) |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for s in flagged:
            lines.append(
                f"| {s.get('field')}={s.get('value')} | {s.get('metric')} | {s.get('verdict')} "
                f"| {_fmt(s.get('delta'))} | {_fmt(s.get('p_adjusted'))} |"
            )
    changes = result.get("top_changes") or []
    if changes:
        lines += ["", "## Most changed answers", ""]
        for c in changes[:5]:
            lines.append(f"- `{c.get('case_id')}` (similarity {_fmt(c.get('similarity'))})")
    return "\n".join(lines) + "\n"
