"""Precision backends: construction, scoping, exact conversion, activations."""

import flint
import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.precision import (
    BACKENDS,
    bits_to_dps,
    dps_to_bits,
    float32_normal,
    get_backend,
    precision,
)
from theory.activations import builtin_examples, get

ALL = [("float32", {}), ("float64", {}), ("mpmath", {"bits": 100}), ("arb", {"bits": 100})]
WITH_DERIVATIVE = [a for a in builtin_examples() if a.has_ntk]
POINTS = np.array([[-2.75, -1.0, -0.3125, 0.0], [0.25, 0.5, 1.5, 3.0]])  # float32-exact


# --- construction and bad input ------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(name="float16"), "backend"),
        (dict(name="mpmath", dps=0), "dps"),
        (dict(name="arb", bits=-3), "bits"),
        (dict(name="arb", bits=2.5), "bits"),
        (dict(name="arb", dps=30, bits=100), "either"),
        (dict(name="float64", bits=100), "53-bit"),
        (dict(name="float32", dps=30), "24-bit"),
        (dict(name="arb", bits=100, mode="sometimes"), "mode"),
        (dict(name="mpmath", dps=30, mode="no-reset"), "arb"),
    ],
)
def test_bad_backend_arguments(kwargs, word):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=word):
        get_backend(name, **kwargs)


def test_dps_bits_conversion_matches_mpmath():
    # mpmath: mp.dps = 30 sets mp.prec = 103 (libmp.dps_to_prec)
    assert dps_to_bits(30) == 103
    assert bits_to_dps(103) == 30
    assert get_backend("arb", dps=30).bits == get_backend("mpmath", dps=30).bits == 103
    assert get_backend("float64").bits == 53 and get_backend("float32").bits == 24
    assert set(BACKENDS) == {"float32", "float64", "mpmath", "arb"}


def test_precision_is_scoped_and_restored_on_error():
    mp_before, flint_before = mpmath.mp.prec, flint.ctx.prec
    with precision("arb", bits=212) as B:
        assert flint.ctx.prec == 212 and B.bits == 212
        assert mpmath.mp.prec == mp_before
    assert flint.ctx.prec == flint_before
    with pytest.raises(ZeroDivisionError):
        with precision("mpmath", dps=50):
            assert mpmath.mp.dps == 50
            raise ZeroDivisionError
    assert mpmath.mp.prec == mp_before
    # operations are scoped even without the with-block
    B = get_backend("arb", bits=150)
    product = B.matmul(B.asarray([[1.0]]), B.asarray([[1.0]]))
    assert flint.ctx.prec == flint_before and product.nrows() == 1
    c = B.scalar(sympy.Rational(1, 3))
    assert flint.ctx.prec == flint_before
    assert float(c.rad()) < 2.0**-148  # rounded at 150 bits, not at the ambient 53


# --- exact initialization ------------------------------------------------------


def test_float32_normal_is_float32_representable_and_seeded():
    a = float32_normal(7, (30, 4), std=0.3)
    assert a.dtype == np.float64
    assert np.array_equal(a, a.astype(np.float32).astype(np.float64))
    assert np.array_equal(a, float32_normal(7, (30, 4), std=0.3))
    assert not np.array_equal(a, float32_normal(8, (30, 4), std=0.3))
    # std within 4 standard errors of 0.3 (SE of a sample std ~ std / sqrt(2N))
    assert abs(a.std() - 0.3) < 4 * 0.3 / np.sqrt(2 * a.size)
    with pytest.raises(ValueError, match="std"):
        float32_normal(0, (2, 2), std=-1.0)


@pytest.mark.parametrize("name, kw", ALL)
def test_conversion_of_float32_numbers_is_exact(name, kw):
    a = float32_normal(3, (5, 3))
    B = get_backend(name, **kw)
    native = B.asarray(a)
    assert B.shape(native) == (5, 3)
    exact = B.to_mpmath(native)
    for u, v in zip(exact.ravel(), a.ravel(), strict=True):
        assert u == mpmath.mpf(float(v))  # bit-identical start on every backend
    assert B.max_radius(native) == 0.0


# --- arithmetic agrees with the working precision --------------------------------


def test_matmul_arb_vs_mpmath_at_working_precision():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 40)), rng.standard_normal((40, 5))
    Bm, Ba = get_backend("mpmath", bits=200), get_backend("arb", bits=100)
    ref = Bm.to_mpmath(Bm.matmul(Bm.asarray(a), Bm.asarray(b)))
    prod = Ba.matmul(Ba.asarray(a), Ba.asarray(b))
    mids, rads = Ba.to_mpmath(prod), Ba.radii(prod)
    for m, r, e in zip(mids.ravel(), rads.ravel(), ref.ravel(), strict=True):
        # the ball contains the 200-bit value (whose own error is ~40 * 2^-200)
        assert abs(m - e) <= r + mpmath.mpf(2) ** -180
        # and its radius is rounding-size: 40 terms of size <~ 10, u = 2^-100
        assert r < 40 * 10 * 2.0**-100 * 4


