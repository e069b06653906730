"""Canary judge: is the canary release worse than the baseline over the same window?

Pure numpy/scipy (no Django): the orchestration calls :func:`judge` from a Celery task at every analysis
interval with the two arms' data for the current window, and acts on the verdict.

Rules
-----
Per metric (``MetricSpec``), at analysis ``look`` k of ``JudgeConfig.max_looks``:

* **Worsening** is canary minus baseline in the metric's bad direction (``bad_direction="decrease"`` flips the
  sign). Binary metrics compare proportions (events / trials); the tolerated worsening ``allowed_change`` is
  absolute (0.005 = +0.5 percentage points). Continuous metrics compare distributions; the tolerance is
  relative to the baseline median (0.05 = a shift of 5 % of it).
* **Inconclusive** when either arm has fewer than ``min_samples`` observations (trials, or values) -- no data is
  never a pass and never a fail.
* **Fail** when the one-sided test "the canary is worse by more than allowed_change" rejects at this look's
  level:
    - binary with ``allowed_change`` 0: the conditional exact test (one-sided Fisher, hypergeometric), valid at
      the tiny per-look levels of a run-wide budget even with a handful of errors; with a tolerance, Newcombe's
      hybrid score interval (Wilson score intervals per arm) for the difference in proportions, inverted
      (p < level exactly when the one-sided lower bound of the worsening at that level is above the allowed
      change);
    - continuous: Mann-Whitney U (normal approximation with tie and continuity correction) of the canary,
      shifted by the allowed change, against the baseline.
  The look's level protects against false rollbacks from judging every interval and many metrics: the alpha
  of the whole run is spent over the looks with a Lan-DeMets Pocock-type spending function (or
  O'Brien-Fleming-type, ``JudgeConfig.spending``) and look k may use only the increment alpha(k/K) - alpha((k-1)/K);
  within a look, Holm's step-down procedure shares that increment among the critical metrics (non-critical
  metrics, which never roll back, form a second Holm family at the same level). By the union bound the
  chance of any false Fail in a run is at most ``alpha`` whatever the windows are (cumulative or not). Looks
  past ``max_looks`` have no alpha left, so the judge answers Inconclusive there: plan max_looks to cover
  every interval including bake.
* **Marginal** when it does not fail but the estimated worsening exceeds the allowed change by more than
  ``marginal_band`` times the half-width of the reported interval (on its better side): with 0.5 the allowed
  change lies in the better half of the interval or beyond it, i.e. an uncorrected one-sided test would have
  p below about 0.16; with 1.0 the whole interval lies beyond the allowed change. A warning, not a rollback.
* **Pass** otherwise: enough data and no sign of worsening beyond the tolerance at this look. (Not a proof of
  equivalence: a pass says the regression, if any, is too small to see yet.)

Reported ``estimate`` / ``ci_low`` / ``ci_high`` are canary minus baseline in the metric's own units (not
signed by direction): the difference in proportions with Newcombe's interval, or the Hodges-Lehmann shift
(median of all pairwise differences) with the Moses interval, both at confidence ``ci_level`` (95 %) and *not*
corrected for looks (they describe the data; the corrected test decides). ``p_value`` is the one-sided p-value
of the worsening test, uncorrected; the reason line states the level it was compared with. Continuous arrays
longer than ``max_continuous_samples`` are subsampled without replacement (fixed seed, so the same data gives
the same verdict) and the test and the interval use the same subsample.

Overall verdict, first rule that applies:

1. no requests in either arm -> **inconclusive** ("no data");
2. sample-ratio mismatch -> **inconclusive**: the assignment is broken, so no metric can be trusted -- never a
   pass; no metrics, or a look past ``max_looks`` -> **inconclusive** too. The check is the exact binomial test
   of the canary's share of the requests against ``expected_canary_share`` with its own run-wide budget:
   ``srm_alpha`` split evenly (Bonferroni) over the ``max_looks`` planned looks, and it runs only at a look that
   tests a metric (at most ``max_looks`` of them before the budget is spent) and where both arms expect at least
   ``srm_min_expected`` requests, so a healthy split is flagged in at most ``srm_alpha`` of runs;
3. any critical metric Fails -> **fail** (the orchestrator rolls back);
4. any non-critical metric Fails -> **marginal**: a real regression of a metric the feature owner chose not to
   roll back for; it needs a person;
5. any metric Marginal -> **marginal**;
6. any metric Inconclusive -> **inconclusive**;
7. every metric Passes -> **pass**.

Use (one call per analysis interval; ``look`` counts the run's intervals from 1, bake included)::

    result = judge(
        canary=ArmData(requests=1_040, binary={"error_rate": (31, 1_040)}, continuous={"latency_ms": lat_c}),
        baseline=ArmData(requests=18_960, binary={"error_rate": (190, 18_960)}, continuous={"latency_ms": lat_b}),
        specs=[MetricSpec("error_rate", "binary", "increase", critical=True),
               MetricSpec("latency_ms", "continuous", "increase", critical=True, allowed_change=0.10)],
        config=JudgeConfig(expected_canary_share=0.05),
        look=6,
    )
    result.verdict, result.reason, result.to_dict()  # "fail" -> roll back

The run engine numbers looks across the whole run (rollouts.judging.plan): ``look`` is the run's k-th tested
look and ``max_looks`` the looks its steps plan. Simulated quality on the real engine: bench/judge_quality.py,
docs/benchmarks.md "Canary judge quality".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from rollouts.judging.stats import (
    Spending,
    binary_p_value,
    hodges_lehmann,
    holm_levels,
    look_alpha,
    srm_p_value,
    worsening_interval,
)

Verdict = Literal["pass", "marginal", "fail", "inconclusive"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Literal["binary", "continuous"]
    bad_direction: Literal["increase", "decrease"]
    critical: bool = False
    allowed_change: float = 0.0
    min_samples: int = 200

    def __post_init__(self):
        if self.kind not in ("binary", "continuous"):
            raise ValueError(f"{self.name}: kind must be 'binary' or 'continuous', not {self.kind!r}")
        if self.bad_direction not in ("increase", "decrease"):
            raise ValueError(f"{self.name}: bad_direction must be 'increase' or 'decrease'")
        if not (self.allowed_change >= 0 and math.isfinite(self.allowed_change)):
            raise ValueError(f"{self.name}: allowed_change must be a finite number >= 0")
        if self.kind == "binary" and self.allowed_change >= 1:
            raise ValueError(f"{self.name}: allowed_change of a binary metric is a proportion below 1")
        if self.min_samples < 1:
            raise ValueError(f"{self.name}: min_samples must be at least 1")

    @property
    def sign(self) -> int:
        return 1 if self.bad_direction == "increase" else -1


@dataclass
class ArmData:
    requests: int
    binary: dict[str, tuple[int, int]] = field(default_factory=dict)
    continuous: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class JudgeConfig:
    # Family-wise over the critical metrics and all looks of one run: a bound on the false-rollback rate per run.
    # Half the promised 1 %, so the promise holds with room to spare whatever the discreteness of the tests and the
    # correlation of the looks; a tripled error rate at a 5 % canary is still caught (docs/rollouts.md, "Judging").
    alpha: float = 0.005
    max_looks: int = 20  # planned analysis intervals (alpha is spent over them)
    expected_canary_share: float  # e.g. 0.05 at the 5 % step, for the sample-ratio check
    # Run-wide chance that a healthy split is flagged (a pause for a person), Bonferroni over max_looks.
    srm_alpha: float = 0.001
    srm_min_expected: float = 20.0  # fewer expected requests in an arm: the split is not checked at this look
    marginal_band: float = 0.5
    ci_level: float = 0.95  # confidence of the reported (uncorrected) intervals
    # Pocock-type spends evenly over the run, so the early, small-canary steps -- where a regression must be
    # caught before it reaches more users -- get a usable share (O'Brien-Fleming keeps nearly all for the end).
    spending: Spending = "pocock"
    max_continuous_samples: int = 5_000

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be between 0 and 1")
        if self.max_looks < 1:
            raise ValueError("max_looks must be at least 1")
        if not 0 <= self.expected_canary_share <= 1:
            raise ValueError("expected_canary_share must be between 0 and 1")
        if not 0 < self.srm_alpha < 1:
            raise ValueError("srm_alpha must be between 0 and 1")
        if not (self.srm_min_expected >= 0 and math.isfinite(self.srm_min_expected)):
            raise ValueError("srm_min_expected must be a finite number >= 0")
        if not 0 < self.ci_level < 1:
            raise ValueError("ci_level must be between 0 and 1")
        if self.marginal_band < 0:
            raise ValueError("marginal_band must be >= 0")
        if self.spending not in ("obrien_fleming", "pocock"):
            raise ValueError("spending must be 'obrien_fleming' or 'pocock'")
        if self.max_continuous_samples < 10:
            raise ValueError("max_continuous_samples must be at least 10")


def _num(value):
    """JSON-safe float: NaN and infinities become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class MetricResult:
    name: str
    verdict: Verdict
    reason: str
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n_canary: int = 0
    n_baseline: int = 0
    critical: bool = False
    level: float | None = None  # the corrected one-sided level p_value was compared with

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("estimate", "ci_low", "ci_high", "p_value", "level"):
            d[key] = _num(d[key])
        return d


