"""Property-based fuzzing of the public numeric edge: for random valid inputs the result is
finite and agrees with an independent 30-digit reference relative to the kernel's scale
sqrt(k(q11) k(q22)); for random invalid inputs the answer is a ValueError, never another
exception and never a silent non-finite number. Bounded examples (seconds in total)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import numerics.kernels as nk
from numerics.precision import get_backend
from theory import fixedpoints as fp
from theory.activations import register
from theory.dual import dual_kernel as mp_dual_kernel

#: activations with closed forms (cheap 30-digit references); ELU's mpmath tilted orthant
#: costs ~0.1 s a call, so it gets fewer examples
CLOSED = ["relu", "leaky_relu", "abs", "step", "erf", "gelu", "sin", "cos", "identity"]
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

variances = hs.floats(1e-3, 1e3)
correlations = hs.floats(-1.0, 1.0)


def _scale(name, q11, q22, derivative):
    d1 = nk.dual_diagonal(name, q11, derivative=derivative)
    d2 = nk.dual_diagonal(name, q22, derivative=derivative)
    return math.sqrt(abs(float(d1) * float(d2)))


@FUZZ
@given(hs.sampled_from(CLOSED), variances, variances, correlations, hs.booleans())
def test_float64_kernels_agree_with_30_digits(name, q11, q22, rho, derivative):
    if derivative and name == "step":
        return  # no NTK (a clear ValueError, tested below)
    q12 = rho * math.sqrt(q11 * q22)
    got = float(nk.dual_kernel(name, q11, q12, q22, derivative=derivative))
    ref = float(mp_dual_kernel(name, q11, q12, q22, derivative=derivative, dps=30))
    assert math.isfinite(got)
    # the float64 forms are accurate to a few hundred ulps of the scale, plus the kernel's
    # own sensitivity to rounding the inputs (arccos at |rho| -> 1: sqrt(eps) for kinks)
    moved = float(mp_dual_kernel(name, q11, q12 * (1 - 8 * 2.0**-52), q22,
                                 derivative=derivative, dps=30))
    tol = 1e-12 * max(_scale(name, q11, q22, derivative), 1e-300) + abs(moved - ref)
    assert abs(got - ref) <= tol


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.floats(1e-2, 1e2), hs.floats(1e-2, 1e2), hs.floats(-0.99, 0.99))
def test_elu_float64_agrees_with_30_digits(q11, q22, rho):
    q12 = rho * math.sqrt(q11 * q22)
    got = float(nk.dual_kernel("elu", q11, q12, q22))
    ref = float(mp_dual_kernel("elu", q11, q12, q22, dps=30))
    assert abs(got - ref) <= 1e-12 * _scale("elu", q11, q22, False)


bad_numbers = hs.one_of(hs.just(math.nan), hs.just(math.inf), hs.just(-1.0), hs.just(True),
                        hs.just("1"), hs.just(1 + 2j), hs.just(None))


@FUZZ
@given(hs.sampled_from(CLOSED + ["tanh"]), bad_numbers, hs.integers(0, 2))
def test_invalid_kernel_arguments_are_value_errors(name, bad, position):
    args = [1.0, 0.3, 2.0]
    if position == 1 and isinstance(bad, float) and bad == -1.0:
        bad = 5.0  # |rho| > 1: q12 = 5 > sqrt(q11 q22)
    args[position] = bad
    for fn in (nk.dual_kernel, mp_dual_kernel):
        with pytest.raises(ValueError):
            fn(name, *args)


@FUZZ
@given(hs.sampled_from(["relu", "erf", "gelu", "tanh"]), bad_numbers)
def test_invalid_fixed_point_arguments_are_value_errors(name, bad):
    with pytest.raises(ValueError):
        fp.length_map(name, bad, sigma_w=1.0, sigma_b=0.1)
    with pytest.raises(ValueError):
        fp.correlation_map(name, 0.5, sigma_w=bad, sigma_b=0.1, q=1.0)


def test_step_has_no_ntk_and_says_so():
    with pytest.raises(ValueError, match="NTK"):
        nk.dual_kernel("step", 1.0, 0.3, 1.0, derivative=True)


@FUZZ
@given(hs.sampled_from(CLOSED), hs.integers(1, 3),
       hs.lists(hs.floats(-3, 3), min_size=6, max_size=6))
def test_grams_are_finite_symmetric_psd(name, depth, flat):
    X = np.array(flat).reshape(3, 2)
    K = nk.nngp(X, activation=name, hidden_layers=depth, sigma_w=1.3, sigma_b=0.2)
    assert np.all(np.isfinite(K)) and np.array_equal(K, K.T)
    assert np.linalg.eigvalsh(K).min() >= -1e-10 * np.abs(K).max()


_atoms = hs.sampled_from(["x", "1", "2", "0.5", "pi", "E"])
_funcs = hs.sampled_from(["sin", "cos", "exp", "tanh", "erf", "log", "sqrt", "Abs", "atan",
                          "Max", "Heaviside", "sinh", "nonsense", "__import__"])
_ops = hs.sampled_from(["+", "-", "*", "/", "**", "^", ",", ".", ";", "@", ""])


@hs.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(hs.booleans()):
        return draw(_atoms)
    if draw(hs.booleans()):
        return f"{draw(_funcs)}({draw(expressions(depth - 1))})"
    return f"({draw(expressions(depth - 1))}{draw(_ops)}{draw(expressions(depth - 1))})"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_register_gives_an_entry_or_a_value_error(text):
    try:
        act = register("fuzzed_activation", text, overwrite=True)
    except ValueError:
        return
    value = act.mpmath_function()(0.3)
    assert math.isfinite(float(value))


@pytest.mark.parametrize("backend", ["float32", "float64", "mpmath", "arb"])
def test_backends_refuse_bad_precision(backend):
    for bad in (-1, 0, 2.5, True, "10", math.nan):
        with pytest.raises(ValueError):
            get_backend(backend, dps=bad) if backend in ("mpmath", "arb") else get_backend(
                backend, bits=bad)


# ---------------------------------------------------------------------------
# precision backends against each other
# ---------------------------------------------------------------------------

#: unit roundoff of each backend as tested (mpmath and Arb at 20 digits = 70 bits)
_BACKEND_UNIT = {"float32": 2.0**-24, "float64": 2.0**-53, "mpmath": 2.0**-70, "arb": 2.0**-70}
#: activations with a derivative, every family of the registry
_SMOOTH_AND_KINKED = ["relu", "leaky_relu", "abs", "identity", "erf", "gelu", "sin", "cos",
                      "tanh", "elu"]
#: roundings per activation evaluation allowed: the registry's expressions are chains of at
#: most a few operations (x Phi(x) for GELU: a division, erf, an addition, two products)
_ROUNDINGS = 8

_entries = hs.floats(-4.0, 4.0, width=32)  # float32-representable: exact on every backend


def _backend(name):
    return get_backend(name, dps=20) if name in ("mpmath", "arb") else get_backend(name)


def _mp(backend, a):
    """Midpoints as mpf at 60 digits and the radii (0 off Arb)."""
    mid = backend.to_mpmath(a)
    return mid, backend.max_radius(a)


def _backend_errors(backend_name, act, A, B):
    """Each backend's matmul and sigma, sigma' against mpmath at 60 digits, as ratios of the
    error to its bound: Higham's gamma_n sum_k |a_ik||b_kj| (Accuracy and Stability of
    Numerical Algorithms, 2nd ed., eq. 3.13) for the product; _ROUNDINGS units of roundoff
    times the scale 1 + |f(z)| + |z f'(z)| (the argument's own rounding enters through
    z f'(z)) for f = sigma, sigma'; Arb: plus its radius."""
    import mpmath

    X = _backend(backend_name)
    u = _BACKEND_UNIT[backend_name]
    ratios = []
    with mpmath.workdps(60):
        Am = np.vectorize(mpmath.mpf, otypes=[object])(A)
        Bm = np.vectorize(mpmath.mpf, otypes=[object])(B)
        ref = Am @ Bm
        bound_mm = (A.shape[1] * u / (1 - A.shape[1] * u)) * (np.abs(A) @ np.abs(B))
        got, radius = _mp(X, X.matmul(X.asarray(A), X.asarray(B)))
        for g, r, b in zip(got.ravel(), ref.ravel(), bound_mm.ravel(), strict=True):
            ratios.append(float(abs(mpmath.mpf(g) - r)) / (b + radius + 1e-300))
        for derivative in (False, True):
            f = act.mpmath_function(derivative)
            got, radius = _mp(X, X.activation(act, X.asarray(A), derivative=derivative))
            for g, z in zip(got.ravel(), Am.ravel(), strict=True):
                value = f(z)
                slope = mpmath.diff(f, z) if z != 0 else 0  # kinks are at 0 only
                scale = 1 + abs(value) + abs(z * slope)
                ratios.append(float(abs(mpmath.mpf(g) - value))
                              / (_ROUNDINGS * u * float(scale) + radius))
    return ratios


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.sampled_from(list(_BACKEND_UNIT)), hs.sampled_from(_SMOOTH_AND_KINKED),
       hs.integers(1, 3), hs.integers(1, 4), hs.integers(1, 3), hs.data())
def test_precision_backends_agree_within_their_working_precision(backend_name, name, rows,
                                                                 inner, cols, data):
    """float32, float64, mpmath and Arb (20 digits) give matmul, sigma and sigma' within the
    rounding bound of their own working precision of a 60-digit mpmath reference: the
    backends compared with each other through one independent reference."""
    from theory.activations import get

    A = np.array(data.draw(hs.lists(_entries, min_size=rows * inner, max_size=rows * inner)),
                 dtype=float).reshape(rows, inner)
    B = np.array(data.draw(hs.lists(_entries, min_size=inner * cols, max_size=inner * cols)),
                 dtype=float).reshape(inner, cols)
    assert max(_backend_errors(backend_name, get(name), A, B)) <= 1


def test_backend_bound_separates_the_precisions():
    """The bound is tight enough to tell the precisions apart: float32's results break the
    float64 bound (so a float64 backend silently computing in float32 would FAIL)."""
    from theory.activations import get

    A = np.array([[0.1, 1.0 / 3.0, 2.0 / 7.0]], dtype=np.float32).astype(float)
    B = np.array([[0.3], [1.7], [-2.9]], dtype=np.float32).astype(float)
    saved = _BACKEND_UNIT["float32"]
    try:
        _BACKEND_UNIT["float32"] = _BACKEND_UNIT["float64"]  # judge float32 as if float64
        assert max(_backend_errors("float32", get("gelu"), A, B)) > 1
    finally:
        _BACKEND_UNIT["float32"] = saved
