"""Symbolic and high-precision checks of every closed form in the registry.

Each check is library code in ``theory.gaussian``; the thresholds follow from the
precision used (``DPS`` digits, residuals are relative) and are stated per test.
"""

import math

import mpmath
import pytest
import sympy as sp

from theory import activations as A
from theory import gaussian as G

DPS = 20
#: residuals of identities evaluated at DPS digits (+10 guard digits) are at the level
#: of 10^-DPS; a wrong closed form misses by O(1) or at least many orders more.
TOL = mpmath.mpf(10) ** (-(DPS - 3))

CLOSED = [a for a in A.builtin_examples() if a.dual is not None]
WITH_NTK = [a for a in CLOSED if a.dual_derivative is not None]
# ELU's kernels contain Phi2; SymPy does not simplify Price's identity for them
SYMBOLIC_PRICE = [a for a in WITH_NTK if a.name != "elu"]


def ids(acts):
    return [a.label for a in acts]


@pytest.mark.parametrize("act", SYMBOLIC_PRICE, ids=ids(SYMBOLIC_PRICE))
def test_price_theorem_symbolic(act):
    # d/dq12 E[s(u)s(v)] = E[s'(u)s'(v)] (Price 1958), simplified to 0 by SymPy
    assert G.price_theorem_symbolic(act)


@pytest.mark.parametrize("act", WITH_NTK, ids=ids(WITH_NTK))
def test_price_theorem_numeric(act):
    assert G.price_theorem_residual(act, dps=DPS) < TOL


@pytest.mark.parametrize("derivative", [False, True])
@pytest.mark.parametrize("act", CLOSED, ids=ids(CLOSED))
def test_value_at_zero_correlation(act, derivative):
    # independence at q12 = 0: k = E[s(u)] E[s(v)]
    if derivative and act.dual_derivative is None:
        pytest.skip("no derivative kernel")
    assert G.zero_correlation_residual(act, derivative=derivative, dps=DPS) < TOL


@pytest.mark.parametrize("derivative", [False, True])
@pytest.mark.parametrize("act", CLOSED, ids=ids(CLOSED))
def test_diagonal_limit(act, derivative):
    # q12 -> q at q11 = q22 = q equals the stored diagonal; the kernels are Hoelder-1/2
    # at the diagonal (step: arccos(1 - e) ~ sqrt(2 e)), so the offset e = 10^-2DPS
    # costs 10^-DPS: same tolerance
    if derivative and act.dual_derivative is None:
        pytest.skip("no derivative kernel")
    assert G.diagonal_residual(act, derivative=derivative, dps=DPS) < TOL


# the second ELU costs ~3 s (symbolic derivatives of Phi2): full runs only
SERIES = [pytest.param(a, marks=pytest.mark.slow) if a.label == "elu(alpha=1/2)" else a
          for a in CLOSED]


@pytest.mark.parametrize("act", SERIES, ids=ids(CLOSED))
def test_series_matches_hermite_coefficients(act):
    # Mehler: k(1, rho, 1) = sum_k c_k^2 rho^k; kdot = sum_k (k+1) c_{k+1}^2 rho^k
    assert G.hermite_series_residual(act, 3, dps=DPS) < TOL


def test_series_check_detects_a_wrong_kernel():
    # the same check on a deliberately wrong kernel: relu's plus sqrt(q11 q22 - q12^2)/100,
    # whose rho^2 coefficient is -1/200
    relu = A.get("relu")
    wrong = A.Activation(name="wrong_relu", expr=relu.expr, derivative=relu.derivative,
                         dual=relu.dual + sp.sqrt(A.q11 * A.q22 - A.q12**2) / 100, kinks=(0,))
    assert G.hermite_series_residual(wrong, 2, dps=DPS) > 1e-3


@pytest.mark.parametrize("a, b, rho", [("0.7", "-1.3", "0.4"), ("1.2", "0.5", "-0.85"),
                                       ("-0.3", "-0.2", "0.97")])
def test_lemma_blocks(a, b, rho):
    # each lemma block against an independent one-dimensional quadrature (condition on
    # Z1) at DPS digits; the Plackett identity d Phi2/d rho = phi2 by a central difference
    # whose rounding error 10^-(DPS/2+5) = 1e-15 dominates (see lemma_block_residuals):
    # 1e-12 leaves three orders of margin
    res = G.lemma_block_residuals(a, b, rho, dps=DPS)
    for name in ("bivariate_normal_cdf", "tilted_orthant", "tilted_orthant_closed_form",
                 "relu_times_tilted", "stein_orthant", "exp_halfline"):
        assert res[name] < TOL, name
    assert res["price_rho"] < 1e-12


