
"""Closed forms vs the quadrature engine; bad input; NNGP/NTK recursions.

Tolerances: the quadrature engine's float path accepts a result when its predicted
error is <= 1e-15 relative to E|s(u)s(v)| (see theory/dual.py), and the closed forms are
evaluated in mpmath at 25 digits, so closed form and quadrature must agree to well below
rtol 1e-10, the figure K1 asks for; 1e-10 leaves 4-5 orders of margin for rounding in
the float sums (about 1e-15 times the number of nodes' worth of cancellation).
"""

import math
import time
from fractions import Fraction

import mpmath
import pytest
import sympy as sp

from theory import activations as A
from theory import recursions as R
from theory.dual import (
    QuadratureError,
    dual_diagonal,
    dual_kernel,
    expectation,
    quadrature_dual_kernel,
)

RTOL = 1e-10
#: exact decimals (Fractions are exact; strings are not numbers, see theory.arithmetic)
EXACT_POINT = (Fraction("0.8"), Fraction("-0.35"), Fraction("1.7"))

CLOSED = [a for a in A.builtin_examples() if a.dual is not None] + [
    A.get("elu", alpha=0), A.get("elu", alpha=2.5), A.get("leaky_relu", a=-0.3),
]

#: (q11, q12, q22): generic, negative rho with unequal variances, small variances,
#: large variances with rho near -1, rho near +1
POINTS = [
    (1.0, 0.3, 1.0),
    (0.5, -0.4, 2.0),
    (0.04, 0.035, 0.05),
    (9.0, -8.99995, 9.0),
    (1.0, 0.999999, 1.0),
]


def _scale(act, q11, q22, derivative):
    # Cauchy-Schwarz: |k| <= sqrt(E s(u)^2 E s(v)^2); the error scale for near-zero kernels
    return math.sqrt(dual_diagonal(act, q11, derivative=derivative)
                     * dual_diagonal(act, q22, derivative=derivative))


@pytest.mark.parametrize("act", CLOSED, ids=[a.label for a in CLOSED])
def test_closed_form_equals_quadrature(act):
    for point in POINTS:
        for derivative in ([False, True] if act.has_ntk else [False]):
            closed = dual_kernel(act, *point, derivative=derivative)
            quad = quadrature_dual_kernel(act, *point, derivative=derivative)
            scale = _scale(act, point[0], point[2], derivative)
            assert abs(closed - quad) <= RTOL * max(abs(closed), 1e-3 * scale), (point,
                                                                                  derivative)


@pytest.mark.parametrize("act", [pytest.param(A.get("erf"), marks=pytest.mark.slow),
                                 A.get("sin")], ids=["erf", "sin"])
def test_quadrature_high_precision_smooth(act):
    # the mpmath path is accurate to dps digits (2 guard digits inside): 1e-18 at dps 20
    with mpmath.workdps(20):
        closed = dual_kernel(act, *EXACT_POINT, dps=20)
        quad = quadrature_dual_kernel(act, *EXACT_POINT, dps=20)
        assert abs(closed - quad) <= mpmath.mpf(10) ** -18 * abs(closed)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["relu", "elu", "gelu"])
def test_quadrature_high_precision_kinked(name):
    with mpmath.workdps(20):
        closed = dual_kernel(name, *EXACT_POINT, dps=20, derivative=True)
        quad = quadrature_dual_kernel(name, *EXACT_POINT, dps=20, derivative=True)
        assert abs(closed - quad) <= mpmath.mpf(10) ** -18 * abs(closed)


def test_tanh_fast_and_accurate_at_double_precision():
    start = time.perf_counter()
    value = dual_kernel("tanh", 1.0, 0.3, 1.0)
    derivative = dual_kernel("tanh", 1.0, 0.3, 1.0, derivative=True)
    elapsed = time.perf_counter() - start
    reference = dual_kernel("tanh", 1, Fraction("0.3"), 1, dps=18)
    reference_d = dual_kernel("tanh", 1, Fraction("0.3"), 1, dps=18, derivative=True)
    assert abs(value - float(reference)) < 1e-14
    assert abs(derivative - float(reference_d)) < 1e-14
    # REPL use: well under a second for both (typically ~0.05 s on one core)
    assert elapsed < 1.0


def test_tanh_large_variance_and_odd_symmetry():
    # tanh is odd: k(q11, -q12, q22) = -k(q11, q12, q22), exactly in exact arithmetic
    a = dual_kernel("tanh", 25.0, 10.0, 16.0)
    b = dual_kernel("tanh", 25.0, -10.0, 16.0)
    assert abs(a + b) < 1e-13


