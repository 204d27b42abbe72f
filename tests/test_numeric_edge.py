"""Numbers at the edge of the float64 range are right or refused, never silently wrong
(sin/cos at large variance, GELU at huge variance, the stable GELU form)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

import numerics.kernels as nk
from theory import fixedpoints as fp
from theory.activations import get, q11, q12, q22
from theory.dual import dual_diagonal, dual_kernel


@pytest.mark.parametrize("name", ["sin", "cos"])
@pytest.mark.parametrize("q", [10.0, 100.0, 1500.0, 1e6])
def test_trig_kernels_decay_exactly(name, q):
    # E[sin u sin v] = e^{-(q11+q22)/2} sinh(q12): below the float64 range it is 0, never the
    # aliased Gauss-Hermite value (-0.067 at q = 1e6 before)
    with mpmath.workdps(30):
        m, r = mpmath.mpf(q), mpmath.mpf(0.3) * q
        sinh_part = (mpmath.exp(r - m) - mpmath.exp(-r - m)) / 2
        cosh_part = (mpmath.exp(r - m) + mpmath.exp(-r - m)) / 2
    want = {"sin": (sinh_part, cosh_part), "cos": (cosh_part, sinh_part)}[name]
    for derivative, ref in zip((False, True), want, strict=True):
        got = nk.dual_kernel(name, q, 0.3 * q, q, derivative=derivative)
        assert got == pytest.approx(float(ref), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("q", [1e-12, 1e-6, 1e-2, 1.0, 30.0, 800.0])
def test_trig_diagonals_keep_relative_accuracy(q):
    # (1 - e^{-2q})/2 lost ~eps/q relatively at small q (2e-11 at q = 1e-6); the tanh form keeps
    # a few roundings (two evaluations of tanh, one division) and does not overflow at large q
    with mpmath.workdps(40):
        small = -mpmath.expm1(-2 * mpmath.mpf(q)) / 2
        large = (1 + mpmath.exp(-2 * mpmath.mpf(q))) / 2
    for name, ref, ref_derivative in (("sin", small, large), ("cos", large, small)):
        for derivative, want in ((False, ref), (True, ref_derivative)):
            got = nk.dual_diagonal(name, q, derivative=derivative)
            assert got == pytest.approx(float(want), rel=8 * np.finfo(float).eps)
            theory_value = dual_diagonal(name, q, derivative=derivative, dps=30)
            assert theory_value == pytest.approx(float(want), rel=1e-25)


def test_trig_nngp_at_large_inputs_is_exact_zero_off_the_diagonal():
    x = np.random.default_rng(0).normal(size=(4, 3))
    x *= math.sqrt(1800 * 3) / np.linalg.norm(x, axis=1, keepdims=True)
    K = nk.nngp(x, activation="sin", hidden_layers=1, sigma_w=1.0, sigma_b=0.0)
    off = K[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off) < 1e-60)  # true values ~1e-391 .. 1e-60, never -3.7e-5


@pytest.mark.parametrize("q", [1.0, 1e10, 1e26, 1e80, 1e103, 1e150, 1e300])
def test_gelu_is_finite_and_right_at_huge_variance(q):
    for rho in (0.3, 1.0):
        for derivative in (False, True):
            got = nk.dual_kernel("gelu", q, rho * q, q, derivative=derivative)
            ref = dual_kernel("gelu", q, rho * q, q, derivative=derivative, dps=40)
            assert math.isfinite(got)
            assert got == pytest.approx(float(ref), rel=1e-13)
    assert float(dual_diagonal("gelu", q, dps=30)) == pytest.approx(
        float(dual_kernel("gelu", q, q, q, dps=40)), rel=1e-25)


def test_gelu_deep_gram_at_huge_inputs_is_finite():
    x = np.random.default_rng(0).normal(size=(5, 3)) * 1e40
    K = nk.ntk(x, activation="gelu", hidden_layers=3, sigma_w=1.5, sigma_b=0.1)
    assert np.all(np.isfinite(K))


def test_gelu_theory_at_huge_variance_has_no_cancellation():
    assert math.isfinite(fp.norm_preserving_sigma("gelu", 1e40))
    assert fp.length_map("gelu", 1e150, sigma_w=1.0, sigma_b=0) == pytest.approx(5e149, rel=1e-12)


def test_scale_free_gelu_equals_the_textbook_form_and_price():
    """The registry's scale-free GELU kernel equals Tsuchida et al.'s textbook form, and its
    derivative kernel is d/dq12 of it (Price's theorem), at random points to 35 digits."""
    P = (1 + q11) * (1 + q22)
    delta = sp.sqrt(P - q12**2)
    textbook = q12 / 4 + (q12 * sp.atan(q12 / delta)
                          + (q12**2 + q11 * q22 * delta**2) / (P * delta)) / (2 * sp.pi)
    gelu = get("gelu")
    price = sp.diff(gelu.dual, q12)
    # the forms the papers page shows (Activation.dual_display) are the same functions
    shown, shown_derivative = gelu.dual_display, gelu.dual_derivative_display
    rng = np.random.default_rng(1)
    for _ in range(6):
        a, b = 10 ** rng.uniform(-2, 2, size=2)
        r = rng.uniform(-0.999, 0.999)
        at = {q11: sp.Float(a, 40), q22: sp.Float(b, 40), q12: sp.Float(r, 40) * sp.sqrt(
            sp.Float(a, 40) * sp.Float(b, 40))}
        value = gelu.dual.subs(at).evalf(40)
        assert abs(value - textbook.subs(at).evalf(40)) < 1e-35 * (1 + abs(value))
        assert abs(gelu.dual_derivative.subs(at).evalf(40) - price.subs(at).evalf(40)) < 1e-35
        assert abs(value - shown.subs(at).evalf(40)) < 1e-35 * (1 + abs(value))
        assert abs(gelu.dual_derivative.subs(at).evalf(40)
                   - shown_derivative.subs(at).evalf(40)) < 1e-35


@pytest.mark.parametrize("activation", ["tanh", "relu", "elu"])
def test_empty_inputs_give_empty_grams(activation):
    for kernel in (nk.nngp, nk.ntk):
        K = kernel(np.zeros((0, 3)), activation=activation, hidden_layers=2, sigma_w=1.0,
                   sigma_b=0.1)
        assert K.shape == (0, 0)


@pytest.mark.parametrize("dps", [None, 30])
@pytest.mark.parametrize("q,rho", [(1e150, 0.5), (1e150, -0.5), (1e300, 0.3), (1.7e308, -0.9)])
def test_elu_theory_kernel_at_huge_variance(q, rho, dps):
    """theory.dual up to the float64 maximum (OverflowError from mpmath's erfc before).
    Reference, a rigorous bound: ELU - ReLU = (e^x - 1) 1{x<0} lies in [-1, 0], so
    |k_elu - k_relu| <= E relu(u) + E relu(v) + 1 = 2 sqrt(q/(2 pi)) + 1; and
    ELU' - 1{x>0} = e^x 1{x<0}, each of the three cross terms of the derivative kernel is at
    most E[e^{sZ} 1{Z<0}] = erfcx(s/sqrt 2)/2 <= 1/(s sqrt(2 pi)). Relative to the ReLU
    kernels (arc-cosine, Cho & Saul 2009) both bounds are ~1e-75 or smaller here."""
    with mpmath.workdps(40):
        Q = mpmath.mpf(q)
        R = mpmath.mpf(rho * q) / Q  # the correlation of the float input
        relu = Q * (mpmath.sqrt(1 - R * R) + (mpmath.pi - mpmath.acos(R)) * R) / (2 * mpmath.pi)
        relu_dot = (mpmath.pi - mpmath.acos(R)) / (2 * mpmath.pi)
        bound = 2 * mpmath.sqrt(Q / (2 * mpmath.pi)) + 1
        bound_dot = 3 / mpmath.sqrt(2 * mpmath.pi * Q)
    rel = 4e-16 if dps is None else mpmath.mpf(10) ** (1 - dps)  # rounding of the result
    got = dual_kernel("elu", q, rho * q, q, dps=dps)
    got_dot = dual_kernel("elu", q, rho * q, q, derivative=True, dps=dps)
    with mpmath.workdps(40):
        assert abs(mpmath.mpf(got) - relu) <= bound + rel * relu
        assert abs(mpmath.mpf(got_dot) - relu_dot) <= bound_dot + rel * relu_dot


def test_mp_erfc_past_mpmath_overflow():
    """erfc, Phi and erfcx at arguments where mpmath.erfc raises OverflowError, against
    e^{-z^2}/(z sqrt pi) (the asymptotic series' first term: relative error 1/(2 z^2))."""
    from theory.arithmetic import mp_erfc, mp_erfcx, mp_ncdf

    z = mpmath.mpf(2) ** 512  # 1.3e154, exact; Phi(-2z) = erfc(sqrt(2) z)/2
    with mpmath.workdps(400):  # e^{-z^2} needs z^2 (309 digits) exactly
        first = 1 / (z * mpmath.sqrt(mpmath.pi))
        tail = mpmath.exp(-z * z) * first
        phi_tail = mpmath.exp(-2 * z * z) / (2 * mpmath.sqrt(2) * z * mpmath.sqrt(mpmath.pi))
    with mpmath.workdps(30):
        assert abs(mp_erfcx(z) / first - 1) < 1e-29
        assert abs(mp_erfc(z) / tail - 1) < 1e-29
        assert abs(mp_ncdf(-2 * z) / phi_tail - 1) < 1e-29


@pytest.mark.parametrize("expr,at_large_q", [
    ("sin(3*x) + x", lambda q12: q12),  # E[(sin 3u + u)(sin 3v + v)] -> q12: the rest decays
    ("x*cos(x)", lambda q12: 0.0),      # every term carries e^{-(q11+q22)/2 +- q12} -> 0
])
def test_exponential_polynomial_user_activation_is_exact_at_huge_variance(expr, at_large_q):
    """A registered exponential polynomial gets exact kernels (Gauss-Hermite aliased before:
    300173.9 instead of 3e5 for sin 3x + x, 3603 instead of 0 for x cos x at q = 1e6); at
    moderate q they agree with the independent mpmath quadrature of theory.dual."""
    from theory.activations import register, unregister
    from theory.dual import quadrature_dual_kernel

    act = register("edge_exp_poly", expr, overwrite=True)
    try:
        for derivative in (False, True):
            got = nk.dual_kernel(act, 0.7, 0.3, 1.1, derivative=derivative)
            ref = quadrature_dual_kernel(act, 0.7, 0.3, 1.1, derivative=derivative, dps=20)
            assert got == pytest.approx(float(ref), rel=1e-13, abs=1e-15)
        q = 1e6
        assert nk.dual_kernel(act, q, 0.3 * q, q) == pytest.approx(at_large_q(0.3 * q),
                                                                   rel=1e-15, abs=1e-300)
    finally:
        unregister("edge_exp_poly")


@pytest.mark.parametrize("method", ["auto", "hermite"])
def test_gauss_hermite_refuses_where_it_aliases(method):
    """numerics.quadrature's Gauss-Hermite rule (the 'auto' choice for exponential polynomials)
    refuses when its error estimate exceeds HERMITE_TOLERANCE, and is right where it accepts."""
    from numerics.quadrature import gaussian_diagonal, gaussian_dual
    from theory.activations import register, unregister

    act = register("edge_alias", "sin(3*x) + x", overwrite=True)
    try:
        with pytest.raises(ValueError, match="Gauss-Hermite"):
            gaussian_dual(act, 1e6, 3e5, 1e6, method=method)
        with pytest.raises(ValueError, match="Gauss-Hermite"):
            gaussian_diagonal(act, 1e6, method=method)
        assert gaussian_dual(act, 0.1, 0.03, 0.1, method=method) == pytest.approx(
            nk.dual_kernel(act, 0.1, 0.03, 0.1), rel=1e-13)
    finally:
        unregister("edge_alias")


def test_divergent_gaussian_expectation_is_refused():
    """sigma = exp(x^2/4): E[sigma(u)^2] = E[e^{u^2/2}] = 1/sqrt(1 - q) for q < 1, infinite
    from q = 1 (numerics gave 7.98 at q = 1 and 1.1e10 at q = 1.5 before). Refused by the
    growth criterion (SymPy: |sigma| ~ e^{x^2/4}) in theory.dual and numerics alike; inside
    the region and far enough from its edge for the truncated rules, the exact value."""
    from theory.activations import register, unregister

    act = register("edge_gauss_growth", "exp(x**2/4)", overwrite=True)
    try:
        for q in (1.0, 1.5, 3.0):  # the diagonal: lambda_max = 2q, 2 c lambda_max = q >= 1
            for evaluate in (nk.dual_diagonal, dual_diagonal):
                with pytest.raises(ValueError, match="diverges"):
                    evaluate(act, q)
            with pytest.raises(ValueError, match="diverge"):  # diverges / too close to it
                nk.nngp(np.full((2, 1), math.sqrt(q)), activation=act, hidden_layers=1,
                        sigma_w=1.0, sigma_b=0.0)
        # off the diagonal, rho = 0.3: lambda_max = 1.3 q, divergent from q = 1/0.65
        for evaluate in (nk.dual_kernel, dual_kernel):
            with pytest.raises(ValueError, match="diverges"):
                evaluate(act, 3.0, 0.9, 3.0)
        # at q = 1 it exists, E[e^{(u^2+v^2)/4}] = det(I - Q/2)^{-1/2} = 2.09656967344, but
        # the rules truncated at |z| <= L miss ~e^{-0.35 L^2/2} of it (1.7e-10 before)
        for evaluate in (nk.dual_kernel, dual_kernel):
            with pytest.raises(ValueError, match="too close to divergence"):
                evaluate(act, 1.0, 0.3, 1.0)
        assert dual_kernel(act, 0.2, 0.06, 0.2, dps=20) == pytest.approx(
            ((1 - 0.1) ** 2 - 0.03**2) ** -0.5, rel=1e-18)
        # exists, but a rule truncated at |z| <= 10 would miss e^-0.5 of it
        with pytest.raises(ValueError, match="too close to divergence"):
            nk.dual_diagonal(act, 0.99)
        for q in (0.1, 0.3):  # numerics accepts 2 c lambda_max <= 0.309
            assert nk.dual_diagonal(act, q) == pytest.approx(1 / math.sqrt(1 - q), rel=1e-13)
        for q in (0.1, 0.2):  # theory at 22 digits, |z| <= 11.36, accepts <= 0.214
            assert float(dual_diagonal(act, q, dps=20)) == pytest.approx(1 / math.sqrt(1 - q),
                                                                         rel=1e-14)
    finally:
        unregister("edge_gauss_growth")


@pytest.mark.parametrize("expr,growth", [("exp(x**2/4)", 0.25), ("x*exp(x**2)*sin(x)", 1.0),
                                         ("exp(x**4)", math.inf), ("tanh(x)", 0.0),
                                         ("x*cos(x) + exp(x)", 0.0)])
def test_quadratic_growth(expr, growth):
    from theory.gaussian import quadratic_growth
    from theory.symbols import x

    assert quadratic_growth(sp.sympify(expr, locals={"x": x})) == pytest.approx(growth, abs=1e-9)


def test_theory_quadrature_refuses_a_huge_variance_instead_of_hanging():
    """theory.dual's smooth trapezoid rule needs a step ~1/(s D): at q = 1e30 (tanh) it built
    ~1e17 nodes and never returned; now a ValueError naming the variance and the valid range,
    within a second."""
    import time

    start = time.perf_counter()
    for evaluate in (lambda: dual_kernel("tanh", 1e30, 3e29, 1e30),
                     lambda: dual_diagonal("tanh", 1e30, dps=20)):
        with pytest.raises(ValueError, match="standard deviation .* valid"):
            evaluate()
    assert time.perf_counter() - start < 1.0
    # inside the range it is the number: tanh's kernel at q = 1e3 tends to that of sign(x),
    # (2/pi) arcsin(rho), with a correction O(1/sqrt(q)) (the transition of width 1)
    assert dual_kernel("tanh", 1e3, 300.0, 1e3) == pytest.approx(
        2 / math.pi * math.asin(0.3), abs=1 / math.sqrt(1e3))
