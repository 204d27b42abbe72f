"""Tests for theory.fixedpoints (and the fixedpoint CLI module)."""

from __future__ import annotations

import argparse
import io
import math

import mpmath
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import dual
from theory import fixedpoints as fp
from theory.arithmetic import Arithmetic

SQRT2 = math.sqrt(2)


# --- known values ----------------------------------------------------------

def test_relu_length_map_and_norm_preserving_sigma():
    # E[relu(sqrt(q) z)^2] = q/2 (Cho & Saul), so L(q) = sw^2 q/2 + sb^2
    assert fp.length_map("relu", 3.0, sigma_w=1.2, sigma_b=0.5) == pytest.approx(
        1.44 * 1.5 + 0.25, rel=1e-14)
    assert fp.norm_preserving_sigma("relu", 1.0) == pytest.approx(SQRT2, rel=1e-15)


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e3))
def test_norm_preserving_sigma_is_q_independent_for_homogeneous(q):
    assert fp.norm_preserving_sigma("relu", q) == pytest.approx(SQRT2, rel=1e-13)
    assert fp.norm_preserving_sigma("abs", q) == pytest.approx(1.0, rel=1e-13)


@pytest.mark.parametrize("name", ["gelu", "elu"])
@pytest.mark.parametrize("qv", [0.25, 1.0, 4.0])
def test_norm_preserving_sigma_makes_q_a_fixed_point(name, qv):
    sw = fp.norm_preserving_sigma(name, qv)
    assert fp.length_map(name, qv, sigma_w=sw, sigma_b=0) == pytest.approx(qv, rel=1e-13)


def test_issue_reference_slopes():
    # issue 5: GELU's norm-preserving q = 1 has length-map slope about 1.14 (unstable),
    # ELU's is stable; C'(rho*) is 0.93-0.98 for both
    for name, unstable in (("gelu", True), ("elu", False)):
        sw = fp.norm_preserving_sigma(name, 1.0)
        slope = fp.length_map_slope(name, 1.0, sigma_w=sw)
        assert (slope > 1) is unstable
        rho = fp.correlation_fixed_point(name, sigma_w=sw, sigma_b=0, q=1.0)
        c = fp.correlation_map_slope(name, rho, sigma_w=sw, sigma_b=0, q=1.0)
        assert 0 < rho < 1 and 0.93 <= c <= 0.98
        assert fp.chi1(name, sigma_w=sw, sigma_b=0, q=1.0) > 1
    assert fp.length_map_slope("gelu", 1.0, sigma_w=fp.norm_preserving_sigma("gelu")) == \
        pytest.approx(1.14, abs=0.01)


@pytest.mark.parametrize("name,w_star", [("tanh", 1), ("erf", sp.pi / 4), ("relu", 2),
                                         ("gelu", 4), ("elu", 1)])
def test_edge_of_chaos_at_zero_bias(name, w_star):
    assert fp.critical_weight_variance(name) == w_star
    assert fp.edge_of_chaos(name, sigma_b=0) ** 2 == pytest.approx(float(w_star), rel=1e-14)


def test_edge_of_chaos_point_has_chi1_one():
    for name in ("tanh", "erf", "elu"):
        sw = fp.edge_of_chaos(name, sigma_b=0.3)
        assert fp.chi1(name, sigma_w=sw, sigma_b=0.3) == pytest.approx(1.0, abs=1e-10)
        assert fp.chi1(name, sigma_w=1.02 * sw, sigma_b=0.3) > 1
        assert fp.chi1(name, sigma_w=0.98 * sw, sigma_b=0.3) < 1


def test_edge_of_chaos_errors():
    with pytest.raises(ValueError, match="no edge of chaos"):
        fp.edge_of_chaos("relu", sigma_b=0.1)  # ReLU's only EOC point is sigma_b = 0
    with pytest.raises(ValueError, match="no derivative kernel"):
        fp.edge_of_chaos("step", sigma_b=0.1)


# --- roots and which root ---------------------------------------------------