def test_user_kinked_activation_matches_relu():
    name = "relu_as_max_test"
    if name in A.names():
        A.unregister(name)
    act = A.register(name, "Max(x, 0)")
    try:
        assert act.kinks == (0,)
        for point in [(1.0, 0.3, 1.5), (2.0, -1.9, 2.0)]:
            for derivative in (False, True):
                assert math.isclose(dual_kernel(act, *point, derivative=derivative),
                                    dual_kernel("relu", *point, derivative=derivative),
                                    rel_tol=RTOL)
    finally:
        A.unregister(name)


def test_hardtanh_kinks_located():
    name = "hardtanh_test"
    if name in A.names():
        A.unregister(name)
    act = A.register(name, "Min(Max(x, -1), 1)")
    try:
        assert act.kinks == (-1, 1)
        # at rho = 0 the kernel factorises: E[hardtanh(u)] = 0 by oddness
        assert abs(dual_kernel(act, 1.0, 0.0, 2.0)) < 1e-15
        # diagonal: E[min(u^2,1)] for u ~ N(0,1) = 1 - 2(1 - Phi(1)) + E[u^2 1{|u|<1}]
        # with E[u^2 1{|u|<1}] = (2 Phi(1) - 1) - 2 phi(1)
        phi1 = math.exp(-0.5) / math.sqrt(2 * math.pi)
        Phi1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
        expected = 2 * (1 - Phi1) + (2 * Phi1 - 1) - 2 * phi1
        assert math.isclose(dual_diagonal(act, 1.0), expected, rel_tol=1e-13)
    finally:
        A.unregister(name)


def test_expectation_helper():
    # E[u^4] = 3 q^2
    assert math.isclose(expectation(lambda u: u**4, variance=2.0), 12.0, rel_tol=1e-13)
    with mpmath.workdps(30):
        value = expectation(lambda u: abs(u), variance=1, kinks=(0,), dps=30)
        assert abs(value - mpmath.sqrt(2 / mpmath.pi)) < mpmath.mpf(10) ** -29


def test_quadrature_error_is_raised_not_swallowed():
    # an integrand with a jump that the caller does not declare as a kink cannot
    # converge on the smooth path: the engine says so
    with pytest.raises(QuadratureError, match="did not converge"):
        expectation(lambda u: 1.0 if u > 0.1234567 else 0.0, variance=1.0)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "args, match",
    [
        ((1.0, 1.5, 1.0), "not positive semi-definite"),
        ((1.0, -1.0001, 1.0), "not positive semi-definite"),
        ((-1.0, 0.0, 1.0), "q11"),
        ((1.0, 0.0, -0.5), "q22"),
        ((float("nan"), 0.0, 1.0), "q11"),
        ((1.0, float("inf"), 1.0), "q12"),
        (("abc", 0.0, 1.0), "q11"),
    ],
)
def test_bad_covariance(args, match):
    with pytest.raises(ValueError, match=match):
        dual_kernel("relu", *args)


def test_rounding_beyond_rho_one_is_accepted():
    # q12 = sqrt(q11 q22) (1 + 1e-15): rounding of the caller's float arithmetic
    q12 = math.sqrt(2.0 * 3.0) * (1 + 1e-15)
    assert math.isclose(dual_kernel("relu", 2.0, q12, 3.0),
                        dual_kernel("relu", 2.0, math.sqrt(6.0), 3.0), rel_tol=1e-12)


@pytest.mark.parametrize("dps", [0, -3, 2.5, True, "20"])
def test_bad_dps(dps):
    with pytest.raises(ValueError, match="dps"):
        dual_kernel("relu", 1.0, 0.2, 1.0, dps=dps)


def test_bad_diagonal_variance():
    with pytest.raises(ValueError, match="q"):
        dual_diagonal("erf", -1.0)


def test_step_has_no_ntk():
    with pytest.raises(ValueError, match="no derivative kernel"):
        dual_kernel("step", 1.0, 0.2, 1.0, derivative=True)


# ---------------------------------------------------------------------------
# recursions
# ---------------------------------------------------------------------------

X1, X2 = [1.0, 0.0, 0.5], [0.6, 0.8, -0.2]
SW, SB = 1.5, 0.1


