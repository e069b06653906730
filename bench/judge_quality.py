"""Canary judge quality, measured on the product's own run engine (docs/benchmarks.md "Canary judge quality").

Every simulated rollout is a real ``RolloutRun`` started with ``run_start`` (default steps and settings) and
driven by ``run_advance`` -- the function the Celery task calls -- on a simulated clock: the engine reads its
time from ``rollouts.judging.clock.now``, which the benchmark replaces. The engine chooses every step, weight,
look window and verdict; the benchmark only plays the gateways (traffic at the weight the routing table holds,
written through the ingestion's rollup upsert and the per-minute reservoir tables the judge reads) and, in 10 %
of runs, a person who pauses the run and resumes it 5-30 minutes later through ``run_pause``/``run_resume``.

Traffic: ``volume`` requests per minute (Poisson); each request goes to the candidate with the weight in force;
error rate 1 % (both arms), latency log-normal with median 400 ms (sigma 0.5). Scenarios:

- ``aa``: the candidate is the stable release again (A/A);
- ``err``: the candidate's error rate is 3 % (1 % -> 3 %);
- ``lat``: the candidate's latency is 20 % higher at every quantile (+20 % at the median);
- ``aa_diurnal`` / ``err_diurnal``: the same with a daily cycle -- volume +-30 % and the baseline error rate
  drifting +-0.3 pp (shared by both arms), each run starting at a random time of day.

Database: a private in-memory SQLite (bench/_judge_settings.py), migrated at start; nothing touches the shared
PostgreSQL. Bulk ingestion: a minute's requests of one arm are written as its rollup row (counts drawn from the
binomial) and its reservoir sample (min(n, K) latency draws, which is what a uniform K-sample of n i.i.d.
requests is), so a run of ~200,000 requests costs two statements per event instead of 200,000 validated
records. ``BENCH_QUICK=1`` runs a reduced grid in under a minute.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy import stats

SEED = 20261201
VOLUMES = (250, 500, 1_250, 1_500)
BASE_ERROR, BAD_ERROR = 0.01, 0.03
LATENCY_MEDIAN, LATENCY_SIGMA = 400.0, 0.5
PAUSE_SHARE = 0.10
MAX_MINUTES = 12 * 60  # a run still going after 12 simulated hours is reported as stuck

# Runs per (scenario, volume). Rows are run in chunks of CHUNK runs, each chunk with its own seed, interleaved so
# that every row advances in proportion to its target; BENCH_DEADLINE (a UTC time, e.g. 2026-12-02T02:20) stops
# starting chunks after it, so a grid that does not fit ends with every row at a similar share of its target.
# Every rate is reported with its Clopper-Pearson 95 % interval.
FULL = {
    "aa": dict.fromkeys(VOLUMES, 1_000),
    "aa_diurnal": dict.fromkeys(VOLUMES, 1_000),
    "err": {1_500: 300, 1_250: 100, 500: 100, 250: 100},
    "err_diurnal": {1_500: 300},
    "aa_default_metrics": {1_500: 100},
    "lat": {1_500: 100},
}
# The quick grid is the smallest that can show the three targets: 30 runs of the 1 % -> 3 % rise at 1,500/min
# (>= 95 % means at most one miss), A/A at the lowest and highest volume (a false rollback there is a miss of the
# 1 % target in the row) and a diurnal A/A row.
QUICK = {
    "aa": {250: 6, 1_500: 8},
    "aa_diurnal": {1_500: 6},
    "err": {1_500: 30},
}
CHUNK = 10
PROCESSES = int(os.environ.get("BENCH_PROCESSES", "2"))

# "error": the run judges the default critical metric (error_rate) only, so no latency samples are written or
# tested (four times cheaper); "default": both default metrics (error_rate, and latency_ms as a non-critical one).
SCENARIOS = {
    "aa": {"error_delta": 0.0, "latency_ratio": 1.0, "diurnal": False, "metrics": "error"},
    "err": {"error_delta": BAD_ERROR - BASE_ERROR, "latency_ratio": 1.0, "diurnal": False, "metrics": "error"},
    "aa_diurnal": {"error_delta": 0.0, "latency_ratio": 1.0, "diurnal": True, "metrics": "error"},
    "err_diurnal": {"error_delta": BAD_ERROR - BASE_ERROR, "latency_ratio": 1.0, "diurnal": True, "metrics": "error"},
    "aa_default_metrics": {"error_delta": 0.0, "latency_ratio": 1.0, "diurnal": False, "metrics": "default"},
    "lat": {"error_delta": 0.0, "latency_ratio": 1.2, "diurnal": False, "metrics": "default"},
}


def _setup() -> None:
    from django.conf import settings

    if not settings.configured:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench._judge_settings"
    from bench._django import django_setup

    django_setup()
    if settings.DATABASES["default"]["NAME"] != ":memory:":
        raise RuntimeError(
            "judge_quality runs on its own in-memory database: run it on its own (python -m bench judge_quality)"
        )
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False, run_syncdb=True)


class SimClock:
    def __init__(self, start: datetime):
        self.t = start

    def __call__(self) -> datetime:
        return self.t


@dataclass
class World:
    feature: object
    stable: object
    candidate: object
    approver: object
    responder: object
    person: object


def _world() -> World:
    from bench._seed import two_releases
    from core.models import Role, Team, User
    from rollouts.models import Feature

    team = Team.objects.create(slug="bench", name="Bench")
    approver = User.objects.create_user(username="bench-approver", password="x", role=Role.APPROVER)
    responder = User.objects.create_user(username="bench-responder", password="x", role=Role.RESPONDER)
    person = User.objects.create_user(username="bench-oncall", password="x", role=Role.RESPONDER)
    feature = Feature.objects.create(slug="bench-assistant", name="Bench assistant", team=team)
    made = two_releases(actor=approver, feature=feature, prompts=("Be helpful.", "Be helpful and brief."))
    return World(feature, made[0], made[1], approver, responder, person)


class Gateways:
    """Synthetic traffic of one run, written as the ingestion writes it (rollups + reservoirs)."""

    def __init__(self, *, env, world: World, scenario: dict, volume: int, rng: np.random.Generator, t0: datetime):
        self.env, self.world, self.s, self.volume, self.rng, self.t0 = env, world, scenario, volume, rng, t0
        self.phase = float(rng.uniform(0, 1440))  # time of day the run starts, in minutes
        self.requests = [0, 0]

    def minutes(self, start: datetime, end: datetime, weight: int) -> None:
        from rollouts.judging.observations import _KEY_COLUMNS, _SUM_COLUMNS, _upsert
        from rollouts.judging.samples import RESERVOIR_SIZE, samples_upsert
        from rollouts.models import ObservationRollup

        count = int((end - start) / timedelta(minutes=1))
        if count <= 0:
            return
        rng, s = self.rng, self.s
        offset = (start - self.t0) / timedelta(minutes=1)
        clock = self.phase + offset + np.arange(count)
        cycle = np.sin(2 * math.pi * clock / 1440) if s["diurnal"] else np.zeros(count)
        total = rng.poisson(self.volume * (1 + 0.3 * cycle))
        n_c = rng.binomial(total, weight / 100)
        n_b = total - n_c
        p_b = BASE_ERROR + 0.003 * np.sin(2 * math.pi * (clock + 360) / 1440) * (1 if s["diurnal"] else 0)
        e_b = rng.binomial(n_b, p_b)
        e_c = rng.binomial(n_c, np.clip(p_b + s["error_delta"], 0, 1))
        groups, samples = {}, []
        errors_at, sum_at = _SUM_COLUMNS.index("errors"), _SUM_COLUMNS.index("latency_sum")
        arms = ((self.world.candidate.pk, n_c, e_c, s["latency_ratio"]), (self.world.stable.pk, n_b, e_b, 1.0))
        for i in range(count):
            minute = start + timedelta(minutes=i)
            for release_id, n, e, ratio in arms:
                if n[i] == 0:
                    continue
                sums = [0] * len(_SUM_COLUMNS)
                sums[0], sums[errors_at], sums[sum_at] = int(n[i]), int(e[i]), LATENCY_MEDIAN * ratio * int(n[i])
                groups[(self.env.pk, release_id, minute, "")] = sums
                if s["metrics"] == "default":
                    k = min(int(n[i]), RESERVOIR_SIZE)
                    values = LATENCY_MEDIAN * ratio * np.exp(LATENCY_SIGMA * rng.standard_normal(k))
                    samples.extend(
                        (self.env.pk, release_id, minute, slot, float(v), None, 0.0) for slot, v in enumerate(values)
                    )
        _upsert(ObservationRollup, _KEY_COLUMNS, _SUM_COLUMNS, groups)
        samples_upsert(samples)
        self.requests[0] += int(n_c.sum())
        self.requests[1] += int(n_b.sum())


def _five_percent_step(steps: list[dict]) -> int:
    """Index of the analysis step judging the 5 % weight (a rollback there or earlier caught it in time)."""
    weight = 0
    for i, step in enumerate(steps):
        if step["type"] == "weight":
            weight = step["weight"]
        elif step["type"] == "analysis" and weight == 5:
            return i
    raise RuntimeError("the default steps have no 5 % analysis step")


def simulate_run(world: World, scenario: dict, volume: int, rng: np.random.Generator, number: int) -> dict:
    from rollouts.judging import clock
    from rollouts.judging.windows import minute_ceil
    from rollouts.models import (
        Environment,
        ObservationRollup,
        ObservationSample,
        RolloutRun,
        RolloutTransition,
        RunState,
    )
    from rollouts.registry.services import deployment_record
    from rollouts.runs import services as runs
    from rollouts.runs.analysis import DEFAULT_METRICS

    t0 = datetime(2026, 12, 2, tzinfo=UTC) + timedelta(days=number)
    sim = SimClock(t0)
    clock.now = sim
    env = Environment.objects.create(feature=world.feature, name=f"bench-{number}")
    deployment_record(actor=world.approver, environment=env, release=world.stable)
    gateways = Gateways(env=env, world=world, scenario=scenario, volume=volume, rng=rng, t0=t0)
    pause_at = resume_at = None
    if rng.random() < PAUSE_SHARE:
        pause_at = t0 + timedelta(minutes=int(rng.integers(2, 90)))
        resume_at = pause_at + timedelta(minutes=int(rng.integers(5, 31)))
    error_only = [m for m in DEFAULT_METRICS if m["name"] == "error_rate"]
    config = {} if scenario["metrics"] == "default" else {"metrics": error_only}
    run = runs.run_start(
        actor=world.responder, environment=env, candidate_release=world.candidate, config=config, reason="bench"
    )
    injected = False
    while True:
        run = RolloutRun.objects.get(pk=run.pk)
        if run.state not in (RunState.RUNNING, RunState.PAUSED, RunState.ROLLING_BACK):
            break
        if run.state == RunState.PAUSED and not (injected and resume_at is not None):
            break  # the engine paused it: a person is needed
        events = []
        if run.state in (RunState.RUNNING, RunState.ROLLING_BACK) and run.next_check_at is not None:
            events.append(run.next_check_at)
        if pause_at is not None and not injected and run.state == RunState.RUNNING:
            events.append(pause_at)
        if injected and resume_at is not None:
            events.append(resume_at)
        if not events:
            break
        t_next = max(minute_ceil(min(events)), sim.t)
        if t_next - t0 > timedelta(minutes=MAX_MINUTES):
            break
        gateways.minutes(sim.t, t_next, run.candidate_weight)
        sim.t = t_next
        if injected and resume_at is not None and sim.t >= resume_at:
            runs.run_resume(run=run, actor=world.person, reason="checked the dashboards")
            resume_at = None
        elif pause_at is not None and not injected and sim.t >= pause_at and run.state == RunState.RUNNING:
            runs.run_pause(run=run, actor=world.person, reason="looking at a customer report")
            injected = True
        else:
            runs.run_advance(run_id=run.pk, worker="bench")
    run = RolloutRun.objects.get(pk=run.pk)
    last = RolloutTransition.objects.filter(run=run).order_by("-id").first()
    outcome = {
        "state": run.state,
        "step_index": run.step_index,
        "injected_pause": injected,
        "decided_by_engine": last is not None and last.actor_id is None,
        "reason": run.state_reason,
        "minutes": (sim.t - t0) / timedelta(minutes=1),
        "looks": run.analyses.count(),
        "requests": sum(gateways.requests),
    }
    ObservationSample.objects.filter(environment=env).delete()
    ObservationRollup.objects.filter(environment=env).delete()
    return outcome


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    a = (1 - confidence) / 2
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _row(name: str, volume: int, outcomes: list[dict], five_pct: int) -> dict:
    from rollouts.models import RunState

    n = len(outcomes)
    rolled = [o for o in outcomes if o["state"] == RunState.ROLLED_BACK]
    paused = [o for o in outcomes if o["state"] == RunState.PAUSED]
    promoted = [o for o in outcomes if o["state"] == RunState.SUCCEEDED]
    early = [o for o in rolled if o["step_index"] <= five_pct]
    stopped = [o for o in rolled + paused if o["step_index"] <= five_pct]  # rolled back, or held for a person
    lo, hi = clopper_pearson(len(rolled), n)
    plo, phi = clopper_pearson(len(paused), n)
    dlo, dhi = clopper_pearson(len(early), n)
    return {
        "scenario": name,
        "volume_per_min": volume,
        "runs": n,
        "rolled_back": len(rolled) / n,
        "rolled_back_ci95": [round(lo, 4), round(hi, 4)],
        "paused_for_person": len(paused) / n,
        "paused_ci95": [round(plo, 4), round(phi, 4)],
        "promoted": len(promoted) / n,
        "detected_by_5pct": len(early) / n,
        "stopped_by_5pct": len(stopped) / n,
        "detected_by_5pct_ci95": [round(dlo, 4), round(dhi, 4)],
        "with_injected_pause": sum(o["injected_pause"] for o in outcomes),
        "looks_p50": float(np.median([o["looks"] for o in outcomes])),
        "minutes_p50": float(np.median([o["minutes"] for o in outcomes])),
        "pause_reasons": sorted({o["reason"][:90] for o in paused})[:3],
        "stuck": sum(o["state"] not in ("succeeded", "rolled_back", "paused") for o in outcomes),
        "all_decided_by_engine": all(o["decided_by_engine"] for o in outcomes),
    }


def _grid(quick: bool) -> dict[str, dict[int, int]]:
    grid = QUICK if quick else FULL
    only = [n for n in os.environ.get("BENCH_SCENARIOS", "").split(",") if n]
    if only:
        unknown = set(only) - set(SCENARIOS)
        if unknown:
            raise ValueError(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
        grid = {name: runs for name, runs in grid.items() if name in only}
    volumes = {int(v) for v in os.environ.get("BENCH_VOLUMES", "").split(",") if v}
    if volumes:
        grid = {name: {v: n for v, n in runs.items() if v in volumes} for name, runs in grid.items()}
    rows = [r.split(":") for r in os.environ.get("BENCH_ROWS", "").split(",") if r]
    if rows:  # e.g. BENCH_ROWS=lat:1500,err:250: only these (scenario, volume) rows
        wanted = {(name, int(volume)) for name, volume in rows}
        grid = {name: {v: n for v, n in runs.items() if (name, v) in wanted} for name, runs in grid.items()}
    return {name: runs for name, runs in grid.items() if runs}


def _chunks(grid: dict[str, dict[int, int]]) -> list[tuple[str, int, int, int]]:
    """(scenario, volume, chunk number, runs) in the order they are run: the chunk that brings its row to the
    smallest share of its target first, so a deadline cuts every row at about the same share."""
    chunks = []
    for name, per_volume in grid.items():
        for volume, count in per_volume.items():
            for number, first in enumerate(range(0, count, CHUNK)):
                runs = min(CHUNK, count - first)
                chunks.append(((first + runs) / count, name, volume, number, runs))
    chunks.sort(key=lambda c: (c[0], list(SCENARIOS).index(c[1]), c[2]))
    return [(name, volume, number, runs) for _, name, volume, number, runs in chunks]


def _deadline() -> float | None:
    text = os.environ.get("BENCH_DEADLINE")
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _work(part: int, parts: int, quick: bool) -> list[dict]:
    """One process's share of the chunks (every parts-th, from part), on its own in-memory database."""
    _setup()
    world = _world()
    deadline = _deadline()
    outcomes = []
    for i, (name, volume, chunk, runs) in enumerate(_chunks(_grid(quick))):
        if i % parts != part:
            continue
        if deadline is not None and time.time() > deadline:
            break
        rng = np.random.default_rng([SEED, list(SCENARIOS).index(name), volume, chunk])
        for k in range(runs):
            row = list(SCENARIOS).index(name) * len(VOLUMES) + VOLUMES.index(volume)
            number = row * 10_000 + chunk * CHUNK + k + 1  # its environment's name and its day, unique per process
            outcome = simulate_run(world, SCENARIOS[name], volume, rng, number)
            outcome.update(scenario=name, volume=volume)
            outcomes.append(outcome)
            # Progress, one write per line: the processes share stderr, and a line written whole is not split.
            sys.stderr.write(json.dumps({"outcome": outcome}, default=str) + "\n")
            sys.stderr.flush()
    return outcomes


