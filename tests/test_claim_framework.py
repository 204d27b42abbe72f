"""verify.claim and verify.checks: the claim framework's bookkeeping and verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from numerics import stats
from verify.checks import Checks
from verify.claim import ClaimResult, Override, claim

# -- checks ---------------------------------------------------------------------


def test_within_scores_and_fails_at_the_tolerance():
    c = Checks()
    ok = c.within("a", [1.0, 2.0], [1.0, 2.01], rtol=0.01)
    assert ok.passed and ok.score == pytest.approx(0.01 / (0.01 * 2.01))
    bad = c.within("b", 1.02, 1.0, rtol=0.01)  # a 2% error against a 1% tolerance
    assert not bad.passed and bad.score == pytest.approx(2.0)
    assert not c.passed and c.worst.name == "b"
    assert "b:" in c.summary("headline") and c.summary("headline").startswith("headline | 1 of 2")
    nan = c.within("nan", math.nan, 1.0, rtol=0.5)
    assert not nan.passed and nan.score == math.inf
    with pytest.raises(ValueError, match="twice"):
        c.within("a", 1.0, 1.0, rtol=0.1)
    with pytest.raises(ValueError, match="rtol"):
        c.within("z", 1.0, 1.0)
    # an array against one expected value: the worst entry is named, wherever it is
    spread = c.within("spread", [0.60, 0.53, 0.62], 0.594, rtol=0.15)
    assert spread.passed and spread.detail.startswith("0.53 vs 0.594")


def test_bounds_ranges_facts_and_symbols():
    c = Checks()
    assert c.at_most("m", [0.5, 0.9], 1.0).passed
    assert not c.at_most("m2", 1.01, 1.0).passed
    assert c.at_least("l", 2.0, 1.0).score == pytest.approx(0.5)
    assert not c.in_range("r", 3.5, 1 / 3, 3).passed
    assert c.in_range("r2", 1.0, 0.5, 1.5).score == pytest.approx(0.0)
    assert not c.holds("h", False, "rho* < 1").passed
    assert c.symbolic_equal("s", sp.pi / 4, sp.atan(1)).passed
    assert not c.symbolic_equal("s2", sp.Rational(4, 5), sp.pi / 4).passed
    measured, expected, tolerance = c.record()
    assert set(measured) == set(expected) == set(tolerance) == {c_.name for c_ in c}
    assert tolerance["m2"]["passed"] is False and tolerance["h"]["score"] == "inf"


def test_statistical_checks():
    c = Checks()
    z = np.array([0.3, -2.0, 1.1])
    check = c.max_abs_z("z", z, alpha=0.01)
    t = stats.bonferroni_z_threshold(3, 0.01)
    assert check.tolerance["threshold"] == t and check.score == pytest.approx(2.0 / t)
    fixed = c.max_abs_z("z4", z, threshold=4.0)
    assert fixed.tolerance["false_alarm_bound"] == pytest.approx(3 * math.erfc(4 / 2**0.5))
    rng = np.random.default_rng(0)
    assert c.chi2_mean("chi", rng.standard_normal(500), alpha=1e-3).passed
    # a 20% overstated noise (residuals 1/1.2 too small) is caught with n = 5000
    assert not c.chi2_mean("chi_small", rng.standard_normal(5000) / 1.2, alpha=1e-3).passed
    fit = stats.loglog_slope([1, 2, 4], [1, 2**-0.45, 4**-0.45])
    assert c.slope("s", fit, expected=-0.5, band=0.1).passed
    assert not c.slope("s2", fit, expected=-0.5, band=0.04).passed
    assert c.proportion("p", 95, 100, above=0.8).passed
    assert not c.proportion("p2", 85, 100, above=0.8).passed  # 99% Wilson low ~0.74
    assert c.proportion("p3", 2, 100, below=0.1).passed
    assert c.proportion("p4", 48, 100, contains=0.5).passed
    with pytest.raises(ValueError, match="exactly one"):
        c.proportion("p5", 1, 2)


# -- the claim decorator --------------------------------------------------------

@claim(sizes={"quick": {"samples": 20_000, "widths": (1, 2)},
              "full": {"samples": 200_000, "widths": (1, 2, 4)}},
       overrides={"scale": Override(float, "multiplies the estimate (a wrong value must FAIL)",
                                    default=1.0, positive=True),
                  "label": Override(str, "a label", choices=("a", "b"))})
def toy(run):
    """E[Z^2] = 1 by Monte Carlo, judged by a z-score at 4 standard errors."""
    z2 = run.rng(0).standard_normal(run.samples) ** 2 * run.options["scale"]
    mean, se = z2.mean(), z2.std(ddof=1) / math.sqrt(z2.size)
    run.checks.max_abs_z("second_moment", (mean - 1) / se, threshold=4.0)
    run.note("mean", mean)
    return f"E[Z^2] = {mean:.4f} vs 1"


def test_toy_claim_passes_and_records_everything():
    r = toy("quick", seed=3)
    assert isinstance(r, ClaimResult) and r.passed, r.summary
    assert r.params["samples"] == 20_000 and r.params["widths"] == [1, 2]
    assert r.params["seed"] == 3 and r.params["overridden"] == {}
    assert "mean" in r.measured and "second_moment" in r.expected
    assert r.summary.startswith("E[Z^2]") and "second_moment" in r.summary


def test_toy_claim_fails_at_the_error_it_should_catch():
    # SE of the mean of Z^2 is sqrt(2/n) = 0.0032 at the full size: a 2% error is 6 SE
    assert not toy("full", seed=3, scale=1.02).passed
    r = toy("full", seed=3, scale=1.02, samples=200)  # too few samples: honestly PASSes
    assert r.passed and r.params["samples"] == 200
    assert r.params["overridden"] == {"samples": 200, "scale": 1.02}


def test_overrides_are_validated():
    with pytest.raises(ValueError, match=r"unknown override\(s\) \['sample'\]; valid: label"):
        toy("quick", sample=3)
    with pytest.raises(ValueError, match="'samples' must be an integer"):
        toy("quick", samples=2.5)
    with pytest.raises(ValueError, match="'samples' must be >= 1"):
        toy("quick", samples=0)
    with pytest.raises(ValueError, match="'scale' must be > 0"):
        toy("quick", scale=-1.0)
    with pytest.raises(ValueError, match="not among the valid"):
        toy("quick", label="c")
    with pytest.raises(ValueError, match="'widths' must be a list or tuple"):
        toy("quick", widths=3)
    with pytest.raises(ValueError, match="mode"):
        toy("medium")
    with pytest.raises(ValueError, match="seed"):
        toy("quick", seed=-1)


def test_seeds_by_position_match_spawn():
    seen = {}

    @claim(sizes={"quick": {"n": 1}, "full": {"n": 1}})
    def probe(run):
        seen["a"] = run.rng(2).standard_normal(3)
        seen["b"] = run.rng(1, 4).standard_normal(3)
        run.checks.holds("ok", True, "always")

    probe("quick", seed=11)
    root = np.random.SeedSequence(11)
    np.testing.assert_array_equal(seen["a"],
                                  np.random.default_rng(root.spawn(3)[2]).standard_normal(3))
    child = np.random.SeedSequence(11).spawn(2)[1]
    np.testing.assert_array_equal(seen["b"],
                                  np.random.default_rng(child.spawn(5)[4]).standard_normal(3))


def test_declaration_errors():
    with pytest.raises(ValueError, match="exactly the modes"):
        claim(sizes={"quick": {}})
    with pytest.raises(ValueError, match="same keys"):
        claim(sizes={"quick": {"a": 1}, "full": {"b": 1}})
    with pytest.raises(ValueError, match="repeat size names"):
        claim(sizes={"quick": {"a": 1}, "full": {"a": 2}}, overrides={"a": Override(int, "x")})

    @claim(sizes={"quick": {"n": 1}, "full": {"n": 1}})
    def empty(run):
        return "nothing checked"

    assert not empty("quick").passed  # a claim with no checks never PASSes


def test_slope_below_uses_the_one_sided_upper_bound_and_fails_without_a_fit():
    checks = Checks()
    fit = stats.SlopeFit(-0.5, 0.0, 0.2, (1, 2), (1, 0.7))
    assert checks.slope_below("falls", fit, 0.0, z=1.645).passed  # -0.5 + 0.33 < 0
    assert not checks.slope_below("too_noisy", fit, -0.2, z=1.645).passed  # -0.17 > -0.2
    assert not checks.slope_below("no_fit", None, 0.0, z=1.645).passed
    no_se = stats.SlopeFit(-0.5, 0.0, None, (1, 2), (1, 0.7))
    assert not checks.slope_below("no_se", no_se, 0.0, z=1.645).passed
    lost = checks.slope_below("lost", stats.SlopeFit(-0.5, 0.0, math.inf, (1, 2), (1, 0.7)),
                              0.0, z=1.645)
    assert not lost.passed and lost.score == math.inf and "finite" in lost.detail
