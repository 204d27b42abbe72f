r"""Named comparisons that decide a claim's verdict.

A claim builds a :class:`Checks` and adds one entry per comparison it makes::

    checks.within("relu_constant", measured, 9 * math.pi**2 / 2, rtol=0.01,
                  source="O(log l / l) ~ 1e-4 left at l = 1e5")
    checks.max_abs_z("one_step_z", z, alpha=1e-3)
    checks.slope("nngp_rate", fit, expected=-0.5, band=0.1)

Each entry becomes ``measured[name]``, ``expected[name]`` and ``tolerance[name]``
of the record, a pass/fail, and a **score**: how much of its tolerance the
comparison used (``|error| / allowed``, ``max|z| / threshold``, ...; <= 1
passes). The verdict is PASS when every entry passes; the table's summary
names the entry with the largest score (the worst one, or on a PASS the
tightest). Statistical entries state their false-alarm probability, so a
record says how often a true claim would FAIL by chance.

Kinds: :meth:`~Checks.within` (rtol/atol), :meth:`~Checks.at_most`,
:meth:`~Checks.at_least`, :meth:`~Checks.in_range`, :meth:`~Checks.holds` (a
boolean fact), :meth:`~Checks.symbolic_equal` (exact, SymPy),
:meth:`~Checks.max_abs_z` (Bonferroni or a fixed threshold),
:meth:`~Checks.chi2_mean` (mean square of whitened residuals in the
:math:`\chi^2_n/n` band), :meth:`~Checks.slope` (a fitted log-log slope in a
band), :meth:`~Checks.proportion` (a binomial Wilson / Clopper-Pearson interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics import stats

__all__ = ["Check", "Checks"]


@dataclass(frozen=True)
class Check:
    """One comparison: what was measured, what was expected, the tolerance
    (with where it comes from), the verdict and the score (<= 1 passes)."""

    name: str
    kind: str
    measured: Any
    expected: Any
    tolerance: dict
    passed: bool
    score: float
    detail: str  # short text for the summary line


def _fmt(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:.4g}"
    return f"{v:.3e}"


def _array(name, value):
    arr = np.asarray(value, dtype=float)
    if arr.size == 0:
        raise ValueError(f"check {name!r}: empty measurement")
    return arr


def _plain(arr):
    return float(arr) if np.ndim(arr) == 0 else np.asarray(arr).tolist()


class Checks:
    """The ordered list of a claim's comparisons (see the module docstring)."""

    def __init__(self):
        self._checks: list[Check] = []

    # -- bookkeeping ---------------------------------------------------------

    def _add(self, name, kind, measured, expected, tolerance, passed, score, detail) -> Check:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a check needs a non-empty name, got {name!r}")
        if any(c.name == name for c in self._checks):
            raise ValueError(f"check {name!r} was added twice")
        score = float(score)
        if math.isnan(score):  # a NaN measurement never passes
            passed, score = False, math.inf
        check = Check(name, kind, measured, expected, dict(tolerance), bool(passed), score, detail)
        self._checks.append(check)
        return check

    def __iter__(self):
        return iter(self._checks)

    def __len__(self):
        return len(self._checks)

    def __getitem__(self, name) -> Check:
        for c in self._checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; have {[c.name for c in self._checks]}")

    @property
    def passed(self) -> bool:
        """True when there is at least one check and every check passes."""
        return bool(self._checks) and all(c.passed for c in self._checks)

    @property
    def worst(self) -> Check:
        """The check that used the largest fraction of its tolerance (failures first)."""
        if not self._checks:
            raise ValueError("no checks were added")
        return max(self._checks, key=lambda c: (not c.passed, c.score))

    def record(self) -> tuple[dict, dict, dict]:
        """``(measured, expected, tolerance)`` dicts keyed by check name; each
        tolerance entry also carries the check's kind, verdict and score."""
        measured = {c.name: c.measured for c in self._checks}
        expected = {c.name: c.expected for c in self._checks}
        tolerance = {c.name: {"kind": c.kind, **c.tolerance, "passed": c.passed,
                              "score": c.score if math.isfinite(c.score) else "inf"}
                     for c in self._checks}
        return measured, expected, tolerance

    def summary(self, headline: str = "") -> str:
        """``headline`` plus the worst check: ``... | worst of 7: rate 0.83 of tol``."""
        if not self._checks:
            return headline or "no checks"
        w = self.worst
        failed = sum(not c.passed for c in self._checks)
        state = f"{failed} of {len(self)} checks FAIL" if failed else f"{len(self)} checks pass"
        tail = f"{state}; worst: {w.name}: {w.detail}"
        return f"{headline} | {tail}" if headline else tail

    # -- deterministic comparisons -------------------------------------------

    def within(self, name, measured, expected, *, rtol=0.0, atol=0.0, source="") -> Check:
        r"""Every entry satisfies :math:`|m - e| \le \mathrm{atol} + \mathrm{rtol}\,|e|`."""
        if rtol < 0 or atol < 0 or (rtol == 0 and atol == 0):
            raise ValueError(f"check {name!r}: give rtol >= 0 and atol >= 0, not both zero")
        m, e = _array(name, measured), _array(name, expected)
        err = np.abs(m - e)
        allowed = atol + rtol * np.abs(e)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(allowed > 0, err / np.where(allowed > 0, allowed, 1.0),
                             np.where(err == 0, 0.0, np.inf))
        score = float(np.max(ratio)) if np.all(np.isfinite(m)) else math.nan
        i = int(np.argmax(ratio)) if ratio.size > 1 else 0
        # the worst entry, a scalar on either side broadcast to the other's shape
        mi, ei = (np.broadcast_to(v, err.shape).ravel()[i] for v in (m, e))
        rel = float(err.ravel()[i] / abs(ei)) if ei else float(err.ravel()[i])
        detail = (f"{_fmt(mi)} vs {_fmt(ei)} (err {rel:.2g}"
                  f"{' rel' if ei else ''}, {score:.2g} of tol)")
        return self._add(name, "within", _plain(m), _plain(e),
                         {"rtol": rtol, "atol": atol, "source": source}, score <= 1, score, detail)

    def at_most(self, name, measured, bound, *, source="") -> Check:
        """``max(measured) <= bound`` (``bound > 0``; the score is max/bound; the
        record keeps the maximum)."""
        m = _array(name, measured)
        if not bound > 0:
            raise ValueError(f"check {name!r}: bound must be > 0, got {bound!r}")
        top = float(np.max(m)) if np.all(np.isfinite(m)) else math.nan
        score = top / bound
        return self._add(name, "at_most", top, f"<= {_fmt(bound)}",
                         {"bound": bound, "n": m.size, "source": source}, top <= bound,
                         max(score, 0.0),
                         f"{_fmt(top)} {'<=' if top <= bound else '>'} {_fmt(bound)}")

    def at_least(self, name, measured, bound, *, source="") -> Check:
        """``min(measured) >= bound`` (``bound > 0``; the score is bound/min; the
        record keeps the minimum)."""
        m = _array(name, measured)
        if not bound > 0:
            raise ValueError(f"check {name!r}: bound must be > 0, got {bound!r}")
        low = float(np.min(m)) if np.all(np.isfinite(m)) else math.nan
        score = bound / low if low > 0 else math.inf
        return self._add(name, "at_least", low, f">= {_fmt(bound)}",
                         {"bound": bound, "n": m.size, "source": source}, low >= bound, score,
                         f"{_fmt(low)} {'>=' if low >= bound else '<'} {_fmt(bound)}")

    def in_range(self, name, measured, low, high, *, log=False, source="") -> Check:
        """Every entry in ``[low, high]``; the score is the distance from the
        centre in units of the half-width (<= 1 inside), measured in log scale with
        ``log=True`` (for ratios, e.g. ``[1/3, 3]``)."""
        if not low < high or (log and not low > 0):
            raise ValueError(f"check {name!r}: need 0 < low < high (log) or low < high, got "
                             f"[{low}, {high}]")
        m = _array(name, measured)
        with np.errstate(divide="ignore", invalid="ignore"):
            t, lo, hi = (np.log(m), math.log(low), math.log(high)) if log else (m, low, high)
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        finite = np.all(np.isfinite(t))
        score = float(np.max(np.abs(t - centre)) / half) if finite else math.nan
        worst = m.ravel()[int(np.argmax(np.abs(t - centre)))] if finite else math.nan
        return self._add(name, "in_range", _plain(m), f"in [{_fmt(low)}, {_fmt(high)}]",
                         {"low": low, "high": high, "log": log, "source": source}, score <= 1,
                         score,
                         f"{_fmt(worst)} in [{_fmt(low)}, {_fmt(high)}]")

    def holds(self, name, condition, statement, *, measured=None, source="") -> Check:
        """A boolean fact (``statement`` says what it is, e.g. ``"rho* < 1"``)."""
        ok = bool(condition)
        return self._add(name, "holds", ok if measured is None else measured, statement,
                         {"source": source}, ok, 0.0 if ok else math.inf,
                         f"{statement}: {'yes' if ok else 'NO'}")

    def symbolic_equal(self, name, measured, expected, *, source="") -> Check:
        """Exact equality of SymPy expressions: ``simplify(measured - expected) == 0``."""
        import sympy as sp

        m, e = sp.sympify(measured), sp.sympify(expected)
        ok = sp.simplify(m - e) == 0
        return self._add(name, "symbolic_equal", str(m), str(e), {"source": source}, ok,
                         0.0 if ok else math.inf, f"{m} {'==' if ok else '!='} {e}")

    # -- statistical comparisons ---------------------------------------------

    def max_abs_z(self, name, z, *, alpha=None, threshold=None, dof=None, source="") -> Check:
        r"""``max |z| <= t`` over the ``n`` z-scores. With ``alpha``,
        :math:`t = \Phi^{-1}(1-\alpha/2n)` (Bonferroni: a true claim FAILs with
        probability <= alpha under any dependence), or the Student-t quantile with ``dof``
        degrees of freedom for t-statistics; with ``threshold`` the union bound
        :math:`n\,P(|Z|>t)` is recorded as the false-alarm bound."""
        zz = _array(name, z).ravel()
        n = zz.size
        if (alpha is None) == (threshold is None):
            raise ValueError(f"check {name!r}: give exactly one of alpha and threshold")
        if alpha is not None:
            t = stats.bonferroni_z_threshold(n, alpha, dof)
            false_alarm = float(alpha)
        else:
            t = float(threshold)
            false_alarm = min(1.0, n * stats.two_sided_normal_tail(t))
        top = float(np.max(np.abs(zz))) if np.all(np.isfinite(zz)) else math.nan
        return self._add(name, "max_abs_z", top, f"<= {t:.3f}",
                         {"threshold": t, "n": n, "dof": dof, "false_alarm_bound": false_alarm,
                          "source": source or "z-scores standard normal under the claim"},
                         top <= t, top / t,
                         f"max|z| {top:.2f} {'<=' if top <= t else '>'} {t:.2f} (n = {n})")

    def chi2_mean(self, name, whitened, *, alpha, source="") -> Check:
        r"""Mean square of ``n`` whitened residuals inside the two-sided
        :math:`1-\alpha` interval of :math:`\chi^2_n/n`: too large means a bias or
        understated noise, too small an overstated noise."""
        w = _array(name, whitened).ravel()
        lo, hi = stats.chi2_mean_interval(w.size, alpha)
        m = float(np.mean(w * w)) if np.all(np.isfinite(w)) else math.nan
        score = (m - 1) / (hi - 1) if m >= 1 else (1 - m) / (1 - lo)
        return self._add(name, "chi2_mean", m, f"in [{lo:.3f}, {hi:.3f}]",
                         {"low": lo, "high": hi, "n": w.size, "false_alarm_bound": alpha,
                          "source": source or "whitened residuals i.i.d. N(0, 1)"},
                         lo <= m <= hi, score, f"mean z^2 {m:.3f} "
                         f"{'in' if lo <= m <= hi else 'outside'} [{lo:.3f}, {hi:.3f}]")

    def slope(self, name, fit: stats.SlopeFit, *, expected, band, source="") -> Check:
        """A fitted log-log slope within ``band`` of ``expected``."""
        if not band > 0:
            raise ValueError(f"check {name!r}: band must be > 0, got {band!r}")
        err = abs(fit.slope - expected)
        return self._add(name, "slope", fit.slope, expected,
                         {"band": band, "slope_se": fit.slope_se, "source": source},
                         err <= band, err / band,
                         f"slope {fit.slope:.3f} vs {expected:g} +- {band:g}")

    def slope_below(self, name, fit: stats.SlopeFit | None, bound, *, z, source="") -> Check:
        """A fitted log-log slope whose one-sided upper bound ``slope + z se`` is below
        ``bound``; ``fit=None`` (no slope could be fitted) FAILs."""
        if fit is None or fit.slope_se is None:
            return self._add(name, "slope_below", None, f"< {bound:g}",
                             {"z": z, "source": source}, False, math.inf,
                             "no slope (an event is missing at some x, or no standard error)")
        if not math.isfinite(fit.slope_se):
            return self._add(name, "slope_below", [fit.slope, fit.slope_se], f"< {bound:g}",
                             {"z": z, "source": source}, False, math.inf,
                             f"slope {fit.slope:.3f} with no finite standard error (a "
                             "bootstrap resample lost the event at some x: more runs)")
        upper = fit.slope + z * fit.slope_se
        return self._add(name, "slope_below", [fit.slope, fit.slope_se], f"< {bound:g}",
                         {"z": z, "source": source}, upper < bound,
                         (upper - bound) / (z * fit.slope_se) + 1 if fit.slope_se > 0 else
                         (0.0 if upper < bound else math.inf),
                         f"slope {fit.slope:.3f} + {z:g} x {fit.slope_se:.3f} = {upper:.3f} "
                         f"< {bound:g}")

    def proportion(self, name, successes, trials, *, above=None, below=None, contains=None,
                   confidence=0.99, method="wilson", source="") -> Check:
        """A success probability from ``successes`` of ``trials``, judged by its
        binomial interval at ``confidence``: ``above=p`` needs the whole interval
        above p, ``below=p`` below p, ``contains=p`` the interval to contain p."""
        given = [v is not None for v in (above, below, contains)]
        if sum(given) != 1:
            raise ValueError(f"check {name!r}: give exactly one of above, below, contains")
        low, high = stats.binomial_interval(successes, trials, confidence=confidence,
                                            method=method)
        p_hat = successes / trials
        if above is not None:
            ok, score, want = low > above, (1 - low) / (1 - above) if above < 1 else math.inf, \
                f"> {above:g}"
        elif below is not None:
            ok, score, want = high < below, high / below if below > 0 else math.inf, \
                f"< {below:g}"
        else:
            half = (p_hat - low) if contains <= p_hat else (high - p_hat)
            ok = low <= contains <= high
            score = abs(p_hat - contains) / half if half > 0 else (0.0 if ok else math.inf)
            want = f"contains {contains:g}"
        return self._add(name, "proportion", p_hat, want,
                         {"successes": int(successes), "trials": int(trials),
                          "interval": [low, high], "confidence": confidence, "method": method,
                          "false_alarm_bound": (1 - confidence) / (1 if contains is not None
                                                                   else 2),
                          "source": source},
                         ok, score,
                         f"{successes}/{trials} = {p_hat:.3f}, {confidence:.0%} "
                         f"{method} [{low:.3f}, {high:.3f}] {want}")
