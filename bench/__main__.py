"""Benchmark runner: `python -m bench [NAME ...]` runs the named benchmarks (all when none), prints each
result as JSON, then a table. Each benchmark is a module bench/<name>.py with ``run() -> dict`` whose dict
has ``name``, ``target`` and ``metrics`` (name -> number) and may have ``ok`` (target met) and ``notes``.
Benchmarks that need Django call ``bench.django_setup()`` first.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    results = []
    for name in names:
        result = importlib.import_module(f"bench.{name}").run()
        print(json.dumps(result, default=str))
        sys.stdout.flush()
        results.append(result)
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
