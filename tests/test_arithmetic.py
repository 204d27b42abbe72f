"""theory.arithmetic: the explicit arithmetic context, guard digits, argument checkers."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import dual, gaussian, recursions
from theory import fixedpoints as fp
from theory.activations import get
from theory.arithmetic import Arithmetic, check_dps, check_real, guarded, target_digits

# --- the context ---------------------------------------------------------------


def test_floats_for_none_and_rounded_mpfs_for_an_int():
    floats, mp30 = Arithmetic(None), Arithmetic(30)
    assert (floats.dps, floats.digits, floats.is_float) == (None, 15, True)
    assert (mp30.dps, mp30.digits, mp30.is_float) == (30, 30, False)
    with mpmath.workdps(60):
        e = mpmath.e
        x = +e
    assert isinstance(floats.finish(x), float) and floats.finish(x) == math.e
    rounded = mp30.finish(x)
    assert isinstance(rounded, mpmath.mpf)
    with mpmath.workdps(30):
        assert rounded == +x and rounded.real._mpf_ == (+x)._mpf_
    assert mpmath.mp.dps == 15
    # containers are finished element by element; None, bools and strings pass through
    out = mp30.finish([x, (x, None), {"k": x, "flag": True, "name": "relu"}])
    assert isinstance(out[1], tuple) and out[1][1] is None and out[2]["name"] == "relu"
    assert out[2]["flag"] is True and out[0] == rounded == out[1][0] == out[2]["k"]
    assert floats.finish(mpmath.inf) == math.inf and floats.finish(0) == 0.0


def test_finish_rounds_dataclass_fields():
    @dataclasses.dataclass(frozen=True)
    class Pair:
        a: object
        b: object

    out = Arithmetic(None).finish(Pair(mpmath.mpf(1) / 3, None))
    assert isinstance(out, Pair) and isinstance(out.a, float) and out.b is None


def test_same_names_in_both_arithmetics():
    floats, mp25 = Arithmetic(None), Arithmetic(25)
    with mp25.guard(0):
        for name in ("sqrt", "exp", "log", "erf", "erfc", "npdf", "ncdf", "erfcx"):
            f, m = getattr(floats, name)(0.7), getattr(mp25, name)(mp25.mpf("0.7"))
            assert isinstance(f, float) and isinstance(m, mpmath.mpf)
            assert f == pytest.approx(float(m), rel=1e-15), name
        q_f = floats.quad(floats.npdf, [-floats.inf, 0, floats.inf])
        q_m = mp25.quad(mp25.npdf, [-mp25.inf, 0, mp25.inf])
        assert isinstance(q_f, float) and q_f == pytest.approx(1, rel=1e-14)
        assert abs(q_m - 1) < mpmath.mpf(10) ** -23
        root = mp25.findroot(lambda t: t * t - 2, 1.5)
        assert abs(root - mpmath.sqrt(2)) < mpmath.mpf(10) ** -23
        assert floats.findroot(lambda t: t * t - 2, 1.5) == pytest.approx(math.sqrt(2))
        assert floats.pi == math.pi and abs(mp25.pi - mpmath.pi) == 0
    assert Arithmetic(None) == floats and Arithmetic(25) == mp25 and floats != mp25


# --- guard digits --------------------------------------------------------------

X = mpmath.mpf(2) ** -14  # exact in every precision; exp(x) - 1 - x cancels ~9 digits


@guarded(extra=10)
def _remainder(x, *, dps=None):
    """(e^x - 1 - x)/x^2: the subtraction cancels log10(2/x^2) ~ 9 digits."""
    x = mpmath.mpf(x)
    return (mpmath.exp(x) - 1 - x) / (x * x)


def _remainder_unguarded(x, dps):
    with mpmath.workdps(dps):
        x = mpmath.mpf(x)
        return (mpmath.exp(x) - 1 - x) / (x * x)


def _reference(x):
    with mpmath.workdps(80):
        return mpmath.expm1(x) / (x * x) - 1 / x


def _relative_error(value, reference):
    with mpmath.workdps(80):
        return abs(mpmath.mpf(value) - reference) / abs(reference)


def test_guard_digits_make_a_cancellation_correct_to_dps_digits():
    reference = _reference(X)
    for dps in (20, 40):
        guarded_value = _remainder(X, dps=dps)
        assert isinstance(guarded_value, mpmath.mpf)
        assert _relative_error(guarded_value, reference) <= mpmath.mpf(10) ** (1 - dps)
        # without the guard the 9 cancelled digits are lost
        assert _relative_error(_remainder_unguarded(X, dps), reference) > mpmath.mpf(10) ** (
            6 - dps)
    value = _remainder(X)  # dps=None: a float within an ulp of the truth
    assert isinstance(value, float)
    assert _relative_error(value, reference) <= 2 ** -52
    naive = (math.exp(float(X)) - 1 - float(X)) / float(X) ** 2
    assert _relative_error(naive, reference) > 1e-9


def test_guarded_keeps_the_functions_default_and_checks_dps():
    @guarded()
    def digits(*, dps=30):
        return mpmath.mpf(mpmath.mp.dps)

    assert digits() == 40 and isinstance(digits(), mpmath.mpf)  # ran at 30 + 10 digits
    assert digits.__name__ == "digits"
    with mpmath.workdps(40):
        assert _remainder(X, dps=20) == _remainder(X, dps=20)
    with pytest.raises(ValueError, match="dps"):
        digits(dps=0)


# --- no state leaks ------------------------------------------------------------

def _public_calls():
    relu = get("relu")
    return [
        lambda: dual.dual_kernel("erf", 1.2, 0.3, 0.9),
        lambda: dual.dual_kernel("relu", 1.2, 0.3, 0.9, dps=30),
        lambda: dual.dual_diagonal("gelu", 1.1, dps=20),
        lambda: dual.expectation(lambda z: z * z, variance=2, dps=20),
        lambda: recursions.kernel_entries("relu", [1.0, 0.5], [0.2, 0.9], 2, 1.3, 0.1, dps=25),
        lambda: gaussian.hermite_coefficients(relu, 3, dps=20),
        lambda: gaussian.bivariate_normal_cdf_by_conditioning(0.3, -0.4, 0.5, dps=20),
        lambda: fp.length_map("erf", 1.3, sigma_w=1.4, sigma_b=0.2),
        lambda: fp.length_fixed_point("erf", sigma_w=1.4, sigma_b=0.2, dps=20),
        lambda: fp.correlation_map("relu", 0.3, sigma_w=1.5, sigma_b=0.1, q=2.0),
        lambda: fp.depth_scales("erf", sigma_w=1.4, sigma_b=0.2),
    ]


def _failing_calls():
    return [
        lambda: dual.dual_kernel("relu", 1, 2, 1, dps=30),  # not PSD
        lambda: fp.length_fixed_point("relu", sigma_w=2, sigma_b=0, dps=20),  # no fixed point
        lambda: fp.length_fixed_point("relu", sigma_w=2**0.5, sigma_b=0),  # every q fixed
        lambda: fp.correlation_map("erf", 2.0, sigma_w=1, sigma_b=0.1, dps=25),  # |rho| > 1
        lambda: recursions.kernel_entries("relu", [1.0], [float("nan")], 1, 1, 0, dps=20),
        lambda: gaussian.hermite_coefficients(get("relu"), -1, dps=20),
    ]


@pytest.mark.parametrize("ambient", [15, 37])
def test_no_state_leaks_and_no_dependence_on_the_ambient_precision(ambient):
    baseline = [call() for call in _public_calls()]
    with mpmath.workdps(ambient):
        values = [call() for call in _public_calls()]
        assert mpmath.mp.dps == ambient
        for call in _failing_calls():
            with pytest.raises(ValueError):
                call()
            assert mpmath.mp.dps == ambient
    assert mpmath.mp.dps == 15
    assert repr(values) == repr(baseline)  # the same numbers, to the last bit


def test_every_q_is_fixed_is_a_type_not_a_message():
    with pytest.raises(fp.EveryQIsFixed):
        fp.length_fixed_point("relu", sigma_w=2**0.5, sigma_b=0)
    assert issubclass(fp.EveryQIsFixed, ValueError)
    # the correlation quantities fall back to q = 1 on that type
    assert fp.chi1("relu", sigma_w=2**0.5, sigma_b=0) == pytest.approx(1, rel=1e-14)


def test_numerics_kernels_dps_branch_rounds_to_dps():
    from numerics import kernels

    x = np.array([[1.0, 0.0], [0.6, 0.8]])
    K = kernels.nngp(x, activation="relu", hidden_layers=2, sigma_w=1.4, sigma_b=0.1, dps=25)
    assert mpmath.mp.dps == 15
    reference = kernels.nngp(x, activation="relu", hidden_layers=2, sigma_w=1.4, sigma_b=0.1,
                             dps=40)
    with mpmath.workdps(25):
        assert all(v == +v for v in K.ravel())  # rounded to 25 digits
    with mpmath.workdps(50):
        assert max(abs(a - b) for a, b in zip(K.ravel(), reference.ravel(), strict=True)) < (
            mpmath.mpf(10) ** -23)


# --- argument checkers ---------------------------------------------------------

@pytest.mark.parametrize("dps", [None, 1, 30, np.int64(20), np.int32(7)])
def test_check_dps_accepts(dps):
    out = check_dps(dps)
    assert out is None if dps is None else (type(out) is int and out == dps)
    assert target_digits(dps) == (15 if dps is None else int(dps))


@pytest.mark.parametrize("dps", [True, False, "30", 30.0, np.float64(20), 0, -3, 1 + 0j, [30]])
def test_check_dps_refuses(dps):
    with pytest.raises(ValueError, match=r"dps must be a positive integer.*>= 1"):
        check_dps(dps)
    with pytest.raises(ValueError, match="dps"):
        dual.dual_kernel("relu", 1, 0.5, 1, dps=dps)


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_reals = st.one_of(
    _finite,
    _finite.map(np.float64),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(np.float32),
    st.integers(-(10**30), 10**30),
    st.integers(-(2**62), 2**62).map(np.int64),
    st.fractions(max_denominator=10**6),
    st.fractions(max_denominator=1000).map(lambda f: sp.Rational(f.numerator, f.denominator)),
    st.integers(-(10**6), 10**6).map(sp.Integer),
    _finite.map(mpmath.mpf),
)


def _exact(value):
    if isinstance(value, (np.floating, float)):
        return Fraction(float(value))
    if isinstance(value, sp.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, mpmath.mpf):
        return Fraction(float(value))
    return Fraction(int(value)) if isinstance(value, (int, np.integer)) else Fraction(value)


@settings(max_examples=200, deadline=None)
@given(_reals)
def test_check_real_accepts_real_scalars(value):
    with mpmath.workdps(60):
        v = check_real("x", value)
        assert isinstance(v, mpmath.mpf)
        exact = _exact(value)
        assert abs(v - mpmath.mpf(exact.numerator) / exact.denominator) <= abs(v) * (
            mpmath.mpf(10) ** -55)
    if _exact(value) > 0:
        assert check_real("x", value, positive=True) > 0
    if _exact(value) >= 0:
        assert check_real("x", value, nonnegative=True) >= 0


def test_check_real_accepts_sympy_numbers_and_decimal_strings_on_request():
    assert abs(check_real("x", sp.sqrt(2)) - mpmath.sqrt(2)) < 1e-15
    assert check_real("x", sp.Float("1.5")) == 1.5
    with mpmath.workdps(30):
        assert check_real("x", "0.3", decimal=True) == mpmath.mpf("0.3")


@pytest.mark.parametrize("value", [True, False, "0.3", b"1", 1 + 2j, mpmath.mpc(1, 1), sp.I,
                                   float("nan"), float("inf"), -math.inf, mpmath.inf, sp.oo,
                                   sp.nan, np.float64("nan"), None, [1.0], sp.Symbol("t")])
def test_check_real_refuses(value):
    with pytest.raises(ValueError, match=r"^sigma_w must be a finite real number"):
        check_real("sigma_w", value)


@pytest.mark.parametrize("value, kw, valid", [
    (0, {"positive": True}, "> 0"), (-1e-300, {"positive": True}, "> 0"),
    (-1, {"nonnegative": True}, ">= 0"), (Fraction(-1, 3), {"nonnegative": True}, ">= 0"),
])
def test_check_real_names_the_range(value, kw, valid):
    with pytest.raises(ValueError, match=rf"^q must be {valid}"):
        check_real("q", value, **kw)


def test_theory_uses_the_checkers():
    with pytest.raises(ValueError, match="sigma_w must be >= 0"):
        fp.length_map("relu", 1, sigma_w=-1, sigma_b=0)
    with pytest.raises(ValueError, match="q must be a finite real number"):
        fp.length_map("relu", "1", sigma_w=1, sigma_b=0)
    with pytest.raises(ValueError, match="q11 must be a finite real number"):
        dual.dual_kernel("relu", True, 0, 1)
    assert fp.length_map("relu", Fraction(1, 2), sigma_w=np.float32(2) ** 0.5,
                         sigma_b=sp.Integer(0)) == pytest.approx(0.5, rel=1e-7)


def test_docstring_example():
    import doctest

    import theory.arithmetic

    assert doctest.testmod(theory.arithmetic).failed == 0
