"""numerics.quadrature: every registry closed form against quadrature (rtol 1e-10)."""

import numpy as np
import pytest
from scipy.special import ndtr

from numerics.compile import dual_function
from numerics.quadrature import (
    check_covariance,
    gaussian_diagonal,
    gaussian_dual,
    is_entire,
    trapezoid_reference,
)
from theory.activations import builtin_examples, get
from theory.dual import dual_diagonal

EXAMPLES = builtin_examples()
IDS = [a.label for a in EXAMPLES]

# (q11, q12, q22): generic, negative correlation, rho = 0.95, 0.999, -0.99, unequal scales
POINTS = np.array([
    (1.0, 0.3, 2.0), (0.5, -0.6, 1.5), (2.0, 1.9, 2.0), (1.0, 0.999, 1.0),
    (1.0, -0.99, 1.0), (0.2, 0.1, 4.0),
]).T

# K1's tolerance: closed form = quadrature to rtol 1e-10.  The panel rule's
# truncation error is below 1e-12 (Bernstein bound 5.8^(-20) per panel, see
# numerics.quadrature); float64 summation over ~1e4 nodes adds ~1e-14 relative.
# An absolute floor of 1e-14 covers values that cancel to ~1e-9 (ReLU at rho=-0.99).
RTOL, ATOL = 1e-10, 1e-14


@pytest.mark.parametrize("act", EXAMPLES, ids=IDS)
def test_closed_form_equals_quadrature(act):
    if act.dual is None:
        pytest.skip("no closed form (tanh): checked by Price's theorem below")
    for derivative in (False, True):
        if derivative and not act.has_ntk:
            continue
        closed = dual_function(act, derivative=derivative)(*POINTS)
        quad = gaussian_dual(act, *POINTS, derivative=derivative)
        np.testing.assert_allclose(quad, closed, rtol=RTOL, atol=ATOL)
        qs = np.array([0.0, 0.3, 1.0, 4.0])
        closed_d = dual_function(act, derivative=derivative, diagonal=True)(qs[1:])
        quad_d = gaussian_diagonal(act, qs[1:], derivative=derivative)
        np.testing.assert_allclose(quad_d, closed_d, rtol=RTOL, atol=ATOL)


def test_plain_gauss_hermite_is_inaccurate_for_kinks_but_panels_are_not():
    """The reason for the kink split: Gauss-Hermite converges only algebraically for
    ReLU's kink (at order 25 it is off by > 1e-7 at rho = 0.95), the panels are exact."""
    args = (2.0, 1.9, 2.0)
    exact = dual_function("relu", derivative=True)(*args)
    gh = gaussian_dual("relu", *args, derivative=True, method="hermite", order=25)
    panels = gaussian_dual("relu", *args, derivative=True)
    assert abs(gh - exact) > 1e-7
    assert abs(panels - exact) < 1e-13


def test_hermite_is_exact_for_polynomials():
    # an n-point Gauss-Hermite rule integrates polynomials of degree 2n-1 exactly;
    # monomial(3) kernels are degree 6 in (z1, z2): n = 4 suffices
    act = get("monomial", k=3)
    assert is_entire(act) and not is_entire(get("tanh")) and not is_entire(get("relu"))
    got = gaussian_dual(act, *POINTS, method="hermite", order=4)
    np.testing.assert_allclose(got, dual_function(act)(*POINTS), rtol=1e-13, atol=1e-14)


def test_tanh_price_theorem_and_diagonal():
    """tanh has no closed form: check d/dq12 E[s s] = E[s' s'] (Price) by a central
    difference (step h = 1e-4: truncation h^2 k'''/6 ~ 1e-9, rounding eps/h ~ 1e-12)
    and the diagonal against mpmath."""
    act = get("tanh")
    h = 1e-4
    q11, q12, q22 = 1.0, 0.4, 2.0
    up = gaussian_dual(act, q11, q12 + h, q22)
    down = gaussian_dual(act, q11, q12 - h, q22)
    deriv = gaussian_dual(act, q11, q12, q22, derivative=True)
    assert (up - down) / (2 * h) == pytest.approx(deriv, rel=1e-8)
    for q in (0.5, 3.0):
        assert gaussian_diagonal(act, q) == pytest.approx(dual_diagonal(act, q, dps=20), rel=1e-12)


