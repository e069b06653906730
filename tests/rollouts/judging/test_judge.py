"""Canary judge: verdict rules on known cases, and the statistics against textbook values / brute force."""

import json
import math

import numpy as np
import pytest

from rollouts.judging.judge import ArmData, JudgeConfig, MetricSpec, judge
from rollouts.judging.stats import (
    binary_p_value,
    hodges_lehmann,
    holm_levels,
    look_alpha,
    newcombe_interval,
    pairwise_difference_order_stat,
    spent_alpha,
    srm_p_value,
    wilson_interval,
    worsening_interval,
)

ERROR = MetricSpec("error_rate", "binary", "increase", critical=True)
LATENCY = MetricSpec("latency_ms", "continuous", "increase", critical=True, allowed_change=0.05)
EVAL = MetricSpec("eval_score", "continuous", "decrease", critical=True)
HALF = JudgeConfig(expected_canary_share=0.5)
Z95 = 1.959963984540054


def arms(errors_canary, errors_baseline, n=20_000, canary_extra=None, baseline_extra=None):
    canary = ArmData(requests=n, binary={"error_rate": (errors_canary, n)}, continuous=canary_extra or {})
    baseline = ArmData(requests=n, binary={"error_rate": (errors_baseline, n)}, continuous=baseline_extra or {})
    return canary, baseline


def latencies(seed, n, scale=1.0):
    return np.random.default_rng(seed).lognormal(5.0, 0.5, n) * scale


# --- verdicts --------------------------------------------------------------------------------------------


def test_identical_arms_pass_with_enough_data():
    values = latencies(1, 3_000)
    canary, baseline = arms(200, 200, canary_extra={"latency_ms": values}, baseline_extra={"latency_ms": values})
    result = judge(canary=canary, baseline=baseline, specs=[ERROR, LATENCY], config=HALF, look=10)
    assert result.verdict == "pass", result.reason
    assert [m.verdict for m in result.metrics] == ["pass", "pass"]
    assert result.metrics[0].estimate == 0 and result.metrics[1].estimate == 0
    assert result.srm.ok


def test_clear_regression_fails_with_reason_naming_metric_and_numbers():
    canary, baseline = arms(600, 200)  # 3.00 % vs 1.00 %
    result = judge(canary=canary, baseline=baseline, specs=[ERROR], config=HALF, look=5)
    assert result.verdict == "fail"
    metric = result.metrics[0]
    assert metric.verdict == "fail"
    assert metric.p_value < metric.level
    assert metric.ci_low > 0.015 and metric.ci_high < 0.025
    for text in ("error_rate", "1.00% -> 3.00%", "+2.00 pp", "look 5/20"):
        assert text in result.reason


def test_continuous_regression_fails_and_names_the_shift():
    canary = ArmData(requests=4_000, continuous={"latency_ms": latencies(2, 4_000, scale=1.3)})
    baseline = ArmData(requests=4_000, continuous={"latency_ms": latencies(3, 4_000)})
    result = judge(canary=canary, baseline=baseline, specs=[LATENCY], config=HALF, look=10)
    assert result.verdict == "fail"
    assert "latency_ms regressed" in result.reason and "shift +" in result.reason
    assert result.metrics[0].estimate > 0


def test_too_few_samples_is_inconclusive_even_for_a_huge_difference():
    canary, baseline = arms(150, 0, n=150)
    result = judge(canary=canary, baseline=baseline, specs=[ERROR], config=HALF, look=20)
    assert result.verdict == "inconclusive"
    assert "too few samples" in result.reason and "need 200" in result.reason


@pytest.mark.parametrize("look", [1, 10, 20])
@pytest.mark.parametrize(
    "canary,baseline",
    [
        (ArmData(0), ArmData(0)),
        (ArmData(5_000, binary={"error_rate": (4_000, 5_000)}), ArmData(0)),
        (ArmData(0), ArmData(5_000, binary={"error_rate": (0, 5_000)})),
        (ArmData(5_000, binary={"error_rate": (4_000, 5_000)}), ArmData(5_000)),  # baseline lacks the metric
    ],
)
def test_no_data_is_inconclusive_never_pass_or_fail(canary, baseline, look):
    config = JudgeConfig(expected_canary_share=canary.requests / max(1, canary.requests + baseline.requests) or 0.5)
    result = judge(canary=canary, baseline=baseline, specs=[ERROR, LATENCY], config=config, look=look)
    assert result.verdict == "inconclusive"
    assert all(m.verdict == "inconclusive" for m in result.metrics)
    assert "no data" in result.reason