def test_relu_hermite_coefficients_at_50_digits():
    r"""c_k = E[relu(z) He_k(z)]/sqrt(k!) with z ~ N(0,1):

    * c_0 = E[z 1{z>0}] = \int_0^\infty z phi(z) dz = phi(0) = 1/sqrt(2 pi);
    * c_1 = E[z^2 1{z>0}] = 1/2 (half of E z^2);
    * c_2 = E[z(z^2-1) 1{z>0}]/sqrt 2 = (2 phi(0) - phi(0))/sqrt 2 = 1/sqrt(4 pi),
      using \int_0^\infty z^3 phi = 2 phi(0);
    * odd k >= 3: relu(z) = z/2 + |z|/2, |z| is even so it has no odd coefficients,
      and z/2 only has k = 1.
    """
    c = G.hermite_coefficients(A.get("relu"), 5, dps=50)
    with mpmath.workdps(50):
        tol = mpmath.mpf(10) ** -48
        assert abs(c[0] - 1 / mpmath.sqrt(2 * mpmath.pi)) < tol
        assert abs(c[1] - mpmath.mpf(1) / 2) < tol
        assert abs(c[2] - 1 / mpmath.sqrt(4 * mpmath.pi)) < tol
        for k in (3, 5):
            assert abs(c[k]) < tol
        # even k >= 4 are not zero: c_4 = -1/(sqrt(2 pi) sqrt(4!)) (from the same integrals)
        assert abs(c[4] + 1 / (mpmath.sqrt(2 * mpmath.pi) * mpmath.sqrt(24))) < tol


def test_hermite_coefficients_bad_input():
    relu = A.get("relu")
    with pytest.raises(ValueError, match="k_max"):
        G.hermite_coefficients(relu, -1)
    with pytest.raises(ValueError, match="dps"):
        G.hermite_coefficients(relu, 2, dps=0)
    # theory.gaussian sits below the registry: it takes entries, not names
    with pytest.raises(ValueError, match="activation entry"):
        G.hermite_coefficients("relu", 2)
    with pytest.raises(ValueError, match="activation entry"):
        G.price_theorem_residual("relu")
    assert relu.hermite_coefficients(2) == G.hermite_coefficients(relu, 2)


# ---------------------------------------------------------------------------
# the tilted orthant function A(a, b; rho) = E[e^{a Z1 + b Z2} 1{Z1<0, Z2<0}]
# ---------------------------------------------------------------------------

def test_tilted_orthant_special_values():
    a, b, r = sp.symbols("a b r", real=True)
    assert G.TiltedOrthant(0, 0, r) == sp.Rational(1, 4) + sp.asin(r) / (2 * sp.pi)  # Sheppard
    assert G.TiltedOrthant(a, b, 0) == G.Erfcx(a / sp.sqrt(2)) * G.Erfcx(b / sp.sqrt(2)) / 4
    assert G.TiltedOrthant(a, b, 1) == G.Erfcx((a + b) / sp.sqrt(2)) / 2
    assert G.TiltedOrthant(a, b, -1) == 0
    assert G.TiltedOrthant(a, b, r).rewrite(G.BivariateNormalCDF) == sp.exp(
        (a**2 + 2 * a * b * r + b**2) / 2) * G.BivariateNormalCDF(-(a + b * r), -(a * r + b), r)


@pytest.mark.parametrize("point", [("0.8", "1.7", "0.35"), ("2.1", "0.4", "-0.6")])
def test_tilted_orthant_derivatives_match_the_closed_form(point):
    # fdiff (used by Price's theorem checks) against the derivative of exp(E) * Phi2;
    # both evaluated at DPS digits: residual ~10^-DPS
    a, b, r = sp.symbols("a b r", real=True)
    expr = G.TiltedOrthant(a, b, r)
    closed = expr.rewrite(G.BivariateNormalCDF)
    subs = dict(zip((a, b, r), (sp.Float(v, DPS + 10) for v in point), strict=True))
    for var in (a, b, r):
        mine = sp.N(expr.diff(var).subs(subs), DPS + 10)
        ref = sp.N(closed.diff(var).subs(subs), DPS + 10)
        assert abs(mine - ref) < TOL * max(1, abs(ref)), var


# large arguments where exp(E) Phi2 loses everything at working precision; reference: the
# same closed form with E/ln(10) + 25 extra digits (Plackett's Phi2 at that precision)
LARGE = [("10", "8.94", "0.3"), ("0", "30", "-0.999"), ("31.6", "31.6", "-0.5"),
         ("0", "0.03", "0.9999991"), ("6", "0", "-0.99999"), ("0", "20", "0.3")]


@pytest.mark.parametrize("point", LARGE)
def test_mp_tilted_orthant_is_stable_at_large_arguments(point):
    with mpmath.workdps(DPS):
        value = G.mp_tilted_orthant(*point)
    a, b, r = (float(v) for v in point)
    extra = int((a * a + 2 * a * b * r + b * b) / 2 / math.log(10)) + 25
    with mpmath.workdps(DPS + extra):
        a, b, r = (mpmath.mpf(v) for v in point)
        exponent = (a * a + 2 * a * b * r + b * b) / 2
        ref = mpmath.exp(exponent) * G.mp_bivariate_normal_cdf(-(a + b * r), -(a * r + b), r)
        assert abs(value - ref) < TOL * ref
