"""Tests for claim K4 (verify/kernels_k4.py): PASS on the derived values, FAIL on
deliberately wrong ones (wrong critical sigma_w^2, wrong asymptotic constant). The
FAIL runs use erf only (closed-form kernels, fast)."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from verify import kernels_k4 as K

#: one EOC point per activation, erf-only asymptotics for the FAIL tests
FAST = dict(asymptotic_activations=("erf",))


@pytest.fixture(scope="module")
def quick_result():
    return K.compute("quick", seed=0)


def test_quick_passes(quick_result):
    r = quick_result
    assert r.passed, r.summary
    assert r.measured["tanh_w_star"] == "1" and r.measured["erf_w_star"] == "pi/4"
    # the O(eps) correction predicted by SymPy (10/3 eps for tanh) is what is left over
    assert r.tolerance["tanh_xi_c"]["score"] * K.XI_RTOL == pytest.approx(10 / 3 * 0.01,
                                                                           rel=0.1)
    below, above = r.measured["tanh_bifurcation"]
    assert below == 0 and above > 0
    assert r.measured["eoc_curve_error"] <= K.CURVE_TOL
    assert r.figure is not None


def test_wrong_critical_value_fails():
    r = K.compute("quick", w_star={"erf": sp.Rational(4, 5)}, **FAST)
    assert not r.passed
    assert r.tolerance["erf_w_star"]["passed"] is False


def test_wrong_asymptotic_constant_fails():
    r = K.compute("quick", coefficient={"erf": 3 * math.pi / 4}, **FAST)  # factor 2 off
    assert not r.passed
    assert r.tolerance["erf_xi_c"]["score"] * K.XI_RTOL > 0.4


def test_erf_only_passes():
    r = K.compute("quick", **FAST)
    assert r.passed, r.summary


def test_eoc_polyline_breaks_at_skipped_points():
    from theory import fixedpoints as fp

    line = fp.edge_of_chaos_polyline("gelu", [0.0, 0.5, 5.0, 8.0])
    # q* = 0.5 is not where GELU's length map settles at its (sigma_w, sigma_b): gap
    assert line[0] == (2.0, 0.0)
    assert math.isnan(line[1][0])
    assert len(line) == 4


def test_bad_overrides():
    with pytest.raises(ValueError, match="unknown override"):
        K.compute("quick", bogus=1)
    with pytest.raises(ValueError, match="at least three"):
        K.compute("quick", distances=(0.01, 0.02))
    with pytest.raises(ValueError, match="not among the valid"):
        K.compute("quick", asymptotic_activations=("gelu",))
