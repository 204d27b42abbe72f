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
    # after the SymPy corrections to eps^2 the residual is O(eps^3): within half the eps^2
    # term (c2 = -44/45 for tanh) at every distance
    assert r.tolerance["tanh_xi_c"]["rtol"] == pytest.approx(0.5 * 44 / 45 * 0.01**2)
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
    # the smallest error meant to be caught: the constant 0.1% off
    r = K.compute("quick", coefficient={"erf": 1.001 * 3 * math.pi / 8}, **FAST)
    assert not r.passed and r.tolerance["erf_xi_c"]["score"] > 5


def test_five_percent_error_in_the_derivative_expectation_fails():
    """An edge-of-chaos curve computed with E[s'^2] 5% too large (sigma_w smaller by
    sqrt(1.05), sigma_b from the length map) moves ELU's edge by ~10% in sigma_b; the
    independent quadrature route sees chi1 = 1/1.05."""
    from numerics.quadrature import gaussian_diagonal
    from theory import fixedpoints as fp

    def wrong_curve(name, q_values):
        out = []
        for q, sw, _ in fp.edge_of_chaos_curve(name, q_values):
            sw = sw / math.sqrt(1.05)
            out.append((q, sw, math.sqrt(max(q - sw**2 * gaussian_diagonal(name, q), 0.0))))
        return out

    r = K.compute("quick", edge_of_chaos_curve=wrong_curve, **FAST)
    assert not r.passed
    assert r.measured["eoc_curve_error"] == pytest.approx(1 - 1 / 1.05, rel=1e-3)


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