@dataclass(frozen=True)
class SrmResult:
    p_value: float | None
    ok: bool
    reason: str
    level: float | None = None  # the per-look level p_value was compared with; None when not checked

    def to_dict(self) -> dict:
        return {"p_value": _num(self.p_value), "ok": self.ok, "reason": self.reason, "level": _num(self.level)}


@dataclass(frozen=True)
class JudgeResult:
    verdict: Verdict
    reason: str
    metrics: list[MetricResult]
    srm: SrmResult
    look: int
    look_alpha: float

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "look": self.look,
            "look_alpha": _num(self.look_alpha),
            "srm": self.srm.to_dict(),
            "metrics": [m.to_dict() for m in self.metrics],
        }


# --- formatting helpers ----------------------------------------------------------------------------------


def _pct(p: float) -> str:
    return f"{100 * p:.2f}%"


def _pp(d: float) -> str:
    return f"{100 * d:+.2f} pp"


def _g(v: float) -> str:
    return f"{v:+.4g}"


# --- the two kinds of metric -----------------------------------------------------------------------------


@dataclass
class _Analysis:
    """One metric's numbers before the corrected decision."""

    spec: MetricSpec
    n_canary: int
    n_baseline: int
    enough: bool
    p_value: float = math.nan
    estimate: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    marginal: bool = False
    describe: str = ""  # "<what changed>" for reason lines
    note: str = ""


