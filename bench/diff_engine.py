"""Behaviour diff at 10k, 100k, 300k and 1M answer pairs through the quick-compare path, and Evidently beside it.

For every size, two JSON Lines answer files (``bench/_pairs.py``: deterministic, project-made; side B lists its
blocks in reverse order, so pairing by id is real work) are written under var/bench-diff/ once, then a fresh
subprocess runs ``manage.py behaviour_diff A B --segment segment --json OUT`` in-process (``call_command``): the
command indexes both files, pairs them by id and streams the pairs to the engine, the same engine the report task
uses. Wall time, CPU seconds (the process, and with its measuring workers) and peak RSS (``ru_maxrss`` of the
process; ``VmHWM`` of its largest worker, sampled from /proc) are taken by that subprocess. On the shared 2-core machine other jobs stretch wall
time; CPU time does not move with load.

On the same 100k files, in the same run, Evidently's text descriptors (length, words, sentences, non-letter
share, valid JSON, a refusal phrase check; all local, no downloads) run in Evidently's own virtual environment
(var/bench-evidently, created with ``python3 -m venv`` and ``pip install evidently`` when missing).

BENCH_DIFF_SIZES=10000,100000 runs other sizes; BENCH_DIFF_EVIDENTLY=0 skips Evidently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "var" / "bench-diff"
EVIDENTLY_VENV = ROOT / "var" / "bench-evidently"
SIZES = (10_000, 100_000, 300_000, 1_000_000)
EVIDENTLY_SIZE = 100_000
TARGET_SECONDS = 60.0  # at 1M pairs
TARGET_RSS_MB = 1024.0  # at 1M pairs, the process plus its largest worker
FLAT_FACTOR, FLAT_SLACK_MB = 1.2, 200.0  # RSS(1M) <= 1.2 x RSS(100k) + 200 MB: memory does not grow with N


def files(n: int) -> tuple[Path, Path]:
    from bench._pairs import write_files

    directory = DATA / str(n)
    paths = (directory / "a.jsonl", directory / "b.jsonl")
    if not all(p.exists() for p in paths):
        write_files(directory, n)
    return paths


class _Workers:
    """The measuring workers' CPU seconds and peak RSS, read from /proc: they are children of the engine's
    forkserver process, not of this one, so ``RUSAGE_CHILDREN`` does not see them."""

    def __init__(self):
        import threading

        self.cpu: dict[int, float] = {}
        self.peak_mb: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _descendants(self) -> list[int]:
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        out, frontier = [], [os.getpid()]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            out += frontier
        return out

    def _watch(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        while not self._stop.wait(0.5):
            for pid in self._descendants():
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_mb[pid] = int(line.split()[1]) / 1024

    def stop(self) -> tuple[float, float]:
        """CPU seconds of all workers, and the largest worker's peak RSS (MB)."""
        self._stop.set()
        self._thread.join()
        return sum(self.cpu.values()), max(self.peak_mb.values(), default=0.0)


def _child(path_a: str, path_b: str, out: str) -> None:
    import io
    import resource

    from bench._django import django_setup

    django_setup()
    from django.core.management import call_command

    workers = _Workers()
    wall, cpu = time.perf_counter(), time.process_time()
    call_command("behaviour_diff", path_a, path_b, "--segment", "segment", "--json", out, stdout=io.StringIO(),
                 stderr=io.StringIO())  # fmt: skip
    wall = time.perf_counter() - wall
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu = time.process_time() - cpu
    worker_cpu, worker_peak = workers.stop()
    report = json.loads(Path(out).read_text())
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": cpu + worker_cpu,
                "main_cpu_s": cpu,
                "peak_rss_mb": own.ru_maxrss / 1024,
                "worker_peak_rss_mb": worker_peak,
                "load_average_1m": os.getloadavg()[0],
                "verdict": report["verdict"],
                "refusal_segments": [
                    s["value"] for s in report["segments"] if s["metric"] == "refusal" and s["verdict"] == "regression"
                ],
                "interval": report["options"].get("interval", "bootstrap"),
            }
        )
    )