def test_length_fixed_point_roots():
    q = fp.length_fixed_point("tanh", sigma_w=1.5, sigma_b=0.3)
    assert fp.length_map("tanh", q, sigma_w=1.5, sigma_b=0.3) == pytest.approx(q, rel=1e-13)
    # sigma_b = 0: q* = 0 in the ordered phase, the positive root in the chaotic one
    assert fp.length_fixed_point("tanh", sigma_w=0.9, sigma_b=0) == 0.0
    assert fp.length_fixed_point("tanh", sigma_w=1.2, sigma_b=0) > 0
    # GELU at its norm-preserving sigma*: the smallest positive root is q = 1 (unstable)
    sw = fp.norm_preserving_sigma("gelu", 1.0)
    assert fp.length_fixed_point("gelu", sigma_w=sw, sigma_b=0) == pytest.approx(1.0, rel=1e-12)


def test_length_fixed_point_errors():
    with pytest.raises(ValueError, match="no fixed point"):
        fp.length_fixed_point("relu", sigma_w=1.5, sigma_b=0)
    with pytest.raises(ValueError, match="no fixed point"):
        fp.length_fixed_point("relu", sigma_w=1.5, sigma_b=0.1)
    with pytest.raises(ValueError, match="every q > 0 is a fixed point"):
        fp.length_fixed_point("relu", sigma_w=SQRT2, sigma_b=0)
    with pytest.raises(ValueError, match="sigma_w must be >= 0"):
        fp.length_fixed_point("tanh", sigma_w=-1, sigma_b=0)
    with pytest.raises(ValueError, match="rho must lie in"):
        fp.correlation_map("tanh", 1.5, sigma_w=1, sigma_b=0.1)
    with pytest.raises(ValueError, match="dps must be a positive integer"):
        fp.chi1("tanh", sigma_w=1, sigma_b=0.1, dps=0)
    with pytest.raises(ValueError, match="q must be >= 0"):
        fp.chi1("tanh", sigma_w=1, sigma_b=0.1, q=-1)
    with pytest.raises(ValueError, match="unknown activation"):
        fp.chi1("nope", sigma_w=1, sigma_b=0.1)


def test_relu_critical_correlation_fixed_point_is_one():
    # every q is a fixed point, the correlation map does not depend on q: rho* = 1
    assert fp.correlation_fixed_point("relu", sigma_w=SQRT2, sigma_b=0) == 1.0
    assert fp.chi1("relu", sigma_w=SQRT2, sigma_b=0, q=1.0) == pytest.approx(1.0, rel=1e-15)


def test_ordered_phase_limits():
    # tanh, sigma_b = 0, sigma_w < 1: q* = 0 and chi_q = chi_c = chi1(0) = sigma_w^2
    scales = fp.depth_scales("tanh", sigma_w=0.9, sigma_b=0)
    xi_q, xi_c = scales
    assert scales.q_star == 0.0 and scales.rho_star is None
    assert scales.chi_q == pytest.approx(0.81) and scales.chi_c == pytest.approx(0.81)
    assert xi_q == xi_c == pytest.approx(-1 / math.log(0.81))
    # at q = 0 a smooth activation acts linearly: every rho is fixed
    with pytest.raises(ValueError, match="every rho is a fixed point"):
        fp.correlation_fixed_point("tanh", sigma_w=0.9, sigma_b=0)
    # leaky ReLU keeps its kink at q = 0: the tangent map (arc-cosine) has rho* = 1
    assert fp.correlation_fixed_point("leaky_relu", sigma_w=1.0, sigma_b=0, q=0) == 1.0
    assert fp.correlation_map("identity", 0.3, sigma_w=0.5, sigma_b=0, q=0) == \
        pytest.approx(0.3, rel=1e-14)


# --- consistency -------------------------------------------------------------

