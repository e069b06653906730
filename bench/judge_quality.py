"""Canary judge quality by simulation.

Assumptions (stated in docs/benchmarks.md too):
- a rollout follows the default steps 1 -> 5 -> 25 -> 50 -> 100 % canary traffic; each step lasts 4 analysis
  intervals of 5 minutes, so a run has 20 looks and the judge plans ``max_looks=20``;
- the feature receives a constant TRAFFIC requests per minute; each request goes to the canary independently
  with the step's share (so the split itself is random and the sample-ratio check sees real noise);
- at every interval the orchestrator judges the window since the current step started (cumulative within the
  step, expected canary share = the step's share); at 100 % there is no baseline traffic, so those looks are
  "no data" -> Inconclusive and cannot roll back;
- judged metric: error_rate (binary, critical, allowed_change 0, min_samples 200), the judge's default alpha
  0.01 spent with the O'Brien-Fleming-type function over the 20 looks; a Fail rolls back at once, anything else
  continues (the rollout advances on time); "alpha 0.05" rows show the same with alpha 0.05;
- "m=4": the same when the error rate shares its look's alpha with three other metrics (Bonferroni, the worst
  case of Holm), to show what a fuller metric set costs in power.

The verdicts are computed with the judge's own vectorised primitives (rollouts.judging.stats); a slice of the
simulated runs is re-judged with rollouts.judge.judge itself and must agree look by look.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats

from rollouts.judging.judge import ArmData, JudgeConfig, MetricSpec, judge
from rollouts.judging.stats import look_alpha, srm_p_value, worsening_interval

STEPS = (0.01, 0.05, 0.25, 0.50, 1.00)
LOOKS_PER_STEP = 4
INTERVAL_MINUTES = 5
MAX_LOOKS = len(STEPS) * LOOKS_PER_STEP
ALPHA = JudgeConfig(expected_canary_share=0.5).alpha  # the judge's default, 0.01
SRM_ALPHA = 0.001
MIN_SAMPLES = 200
RUNS = 1_000
SEED = 20261129
BASE_RATE, BAD_RATE = 0.01, 0.03
TRAFFIC_GRID = (
    500,
    1_000,
    1_250,
    1_500,
    2_000,
    2_500,
    3_000,
    4_000,
    5_000,
    6_000,
    8_000,
    12_000,
)  # requests per minute
ERROR = MetricSpec("error_rate", "binary", "increase", critical=True, min_samples=MIN_SAMPLES)

SHARES = np.repeat(STEPS, LOOKS_PER_STEP)  # canary share at each look
STEP_OF_LOOK = np.repeat(np.arange(len(STEPS)), LOOKS_PER_STEP)


def levels(alpha: float) -> np.ndarray:
    return np.array([look_alpha(k, MAX_LOOKS, alpha) for k in range(1, MAX_LOOKS + 1)])


def simulate(rng, traffic_per_minute: int, canary_rate: float, runs: int = RUNS):
    """Per-interval counts of `runs` simulated rollouts: arrays (runs, looks)."""
    per_interval = traffic_per_minute * INTERVAL_MINUTES
    canary = rng.binomial(per_interval, np.broadcast_to(SHARES, (runs, MAX_LOOKS)))
    baseline = per_interval - canary
    return canary, rng.binomial(canary, canary_rate), baseline, rng.binomial(baseline, BASE_RATE)


def within_step(per_interval):
    """Cumulative sums restarting at each step: the judged window."""
    out = np.empty_like(per_interval)
    for step in range(len(STEPS)):
        cols = step == STEP_OF_LOOK
        out[:, cols] = np.cumsum(per_interval[:, cols], axis=1)
    return out


def fails(counts, metrics_sharing_alpha: int = 1, alpha: float = ALPHA):
    """Fail flag per (run, look), as judge() decides for the error-rate metric."""
    n_c, e_c, n_b, e_b = (within_step(a) for a in counts)
    srm_ok = np.ones(n_c.shape, dtype=bool)
    for look, share in enumerate(SHARES):
        srm_ok[:, look] = ~(srm_p_value(n_c[:, look], n_b[:, look], float(share)) < SRM_ALPHA)
    z = stats.norm.isf(levels(alpha) / metrics_sharing_alpha)
    lower, _ = worsening_interval(e_c, n_c, e_b, n_b, z, 1)
    enough = np.minimum(n_c, n_b) >= MIN_SAMPLES
    return srm_ok & enough & (lower > ERROR.allowed_change)


def first_fail(fail):
    """Index of the first failing look per run, or -1."""
    return np.where(fail.any(axis=1), fail.argmax(axis=1), -1)


def cross_check(counts, fail, runs: int = 40) -> int:
    """Re-judge the first `runs` runs look by look with judge() itself; count disagreements."""
    n_c, e_c, n_b, e_b = (within_step(a) for a in counts)
    mismatches = 0
    for r in range(runs):
        for look in range(MAX_LOOKS):
            result = judge(
                canary=ArmData(int(n_c[r, look]), binary={"error_rate": (int(e_c[r, look]), int(n_c[r, look]))}),
                baseline=ArmData(int(n_b[r, look]), binary={"error_rate": (int(e_b[r, look]), int(n_b[r, look]))}),
                specs=[ERROR],
                config=JudgeConfig(expected_canary_share=float(SHARES[look]), alpha=ALPHA, max_looks=MAX_LOOKS),
                look=look + 1,
            )
            mismatches += (result.verdict == "fail") != bool(fail[r, look])
    return mismatches


def judge_timing_ms(repeats: int = 15) -> tuple[float, float]:
    """Median wall and CPU time of one judge() call with one continuous metric, 100k values per arm (CPU time
    is what the call costs; wall time also counts waiting for a core on a shared machine)."""
    rng = np.random.default_rng(SEED)
    spec = MetricSpec("latency_ms", "continuous", "increase", critical=True, allowed_change=0.05)
    canary = ArmData(100_000, continuous={"latency_ms": rng.lognormal(5, 0.5, 100_000)})
    baseline = ArmData(100_000, continuous={"latency_ms": rng.lognormal(5, 0.5, 100_000)})
    config = JudgeConfig(expected_canary_share=0.5)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        judge(canary=canary, baseline=baseline, specs=[spec], config=config, look=10)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return float(np.median(wall)), float(np.median(cpu))


def run() -> dict:
    started = time.perf_counter()
    five_pct_end = LOOKS_PER_STEP * 2  # looks 1..8: the regression never sees more than 5 % of traffic
    rows = []
    for traffic in TRAFFIC_GRID:
        rng = np.random.default_rng([SEED, traffic])  # each volume its own stream: rows don't depend on the grid
        aa = simulate(rng, traffic, BASE_RATE)
        aa_fail = fails(aa)
        aa_fail_05 = fails(aa, alpha=0.05)
        bad = simulate(rng, traffic, BAD_RATE)
        bad_fail, bad_fail_m4 = fails(bad), fails(bad, metrics_sharing_alpha=4)
        first = first_fail(bad_fail)
        caught = (first >= 0) & (first < five_pct_end)
        canary_cum = np.cumsum(bad[0], axis=1)
        rows.append(
            {
                "traffic_per_min": traffic,
                "aa_false_rollback": float(aa_fail.any(axis=1).mean()),
                "aa_false_rollback_alpha05": float(aa_fail_05.any(axis=1).mean()),
                "detected_by_5pct": float(caught.mean()),
                "detected_by_5pct_m4": float(
                    ((first_fail(bad_fail_m4) >= 0) & (first_fail(bad_fail_m4) < five_pct_end)).mean()
                ),
                "detected_at_1pct": float(((first >= 0) & (first < LOOKS_PER_STEP)).mean()),
                "canary_req_to_detect_p50": float(np.median(canary_cum[caught, first[caught]]))
                if caught.any()
                else None,
                "canary_req_to_detect_p95": float(np.quantile(canary_cum[caught, first[caught]], 0.95))
                if caught.any()
                else None,
                "total_req_to_detect_p95": float(np.quantile((first[caught] + 1) * traffic * INTERVAL_MINUTES, 0.95))
                if caught.any()
                else None,
                "_counts": (aa, aa_fail, bad, bad_fail),
            }
        )
    needed = next((r for r in rows if r["detected_by_5pct"] >= 0.95), None)
    reference = needed or rows[-1]
    aa, aa_fail, bad, bad_fail = reference["_counts"]
    mismatches = cross_check(aa, aa_fail) + cross_check(bad, bad_fail)
    # 1,000 runs estimate a 0.5 % rate to +-0.2 pp; 20,000 more A/A runs at the reference volume pin it down.
    many = simulate(np.random.default_rng([SEED, 0]), reference["traffic_per_min"], BASE_RATE, runs=20 * RUNS)
    aa_many = float(fails(many).any(axis=1).mean())
    # Look-level noise the orchestrator will see in A/A at that volume (not rollbacks).
    worst_false = max(r["aa_false_rollback"] for r in rows)
    pooled_false = float(np.mean([r["aa_false_rollback"] for r in rows]))
    judge_ms, judge_cpu_ms = judge_timing_ms()
    table = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    metrics = {
        "runs_per_volume": RUNS,
        "aa_false_rollback_pooled": pooled_false,
        "aa_false_rollback_worst_volume": worst_false,
        "aa_false_rollback_20k_runs_at_that_volume": aa_many,
        "aa_false_rollback_worst_alpha05": max(r["aa_false_rollback_alpha05"] for r in rows),
        "traffic_per_min_for_95pct": needed["traffic_per_min"] if needed else None,
        "detected_by_5pct_at_that_volume": reference["detected_by_5pct"],
        "canary_req_to_detect_p50": reference["canary_req_to_detect_p50"],
        "canary_req_to_detect_p95": reference["canary_req_to_detect_p95"],
        "total_req_to_detect_p95": reference["total_req_to_detect_p95"],
        "minutes_to_detect_p95": reference["total_req_to_detect_p95"] / reference["traffic_per_min"]
        if reference["total_req_to_detect_p95"]
        else None,
        "detected_by_5pct_m4_at_that_volume": reference["detected_by_5pct_m4"],
        "judge_vs_vectorised_mismatches": mismatches,
        "judge_ms_100k_per_arm_continuous": round(judge_ms, 1),
        "judge_cpu_ms_100k_per_arm_continuous": round(judge_cpu_ms, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    # The target is a rate: judged on the pooled 12,000 A/A runs and the 20,000 at the reference volume. A single
    # 1,000-run row is reported too but has a binomial SE of about 0.2 pp at these rates.
    ok = pooled_false <= 0.01 and aa_many <= 0.01 and needed is not None and mismatches == 0
    return {
        "name": "judge_quality",
        "target": "A/A false rollback <= 1 % (1,000 runs per volume); 1 % -> 3 % error rise at 5 % canary detected in >= 95 %",
        "metrics": metrics,
        "ok": ok,
        "notes": {
            "by_volume": table,
            "seed": SEED,
            "steps": STEPS,
            "looks_per_step": LOOKS_PER_STEP,
            "interval_minutes": INTERVAL_MINUTES,
        },
    }