def test_sample_ratio_mismatch_makes_even_a_regression_inconclusive():
    canary, baseline = arms(600, 200)  # 50/50 split, but 5 % was expected
    config = JudgeConfig(expected_canary_share=0.05)
    result = judge(canary=canary, baseline=baseline, specs=[ERROR], config=config, look=10)
    assert not result.srm.ok
    assert result.verdict == "inconclusive"
    assert result.reason.startswith("sample ratio mismatch") and "expected 5.00%" in result.reason


def test_sample_ratio_within_chance_is_ok():
    canary = ArmData(requests=1_040, binary={"error_rate": (10, 1_040)})
    baseline = ArmData(requests=18_960, binary={"error_rate": (190, 18_960)})
    result = judge(
        canary=canary, baseline=baseline, specs=[ERROR], config=JudgeConfig(expected_canary_share=0.05), look=8
    )
    assert result.srm.ok and 0.001 < result.srm.p_value < 1
    assert result.verdict in ("pass", "marginal")


def test_decrease_is_bad_direction():
    rng = np.random.default_rng(4)
    worse = {"eval_score": rng.normal(0.70, 0.1, 3_000)}
    base = {"eval_score": rng.normal(0.80, 0.1, 3_000)}
    canary, baseline = ArmData(3_000, continuous=worse), ArmData(3_000, continuous=base)
    assert judge(canary=canary, baseline=baseline, specs=[EVAL], config=HALF, look=10).verdict == "fail"
    increase_bad = MetricSpec("eval_score", "continuous", "increase", critical=True)
    assert judge(canary=canary, baseline=baseline, specs=[increase_bad], config=HALF, look=10).verdict == "pass"
    # binary too: a drop in a success rate is the regression
    success = MetricSpec("json_valid_rate", "binary", "decrease", critical=True)
    canary = ArmData(20_000, binary={"json_valid_rate": (19_000, 20_000)})
    baseline = ArmData(20_000, binary={"json_valid_rate": (19_800, 20_000)})
    result = judge(canary=canary, baseline=baseline, specs=[success], config=HALF, look=10)
    assert result.verdict == "fail" and result.metrics[0].estimate < 0
    result = judge(canary=baseline, baseline=canary, specs=[success], config=HALF, look=10)
    assert result.verdict == "pass"


def test_allowed_change_is_tolerated_binary():
    canary, baseline = arms(26_000, 20_000, n=2_000_000)  # 1.30 % vs 1.00 %: +0.3 pp, very precise
    strict = MetricSpec("error_rate", "binary", "increase", critical=True)
    tolerant = MetricSpec("error_rate", "binary", "increase", critical=True, allowed_change=0.005)
    assert judge(canary=canary, baseline=baseline, specs=[strict], config=HALF, look=10).verdict == "fail"
    result = judge(canary=canary, baseline=baseline, specs=[tolerant], config=HALF, look=10)
    assert result.verdict == "pass", result.reason
    assert "allowed +0.50 pp" in result.metrics[0].reason


def test_allowed_change_is_relative_for_continuous():
    base = latencies(5, 4_000)
    slightly = ArmData(4_000, continuous={"latency_ms": base * 1.02})  # +2 %, allowed 5 %
    clearly = ArmData(4_000, continuous={"latency_ms": base * 1.15})
    baseline = ArmData(4_000, continuous={"latency_ms": latencies(6, 4_000)})
    assert judge(canary=slightly, baseline=baseline, specs=[LATENCY], config=HALF, look=10).verdict == "pass"
    assert judge(canary=clearly, baseline=baseline, specs=[LATENCY], config=HALF, look=10).verdict == "fail"