def test_one_hidden_layer_by_hand():
    # hidden_layers=1 = Dense-act-Dense: Sigma1 = sw^2 <x,x'>/d + sb^2,
    # readout Sigma2 = sw^2 k(Sigma1) + sb^2, Theta2 = Sigma2 + sw^2 kdot(Sigma1) Sigma1
    d = len(X1)
    s11 = SW**2 * sum(a * a for a in X1) / d + SB**2
    s22 = SW**2 * sum(b * b for b in X2) / d + SB**2
    s12 = SW**2 * sum(a * b for a, b in zip(X1, X2, strict=True)) / d + SB**2
    k = dual_kernel("relu", s11, s12, s22)
    kd = dual_kernel("relu", s11, s12, s22, derivative=True)
    sigma2 = SW**2 * k + SB**2
    theta2 = sigma2 + SW**2 * kd * s12
    S = R.nngp_entries("relu", X1, X2, 1, SW, SB)
    assert math.isclose(S[1], sigma2, rel_tol=1e-14)
    assert math.isclose(S[0], SW**2 * s11 / 2 + SB**2, rel_tol=1e-14)  # E relu^2 = q/2
    assert math.isclose(R.ntk_entries("relu", X1, X2, 1, SW, SB), theta2, rel_tol=1e-14)


@pytest.mark.parametrize("name, L", [("relu", 2), ("erf", 2), ("gelu", 1)])
def test_symbolic_recursion_equals_numeric(name, L):
    vals = {R.sigma_w: sp.Rational(3, 2), R.sigma_b: sp.Rational(1, 10), R.d: 3,
            R.x11: sp.Rational(5, 4), R.x12: sp.Rational(1, 2), R.x22: sp.Rational(26, 25)}
    F = Fraction  # exact decimals
    x1, x2 = [F(1), F(0), F("0.5")], [F("0.6"), F("0.8"), F("-0.2")]  # Gram 5/4, 1/2, 26/25
    with mpmath.workdps(25):
        S = R.nngp_depth(name, L, substitute=True)
        T = R.ntk_depth(name, L, substitute=True)
        num_S = R.nngp_entries(name, x1, x2, L, F("1.5"), F("0.1"), dps=25)
        num_T = R.ntk_entries(name, x1, x2, L, F("1.5"), F("0.1"), dps=25)
        for sym, num in zip(S, num_S, strict=True):
            assert abs(mpmath.mpf(sp.N(sym.subs(vals), 30)) - num) < mpmath.mpf(10) ** -22
        assert abs(mpmath.mpf(sp.N(T.subs(vals), 30)) - num_T) < mpmath.mpf(10) ** -22


def test_nested_functions_for_deep_or_quadrature_recursions():
    T = R.ntk_depth("tanh", 3)
    assert T.has(R.DualKernel) and T.has(R.DualDerivativeKernel)
    S = R.nngp_depth("relu", 4)
    assert S[1].has(R.DualKernel)  # default: no substitution beyond 2 layers


def test_standard_parameterization():
    # by hand for L = 1: Theta1 = <x,x'> + 1, Theta2 = n1 k(Sigma1) + 1 + sw^2 kdot Theta1
    d = len(X1)
    g12 = sum(a * b for a, b in zip(X1, X2, strict=True))
    s11 = SW**2 * sum(a * a for a in X1) / d + SB**2
    s22 = SW**2 * sum(b * b for b in X2) / d + SB**2
    s12 = SW**2 * g12 / d + SB**2
    n1 = 64
    expected = (n1 * dual_kernel("erf", s11, s12, s22) + 1
                + SW**2 * dual_kernel("erf", s11, s12, s22, derivative=True) * (g12 + 1))
    got = R.ntk_entries("erf", X1, X2, 1, SW, SB, parameterization="standard", widths=[n1])
    assert math.isclose(got, expected, rel_tol=1e-14)
    T = R.ntk_depth("erf", 1, parameterization="standard")
    assert R.width(1) in T.free_symbols


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_layers": 0}, "hidden_layers"),
        ({"hidden_layers": 1.5}, "hidden_layers"),
        ({"sigma_w": -1.0}, "sigma_w"),
        ({"sigma_b": float("nan")}, "sigma_b"),
        ({"x2": [1.0, 2.0]}, "equal length"),
        ({"x1": [1.0, float("inf"), 0.0]}, "finite"),
    ],
)
def test_recursion_bad_input(kwargs, match):
    args = {"activation": "relu", "x1": X1, "x2": X2, "hidden_layers": 2, "sigma_w": SW,
            "sigma_b": SB}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        R.nngp_entries(**args)


def test_recursion_step_ntk_error_and_standard_needs_widths():
    with pytest.raises(ValueError, match="no derivative kernel"):
        R.ntk_entries("step", X1, X2, 1, SW, SB)
    with pytest.raises(ValueError, match="widths"):
        R.ntk_entries("relu", X1, X2, 2, SW, SB, parameterization="standard")
    with pytest.raises(ValueError, match="parameterization"):
        R.ntk_entries("relu", X1, X2, 2, SW, SB, parameterization="mup")