def outcomes_in(text: str) -> list[dict]:
    """Every per-run outcome the processes wrote to stderr, wherever it stands on a line (a line can hold two
    when a run was stopped mid-write)."""
    decoder, found = json.JSONDecoder(), []
    start = text.find('{"outcome"')
    while start != -1:
        try:
            item, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            end = start + 1  # a line cut short: skip it
        else:
            found.append(item["outcome"])
        start = text.find('{"outcome"', end)
    return found


def _work_star(args) -> list[dict]:
    return _work(*args)


def run() -> dict:
    started, started_cpu = time.perf_counter(), time.process_time()
    quick = os.environ.get("BENCH_QUICK") == "1"
    grid = _grid(quick)
    parts = max(1, PROCESSES)
    if parts == 1:
        outcomes = _work(0, 1, quick)
        children_cpu = 0.0
    else:
        import multiprocessing
        import resource

        # Spawned, not forked: each process sets Django up on its own in-memory database.
        with multiprocessing.get_context("spawn").Pool(parts) as pool:
            outcomes = [o for part in pool.map(_work_star, [(p, parts, quick) for p in range(parts)]) for o in part]
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        children_cpu = usage.ru_utime + usage.ru_stime
    _setup()  # the parent reads RunState and the default steps too
    rows = rows_from(outcomes)
    result = summarise(rows, quick=quick)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - started_cpu + children_cpu
    result["metrics"].update(
        seconds=round(seconds, 1),
        cpu_seconds=round(cpu, 1),
        processes=parts,
        runs_per_second=round(len(outcomes) / seconds, 3),
        runs_per_cpu_second=round(len(outcomes) / cpu, 3) if cpu else None,
    )
    result["grid"] = grid
    return result


