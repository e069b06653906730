"""Behaviour-diff report exports: Markdown (for incidents and docs) and CSV (metrics and segment cells)."""

from __future__ import annotations

import csv
import io

from core.markdown_text import markdown_text as esc

_CSV_COLUMNS = [
    "scope", "field", "value", "metric", "kind", "direction", "n", "mean_a", "mean_b", "effect", "ci_low",
    "ci_high", "p_value", "p_adjusted", "verdict", "reason",
]  # fmt: skip


def csv_safe(value: str) -> str:
    """A text cell a spreadsheet shows as text: a leading =, +, -, @, tab or CR would start a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _num(value: float | None, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def _level(m: dict, key: str) -> str:
    value = m.get(key)
    if value is None:
        return "-"
    return f"{value * 100:.1f} %" if m.get("kind") == "binary" else format(value, ".4g")


def _change(m: dict, value: float | None) -> str:
    """A change as read: percentage points for rates, plain units (and the relative change) otherwise."""
    if value is None:
        return "-"
    return f"{value * 100:+.1f} pp" if m.get("kind") == "binary" else format(value, "+.4g")


def report_markdown(report: dict, *, label_a: str | None = None, label_b: str | None = None, top: int = 5) -> str:
    """A readable summary: verdict, metric table, flips, similarity, significant segments, most changed cases.

    Sides are named by ``report["sides"]`` (releases, generators, files) unless labels are given."""
    sides = report.get("sides") or {}
    label_a = label_a or sides.get("a") or "A"
    label_b = label_b or sides.get("b") or "B"
    lines = [
        f"**Verdict: {report['verdict']}** over {report['n_cases']} cases"
        f" ({report['k_samples']} sample(s) per case and side). {report['reason']}",
        "",
        f"A = {label_a}, B = {label_b}. Rates are in percent, their changes in percentage points (pp).",
        "",
        f"| metric | direction | {label_a} | {label_b} | change (B - A) | 95% CI | p (Holm) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in report["metrics"]:
        relative = f" ({m['relative_change'] * 100:+.1f}%)" if m.get("relative_change") is not None else ""
        lines.append(
            f"| {m['name']} | {m.get('direction', '')} | {_level(m, 'mean_a')} | {_level(m, 'mean_b')} | "
            f"{_change(m, m['effect'])}{relative} | [{_change(m, m['ci'][0])}, {_change(m, m['ci'][1])}] | "
            f"{_num(m['p_adjusted'], '.2g')} | {m['verdict']} |"
        )
    flagged = [p for p in report.get("refusal_patterns") or [] if p.get("zero_match")]
    if report.get("refusal_patterns"):
        lines += ["", "Refusal patterns (answers matched, A / B):"]
        lines += [
            f"- `{p['pattern']}`: {p['hits_a']} / {p['hits_b']}" + (" — **matched nothing**" if p["zero_match"] else "")
            for p in report["refusal_patterns"]
        ]
        if flagged:
            lines.append(f"{len(flagged)} pattern(s) matched no answer on either side: check them for typos.")
    if report.get("refusal_judge"):
        lines += ["", f"Refusal: {report['refusal_judge']['summary']}"]
    if report.get("preference"):
        pref = report["preference"]
        lines += ["", f"Pairwise preference ({pref.get('judge', 'judge')}): {pref.get('summary', '')}"]
    if report["flip_matrices"]:
        lines += ["", "Flip matrices (cases): " + "; ".join(f"{k}: {v}" for k, v in report["flip_matrices"].items())]
    if report.get("noise_floor"):
        lines += ["", "Noise floor: " + ", ".join(f"{k} {_num(v)}" for k, v in report["noise_floor"].items())]
    sim = report["similarity"]
    lines += [
        "",
        f"Similarity ({sim.get('backend', 'word_jaccard')}): mean {_num(sim['mean'], '.3f')}, "
        f"p10 {_num(sim['p10'], '.3f')}, median {_num(sim['median'], '.3f')}",
    ]
    notable = [s for s in report["segments"] if s["verdict"] not in ("no_significant_change", "inconclusive")]
    testable = [s for s in report["segments"] if s["verdict"] != "inconclusive"]
    lines += ["", f"Segments: {len(testable)} testable segment x metric cells, {len(notable)} significant after BH."]
    lines += [f"- {esc(s['field'])}={esc(s['value'])} (n={s['n']}): {esc(s['reason'])}" for s in notable]
    if report["top_changes"]:
        lines += ["", "Most changed cases:"]
    for c in report["top_changes"][:top]:
        segment = ", ".join(f"{k}={v}" for k, v in c["segment"].items())
        lines.append(
            f"- {esc(c['case_id'])}{f' ({esc(segment)})' if segment else ''}: similarity "
            f"{_num(c['similarity'], '.2f')}, {len(c['output_a'])} -> {len(c['output_b'])} chars; "
            f"{label_b} starts: {esc(repr(c['output_b'][:90]))}"
        )
    return "\n".join(lines) + "\n"


def report_csv(report: dict) -> str:
    """One row per overall metric (scope ``overall``) and per segment x metric cell (scope ``segment``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for m in report["metrics"]:
        row = {**m, "scope": "overall", "metric": m["name"], "ci_low": m["ci"][0], "ci_high": m["ci"][1]}
        writer.writerow({k: csv_safe(v) if isinstance(v, str) else v for k, v in row.items()})
    for s in report["segments"]:
        row = {**s, "scope": "segment", "effect": s["delta"], "ci_low": s["ci"][0], "ci_high": s["ci"][1]}
        writer.writerow({k: csv_safe(v) if isinstance(v, str) else v for k, v in row.items()})
    return out.getvalue()