def _worse_by(worsening: float, worsening_low: float, allowed: float, band: float) -> bool:
    """Marginal test: estimate beyond the allowed change by more than band x the better-side half-width."""
    return worsening - allowed > band * max(worsening - worsening_low, 0.0) and worsening > allowed


def _analyse_binary(spec: MetricSpec, canary: ArmData, baseline: ArmData, config: JudgeConfig) -> _Analysis:
    e_c, n_c = _counts(spec.name, canary.binary.get(spec.name, (0, 0)))
    e_b, n_b = _counts(spec.name, baseline.binary.get(spec.name, (0, 0)))
    a = _Analysis(spec, n_c, n_b, enough=min(n_c, n_b) >= spec.min_samples)
    if min(n_c, n_b) == 0:
        return a
    p_c, p_b = e_c / n_c, e_b / n_b
    z = stats.norm.isf((1 - config.ci_level) / 2)
    lo, hi = worsening_interval(e_c, n_c, e_b, n_b, z, 1)  # canary - baseline
    a.estimate, a.ci_low, a.ci_high = p_c - p_b, float(lo), float(hi)
    a.p_value = binary_p_value(e_c, n_c, e_b, n_b, spec.allowed_change, spec.sign)
    w_lo = a.ci_low if spec.sign > 0 else -a.ci_high
    a.marginal = _worse_by(spec.sign * a.estimate, w_lo, spec.allowed_change, config.marginal_band)
    a.describe = (
        f"{spec.name} {_pct(p_b)} -> {_pct(p_c)} ({_pp(a.estimate)}, {100 * config.ci_level:g}% CI "
        f"{_pp(a.ci_low)} to {_pp(a.ci_high)}; allowed {'+' if spec.sign > 0 else '-'}{100 * spec.allowed_change:.2f} pp)"
    )
    return a