def test_non_critical_fail_is_marginal_and_critical_fail_wins():
    soft = MetricSpec("refusal_rate", "binary", "increase", critical=False)
    canary = ArmData(20_000, binary={"error_rate": (200, 20_000), "refusal_rate": (600, 20_000)})
    baseline = ArmData(20_000, binary={"error_rate": (200, 20_000), "refusal_rate": (200, 20_000)})
    result = judge(canary=canary, baseline=baseline, specs=[ERROR, soft], config=HALF, look=10)
    assert [m.verdict for m in result.metrics] == ["pass", "fail"]
    assert result.verdict == "marginal" and result.reason.startswith("non-critical refusal_rate regressed")
    canary.binary["error_rate"] = (600, 20_000)
    result = judge(canary=canary, baseline=baseline, specs=[ERROR, soft], config=HALF, look=10)
    assert result.verdict == "fail" and result.reason.startswith("error_rate regressed")


def test_marginal_when_worse_but_not_significant_at_the_look():
    canary, baseline = arms(230, 200)  # 1.15 % vs 1.00 %: one-sided p about 0.08
    result = judge(canary=canary, baseline=baseline, specs=[ERROR], config=HALF, look=10)
    assert result.verdict == "marginal" and "possibly worse" in result.reason
    wide = JudgeConfig(expected_canary_share=0.5, marginal_band=2.0)
    assert judge(canary=canary, baseline=baseline, specs=[ERROR], config=wide, look=10).verdict == "pass"


def test_obrien_fleming_spending_makes_early_looks_need_overwhelming_evidence_and_pocock_does_not():
    canary, baseline = arms(270, 200)  # one-sided p about 0.0006
    obf = JudgeConfig(expected_canary_share=0.5, spending="obrien_fleming", alpha=0.01)
    verdicts = [judge(canary=canary, baseline=baseline, specs=[ERROR], config=obf, look=k).verdict for k in (1, 8, 20)]
    assert verdicts == ["marginal", "marginal", "fail"]
    # Pocock (the default) spends about alpha/K at every look, a little more early: a fail at once.
    pocock = JudgeConfig(expected_canary_share=0.5, alpha=0.01)
    verdicts = [judge(canary=canary, baseline=baseline, specs=[ERROR], config=pocock, look=k).verdict for k in (1, 20)]
    assert verdicts == ["fail", "marginal"]
    lenient = JudgeConfig(expected_canary_share=0.5, alpha=0.05)
    assert judge(canary=canary, baseline=baseline, specs=[ERROR], config=lenient, look=8).verdict == "fail"


def test_look_past_max_looks_is_inconclusive():
    canary, baseline = arms(600, 200)
    result = judge(canary=canary, baseline=baseline, specs=[ERROR], config=HALF, look=21)
    assert result.verdict == "inconclusive" and "past max_looks" in result.reason


def test_result_is_json_safe():
    canary, baseline = arms(0, 0, n=0)
    result = judge(canary=canary, baseline=baseline, specs=[ERROR, LATENCY], config=HALF, look=3)
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)["verdict"] == "inconclusive"
    canary, baseline = arms(600, 200)
    data = json.loads(json.dumps(judge(canary=canary, baseline=baseline, specs=[ERROR], config=HALF, look=3).to_dict()))
    assert set(data["metrics"][0]) >= {"name", "verdict", "reason", "estimate", "ci_low", "ci_high", "p_value"}
    assert data["metrics"][0]["n_canary"] == 20_000 and data["srm"]["ok"] is True


def test_large_arrays_are_subsampled_deterministically():
    canary = ArmData(100_000, continuous={"latency_ms": latencies(7, 100_000)})
    baseline = ArmData(100_000, continuous={"latency_ms": latencies(8, 100_000)})
    first = judge(canary=canary, baseline=baseline, specs=[LATENCY], config=HALF, look=10)
    again = judge(canary=canary, baseline=baseline, specs=[LATENCY], config=HALF, look=10)
    assert first.to_dict() == again.to_dict()
    assert first.metrics[0].n_canary == 100_000 and "subsample of 5000 vs 5000" in first.metrics[0].reason
    assert first.verdict == "pass"