def rows_from(outcomes: list[dict]) -> list[dict]:
    """Rows (scenario, volume) in the grid's order from per-run outcomes (one process's, or several put together)."""
    from rollouts.runs.services import default_steps

    five_pct = _five_percent_step(default_steps())
    by: dict[tuple[str, int], list[dict]] = {}
    for o in outcomes:
        by.setdefault((o["scenario"], int(o["volume"])), []).append(o)
    order = {name: i for i, name in enumerate(SCENARIOS)}
    keys = sorted(by, key=lambda k: (order[k[0]], k[1]))
    return [_row(name, volume, by[(name, volume)], five_pct) for name, volume in keys]


def summarise(rows: list[dict], *, quick: bool = False) -> dict:
    """The benchmark's result for a set of rows (one process's, or the parts of a split run put together)."""
    by = {(r["scenario"], r["volume_per_min"]): r for r in rows}
    healthy = [r for r in rows if r["scenario"] in ("aa", "aa_diurnal", "aa_default_metrics")]
    worst = max(healthy, key=lambda r: r["rolled_back"], default=None)
    det = by.get(("err", 1_500))
    det_diurnal = by.get(("err_diurnal", 1_500))
    healthy_runs = sum(r["runs"] for r in healthy)
    pause_rate = sum(r["paused_for_person"] * r["runs"] for r in healthy) / healthy_runs if healthy else None
    engine_driven = all(r["all_decided_by_engine"] and r["stuck"] == 0 for r in rows)
    metrics = {
        "engine_driven": engine_driven,
        "quick": quick,
        "volumes": sorted({r["volume_per_min"] for r in rows}),
        "aa_false_rollback_worst_row": worst["rolled_back"] if worst else None,
        "aa_false_rollback_worst_row_upper95": worst["rolled_back_ci95"][1] if worst else None,
        "aa_false_rollback_worst_row_is": f"{worst['scenario']}@{worst['volume_per_min']}" if worst else None,
        "aa_pause_rate": pause_rate,
        "aa_pause_rate_worst_row": max((r["paused_for_person"] for r in healthy), default=None),
        "detect_1_to_3_by_5pct": det["detected_by_5pct"] if det else None,
        "detect_1_to_3_by_5pct_at": 1_500 if det else None,
        "detect_1_to_3_by_5pct_diurnal": det_diurnal["detected_by_5pct"] if det_diurnal else None,
        "latency_20pct_stopped_by_5pct_worst_row": min(
            (r["stopped_by_5pct"] for r in rows if r["scenario"] == "lat"), default=None
        ),
        "runs": sum(r["runs"] for r in rows),
    }
    ok = (
        engine_driven
        and all(r["rolled_back"] <= 0.01 for r in healthy)
        and all(r["paused_for_person"] <= 0.05 for r in healthy)
        and all(d is None or d["detected_by_5pct"] >= 0.95 for d in (det, det_diurnal))
    )
    return {
        "name": "judge_quality",
        "target": "A/A false rollback <= 1 % per row; healthy paused <= 5 %; 1 % -> 3 % caught by end of 5 % step "
        ">= 95 % at 1,500/min (also with diurnal drift; 10 % of runs paused and resumed)",
        **{k: metrics[k] for k in ("engine_driven", "aa_false_rollback_worst_row", "aa_pause_rate", "volumes")},
        "detect_1_to_3_by_5pct": metrics["detect_1_to_3_by_5pct"],
        "metrics": metrics,
        "ok": ok,
        "rows": rows,
        "seed": SEED,
        "pause_share": PAUSE_SHARE,
        "notes": table(rows),
    }


