"""numerics.stats: merged moments, slopes, binomial intervals, thresholds, whitening."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import stats as st

from numerics import stats


@settings(max_examples=40, deadline=None)
@given(hs.lists(hs.integers(1, 40), min_size=1, max_size=6), hs.integers(0, 2**31))
def test_running_moments_equal_numpy_for_any_grouping(sizes, seed):
    rng = np.random.default_rng(seed)
    chunks = [1e6 + rng.standard_normal(n) for n in sizes]  # large offset: cancellation test
    acc = stats.RunningMoments()
    for c in chunks:
        acc.add(c)
    data = np.concatenate(chunks)
    assert acc.count == data.size
    assert acc.mean == pytest.approx(data.mean(), rel=1e-15, abs=1e-9)
    if data.size > 1:
        assert acc.variance == pytest.approx(data.var(ddof=1), rel=1e-8)
    # merging two accumulators equals adding everything to one
    left, right = stats.RunningMoments(), stats.RunningMoments()
    for i, c in enumerate(chunks):
        (left if i % 2 else right).add(c)
    merged = left.merge(right)
    assert merged.count == acc.count and merged.mean == pytest.approx(acc.mean, rel=1e-15)


def test_running_moments_refuses_bad_input():
    acc = stats.RunningMoments()
    with pytest.raises(ValueError, match="finite"):
        acc.add([1.0, math.nan])
    with pytest.raises(ValueError, match="at least 2"):
        acc.add([1.0]).variance  # noqa: B018


def test_loglog_slope_recovers_power_law_and_bootstrap_se():
    x = np.array([64, 128, 256, 512, 1024])
    fit = stats.loglog_slope(x, 3.0 * x**-0.5)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    assert math.exp(fit.intercept) == pytest.approx(3.0, rel=1e-12)
    assert fit.slope_se is None
    rng = np.random.default_rng(0)
    reps = (3.0 * x**-0.5)[:, None] * np.exp(0.05 * rng.standard_normal((5, 40)))
    fit = stats.loglog_slope(x, replicates=reps, bootstrap=200, rng=1)
    # slope of means of log-normal noise of size 0.05/sqrt(40) per point: se ~ 0.008/range
    assert abs(fit.slope + 0.5) < 5 * fit.slope_se
    assert 1e-4 < fit.slope_se < 0.05
    # rare events (one run in 40 at the last x): resamples that lose it have no slope,
    # and the standard error is infinite rather than NaN
    events = np.zeros((3, 40))
    events[:, 0] = 1.0
    events[:2, 1:10] = 1.0
    fit = stats.loglog_slope([1, 2, 4], replicates=events, bootstrap=200, rng=0)
    assert math.isfinite(fit.slope) and fit.slope_se == math.inf
    with pytest.raises(ValueError, match="positive"):
        stats.loglog_slope([1, 2], [1.0, -1.0])
    with pytest.raises(ValueError, match="exactly one"):
        stats.loglog_slope([1, 2])


def _coverage(interval, n, p):
    """Exact coverage probability sum_k P(X = k) 1{p in interval(k, n)}."""
    return sum(st.binom.pmf(k, n, p) for k in range(n + 1)
               if interval(k, n)[0] <= p <= interval(k, n)[1])


def test_clopper_pearson_is_exact_and_conservative():
    k, n = 7, 40
    low, high = stats.binomial_interval(k, n, confidence=0.95, method="clopper-pearson")
    # defining property: P(X >= k | low) = P(X <= k | high) = alpha/2
    assert st.binom.sf(k - 1, n, low) == pytest.approx(0.025, rel=1e-9)
    assert st.binom.cdf(k, n, high) == pytest.approx(0.025, rel=1e-9)
    for p in (0.05, 0.3, 0.5, 0.9):
        assert _coverage(lambda a, b: stats.binomial_interval(
            a, b, method="clopper-pearson"), 30, p) >= 0.95
    assert stats.binomial_interval(0, 10, method="clopper-pearson")[0] == 0.0
    assert stats.binomial_interval(10, 10, method="clopper-pearson")[1] == 1.0


def test_wilson_interval_formula_and_coverage():
    low, high = stats.binomial_interval(8, 10, confidence=0.95)
    z = st.norm.isf(0.025)
    # the score interval solves |p_hat - p| = z sqrt(p (1 - p) / n) at both ends
    for p in (low, high):
        assert abs(0.8 - p) == pytest.approx(z * math.sqrt(p * (1 - p) / 10), rel=1e-10)
    # near-nominal coverage (Brown, Cai & DasGupta 2001, Fig. 4: within ~0.02 at n = 50)
    assert abs(_coverage(stats.binomial_interval, 50, 0.3) - 0.95) < 0.02
    with pytest.raises(ValueError, match="successes"):
        stats.binomial_interval(11, 10)
    with pytest.raises(ValueError, match="method"):
        stats.binomial_interval(1, 10, method="wald")
    with pytest.raises(ValueError, match="confidence"):
        stats.binomial_interval(1, 10, confidence=1.5)


def test_thresholds():
    assert stats.bonferroni_z_threshold(1, 0.05) == pytest.approx(1.959963985, rel=1e-9)
    # n tests at the Bonferroni threshold: total tail n * P(|Z| > t) = alpha
    t = stats.bonferroni_z_threshold(171, 1e-3)
    assert 171 * stats.two_sided_normal_tail(t) == pytest.approx(1e-3, rel=1e-9)
    low, high = stats.chi2_mean_interval(1000, 1e-3)
    assert low < 1 < high
    # normal approximation of chi^2_n / n: 1 +- z sqrt(2/n)
    z = st.norm.isf(5e-4)
    assert high - 1 == pytest.approx(z * math.sqrt(2 / 1000), rel=0.1)
    with pytest.raises(ValueError, match="alpha"):
        stats.chi2_mean_interval(10, 0.0)
    with pytest.raises(ValueError, match="n must"):
        stats.bonferroni_z_threshold(0, 0.01)


def test_whiten_gives_identity_covariance():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((3, 3))
    C = A @ A.T + 0.5 * np.eye(3)
    chol = np.linalg.cholesky(C)
    samples = (chol @ rng.standard_normal((3, 20000))).T
    w = np.array([stats.whiten(e, C) for e in samples])
    # sample covariance of 2e4 whitened draws: entries within ~4/sqrt(2e4) = 0.03 of I
    assert np.max(np.abs(np.cov(w.T) - np.eye(3))) < 0.03
    with pytest.raises(ValueError, match="positive definite"):
        stats.whiten([1.0, 2.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="shape"):
        stats.whiten([1.0], np.eye(2))


def test_weighted_least_squares_recovers_coefficients_and_errors():
    rng = np.random.default_rng(4)
    x = np.linspace(1, 10, 40)
    X = np.stack([np.ones_like(x), 1 / x], axis=1)
    se = 0.01 * np.ones_like(x)
    coefs = []
    for _ in range(300):
        y = 0.5 + 2.0 / x + se * rng.standard_normal(x.size)
        fit = stats.weighted_least_squares(X, y, se)
        coefs.append(fit.coef)
    coefs = np.array(coefs)
    # the stated covariance is the sampling covariance (300 fits: sd known to ~4%)
    assert np.std(coefs[:, 0]) == pytest.approx(fit.standard_errors[0], rel=0.15)
    assert np.mean(coefs[:, 1]) == pytest.approx(2.0, abs=4 * fit.standard_errors[1] / 17)
    assert fit.dof == 38 and 0.5 < fit.chi2 / fit.dof < 1.6
    with pytest.raises(ValueError, match="more points"):
        stats.weighted_least_squares(X[:2], [1.0, 2.0], [1.0, 1.0])


def test_student_t_threshold_exceeds_normal():
    assert stats.bonferroni_z_threshold(8, 1e-3, dof=7) == pytest.approx(
        st.t.isf(1e-3 / 16, 7), rel=1e-12)
    assert stats.bonferroni_z_threshold(8, 1e-3, dof=7) > stats.bonferroni_z_threshold(8, 1e-3)