def _counts(name: str, pair) -> tuple[int, int]:
    events, trials = (int(v) for v in pair)
    if trials < 0 or events < 0 or events > trials:
        raise ValueError(f"{name}: events and trials must satisfy 0 <= events <= trials, got {events}/{trials}")
    return events, trials


def _subsample(values: np.ndarray, cap: int) -> np.ndarray:
    if len(values) <= cap:
        return values
    return np.random.default_rng(0).choice(values, size=cap, replace=False)


def _analyse_continuous(spec: MetricSpec, canary: ArmData, baseline: ArmData, config: JudgeConfig) -> _Analysis:
    c_all = np.asarray(canary.continuous.get(spec.name, ()), dtype=float).ravel()
    b_all = np.asarray(baseline.continuous.get(spec.name, ()), dtype=float).ravel()
    if not (np.isfinite(c_all).all() and np.isfinite(b_all).all()):
        raise ValueError(f"{spec.name}: values must be finite numbers")
    a = _Analysis(spec, len(c_all), len(b_all), enough=min(len(c_all), len(b_all)) >= spec.min_samples)
    if min(len(c_all), len(b_all)) == 0:
        return a
    baseline_median = float(np.median(b_all))
    allowed = spec.allowed_change * abs(baseline_median)
    c = _subsample(c_all, config.max_continuous_samples)
    b = _subsample(b_all, config.max_continuous_samples)
    a.estimate, a.ci_low, a.ci_high = hodges_lehmann(c, b, config.ci_level)
    # Worse = larger after flipping decrease-is-bad metrics; shift the canary back by the tolerance.
    x, y = spec.sign * c - allowed, spec.sign * b
    if np.ptp(np.concatenate([x, y])) == 0:  # all values equal: no evidence either way
        a.p_value = 0.5
    else:
        a.p_value = float(stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic").pvalue)
    w_lo = a.ci_low if spec.sign > 0 else -a.ci_high
    a.marginal = _worse_by(spec.sign * a.estimate, w_lo, allowed, config.marginal_band)
    a.describe = (
        f"{spec.name} median {float(np.median(b_all)):.4g} -> {float(np.median(c_all)):.4g} (shift {_g(a.estimate)}, "
        f"{100 * config.ci_level:g}% CI {_g(a.ci_low)} to {_g(a.ci_high)}; allowed "
        f"{'+' if spec.sign > 0 else '-'}{allowed:.4g} = {100 * spec.allowed_change:g}% of baseline median)"
    )
    if len(c) < len(c_all) or len(b) < len(b_all):
        a.note = f"; tested on a subsample of {len(c)} vs {len(b)}"
    return a


# --- the judge -------------------------------------------------------------------------------------------


def _srm(canary: ArmData, baseline: ArmData, config: JudgeConfig, look: int, tests_a_metric: bool) -> SrmResult:
    n_c, n_b = int(canary.requests), int(baseline.requests)
    if n_c < 0 or n_b < 0:
        raise ValueError("request counts must be >= 0")
    share = config.expected_canary_share
    total = n_c + n_b
    if total == 0:
        return SrmResult(None, True, "no requests yet")
    split = f"canary {n_c} of {total} requests = {_pct(n_c / total)} vs expected {_pct(share)}"
    expected_smaller = total * min(share, 1 - share)
    if 0 < share < 1 and expected_smaller < config.srm_min_expected:
        return SrmResult(None, True, f"split not checked yet: {split} (too few requests to tell)")
    if not tests_a_metric or look > config.max_looks:
        return SrmResult(None, True, f"split not checked at this look: {split} (no metric is tested)")
    level = config.srm_alpha / config.max_looks
    p = float(srm_p_value(n_c, n_b, share))
    if p < level:
        return SrmResult(p, False, f"sample ratio mismatch: {split} (exact binomial p={p:.2g} < {level:.2g})", level)
    return SrmResult(p, True, f"sample ratio ok: {split} (p={p:.2g})", level)


def judge(
    *, canary: ArmData, baseline: ArmData, specs: list[MetricSpec], config: JudgeConfig, look: int
) -> JudgeResult:
    """Judge one analysis interval (see the module docstring for the rules). `look` is 1-based."""
    if look < 1:
        raise ValueError("look is 1-based")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("metric names must be unique")
    level = look_alpha(look, config.max_looks, config.alpha, config.spending)
    analyses = [
        (_analyse_binary if s.kind == "binary" else _analyse_continuous)(s, canary, baseline, config) for s in specs
    ]
    srm = _srm(canary, baseline, config, look, tests_a_metric=any(a.enough for a in analyses))
    # Two Holm families, each at the look's full level: only critical metrics roll back, so the false-rollback
    # bound needs only them to share alpha; non-critical ones (a Fail there needs a person) have their own.
    rejected, levels = [False] * len(analyses), [level] * len(analyses)
    for critical in (True, False):
        family = [i for i, a in enumerate(analyses) if a.spec.critical == critical]
        tested = [analyses[i].p_value if analyses[i].enough else math.nan for i in family]
        family_rejected, family_levels = holm_levels(tested, level)
        for i, r, lvl in zip(family, family_rejected, family_levels, strict=True):
            rejected[i], levels[i] = r, lvl
    where = f"look {look}/{config.max_looks}"

    metrics = []
    for a, reject, lvl in zip(analyses, rejected, levels, strict=True):
        s = a.spec
        if not a.enough:
            verdict: Verdict = "inconclusive"
            if min(a.n_canary, a.n_baseline) == 0:
                reason = f"{s.name}: no data (canary {a.n_canary}, baseline {a.n_baseline} samples)"
            else:
                reason = (
                    f"{s.name}: too few samples (canary {a.n_canary}, baseline {a.n_baseline}; "
                    f"need {s.min_samples} per arm)"
                )
        elif level == 0:
            verdict, reason = "inconclusive", f"{s.name}: no alpha left at {where}; {a.describe}"
        elif reject:
            verdict = "fail"
            reason = f"{s.name} regressed: {a.describe}; p={a.p_value:.2g} < {lvl:.2g} at {where}{a.note}"
        elif a.marginal:
            verdict = "marginal"
            reason = f"{s.name} possibly worse: {a.describe}; p={a.p_value:.2g}, not below {lvl:.2g} at {where}{a.note}"
        else:
            verdict = "pass"
            reason = f"{s.name} ok: {a.describe}; p={a.p_value:.2g}{a.note}"
        metrics.append(
            MetricResult(
                name=s.name,
                verdict=verdict,
                reason=reason,
                estimate=_num(a.estimate),
                ci_low=_num(a.ci_low),
                ci_high=_num(a.ci_high),
                p_value=_num(a.p_value),
                n_canary=a.n_canary,
                n_baseline=a.n_baseline,
                critical=s.critical,
                level=lvl if a.enough else None,
            )
        )
    verdict, reason = _overall(metrics, srm, canary, baseline, look, config)
    return JudgeResult(verdict=verdict, reason=reason, metrics=metrics, srm=srm, look=look, look_alpha=level)


def _overall(
    metrics: list[MetricResult], srm: SrmResult, canary: ArmData, baseline: ArmData, look: int, config: JudgeConfig
) -> tuple[Verdict, str]:
    def first(verdict: str, critical: bool | None = None) -> MetricResult | None:
        for m in metrics:
            if m.verdict == verdict and (critical is None or m.critical == critical):
                return m
        return None

    if canary.requests == 0 or baseline.requests == 0:
        return "inconclusive", f"no data: canary {canary.requests}, baseline {baseline.requests} requests"
    if not srm.ok:
        return "inconclusive", srm.reason
    if not metrics:
        return "inconclusive", "no metrics to judge"
    if look > config.max_looks:
        return "inconclusive", f"look {look} is past max_looks={config.max_looks}: no alpha left to judge with"
    if m := first("fail", critical=True):
        return "fail", m.reason
    if m := first("fail", critical=False):
        return "marginal", f"non-critical {m.reason}"
    if m := first("marginal"):
        return "marginal", m.reason
    if m := first("inconclusive"):
        return "inconclusive", m.reason
    count = f"all {len(metrics)} metrics" if len(metrics) > 1 else f"{metrics[0].name}"
    return "pass", f"{count} within the allowed change at look {look}/{config.max_looks}"