def test_tanh_panels_converged():
    # self-convergence: doubling the nodes per panel changes nothing at 1e-12
    args = (1.5, 1.45, 2.0)
    a = gaussian_dual("tanh", *args, order=10)
    b = gaussian_dual("tanh", *args, order=20)
    assert a == pytest.approx(b, rel=1e-12)


def test_zero_variance():
    # u = 0 identically: E[s(0) s(v)] = s(0) E[s(v)]; cos: E[cos v] = exp(-q/2)
    assert gaussian_dual("cos", 0.0, 0.0, 1.3) == pytest.approx(np.exp(-0.65), rel=1e-12)
    assert gaussian_dual("relu", 0.0, 0.0, 1.3) == 0.0
    # ELU: s'(0) = alpha = 1, E[s'(u)] = 1/2 + E[e^u 1{u<0}] = 1/2 + e^{q/2} Phi(-sqrt q)
    expected = 0.5 + np.exp(0.65) * ndtr(-np.sqrt(1.3))
    got = gaussian_dual("elu", 1.3, 0.0, 0.0, derivative=True)
    assert got == pytest.approx(expected, rel=1e-12)


def test_vectorized_shapes_and_rho_one():
    q = np.full((3, 4), 1.7)
    out = gaussian_dual("elu", q, q, q)
    assert out.shape == (3, 4)
    # rho = 1 exactly equals the 1-D diagonal integral
    np.testing.assert_allclose(out, gaussian_diagonal("elu", 1.7), rtol=1e-12)
    assert np.ndim(gaussian_dual("relu", 1.0, 0.5, 1.0)) == 0


@pytest.mark.parametrize(
    "args,match",
    [
        ((1.0, 1.5, 1.0), "q12"),
        ((-1.0, 0.0, 1.0), "q11"),
        ((1.0, 0.0, -0.1), "q22"),
        ((np.nan, 0.0, 1.0), "q11"),
        ((1.0, np.inf, 1.0), "q12"),
    ],
)
def test_guards(args, match):
    with pytest.raises(ValueError, match=match):
        gaussian_dual("relu", *args)
    with pytest.raises(ValueError, match=match):
        check_covariance(*args)


def test_rounding_above_one_is_clipped_not_refused():
    q12 = 1.0 + 4 * np.finfo(float).eps
    assert gaussian_dual("relu", 1.0, q12, 1.0) == pytest.approx(0.5, rel=1e-13)


def test_bad_method_order_and_step_derivative():
    with pytest.raises(ValueError, match="method"):
        gaussian_dual("relu", 1.0, 0.5, 1.0, method="simpson")
    with pytest.raises(ValueError, match="order"):
        gaussian_dual("relu", 1.0, 0.5, 1.0, order=0)
    with pytest.raises(ValueError, match="derivative"):
        gaussian_dual("step", 1.0, 0.5, 1.0, derivative=True)


def test_trapezoid_reference_matches_closed_form():
    # erf is entire, so the trapezoid rule converges geometrically; 1e-12 is far below the
    # 1e-10 the claim needs from its reference
    for derivative in (False, True):
        closed = dual_function("erf", derivative=derivative)(2.0, -1.2, 0.8)
        ref, est = trapezoid_reference(get("erf"), 2.0, -1.2, 0.8, derivative=derivative,
                                       h=0.2, L=8.0)
        assert ref == pytest.approx(float(closed), abs=1e-12)
        assert est < 1e-4


@pytest.mark.slow
def test_trapezoid_reference_matches_theory_dual():
    # the mpmath reference of theory.dual (nested quadrature at 30 digits, ~10 s per value)
    from theory.dual import dual_kernel

    for derivative in (False, True):
        ref, _ = trapezoid_reference(get("tanh"), 2.0, -1.2, 0.8, derivative=derivative,
                                     h=0.1, L=10.0)
        exact = float(dual_kernel("tanh", 2.0, -1.2, 0.8, derivative=derivative, dps=30))
        assert ref == pytest.approx(exact, rel=1e-14)