@pytest.mark.parametrize(
    "call",
    [
        lambda: judge(
            canary=ArmData(10, binary={"error_rate": (11, 10)}),
            baseline=ArmData(10),
            specs=[ERROR],
            config=HALF,
            look=1,
        ),
        lambda: judge(canary=ArmData(-1), baseline=ArmData(10), specs=[ERROR], config=HALF, look=1),
        lambda: judge(canary=ArmData(1), baseline=ArmData(1), specs=[ERROR, ERROR], config=HALF, look=1),
        lambda: judge(canary=ArmData(1), baseline=ArmData(1), specs=[ERROR], config=HALF, look=0),
        lambda: JudgeConfig(expected_canary_share=1.5),
        lambda: JudgeConfig(expected_canary_share=0.5, alpha=0),
        lambda: MetricSpec("x", "binary", "up"),
        lambda: MetricSpec("x", "binary", "increase", allowed_change=-0.1),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


# --- statistics ------------------------------------------------------------------------------------------


def test_wilson_interval_matches_newcombe_1998_single_proportion_examples():
    # Newcombe (1998) Stat Med 17:857-872, method 3 (score interval without continuity correction).
    lo, hi = wilson_interval([81, 15, 0, 1], [263, 148, 20, 29], Z95)
    assert np.round(lo, 4).tolist() == [0.2553, 0.0624, 0.0, 0.0061]
    assert np.round(hi, 4).tolist() == [0.3662, 0.1605, 0.1611, 0.1718]
    assert wilson_interval(0, 0, Z95) == (0.0, 1.0)


@pytest.mark.parametrize(
    "counts,expected",
    [  # Newcombe (1998) Stat Med 17:873-890, table II, method 10 (hybrid score)
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((0, 10, 0, 10), (-0.2775, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0000)),
        ((10, 10, 0, 10), (0.6075, 1.0000)),
    ],
)
def test_newcombe_hybrid_interval_matches_newcombe_1998(counts, expected):
    lo, hi = newcombe_interval(*counts, Z95)
    assert (round(float(lo), 4), round(float(hi), 4)) == expected


def test_with_a_tolerance_binary_p_value_inverts_the_newcombe_bound():
    for allowed in (0.005, 0.001):
        p = binary_p_value(300, 10_000, 200, 10_000, allowed, 1)
        lo, _ = worsening_interval(300, 10_000, 200, 10_000, float(-np.asarray(0) + _z(p)), 1)
        assert float(lo) == pytest.approx(allowed, abs=1e-9)
    assert 0.5 < binary_p_value(200, 10_000, 200, 10_000, 0.0, 1) < 0.55  # exact test: P(X >= observed)
    assert binary_p_value(100, 10_000, 200, 10_000, 0.0, 1) > 0.99  # better canary
    assert binary_p_value(100, 10_000, 200, 10_000, 0.0, -1) < 1e-6  # ... a regression if lower is bad


def test_without_a_tolerance_the_error_test_is_exact_at_tiny_levels_and_small_counts():
    # A 5 % canary of 377 requests against 7,019 at 1 % errors, at the ~4e-4 level one look of a run gets:
    # the false rejection rate must stay under the level (score intervals give ~5x the level here).
    rng = np.random.default_rng(7)
    e_c, e_b = rng.binomial(377, 0.01, 200_000), rng.binomial(7_019, 0.01, 200_000)
    pairs, counts = np.unique(np.stack([e_c, e_b]), axis=1, return_counts=True)
    rejected = sum(
        int(k)
        for (c, b), k in zip(pairs.T, counts, strict=True)
        if binary_p_value(int(c), 377, int(b), 7_019, 0.0, 1) < 4.2e-4
    )
    assert rejected / 200_000 <= 4.2e-4
    # ... and a 1 % -> 3 % rise over 1,500 canary requests is still found at that level.
    assert binary_p_value(45, 1_500, 285, 28_500, 0.0, 1) < 4.2e-4


def _z(p):
    from scipy import stats

    return stats.norm.isf(p)


def test_hodges_lehmann_matches_brute_force_on_small_arrays():
    rng = np.random.default_rng(11)
    cases = [
        (rng.normal(0, 1, 9), rng.normal(0.5, 1, 12)),
        (rng.normal(0, 1, 7), rng.normal(0, 1, 5)),  # odd n*m: the median is one difference
        (rng.integers(0, 6, 40).astype(float), rng.integers(0, 6, 31).astype(float)),  # heavy ties
        (rng.lognormal(3, 1, 120), rng.lognormal(3.2, 1, 95)),
    ]
    for x, y in cases:
        diffs = np.sort(np.subtract.outer(x, y).ravel())
        n, m = len(x), len(y)
        c = max(1, math.floor(n * m / 2 - Z95 * math.sqrt(n * m * (n + m + 1) / 12)))
        estimate, lo, hi = hodges_lehmann(x, y, 0.95)
        assert estimate == pytest.approx(float(np.median(diffs)))
        assert (lo, hi) == (diffs[c - 1], diffs[n * m - c])
        for rank in (1, 2, n * m // 3, n * m - 1, n * m):
            assert pairwise_difference_order_stat(np.sort(x), np.sort(y), rank) == diffs[rank - 1]


def test_pairwise_order_statistic_exact_on_large_arrays_with_ties():
    rng = np.random.default_rng(12)
    x, y = np.sort(rng.lognormal(3, 1, 2_000)), np.sort(np.round(rng.lognormal(3, 1, 1_500)))
    diffs = np.subtract.outer(x, y).ravel()
    for rank in (1, 777, 1_500_000, 2_999_999):
        assert pairwise_difference_order_stat(x, y, rank) == np.partition(diffs, rank - 1)[rank - 1]


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_alpha_spending_spends_exactly_alpha_over_the_planned_looks(spending):
    increments = [look_alpha(k, 20, 0.05, spending) for k in range(1, 21)]
    assert sum(increments) == pytest.approx(0.05)
    assert all(a > 0 for a in increments)
    assert look_alpha(21, 20, 0.05, spending) == 0
    assert float(spent_alpha(1.0, 0.05, spending)) == pytest.approx(0.05)
    if spending == "obrien_fleming":
        assert increments[0] < 1e-12 < increments[4] < increments[10]


def test_holm_step_down():
    rejected, levels = holm_levels([0.01, 0.04, 0.015, math.nan], 0.05)
    assert rejected == [True, False, True, False]
    assert levels[0] == 0.05 / 4 and levels[2] == 0.05 / 3 and levels[1] == 0.05 / 2


def test_srm_p_value():
    assert float(srm_p_value(500, 500, 0.5)) == 1.0
    assert float(srm_p_value(600, 400, 0.5)) < 1e-9
    assert math.isnan(float(srm_p_value(0, 0, 0.5)))
    assert float(srm_p_value(10, 0, 1.0)) == 1.0 and float(srm_p_value(10, 1, 1.0)) == 0.0


def test_split_at_tiny_counts_is_not_checked_and_never_flags_a_healthy_run():
    # A 1 % canary with 12 of 250 requests: the old chi-square said p = 2e-5; a handful of requests says nothing.
    canary = ArmData(requests=12, binary={"error_rate": (0, 12)})
    baseline = ArmData(requests=238, binary={"error_rate": (2, 238)})
    result = judge(
        canary=canary, baseline=baseline, specs=[ERROR], config=JudgeConfig(expected_canary_share=0.01), look=1
    )
    assert result.srm.ok and result.srm.level is None and "not checked" in result.srm.reason
    assert result.verdict == "inconclusive" and "too few samples" in result.reason


def test_healthy_splits_pass_the_budgeted_exact_check_at_every_planned_look():
    rng = np.random.default_rng(7)
    config = JudgeConfig(expected_canary_share=0.01, max_looks=30)
    flagged = 0
    for _ in range(300):
        total = int(rng.integers(30_000, 60_000))
        n_c = int(rng.binomial(total, 0.01))
        canary = ArmData(requests=n_c, binary={"error_rate": (0, n_c)})
        baseline = ArmData(requests=total - n_c, binary={"error_rate": (0, total - n_c)})
        result = judge(canary=canary, baseline=baseline, specs=[ERROR], config=config, look=int(rng.integers(1, 31)))
        assert result.srm.level == pytest.approx(0.001 / 30)
        flagged += not result.srm.ok
    assert flagged == 0  # expected 300 x 0.001 / 30 = 0.01


def test_a_doubled_canary_share_is_a_sample_ratio_mismatch():
    # 2 % of the requests reach a 1 % canary: 400 of 20,000, 200 expected.
    canary = ArmData(requests=400, binary={"error_rate": (4, 400)})
    baseline = ArmData(requests=19_600, binary={"error_rate": (196, 19_600)})
    result = judge(
        canary=canary, baseline=baseline, specs=[ERROR], config=JudgeConfig(expected_canary_share=0.01), look=3
    )
    assert not result.srm.ok and result.srm.p_value < 1e-20
    assert result.verdict == "inconclusive" and "exact binomial" in result.reason
