"""numerics.compile: lambdified registry expressions against mpmath references."""

import mpmath
import numpy as np
import pytest
from scipy.special import erfcx

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


# ---------------------------------------------------------------------------
# tilted orthant A(a, b; rho) = E[e^{a Z1 + b Z2} 1{Z1<0, Z2<0}] in float64
# ---------------------------------------------------------------------------

def _tilted_cases(seed, n):
    """Random (a, b, rho): a, b >= 0 up to 10^3 (a = 0 in 30%, as in the ELU kernels),
    rho uniform or within 10^-6..1 of +-1."""
    rng = np.random.default_rng(seed)
    top = 10 ** rng.uniform(-1, 3, n)
    a = rng.uniform(0, top) * (rng.random(n) < 0.7)
    b = rng.uniform(0, top)
    u = rng.random(n)
    near = 10 ** rng.uniform(-6, 0, n)
    rho = np.where(u < 0.5, rng.uniform(-1, 1, n), np.where(u < 0.75, 1 - near, -1 + near))
    return a, b, rho


def test_tilted_orthant_matches_mpmath():
    # reference: theory.gaussian.mp_tilted_orthant at 20 digits (positive integrand, no
    # cancellation). Float64: the Owen form is kept where its estimated error is below
    # TILTED_ORTHANT_RTOL = 1e-12 (measured worst 2.3e-13 on 2400 points, see
    # numerics.compile.tilted_orthant), the conditioning integral elsewhere (worst 1.1e-15):
    # 1e-12 is the bound. The old form exp(E) Phi2 is off by orders of magnitude here.
    from numerics.compile import tilted_orthant
    from theory.gaussian import mp_tilted_orthant

    a, b, rho = _tilted_cases(0, 40)
    got = tilted_orthant(a, b, rho)
    with mpmath.workdps(20):
        ref = np.array([float(mp_tilted_orthant(*p)) for p in zip(a, b, rho, strict=True)])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
    with np.errstate(all="ignore"):
        old = np.exp((a * a + 2 * a * b * rho + b * b) / 2) * bivariate_normal_cdf(
            -(a + b * rho), -(a * rho + b), rho)
    assert not np.all(np.abs(old - ref) <= 1e-6 * ref)


def test_tilted_orthant_integral_path_to_1e_14():
    # the conditioning integral alone (the scaled integral, a fixed 40-node rule):
    # bound 32 eps = 7e-15 (tests/test_jit_special.py)
    from numerics.compile import _tilted_orthant_integral
    from theory.gaussian import mp_tilted_orthant

    a, b, rho = _tilted_cases(1, 25)
    keep = np.abs(rho) < 1
    a, b, rho = a[keep], b[keep], rho[keep]
    with mpmath.workdps(20):
        ref = np.array([float(mp_tilted_orthant(*p)) for p in zip(a, b, rho, strict=True)])
    np.testing.assert_allclose(_tilted_orthant_integral(a, b, rho), ref, rtol=1e-14, atol=0)


def test_tilted_orthant_edges_and_shapes():
    from numerics.compile import tilted_orthant

    # Sheppard at a = b = 0; independence at rho = 0; rho = +-1 limits; erfcx(x) = e^{x^2}
    # erfc(x) evaluated by scipy (relative error ~1 ulp)
    rho = np.array([-0.7, 0.0, 0.4])
    np.testing.assert_allclose(tilted_orthant(0.0, 0.0, rho),
                               0.25 + np.arcsin(rho) / (2 * np.pi), rtol=1e-15)
    a, b = np.array([0.3, 2.0, 40.0]), np.array([1.5, 0.0, 25.0])
    np.testing.assert_allclose(tilted_orthant(a, b, 0.0),
                               erfcx(a / np.sqrt(2)) * erfcx(b / np.sqrt(2)) / 4, rtol=1e-14)
    np.testing.assert_allclose(tilted_orthant(a, b, 1.0), erfcx((a + b) / np.sqrt(2)) / 2,
                               rtol=1e-15)
    assert np.all(tilted_orthant(a, b, -1.0) == 0)
    scalar = tilted_orthant(30.0, 20.0, 0.5)
    assert np.ndim(scalar) == 0 and 0 < scalar < erfcx(30 / np.sqrt(2)) / 2
    assert tilted_orthant(a[:, None], b[None, :], 0.3).shape == (3, 3)
    assert np.isnan(tilted_orthant(np.nan, 1.0, 0.2))


def test_elu_registry_kernels_have_no_exponential_of_the_variance():
    # the stable form: every exponential of q is inside TiltedOrthant or Erfcx
    import sympy as sp

    act = get("elu", alpha=0.5)
    for expr in (act.dual, act.dual_derivative):
        assert not expr.has(sp.exp)