def _rewind(n: int) -> dict:
    path_a, path_b = files(n)
    out = DATA / str(n) / "report.json"
    code = f"from bench.diff_engine import _child; _child({str(path_a)!r}, {str(path_b)!r}, {str(out)!r})"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _evidently(n: int) -> dict:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        # Evidently 0.7 imports pandas internals that pandas 3 removed.
        subprocess.run([str(python), "-m", "pip", "install", "-q", "evidently>=0.7,<0.8", "pandas<3"], check=True)
    path_a, path_b = files(n)
    script = Path(__file__).with_name("_evidently_descriptors.py")
    done = subprocess.run(
        [str(python), str(script), str(path_a), str(path_b)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> dict:
    sizes = [int(s) for s in os.environ.get("BENCH_DIFF_SIZES", ",".join(map(str, SIZES))).split(",")]
    metrics: dict[str, float | int | str] = {}
    rows = {}
    for n in sizes:
        started = time.perf_counter()
        files(n)
        metrics[f"files_{n // 1000}k_prepare_s"] = round(time.perf_counter() - started, 1)
        rows[n] = result = _rewind(n)
        tag = f"rewind_{n // 1000}k"
        metrics[f"{tag}_wall_s"] = round(result["wall_s"], 1)
        metrics[f"{tag}_cpu_s"] = round(result["cpu_s"], 1)
        metrics[f"{tag}_main_cpu_s"] = round(result["main_cpu_s"], 1)
        metrics[f"{tag}_peak_rss_mb"] = round(result["peak_rss_mb"], 0)
        metrics[f"{tag}_worker_peak_rss_mb"] = round(result["worker_peak_rss_mb"], 0)
        metrics[f"{tag}_load_1m"] = round(result["load_average_1m"], 1)
    evidently = None
    if os.environ.get("BENCH_DIFF_EVIDENTLY", "1") != "0":
        evidently = _evidently(EVIDENTLY_SIZE)
        metrics["evidently_100k_wall_s"] = round(evidently["wall_s"], 1)
        metrics["evidently_100k_cpu_s"] = round(evidently["cpu_s"], 1)
        metrics["evidently_100k_peak_rss_mb"] = round(evidently["peak_rss_mb"], 0)
        metrics["evidently_100k_working_mb"] = round(evidently["peak_rss_mb"] - evidently["rss_after_imports_mb"], 0)

    def rss(n: int) -> float:
        return rows[n]["peak_rss_mb"] + rows[n]["worker_peak_rss_mb"]

    ok = None
    if 1_000_000 in rows and 100_000 in rows:
        big = rows[1_000_000]
        ok = (
            big["wall_s"] < TARGET_SECONDS
            and rss(1_000_000) < TARGET_RSS_MB
            and rss(1_000_000) <= FLAT_FACTOR * rss(100_000) + FLAT_SLACK_MB
        )
    _table(rows, evidently)
    findings = "; ".join(f"{n // 1000}k: {r['verdict']}, refusal regression in {r['refusal_segments']}, "
                         f"{r['interval']} intervals" for n, r in rows.items())  # fmt: skip
    return {
        "name": "diff_engine",
        "target": f"1M pairs < {TARGET_SECONDS:.0f} s wall and < {TARGET_RSS_MB:.0f} MB peak RSS (process + largest "
        f"worker), RSS(1M) <= {FLAT_FACTOR} x RSS(100k) + {FLAT_SLACK_MB:.0f} MB",
        "metrics": metrics,
        "ok": ok,
        "notes": findings,
    }


def _table(rows: dict[int, dict], evidently: dict | None) -> None:
    print(f"{'tool':<10} {'pairs':>9} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'worker RSS MB':>14}",
          file=sys.stderr)  # fmt: skip
    for n, r in rows.items():
        print(f"{'rewind':<10} {n:>9,} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['peak_rss_mb']:>12.0f} "
              f"{r['worker_peak_rss_mb']:>14.0f}", file=sys.stderr)  # fmt: skip
    if evidently:
        print(f"{'evidently':<10} {evidently['pairs']:>9,} {evidently['wall_s']:>8.1f} {evidently['cpu_s']:>8.1f} "
              f"{evidently['peak_rss_mb']:>12.0f} {'-':>14}  (after imports {evidently['rss_after_imports_mb']:.0f} MB)",
              file=sys.stderr)  # fmt: skip
