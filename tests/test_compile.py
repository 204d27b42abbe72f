"""numerics.compile: lambdified registry expressions against mpmath references."""

import mpmath
import numpy as np
import pytest

from numerics.compile import activation_function, bivariate_normal_cdf, dual_function
from theory.activations import builtin_examples, get
from theory.dual import dual_diagonal, dual_kernel
from theory.gaussian import mp_bivariate_normal_cdf

EXAMPLES = builtin_examples()
IDS = [a.label for a in EXAMPLES]

# A float64 evaluation of an O(1) expression with a few dozen operations and
# condition number O(10) at these points (|rho| <= 0.8, variances in [0.5, 3])
# is accurate to ~1e-14 relative; 1e-12 leaves a margin of 100 without hiding
# a wrong formula (a wrong term changes the value at the 1e-2 level or more).
RTOL = 1e-12
POINTS = [(1.0, 0.3, 2.0), (0.5, -0.4, 1.5), (3.0, 2.0, 2.5), (1.2, 0.0, 0.7)]


@pytest.mark.parametrize("act", EXAMPLES, ids=IDS)
def test_activation_matches_mpmath(act):
    xs = np.array([-2.5, -1.0, -1e-3, 0.0, 0.4, 1.7, 3.0])
    f = activation_function(act)
    ref = np.array([float(act.mpmath_function()(v)) for v in xs])
    np.testing.assert_allclose(f(xs), ref, rtol=1e-14, atol=1e-300)
    assert f(xs).shape == xs.shape and f(xs).dtype == np.float64
    if act.has_ntk:
        df = activation_function(act, derivative=True)
        dref = np.array([float(act.mpmath_function(True)(v)) for v in xs[xs != 0]])
        got = df(xs[xs != 0])
        assert got.shape == (len(dref),)  # constants (identity') are broadcast
        np.testing.assert_allclose(got, dref, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("act", EXAMPLES, ids=IDS)
def test_dual_function_matches_mpmath(act):
    for derivative in (False, True):
        if derivative and not act.has_ntk:
            with pytest.raises(ValueError, match="derivative"):
                dual_function(act, derivative=True)
            continue
        f = dual_function(act, derivative=derivative)
        fd = dual_function(act, derivative=derivative, diagonal=True)
        if act.dual is None:
            assert f is None and fd is None
            continue
        a, b, c = np.array(POINTS).T
        ref = [dual_kernel(act, *p, derivative=derivative, dps=30) for p in POINTS]
        np.testing.assert_allclose(f(a, b, c), np.array(ref, dtype=float), rtol=RTOL, atol=0)
        qs = np.array([0.25, 1.0, 4.0])
        refd = [dual_diagonal(act, v, derivative=derivative, dps=30) for v in qs]
        np.testing.assert_allclose(fd(qs), np.array(refd, dtype=float), rtol=RTOL, atol=0)


def test_compiled_functions_are_cached():
    act = get("elu", alpha=0.5)
    assert dual_function(act) is dual_function(get("elu", alpha=0.5))
    assert activation_function("relu") is activation_function(get("relu"))


def test_elu_diagonal_large_q_is_finite():
    # e^{2q} Phi(-2 sqrt q) would be inf*0 in float64 at q = 400; erfcx keeps it finite
    # and the value approaches q/2 + alpha^2/2 (the negative part tends to -alpha).
    f = dual_function("elu", diagonal=True)
    value = f(400.0)
    ref = float(dual_diagonal("elu", 400.0, dps=30))
    assert np.isfinite(value)
    assert value == pytest.approx(ref, rel=1e-14)


@pytest.mark.parametrize(
    "h,k,rho",
    [
        (0.3, -1.2, 0.5), (-2.0, -1.5, -0.7), (1.5, 2.5, 0.99), (0.0, 1.3, 0.4),
        (-0.8, 0.0, -0.3), (0.0, 0.0, 0.6), (0.7, -0.2, 1.0), (0.7, -0.2, -1.0),
        (0.7, 0.9, -1.0), (-3.0, 2.0, 0.0), (4.0, -4.0, 0.999999),
    ],
)
def test_bivariate_normal_cdf_against_mpmath(h, k, rho):
    with mpmath.workdps(40):
        ref = float(mp_bivariate_normal_cdf(h, k, rho))
    # five O(1) terms each correct to ~1 ulp: absolute error <= ~1e-15
    assert bivariate_normal_cdf(h, k, rho) == pytest.approx(ref, abs=2e-15)


def test_bivariate_normal_cdf_vectorized():
    rng = np.random.default_rng(1)
    h, k = rng.normal(size=(2, 40)) * 2
    rho = rng.uniform(-1, 1, 40)
    h[:5] = 0
    rho[5:8] = 1
    got = bivariate_normal_cdf(h[:, None], k[None, :], rho[:, None])
    assert got.shape == (40, 40)
    for i, j in [(0, 3), (6, 7), (12, 30), (39, 0)]:
        with mpmath.workdps(30):
            ref = float(mp_bivariate_normal_cdf(h[i], k[j], rho[i]))
        assert got[i, j] == pytest.approx(ref, abs=2e-15)


def test_dual_pair_function_equals_single_functions():
    from numerics.compile import dual_pair_function

    q11, q12, q22 = np.array(POINTS).T
    for name in ("elu", "sin", "monomial"):
        k, kd = dual_pair_function(name)(q11, q12, q22)
        # same expressions, different cse grouping: agreement to rounding (RTOL)
        np.testing.assert_allclose(k, dual_function(name)(q11, q12, q22), rtol=RTOL)
        np.testing.assert_allclose(kd, dual_function(name, derivative=True)(q11, q12, q22),
                                   rtol=RTOL)
    assert dual_pair_function("tanh") is None and dual_pair_function("step") is None