@pytest.mark.parametrize("name", ["gelu", "elu", "tanh", "erf"])
def test_chi1_is_slope_at_one_and_map_is_normalized(name):
    sw, sb = 1.3, 0.2
    q = fp.length_fixed_point(name, sigma_w=sw, sigma_b=sb)
    assert fp.correlation_map(name, 1.0, sigma_w=sw, sigma_b=sb) == pytest.approx(1, rel=1e-14)
    chi = fp.chi1(name, sigma_w=sw, sigma_b=sb)
    assert fp.correlation_map_slope(name, 1.0, sigma_w=sw, sigma_b=sb) == pytest.approx(
        chi, rel=1e-12)
    # slope by a centred difference (h = 1e-4: truncation O(h^2 C''') ~ 1e-8)
    h = 1e-4
    diff = (fp.correlation_map(name, 0.5 + h, sigma_w=sw, sigma_b=sb)
            - fp.correlation_map(name, 0.5 - h, sigma_w=sw, sigma_b=sb)) / (2 * h)
    assert fp.correlation_map_slope(name, 0.5, sigma_w=sw, sigma_b=sb) == pytest.approx(
        diff, rel=1e-6)
    # at q* the map is (sw^2 k + sb^2)/q* with the registry/dual kernel
    k = dual.dual_kernel(name, q, 0.5 * q, q) if name != "tanh" else None
    if k is not None:
        assert fp.correlation_map(name, 0.5, sigma_w=sw, sigma_b=sb) == pytest.approx(
            (sw**2 * k + sb**2) / q, rel=1e-12)


@pytest.mark.parametrize("rho", [-0.7, 0.3, 0.95])
def test_fast_elu_and_tanh_paths_match_theory_dual(rho):
    from theory.activations import get

    floats, mp30 = Arithmetic(None), Arithmetic(30)
    for name in ("elu",):
        act = get(name, alpha=0.5)
        with floats.guard():
            value = fp._pair(floats, act, mpmath.mpf(2), mpmath.mpf(rho))
            deriv = fp._pair(floats, act, mpmath.mpf(2), mpmath.mpf(rho), derivative=True)
        assert float(value) == pytest.approx(dual.dual_kernel(act, 2, 2 * rho, 2), rel=1e-12)
        assert float(deriv) == pytest.approx(
            dual.dual_kernel(act, 2, 2 * rho, 2, derivative=True), rel=1e-12)
        with mp30.guard():
            value30 = fp._pair(mp30, act, mpmath.mpf(2), mpmath.mpf(rho))
        assert abs(value30 - dual.dual_kernel(act, 2, 2 * rho, 2, dps=30)) < 1e-28
    # tanh: trapezoid vs the E[s(u)s(v)] series of the Hermite coefficients is slow; compare
    # with the nested quadrature of theory.dual at one point
    with floats.guard():
        trap = fp._pair(floats, get("tanh"), mpmath.mpf(1), mpmath.mpf(rho))
    if rho == 0.3:
        assert float(trap) == pytest.approx(dual.dual_kernel("tanh", 1, 0.3, 1), rel=1e-12)


def test_iterations():
    sw = fp.norm_preserving_sigma("gelu")
    rhos = fp.iterate_correlation("gelu", 0.0, 5, sigma_w=sw, sigma_b=0, q=1.0)
    assert len(rhos) == 6 and rhos[0] == 0.0
    assert rhos[1] == pytest.approx(fp.correlation_map("gelu", 0.0, sigma_w=sw, sigma_b=0,
                                                       q=1.0))
    joint = fp.joint_recursion("elu", 2.0, 0.1, 3, sigma_w=1.2, sigma_b=0.1)
    assert joint[1][0] == pytest.approx(fp.length_map("elu", 2.0, sigma_w=1.2, sigma_b=0.1))
    assert joint[1][1] == pytest.approx(fp.correlation_map("elu", 0.1, sigma_w=1.2,
                                                           sigma_b=0.1, q=2.0))
    with pytest.raises(ValueError, match="depth"):
        fp.iterate_correlation("gelu", 0.0, -1, sigma_w=1, sigma_b=0, q=1.0)


@settings(max_examples=10, deadline=None)
@given(st.floats(min_value=0.8, max_value=2.5), st.floats(min_value=0.05, max_value=1.0))
def test_correlation_map_increasing_on_unit_interval(sw, sb):
    # erf is increasing, so E[s'(u)s'(v)] > 0 and C' = sw^2 q E[s's']/L(q) > 0 (Price)
    values = [fp.correlation_map("erf", r / 4, sigma_w=sw, sigma_b=sb) for r in range(5)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] == pytest.approx(1.0, rel=1e-14)