# --- activations ------------------------------------------------------------------


def _reference(act, derivative):
    f = act.mpmath_function(derivative=derivative)
    with mpmath.workdps(60):
        return [[f(mpmath.mpf(float(v))) for v in row] for row in POINTS]


@pytest.mark.parametrize("act", WITH_DERIVATIVE, ids=lambda a: a.label)
@pytest.mark.parametrize("derivative", [False, True])
def test_activations_match_registry_on_every_backend(act, derivative):
    ref = _reference(act, derivative)
    ref64 = np.array([[float(v) for v in row] for row in ref])
    for name, kw in ALL:
        B = get_backend(name, **kw)
        out = B.activation(act, B.asarray(POINTS), derivative=derivative)
        if name == "arb":
            mids, rads = B.to_mpmath(out), B.radii(out)
            for m, r, e in zip(mids.ravel(), rads.ravel(), np.array(ref).ravel(), strict=True):
                # rigorous: the ball contains the 60-digit value (error 1e-60 << radius)
                assert abs(m - e) <= r + mpmath.mpf(10) ** -55
                assert r <= 2.0**-90 * (1 + abs(float(e)))
        elif name == "mpmath":
            got = B.to_mpmath(out)
            for g, e in zip(got.ravel(), np.array(ref).ravel(), strict=True):
                # a handful of roundings at 100 bits
                assert abs(g - e) <= 2.0**-94 * (1 + abs(e))
        else:
            got = B.to_numpy(out)
            # float32: inputs exact, ~10 roundings of 2^-24 in the expression;
            # float64: scipy/numpy special functions are accurate to a few ulp
            rtol = 2e-6 if name == "float32" else 1e-14
            assert out.dtype == (np.float32 if name == "float32" else np.float64)
            np.testing.assert_allclose(got, ref64, rtol=rtol, atol=rtol)


def test_activation_pair_equals_separate_calls():
    B = get_backend("arb", bits=120)
    z = B.asarray(POINTS)
    s, ds = B.activation_pair("gelu", z)
    assert B.to_mpmath(s).tolist() == B.to_mpmath(B.activation("gelu", z)).tolist()
    assert B.to_mpmath(ds).tolist() == B.to_mpmath(
        B.activation("gelu", z, derivative=True)).tolist()


def test_step_has_no_derivative_on_any_backend():
    for name, kw in ALL:
        B = get_backend(name, **kw)
        with pytest.raises(ValueError, match="derivative"):
            B.activation("step", B.asarray(POINTS), derivative=True)


@settings(max_examples=40, deadline=None)
@given(
    center=st.floats(-3, 3),
    radius=st.floats(1e-6, 0.5),
    name=st.sampled_from(["relu", "elu", "leaky_relu", "abs", "erf", "gelu", "tanh"]),
    derivative=st.booleans(),
)
def test_arb_activation_encloses_every_point_of_a_ball(center, radius, name, derivative):
    """Sound Piecewise: a ball straddling a kink gets the union of the branches."""
    act = get(name)
    B = get_backend("arb", bits=80)
    with B.scope():
        ball = flint.arb(center, radius)
        z = flint.arb_mat([[ball]])
    out = B.activation(act, z, derivative=derivative)[0, 0]
    f = act.mpmath_function(derivative=derivative)
    for t in np.linspace(-1, 1, 9):
        point = center + radius * t * (1 - 1e-9)
        value = f(mpmath.mpf(point))
        with B.scope():
            assert out.contains(flint.arb(float(value))) or abs(
                float(out.mid()) - float(value)) <= float(out.rad()) + 1e-15


def test_midpoint_reset_and_no_reset():
    x = np.array([[0.1, 0.2]])
    Br = get_backend("arb", bits=60)
    Bn = get_backend("arb", bits=60, mode="no-reset")
    assert Br.radius_meaning == "per-step rounding"
    assert Bn.radius_meaning == "rigorous enclosure"
    for B in (Br, Bn):
        e = B.activation("erf", B.asarray(x))
        assert B.max_radius(e) > 0
    assert Br.max_radius(Br.reset_midpoints(e)) == 0.0
    assert Bn.max_radius(Bn.reset_midpoints(e)) > 0.0