def table(rows: list[dict]) -> str:
    """Every row as a Markdown table (docs/benchmarks.md is filled from this, not typed)."""

    def pct(x):
        return f"{100 * x:.1f} %"

    def ci(pair):
        return f"{100 * pair[0]:.1f} to {100 * pair[1]:.1f} %"

    out = [
        "| scenario | req/min | runs | rolled back (95 % CI) | paused for a person (95 % CI) | promoted "
        "| caught by end of 5 % step (95 % CI) | held or rolled back by end of 5 % step | injected pauses "
        "| looks p50 | minutes p50 |",
        "|---|---:|---:|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['scenario']} | {r['volume_per_min']:,} | {r['runs']} | {pct(r['rolled_back'])} ({ci(r['rolled_back_ci95'])}) "
            f"| {pct(r['paused_for_person'])} ({ci(r['paused_ci95'])}) | {pct(r['promoted'])} "
            f"| {pct(r['detected_by_5pct'])} ({ci(r['detected_by_5pct_ci95'])}) | {pct(r['stopped_by_5pct'])} "
            f"| {r['with_injected_pause']} | {r['looks_p50']:g} | {r['minutes_p50']:g} |"
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    # python -m bench.judge_quality --combine PART.err ...: put the runs of parts run side by side together (each
    # part's stderr has one {"outcome": ...} line per finished run, so a part stopped early keeps its runs).
    if sys.argv[1:2] == ["--combine"]:
        from pathlib import Path

        _setup()
        outcomes = [o for path in sys.argv[2:] for o in outcomes_in(Path(path).read_text())]
        combined = summarise(rows_from(outcomes))
        print(json.dumps(combined, default=str))
        print(combined["notes"])
    else:
        print(json.dumps(run(), default=str))