# --- precision ---------------------------------------------------------------

def _gelu_quantities(dps):
    sw = fp.norm_preserving_sigma("gelu", 4, dps=dps)
    q_star = fp.length_fixed_point("gelu", sigma_w=1.5, sigma_b=0.1, dps=dps)
    rho = fp.correlation_fixed_point("gelu", sigma_w=sw, sigma_b=0, q=4, dps=dps)
    return [sw, q_star, rho, fp.chi1("gelu", sigma_w=1.5, sigma_b=0.1, dps=dps)]


def test_precision_scales_with_working_precision():
    reference = _gelu_quantities(80)
    floats = _gelu_quantities(None)
    assert all(isinstance(v, float) for v in floats)
    for f, r in zip(floats, reference, strict=True):
        assert abs(f - r) <= 1e-13 * max(1, abs(r))
    # agreement with dps=80 improves with the working precision: |x_d - x_80| <= 10^(2-d)
    for dps in (25, 50):
        values = _gelu_quantities(dps)
        assert all(isinstance(v, mpmath.mpf) for v in values)
        for v, r in zip(values, reference, strict=True):
            with mpmath.workdps(90):
                assert abs(v - r) <= mpmath.mpf(10) ** (2 - dps) * max(1, abs(r))


# --- symbolic asymptotics and LaTeX -------------------------------------------

def test_eoc_depth_asymptotics():
    tanh = fp.eoc_depth_asymptotics("tanh")
    assert tanh["w_star"] == 1
    assert tanh["xi_c_epsilon_coefficient"] == sp.Rational(3, 2)
    d = tanh["delta"]
    assert sp.expand(tanh["q_star"]).coeff(d, 1) == sp.Rational(1, 2)
    erf = fp.eoc_depth_asymptotics("erf")
    assert sp.simplify(erf["xi_c_epsilon_coefficient"] - 3 * sp.pi / 8) == 0
    with pytest.raises(ValueError, match="not odd"):
        fp.eoc_depth_asymptotics("gelu")


def test_map_expressions():
    # the SymPy maps behind theory.latex.length_map_latex / correlation_map_latex
    from theory.symbols import q, sigma_b, sigma_w

    assert sp.simplify(fp.length_map_expression("relu") - (sigma_w**2 * q / 2 + sigma_b**2)) == 0
    rho, qs = fp.rho_symbol, fp.q_star_symbol
    erf = fp.correlation_map_expression("erf")
    expected = (sigma_w**2 * 2 / sp.pi * sp.asin(2 * rho * qs / (1 + 2 * qs)) + sigma_b**2) / qs
    assert sp.simplify(erf - expected) == 0
    assert fp.length_map_expression("tanh") is None
    assert fp.correlation_map_expression("tanh") is None


# --- CLI ----------------------------------------------------------------------

def _cli(argv):
    from verify import fixedpoint_cli

    parser = fixedpoint_cli.add_arguments(argparse.ArgumentParser())
    out, err = io.StringIO(), io.StringIO()
    code = fixedpoint_cli.main(parser.parse_args(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_point_and_norm_preserving():
    code, out, _ = _cli(["gelu", "--sigma-w", "1.5", "--sigma-b", "0"])
    assert code == 0 and "q*" in out and "xi_c" in out and "1.4017789599610" in out
    code, out, _ = _cli(["gelu", "--norm-preserving"])
    assert code == 0 and "1.53353044119554" in out and "unstable" in out
    code, out, _ = _cli(["elu", "--norm-preserving", "--param", "alpha=1", "--q", "4"])
    assert code == 0 and "a stable fixed point" in out
    code, out, _ = _cli(["gelu", "--sigma-w", "1.5", "--sigma-b", "0.1", "--dps", "30"])
    assert code == 0 and "30 digits" in out


def test_cli_errors():
    code, _, err = _cli(["relu", "--sigma-w", "1.5"])
    assert code == 2 and "no fixed point" in err
    code, _, err = _cli(["elu", "--param", "beta=1", "--sigma-w", "1"])
    assert code == 2 and "unknown parameter" in err
    code, _, err = _cli(["gelu"])
    assert code == 2 and "--sigma-w is required" in err
