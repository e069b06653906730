"""Benchmark records: every run of `python -m bench NAME` writes its JSON lines to docs/benchmarks/, and the
tables in docs/benchmarks.md are rendered from those files, never typed by hand, so a figure in the docs is
always one that a command printed, with the load the machine was under when it did.

A table is placed with a pair of markers naming the record file (without `.jsonl`):

    <!-- bench-table: incidents -->
    (generated)
    <!-- /bench-table -->

and `<!-- bench-summary -->` … `<!-- /bench-summary -->` holds one generated row per record file: its target,
whether the recorded run met it, and the load it ran under.

A run with BENCH_* variables set records under a name that includes them (`incidents@BENCH_INCIDENTS=300000`),
so the 100k, 300k and 1M rows of one benchmark are kept side by side.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "docs" / "benchmarks"
DOC = ROOT / "docs" / "benchmarks.md"
MARKER = re.compile(r"(<!-- bench-table: (?P<stem>[^ ]+) -->\n)(?P<body>.*?)(<!-- /bench-table -->)", re.S)
# Variables that change what a benchmark measures; anything else in the environment is not part of its name.
SKIP_IN_NAME = {"BENCH_RECORD"}
# Variables that change how long or how parallel a run is, not what it measures: in its command, not its name.
COMMAND_ONLY = {"BENCH_DEADLINE", "BENCH_PROCESSES", "BENCH_REFUSAL_JUDGE_URL", "BENCH_REFUSAL_JUDGE_HEADER"}


def variant_env() -> dict[str, str]:
    return {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith("BENCH_") and k not in SKIP_IN_NAME and k not in COMMAND_ONLY
    }


def record_stem(name: str, env: dict[str, str] | None = None) -> str:
    env = variant_env() if env is None else env
    return name + "".join(f"@{k}={v}" for k, v in env.items())


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        return out.stdout.strip() + ("+changes" if dirty.strip() else "")
    except OSError:
        return ""


def context(name: str) -> dict:
    env = {**variant_env(), **{k: os.environ[k] for k in sorted(COMMAND_ONLY) if k in os.environ}}
    command = " ".join([*(f"{k}={v}" for k, v in env.items()), ".venv/bin/python -m bench", name])
    return {
        "command": command,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
    }


def write(name: str, results: list[dict], ctx: dict) -> Path:
    RECORDS.mkdir(parents=True, exist_ok=True)
    ctx = {**ctx, "load_after": [round(x, 2) for x in os.getloadavg()]}
    path = RECORDS / f"{record_stem(name)}.jsonl"
    with path.open("w") as fh:
        for result in results:
            fh.write(json.dumps({**result, "recorded": ctx}, default=str, sort_keys=False) + "\n")
    return path


def _shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def table(stem: str) -> str:
    path = RECORDS / f"{stem}.jsonl"
    if not path.exists():
        return f"_No record yet: run the command to create `docs/benchmarks/{stem}.jsonl`._\n"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = []
    for result in lines:
        rec = result.get("recorded", {})
        ok = result.get("ok")
        out.append(
            f"Command: `{rec.get('command', '')}` · recorded {rec.get('started_at', '?')} at `{rec.get('commit', '?')}`"
            f" · load {_load(rec.get('load_before'))} before, {_load(rec.get('load_after'))} after"
            f" on {rec.get('cpus', '?')} cores\n"
        )
        out.append(
            f"Target: {result.get('target', '-')} · **{'met' if ok else 'not met' if ok is False else 'no target'}**\n"
        )
        out.append("| metric | value |\n| --- | ---: |\n")
        out.extend(f"| {_shown(k)} | {_shown(v)} |\n" for k, v in result.get("metrics", {}).items())
        if result.get("notes"):
            out.append(f"\n{result['notes']}\n")
        out.append("\n")
    return "".join(out).rstrip("\n") + "\n"


def _load(values) -> str:
    return "/".join(f"{v:.1f}" for v in values) if values else "?"


SUMMARY = re.compile(r"(<!-- bench-summary -->\n)(?P<body>.*?)(<!-- /bench-summary -->)", re.S)


def summary() -> str:
    out = ["| record | target | met | recorded | load before / after |\n", "| --- | --- | --- | --- | --- |\n"]
    for path in sorted(RECORDS.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            result = json.loads(line)
            rec = result.get("recorded", {})
            ok = result.get("ok")
            met = "**yes**" if ok else "**no**" if ok is False else "-"
            out.append(
                f"| `{path.stem}` | {_shown(result.get('target', '-'))} | {met} | {rec.get('started_at', '?')} "
                f"| {_load(rec.get('load_before'))} / {_load(rec.get('load_after'))} |\n"
            )
    return "".join(out)


def render(text: str) -> str:
    text = MARKER.sub(lambda m: m.group(1) + table(m.group("stem")) + m.group(4), text)
    return SUMMARY.sub(lambda m: m.group(1) + summary() + m.group(3), text)


def render_doc() -> bool:
    """Re-renders docs/benchmarks.md in place; True when it changed."""
    before = DOC.read_text()
    after = render(before)
    if after != before:
        DOC.write_text(after)
    return after != before
