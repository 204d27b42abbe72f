r"""Statistics shared by simulations and claims: moments with merging, log-log
slopes with a bootstrap, binomial intervals, family-wise z thresholds,
chi-square bands and whitening.

Everything here is plain NumPy/SciPy on float64 and validates its input
(a clear ``ValueError`` naming the argument, never a silent NaN).

References: Chan, Golub & LeVeque, "Algorithms for computing the sample
variance" (1983) for merging moments; Wilson (1927) and Clopper & Pearson
(1934) for binomial intervals (Brown, Cai & DasGupta, Stat. Sci. 16 (2001)
compare them); Efron & Tibshirani (1993) for the bootstrap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = [
    "LinearFit",
    "RunningMoments",
    "SlopeFit",
    "binomial_interval",
    "bonferroni_z_threshold",
    "chi2_mean_interval",
    "loglog_slope",
    "mean_and_standard_error",
    "two_sided_normal_tail",
    "weighted_least_squares",
    "whiten",
]


def _finite_array(name, values, *, ndim_min=1):
    arr = np.asarray(values, dtype=float)
    if arr.ndim < ndim_min or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _probability(name, value, *, open_interval=True):
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not (
            0 < value < 1 if open_interval else 0 <= value <= 1):
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return float(value)


def _count(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class RunningMoments:
    r"""Count, mean and sum of squared deviations of a stream of samples, merged
    chunk by chunk with Chan et al.'s pairwise update

    .. math:: \bar x = \bar x_a + \delta\,\frac{n_b}{n},\qquad
              M_2 = M_{2,a} + M_{2,b} + \delta^2\,\frac{n_a n_b}{n},\qquad
              \delta = \bar x_b - \bar x_a,

    so the variance of 10^7 draws is not lost to cancellation and chunks (or
    worker results) can be combined in any grouping."""

    __slots__ = ("count", "mean", "m2")

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, values) -> RunningMoments:
        """Merge a chunk of samples (any shape, flattened); returns ``self``."""
        chunk = _finite_array("values", values).ravel()
        other = RunningMoments()
        other.count, other.mean = chunk.size, float(chunk.mean())
        other.m2 = float(((chunk - other.mean) ** 2).sum())
        return self.merge(other)

    def merge(self, other: RunningMoments) -> RunningMoments:
        """Merge another accumulator into this one; returns ``self``."""
        if other.count == 0:
            return self
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / total
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.count = total
        return self

    @property
    def variance(self) -> float:
        """Sample variance (ddof = 1)."""
        if self.count < 2:
            raise ValueError(f"the variance needs at least 2 samples, have {self.count}")
        return self.m2 / (self.count - 1)

    @property
    def standard_error(self) -> float:
        """Standard error of the mean, sqrt(variance / count)."""
        return math.sqrt(self.variance / self.count)


def mean_and_standard_error(samples, axis=0):
    """Mean and standard error (sample std with ddof = 1 over sqrt(n)) along ``axis``."""
    arr = _finite_array("samples", samples)
    n = arr.shape[axis]
    if n < 2:
        raise ValueError(f"samples need at least 2 entries along axis {axis}, got {n}")
    return arr.mean(axis=axis), arr.std(axis=axis, ddof=1) / math.sqrt(n)


@dataclass(frozen=True)
class SlopeFit:
    """Least-squares line through ``(log x, log y)``: ``log y = intercept + slope log x``.
    ``slope_se`` is the bootstrap standard error of the slope (resampling the
    replicates of each x), or None when no replicates were given."""

    slope: float
    intercept: float
    slope_se: float | None
    x: tuple
    y: tuple

    def predict(self, x):
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope


def _fit(logx, logy):
    slope, intercept = np.polyfit(logx, logy, 1)
    return float(slope), float(intercept)


def loglog_slope(x, y=None, *, replicates=None, bootstrap: int = 0, rng=None) -> SlopeFit:
    r"""Slope of :math:`\log y` against :math:`\log x`.

    Either ``y`` (one positive value per x) or ``replicates`` (shape
    ``(len(x), r)``: r independent measurements per x; their means are fitted).
    With replicates and ``bootstrap > 0`` the replicates of every x are
    resampled with replacement ``bootstrap`` times (``rng``: a NumPy Generator
    or seed) and the slope's standard error is the std of the refitted slopes; it is
    ``inf`` where a resample's mean is not positive at some x (replicates that are mostly
    zero, e.g. rare events: that resample has no log-log slope)."""
    x = _finite_array("x", x)
    if x.ndim != 1 or x.size < 2 or np.any(x <= 0):
        raise ValueError("x must be a 1-D array of at least two positive values")
    if (y is None) == (replicates is None):
        raise ValueError("give exactly one of y and replicates")
    if replicates is not None:
        reps = _finite_array("replicates", replicates, ndim_min=2)
        if reps.shape[0] != x.size:
            raise ValueError(f"replicates must have shape (len(x), r) = ({x.size}, r), got "
                             f"{reps.shape}")
        y = reps.mean(axis=1)
    y = _finite_array("y", y)
    if y.shape != x.shape or np.any(y <= 0):
        raise ValueError("y must hold one positive value per x")
    bootstrap = _count("bootstrap", bootstrap)
    logx = np.log(x)
    slope, intercept = _fit(logx, np.log(y))
    se = None
    if replicates is not None and bootstrap and reps.shape[1] > 1:
        gen = np.random.default_rng(rng)
        r = reps.shape[1]
        slopes = []
        for _ in range(bootstrap):
            pick = gen.integers(0, r, size=reps.shape)
            means = np.take_along_axis(reps, pick, 1).mean(1)
            if np.any(means <= 0):  # a rare event lost at some x: no slope, no finite se
                break
            slopes.append(_fit(logx, np.log(means))[0])
        se = float(np.std(slopes, ddof=1)) if len(slopes) == bootstrap else math.inf
    return SlopeFit(slope, intercept, se, tuple(x.tolist()), tuple(y.tolist()))


def binomial_interval(successes: int, trials: int, *, confidence: float = 0.95,
                      method: str = "wilson") -> tuple[float, float]:
    r"""Two-sided confidence interval for a success probability from ``successes``
    out of ``trials``.

    ``"wilson"``: the score interval
    :math:`\frac{\hat p + z^2/2n \pm z\sqrt{\hat p(1-\hat p)/n + z^2/4n^2}}{1 + z^2/n}`;
    ``"clopper-pearson"``: the exact interval from Beta quantiles (conservative:
    coverage at least ``confidence`` for every p)."""
    trials = _count("trials", trials, 1)
    successes = _count("successes", successes)
    if successes > trials:
        raise ValueError(f"successes must be <= trials = {trials}, got {successes}")
    confidence = _probability("confidence", confidence)
    alpha = 1 - confidence
    if method == "wilson":
        z = float(_st.norm.isf(alpha / 2))
        p, n = successes / trials, trials
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)
    if method == "clopper-pearson":
        low = 0.0 if successes == 0 else float(
            _st.beta.ppf(alpha / 2, successes, trials - successes + 1))
        high = 1.0 if successes == trials else float(
            _st.beta.isf(alpha / 2, successes + 1, trials - successes))
        return low, high
    raise ValueError(f"method must be 'wilson' or 'clopper-pearson', got {method!r}")


def two_sided_normal_tail(z: float) -> float:
    """P(|Z| > z) for a standard normal Z."""
    return math.erfc(abs(float(z)) / math.sqrt(2))


def bonferroni_z_threshold(n: int, alpha: float, dof: int | None = None) -> float:
    r""":math:`\Phi^{-1}(1 - \alpha/(2n))`: with ``n`` standard-normal z-scores (any
    dependence) the chance that some :math:`|z|` exceeds it is at most ``alpha``. With
    ``dof``, the Student-t quantile instead, for t-statistics whose standard error was
    estimated from ``dof + 1`` replicates."""
    n = _count("n", n, 1)
    tail = _probability("alpha", alpha) / (2 * n)
    if dof is None:
        return float(_st.norm.isf(tail))
    return float(_st.t.isf(tail, _count("dof", dof, 1)))


def chi2_mean_interval(n: int, alpha: float) -> tuple[float, float]:
    r"""Two-sided :math:`1-\alpha` interval of :math:`\overline{w^2} = \chi^2_n/n`, the mean
    square of ``n`` independent standard normals."""
    n = _count("n", n, 1)
    alpha = _probability("alpha", alpha)
    return float(_st.chi2.ppf(alpha / 2, n) / n), float(_st.chi2.isf(alpha / 2, n) / n)


def whiten(residual, covariance) -> np.ndarray:
    r""":math:`L^{-1} e` with :math:`LL^\top` the Cholesky factor of ``covariance``: if
    :math:`e \sim \mathcal N(0, C)` the result is i.i.d. standard normal. A covariance
    that is not symmetric positive definite is a ValueError."""
    e = _finite_array("residual", residual).ravel()
    C = _finite_array("covariance", covariance, ndim_min=2)
    if C.shape != (e.size, e.size):
        raise ValueError(f"covariance must have shape ({e.size}, {e.size}), got {C.shape}")
    if not np.allclose(C, C.T, rtol=1e-10, atol=0):
        raise ValueError("covariance must be symmetric")
    try:
        chol = np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        raise ValueError("covariance must be positive definite (Cholesky failed)") from None
    return np.linalg.solve(chol, e)


@dataclass(frozen=True)
class LinearFit:
    """Weighted least squares ``y ~ X @ coef``: coefficients, their covariance
    (from the given standard errors), and the fit's chi-square with its degrees of
    freedom (``chi2 / dof ~ 1`` when the model and the errors are right)."""

    coef: np.ndarray
    covariance: np.ndarray
    chi2: float
    dof: int

    @property
    def standard_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))


def weighted_least_squares(design, y, standard_errors) -> LinearFit:
    r"""Minimize :math:`\sum_i ((y_i - (Xc)_i)/s_i)^2` (independent errors of standard
    deviation :math:`s_i`); :math:`\operatorname{Cov} c = (X^\top S^{-2} X)^{-1}`."""
    X = _finite_array("design", design, ndim_min=2)
    y = _finite_array("y", y)
    s = _finite_array("standard_errors", standard_errors)
    if X.shape[0] != y.size or s.shape != y.shape or y.ndim != 1:
        raise ValueError(f"design must be (n, p) with n = len(y) = len(standard_errors); got "
                         f"{X.shape}, {y.shape}, {s.shape}")
    if np.any(s <= 0):
        raise ValueError("standard_errors must be > 0")
    if X.shape[0] <= X.shape[1]:
        raise ValueError(f"need more points ({X.shape[0]}) than coefficients ({X.shape[1]})")
    A, b = X / s[:, None], y / s
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    covariance = np.linalg.inv(A.T @ A)
    chi2 = float(np.sum((b - A @ coef) ** 2))
    return LinearFit(coef, covariance, chi2, X.shape[0] - X.shape[1])
