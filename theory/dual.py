r"""Dual kernels at any precision (mpmath).

.. math:: k(q_{11}, q_{12}, q_{22}) = \mathbb{E}[\sigma(u)\sigma(v)], \qquad
          (u, v) \sim \mathcal N\!\left(0, \begin{pmatrix} q_{11} & q_{12} \\
          q_{12} & q_{22}\end{pmatrix}\right)

and the derivative kernel :math:`\mathbb{E}[\sigma'(u)\sigma'(v)]` (``derivative=True``).
Closed forms from the registry are lambdified to mpmath; activations without
one use tanh-sinh quadrature of the inner expectation, split at the kinks so
piecewise activations are integrated to full precision.

Float64 array versions live in ``numerics.kernels``; this module is the
reference they are tested against.
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from theory.activations import Activation, q, q11, q12, q22, resolve
from theory.gaussian import MPMATH_FUNCTIONS, _check_dps

__all__ = ["dual_kernel", "dual_diagonal", "kernel_expression"]

_LAMBDA_CACHE: dict = {}


def kernel_expression(act: Activation, *, derivative=False, diagonal=False):
    """The registry's closed form (or None) for the requested kernel."""
    if derivative:
        act.require_derivative()
        return act.dual_derivative_diagonal if diagonal else act.dual_derivative
    return act.dual_diagonal if diagonal else act.dual


def _mp_closed_form(act, derivative, diagonal):
    key = (act, derivative, diagonal)
    if key not in _LAMBDA_CACHE:
        expr = kernel_expression(act, derivative=derivative, diagonal=diagonal)
        if expr is None:
            _LAMBDA_CACHE[key] = None
        else:
            args = (q,) if diagonal else (q11, q12, q22)
            _LAMBDA_CACHE[key] = sp.lambdify(args, expr, modules=[MPMATH_FUNCTIONS, "mpmath"])
    return _LAMBDA_CACHE[key]


