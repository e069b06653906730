"""Benchmark runner: `python -m bench [NAME ...]` runs the named benchmarks (all when none), prints each
result as JSON, then a table. Each benchmark is a module bench/<name>.py with ``run() -> dict`` whose dict
has ``name``, ``target`` and ``metrics`` (name -> number) and may have ``ok`` (target met) and ``notes``.
Benchmarks that need Django call ``bench.django_setup()`` first.

Every run is recorded under docs/benchmarks/ (see bench/_records.py) and docs/benchmarks.md is re-rendered from
the records; `python -m bench --render` only re-renders, and BENCH_RECORD=0 runs without recording.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

from bench import _records


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    if argv == ["--render"]:
        changed = _records.render_doc()
        print("docs/benchmarks.md re-rendered" if changed else "docs/benchmarks.md already up to date")
        return 0
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    results = []
    for name in names:
        ctx = _records.context(name)
        result = importlib.import_module(f"bench.{name}").run()
        print(json.dumps(result, default=str))
        sys.stdout.flush()
        results.append(result)
        if os.environ.get("BENCH_RECORD", "1") != "0":
            print(f"recorded in {_records.write(name, [result], ctx).relative_to(_records.ROOT)}", file=sys.stderr)
            _records.render_doc()
    print()
    print(f"{'benchmark':<34} {'metric':<38} {'value':>14}  target / ok")
    for r in results:
        first = True
        for metric, value in r["metrics"].items():
            shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
            tail = f"  {r.get('target', '')} / {r.get('ok', '-')}" if first else ""
            print(f"{(r['name'] if first else ''):<34} {metric:<38} {shown!s:>14}{tail}")
            first = False
    return 0 if all(r.get("ok", True) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