def _as_mpf(name, value):
    try:
        v = mpmath.mpf(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not mpmath.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _check_covariance(Q11, Q12, Q22):
    if Q11 < 0:
        raise ValueError(f"q11 (variance) must be >= 0, got {Q11}")
    if Q22 < 0:
        raise ValueError(f"q22 (variance) must be >= 0, got {Q22}")
    bound = mpmath.sqrt(Q11 * Q22)
    # allow rounding noise of a few ulps of the working precision
    slack = 8 * mpmath.eps * max(bound, mpmath.mpf(1))
    if abs(Q12) > bound + slack:
        raise ValueError(
            f"covariance is not PSD: |q12| = {mpmath.nstr(abs(Q12), 8)} exceeds "
            f"sqrt(q11 q22) = {mpmath.nstr(bound, 8)} (|rho| must be <= 1)"
        )
    return max(-bound, min(bound, Q12))


def _finish(value, dps):
    return float(value) if dps is None else +value


def dual_diagonal(activation, q_value, *, derivative=False, dps=None, **params):
    r""":math:`\mathbb{E}[\sigma(u)^2]` (or :math:`\mathbb{E}[\sigma'(u)^2]`) for
    :math:`u \sim \mathcal N(0, q)`. Float by default, mpmath number when
    ``dps`` is given."""
    act = resolve(activation, **params)
    work = _check_dps(dps)
    with mpmath.workdps(work + 10):
        Q = _as_mpf("q", q_value)
        if Q < 0:
            raise ValueError(f"q (variance) must be >= 0, got {q_value}")
        f = _mp_closed_form(act, derivative, True)
        if Q == 0 or f is None:
            s = act.mpmath_function(derivative)
            if derivative:
                act.require_derivative()
            value = _expect_1d(lambda z: s(mpmath.sqrt(Q) * z) ** 2, act, Q)
        else:
            value = f(Q)
    with mpmath.workdps(work):
        return _finish(value, dps)


def _expect_1d(fn, act, scale):
    """E[fn(z)], split where sqrt(scale) z hits a kink."""
    if scale == 0:
        return fn(mpmath.mpf(0))
    kinks = [mpmath.mpf(k) / mpmath.sqrt(scale) for k in act.kinks]
    points = [-mpmath.inf, *sorted(set(kinks)), mpmath.inf]
    return mpmath.quad(lambda z: fn(z) * mpmath.npdf(z), points)


def dual_kernel(activation, q11_value, q12_value, q22_value, *, derivative=False, dps=None,
                **params):
    r"""Dual kernel :math:`\mathbb{E}[\sigma(u)\sigma(v)]` (``derivative=False``) or
    :math:`\mathbb{E}[\sigma'(u)\sigma'(v)]` (``derivative=True``) at ``dps`` digits.

    Returns a float when ``dps`` is None (computed at double precision plus
    guard digits), else an mpmath number. Raises ValueError for a non-PSD
    covariance, negative variances or non-finite input.
    """
    act = resolve(activation, **params)
    if derivative:
        act.require_derivative()
    work = _check_dps(dps)
    with mpmath.workdps(work + 10):
        Q11, Q12, Q22 = (_as_mpf(n, v) for n, v in
                         (("q11", q11_value), ("q12", q12_value), ("q22", q22_value)))
        Q12 = _check_covariance(Q11, Q12, Q22)
        value = _dual_mp(act, Q11, Q12, Q22, derivative)
    with mpmath.workdps(work):
        return _finish(value, dps)


def _dual_mp(act, Q11, Q12, Q22, derivative):
    s = act.mpmath_function(derivative)
    if Q11 == 0 or Q22 == 0:
        # one of u, v is identically 0
        if Q11 == 0 and Q22 == 0:
            return s(0) * s(0)
        Qn = Q22 if Q11 == 0 else Q11
        return s(0) * _expect_1d(lambda z: s(mpmath.sqrt(Qn) * z), act, Qn)
    bound = mpmath.sqrt(Q11 * Q22)
    if Q11 == Q22 and Q12 == bound:
        f = _mp_closed_form(act, derivative, True)
        if f is not None:
            return f(Q11)
    rho = Q12 / bound
    if abs(rho) == 1:
        s1, s2 = mpmath.sqrt(Q11), mpmath.sqrt(Q22) * rho
        kinks = {mpmath.mpf(k) / s1 for k in act.kinks} | {mpmath.mpf(k) / s2 for k in act.kinks}
        points = [-mpmath.inf, *sorted(kinks), mpmath.inf]
        return mpmath.quad(lambda z: s(s1 * z) * s(s2 * z) * mpmath.npdf(z), points)
    f = _mp_closed_form(act, derivative, False)
    if f is not None:
        return f(Q11, Q12, Q22)
    return _quadrature_2d(s, act.kinks, Q11, Q12, Q22)


def _quadrature_2d(s, kinks, Q11, Q12, Q22):
    """E[s(u)s(v)] with u = s1 z1, v = s2 (rho z1 + c z2); the inner integral over
    z2 is split where v crosses a kink, the outer where u does."""
    s1, s2 = mpmath.sqrt(Q11), mpmath.sqrt(Q22)
    rho = Q12 / (s1 * s2)
    c = mpmath.sqrt(1 - rho * rho)

    def inner(z1):
        cuts = sorted({(mpmath.mpf(k) / s2 - rho * z1) / c for k in kinks})
        return mpmath.quad(lambda z2: s(s2 * (rho * z1 + c * z2)) * mpmath.npdf(z2),
                           [-mpmath.inf, *cuts, mpmath.inf])

    outer_cuts = sorted({mpmath.mpf(k) / s1 for k in kinks})
    return mpmath.quad(lambda z1: s(s1 * z1) * inner(z1) * mpmath.npdf(z1),
                       [-mpmath.inf, *outer_cuts, mpmath.inf])


def correlation(q11_value, q12_value, q22_value) -> float:
    """rho = q12 / sqrt(q11 q22) (a convenience for REPL use)."""
    return q12_value / math.sqrt(q11_value * q22_value)
