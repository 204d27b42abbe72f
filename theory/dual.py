r"""Dual kernels at any precision (mpmath), with a quadrature fallback.

.. math:: k(q_{11}, q_{12}, q_{22}) = \mathbb{E}[\sigma(u)\sigma(v)], \qquad
          (u, v) \sim \mathcal N\!\left(0, \begin{pmatrix} q_{11} & q_{12} \\
          q_{12} & q_{22}\end{pmatrix}\right)

and the derivative kernel :math:`\mathbb{E}[\sigma'(u)\sigma'(v)]` (``derivative=True``).
Closed forms from the registry are lambdified to mpmath; activations without
one (tanh, user activations) use the Gaussian quadrature engine below.

Quadrature engine
-----------------
Write :math:`u = s_1 z_1`, :math:`v = s_2(\rho z_1 + c z_2)` with
:math:`s_i = \sqrt{q_{ii}}`, :math:`c = \sqrt{1-\rho^2}` and
:math:`z_1, z_2` independent standard normals. Then

.. math:: k = \int \sigma(s_1 z_1)\,\varphi(z_1)\, g(z_1)\,dz_1, \qquad
          g(z_1) = \int \sigma(s_2(\rho z_1 + c z_2))\,\varphi(z_2)\,dz_2 .

Both integrals are truncated to :math:`|z| \le L` with
:math:`\varphi(L) \approx 10^{-(D+6)}` (``D`` = target digits; activations are
assumed to grow at most polynomially, so the neglected tail is below the target).

* **Smooth activations** (no kinks): the trapezoidal rule on the line. For an
  integrand analytic in the strip :math:`|\Im z| < d` its error is
  :math:`O(e^{-2\pi d/h})` (Trefethen & Weideman, SIAM Review 56 (2014), Thm 5.1),
  i.e. halving ``h`` squares the error.
* **Kinked activations** (``Activation.kinks``): the inner integral is split where
  :math:`v` crosses a kink, :math:`z_2 = (k/s_2 - \rho z_1)/c`; the outer one where
  :math:`u` crosses a kink, :math:`z_1 = k/s_1`, and also at :math:`z_1 = k/(s_2\rho)`,
  where the smoothed inner function :math:`g` has its (width-:math:`c`) transition,
  so that :math:`\rho \to \pm 1` stays accurate. Each piece is integrated by the
  tanh-sinh rule (Takahasi & Mori 1974), which converges double-exponentially for
  integrands analytic inside the piece, whatever their behaviour at its ends.

Both rules are nested: the rule with step ``h`` uses every other node of the rule
with step ``h/2``, so one pass gives the level-``h`` and level-``h/2`` values. The
error after halving is about the square of the relative difference ``e`` of the
two (both rules converge like :math:`e^{-a/h}`), so the fine value is accepted when
:math:`e \le 10^{-(D/2+1)}`, i.e. predicted error :math:`\lesssim 10^{-(D+2)}`
relative to :math:`\mathbb{E}|\sigma(u)\sigma(v)|` (the natural scale: it bounds
the kernel by Cauchy–Schwarz-type reasoning and is computed in the same pass).
Otherwise the step is halved again; after ``_MAX_LEVEL`` halvings a
:class:`QuadratureError` says so rather than returning an inaccurate number.

The arithmetic is a :class:`theory.arithmetic.Arithmetic`: with ``dps=None`` the
engine runs in Python floats with ``math``-module versions of the activation
(``D = 15``; milliseconds to ~0.1 s per entry); with ``dps`` given it runs in mpmath
at ``dps + 10`` working digits (:func:`theory.arithmetic.guarded`) and targets
``D = dps + 2``.

Float64 array versions live in ``numerics.kernels``; this module is the
reference they are tested against.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import sympy as sp

from theory.activations import Activation, resolve
from theory.arithmetic import Arithmetic, check_real, guarded
from theory.gaussian import check_gaussian_expectation
from theory.special import MPMATH_FUNCTIONS
from theory.symbols import q, q11, q12, q22, x

__all__ = [
    "QuadratureError",
    "dual_diagonal",
    "dual_kernel",
    "expectation",
    "kernel_expression",
    "quadrature_dual_kernel",
]

_LAMBDA_CACHE: dict = {}
_FLOAT_CACHE: dict = {}
_NODE_CACHE: dict = {}

#: number of step halvings tried beyond the starting level before giving up
_MAX_EXTRA_LEVELS = 5


class QuadratureError(ArithmeticError):
    """The quadrature did not reach the requested accuracy."""


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------

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


def _check_covariance(Q11, Q12, Q22):
    """Validate a 2x2 covariance; return q12 clamped to [-sqrt(q11 q22), sqrt(q11 q22)]."""
    if Q11 < 0:
        raise ValueError(f"q11 (variance) must be >= 0, got {mpmath.nstr(Q11, 8)}")
    if Q22 < 0:
        raise ValueError(f"q22 (variance) must be >= 0, got {mpmath.nstr(Q22, 8)}")
    bound = mpmath.sqrt(Q11 * Q22)
    # |rho| may exceed 1 by rounding of the caller's arithmetic: allow 64 ulps of
    # double precision (the coarsest arithmetic our callers use) relative to the bound
    slack = 64 * mpmath.mpf(2) ** -52 * max(bound, abs(Q12))
    if abs(Q12) > bound + slack:
        raise ValueError(
            f"covariance is not positive semi-definite: |q12| = {mpmath.nstr(abs(Q12), 10)} "
            f"exceeds sqrt(q11 q22) = {mpmath.nstr(bound, 10)}; |rho| = |q12|/sqrt(q11 q22) "
            "must be <= 1"
        )
    return max(-bound, min(bound, Q12))


def _real(value):
    """Closed forms evaluated at |rho| = 1 up to rounding can pick up an imaginary part
    of rounding size (sqrt of -1 ulp); drop it, refuse anything larger."""
    if isinstance(value, mpmath.mpc):
        if abs(value.imag) > mpmath.eps ** 0.5 * max(1, abs(value.real)):
            raise QuadratureError(f"closed form returned a complex value {value}")
        return value.real
    return value


# ---------------------------------------------------------------------------
# the rules' parameters in an arithmetic
# ---------------------------------------------------------------------------

class _Rule:
    """Target digits ``D``, truncation ``L`` and acceptance threshold of the nested rules,
    as numbers of the arithmetic ``A`` (a :class:`theory.arithmetic.Arithmetic`)."""

    def __init__(self, A: Arithmetic):
        self.A = A
        # two guard digits on the mpmath path so that the result is right to dps digits
        self.digits = A.digits if A.is_float else A.digits + 2
        self.inv_sqrt_2pi = 1 / A.sqrt(2 * A.pi)
        # phi(L) = 10^-(D+6): L^2/2 = (D+6) ln 10
        self.L = A.mpf(math.sqrt(2 * math.log(10) * (self.digits + 6)))
        # accept the fine value when the coarse/fine relative difference e is at most
        # 10^-(D/2): the fine error is then about e^2 <= 10^-D (see the module docstring)
        self.accept = A.mpf(10) ** (-(self.digits / 2))

    def phi(self, z):
        return self.A.exp(-z * z / 2) * self.inv_sqrt_2pi


def _line_nodes(level, R):
    """Trapezoid nodes z = j h on [-L, L], h = 2^-level: (z, weight, in_coarse_rule)."""
    key = ("line", level, R.digits, R.A.is_float)
    if key not in _NODE_CACHE:
        h = R.A.mpf(2) ** -level
        count = int(math.floor(float(R.L) / float(h)))
        _NODE_CACHE[key] = [(j * h, h * R.phi(j * h), j % 2 == 0)
                            for j in range(-count, count + 1)]
    return _NODE_CACHE[key]


def _tanh_sinh_nodes(level, R):
    r"""Tanh-sinh nodes on [-1, 1]: :math:`x = \tanh(\tfrac\pi2\sinh t)`,
    :math:`w = h\,\tfrac\pi2\cosh t/\cosh^2(\tfrac\pi2\sinh t)`, ``t = j h``,
    truncated where the weight drops below :math:`10^{-(D+8)}`."""
    key = ("tanh-sinh", level, R.digits, R.A.is_float)
    if key not in _NODE_CACHE:
        # nodes to 15 digits beyond the target, then rounded to the arithmetic (not the
        # guard-digit ritual: the nodes are cached and shared by all callers)
        with mpmath.workdps(R.digits + 15):
            h = mpmath.mpf(2) ** -level
            tiny = mpmath.mpf(10) ** -(R.digits + 8)
            halfpi = mpmath.pi / 2
            nodes = []
            j = 0
            while True:
                t = j * h
                y = halfpi * mpmath.sinh(t)
                xj = mpmath.tanh(y)
                wj = h * halfpi * mpmath.cosh(t) / mpmath.cosh(y) ** 2
                if j > 0 and wj < tiny:
                    break
                nodes.append((xj, wj, j % 2 == 0))
                if j > 0:
                    nodes.append((-xj, wj, j % 2 == 0))
                j += 1
        conv = R.A.mpf
        _NODE_CACHE[key] = [(conv(a), conv(b), c) for a, b, c in nodes]
    return _NODE_CACHE[key]


def _sum_1d(F, breaks, level, R, smooth):
    r"""Fine, coarse and absolute sums for :math:`\int_{-L}^{L} F(z)\varphi(z)\,dz`.

    ``smooth``: trapezoid on the line; else tanh-sinh on the pieces between the
    ``breaks`` that fall inside (-L, L).
    """
    fine = coarse = absolute = R.A.mpf(0)
    if smooth:
        for z, pw, even in _line_nodes(level, R):
            val = F(z) * pw
            fine += val
            absolute += abs(val)
            if even:
                coarse += val
        return fine, 2 * coarse, absolute
    L = R.L
    cuts = sorted({b for b in breaks if -L < b < L})
    edges = [-L, *cuts, L]
    nodes = _tanh_sinh_nodes(level, R)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        mid, half = (a + b) / 2, (b - a) / 2
        for xn, wn, even in nodes:
            z = mid + half * xn
            val = F(z) * (half * wn) * R.phi(z)
            fine += val
            absolute += abs(val)
            if even:
                coarse += val
    return fine, 2 * coarse, absolute


def _start_level(R, smooth, scale):
    """First (coarse) level: the trapezoid error e^{-2 pi d/h} has d ~ pi/(2 s) for
    tanh-like activations at standard deviation s, so h scales like 1/(s D)."""
    base = max(2, math.ceil(math.log2(R.digits / 8))) if smooth else 3
    if smooth and scale > 1:
        base += math.ceil(math.log2(scale))
    return base


#: trapezoid nodes per dimension the smooth rule may use at its first level (1-D, 2-D):
#: beyond them one kernel takes minutes (2-D: the square of it, ~1 us per node in floats)
_NODE_BUDGET = {1: 2**16, 2: 2**12}


def _check_node_budget(R, smooth, scale, dims, what):
    """ValueError (naming the standard deviation and the largest accepted one) when the
    smooth rule's step ~1/(scale D) needs more than _NODE_BUDGET nodes per dimension: a
    very large variance for a smooth activation such as tanh (1e30 hung before)."""
    if not smooth:
        return
    nodes = 2 * float(R.L) * 2 ** _start_level(R, smooth, scale)
    budget = _NODE_BUDGET[dims]
    if nodes > budget:
        largest = budget / (2 * float(R.L) * 2 ** _start_level(R, smooth, 1))
        raise ValueError(
            f"{what}: a standard deviation of {float(scale):.4g} (variance "
            f"{float(scale) ** 2:.4g}) needs {nodes:.3g} trapezoid nodes per dimension, more "
            f"than the quadrature engine's {budget}; valid: standard deviations up to about "
            f"{largest:.4g} (variance {largest ** 2:.4g}) for this rule")


def _converge(compute, R, level0, what):
    last = None
    for level in range(level0, level0 + _MAX_EXTRA_LEVELS + 1):
        fine, coarse, absolute = compute(level)
        if absolute == 0:
            return fine
        diff = abs(fine - coarse) / absolute
        if diff <= R.accept:
            return fine
        last = diff
    raise QuadratureError(
        f"quadrature of {what} did not converge to {R.digits} digits "
        f"(last relative coarse/fine difference {float(last):.3g}); the integrand may be "
        "too steep or grow too fast for the truncated domain"
    )


# ---------------------------------------------------------------------------
# activation callables for the float path
# ---------------------------------------------------------------------------

def _callable(act: Activation, derivative: bool, A: Arithmetic) -> Callable:
    """sigma or sigma' in the arithmetic of ``A``: mpmath, or Python floats through a
    ``math``-module lambdify (checked against mpmath at a few points; if it fails,
    the mpmath callable converted to float)."""
    if derivative:
        act.require_derivative()
    mp_f = act.mpmath_function(derivative)
    if not A.is_float:
        return mp_f
    key = (act, derivative)
    if key not in _FLOAT_CACHE:
        expr = act.derivative if derivative else act.expr
        fallback = _float_of(mp_f)
        try:
            f = sp.lambdify(x, expr, modules="math")
            ok = True
            for z in (-3.7, -1.0, -0.25, 0.0, 0.5, 1.3, 4.2):
                a, b = float(f(z)), float(mp_f(z))
                if not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300):
                    ok = False
            candidate = _guard_overflow(f, fallback) if ok else fallback
        except Exception:  # noqa: BLE001 - any failure means: use the mpmath version
            candidate = fallback
        _FLOAT_CACHE[key] = candidate
    return _FLOAT_CACHE[key]


def _float_of(mp_f):
    return lambda z: float(mp_f(z))


def _guard_overflow(f, fallback):
    def g(z):
        try:
            return f(z)
        except (OverflowError, ValueError, ZeroDivisionError):
            return fallback(z)

    return g


# ---------------------------------------------------------------------------
# expectations
# ---------------------------------------------------------------------------

def _kink_values(act, R):
    """The activation's kinks as numbers of the arithmetic R.A (kinks may be exact SymPy
    numbers such as sqrt(2))."""
    num = R.A.mpf
    return [num(mpmath.mpf(sp.N(k, R.digits + 15))) if isinstance(k, sp.Basic) else num(k)
            for k in act.kinks]


def _expect_1d(F, breaks, smooth, R, scale, what):
    _check_node_budget(R, smooth, scale, 1, what)
    return _converge(lambda level: _sum_1d(F, breaks, level, R, smooth), R,
                     _start_level(R, smooth, scale), what)


def _expect_2d(f, g, kinks, S1, S2, rho, R, what):
    r""":math:`\mathbb{E}[f(s_1 z_1) g(s_2(\rho z_1 + c z_2))]` for :math:`|\rho| < 1`."""
    A = R.A
    c = A.sqrt(1 - rho * rho)
    S2c = S2 * c
    smooth = not kinks
    _check_node_budget(R, smooth, max(S1, S2), 2, what)
    outer_breaks = {k / S1 for k in kinks}
    if rho != 0:
        outer_breaks |= {k / (S2 * rho) for k in kinks}

    def compute(level):
        fine = coarse = absolute = A.mpf(0)
        if smooth:
            outer = [(z, pw, even) for z, pw, even in _line_nodes(level, R)]
        else:
            outer = []
            cuts = sorted({b for b in outer_breaks if -R.L < b < R.L})
            edges = [-R.L, *cuts, R.L]
            for a, b in zip(edges[:-1], edges[1:], strict=True):
                mid, half = (a + b) / 2, (b - a) / 2
                for xn, wn, even in _tanh_sinh_nodes(level, R):
                    z = mid + half * xn
                    outer.append((z, half * wn * R.phi(z), even))
        for z1, pw, even in outer:
            fz = f(S1 * z1)
            if fz == 0:
                continue
            shift = S2 * rho * z1
            inner_breaks = [(k / S2 - rho * z1) / c for k in kinks]
            i_f, i_c, i_a = _sum_1d(lambda z2, m=shift: g(m + S2c * z2), inner_breaks, level, R,
                                    smooth)
            w = pw * fz
            fine += w * i_f
            absolute += abs(w) * i_a
            if even:
                coarse += w * i_c
        return fine, 2 * coarse, absolute

    return _converge(compute, R, _start_level(R, smooth, max(S1, S2)), what)


@guarded()
def expectation(fn, *, variance=1, kinks=(), smooth=None, dps=None):
    r""":math:`\mathbb{E}[f(u)]`, :math:`u \sim \mathcal N(0, \text{variance})`, with the
    quadrature engine of this module (``fn`` takes an mpmath number when ``dps`` is
    given, a float otherwise; ``kinks`` are points in ``u`` where ``fn`` is not smooth).
    """
    A = Arithmetic(dps)
    R = _Rule(A)
    var = check_real("variance", variance, nonnegative=True)
    if var == 0:
        return fn(A.mpf(0))
    s = A.mpf(mpmath.sqrt(var))
    breaks = [A.mpf(k) / s for k in kinks]
    is_smooth = not kinks if smooth is None else smooth
    return _expect_1d(lambda z: fn(s * z), breaks, is_smooth, R, s, "E[f(u)]")


@guarded()
def quadrature_dual_kernel(activation, q11_value, q12_value, q22_value, *, derivative=False,
                           dps=None, **params):
    """The dual kernel by the quadrature engine, ignoring any closed form (for checks)."""
    return _evaluate_pair(_quadrature, activation, q11_value, q12_value, q22_value,
                          derivative, dps, params)


def _inputs(q11_value, q12_value, q22_value):
    Q11, Q12, Q22 = (check_real(n, v) for n, v in
                     (("q11", q11_value), ("q12", q12_value), ("q22", q22_value)))
    return Q11, _check_covariance(Q11, Q12, Q22), Q22


def _quadrature(act, Q11, Q12, Q22, derivative, A):
    R = _Rule(A)
    # divergent (e.g. exp(x^2/4) at q >= 1) or too close to it for the truncation at L
    largest = (Q11 + Q22) / 2 + mpmath.sqrt(((Q11 - Q22) / 2) ** 2 + Q12**2)
    check_gaussian_expectation(act, derivative, largest, truncation=float(R.L),
                               digits=R.digits)
    s = _callable(act, derivative, A)
    kinks = _kink_values(act, R)
    what = ("E[s'(u)s'(v)]" if derivative else "E[s(u)s(v)]") + f" for {act.label}"
    if Q11 == 0 or Q22 == 0:
        # one of u, v is identically 0
        if Q11 == 0 and Q22 == 0:
            return s(A.mpf(0)) * s(A.mpf(0))
        Qn = Q22 if Q11 == 0 else Q11
        Sn = A.mpf(mpmath.sqrt(Qn))
        return s(A.mpf(0)) * _expect_1d(lambda z: s(Sn * z), [A.mpf(k) / Sn for k in kinks],
                                        not kinks, R, Sn, what)
    S1, S2 = A.mpf(mpmath.sqrt(Q11)), A.mpf(mpmath.sqrt(Q22))
    rho = Q12 / mpmath.sqrt(Q11 * Q22)
    if abs(rho) == 1:
        # v = +-s2/s1 u: a one-dimensional expectation, split where either factor kinks
        S2r = S2 * A.mpf(rho)
        breaks = [A.mpf(k) / S1 for k in kinks] + [A.mpf(k) / S2r for k in kinks]
        return _expect_1d(lambda z: s(S1 * z) * s(S2r * z), breaks, not kinks, R,
                          max(S1, S2), what)
    return _expect_2d(s, s, kinks, S1, S2, A.mpf(rho), R, what)


# ---------------------------------------------------------------------------
# public kernels
# ---------------------------------------------------------------------------

@guarded()
def dual_diagonal(activation, q_value, *, derivative=False, dps=None, **params):
    r""":math:`\mathbb{E}[\sigma(u)^2]` (or :math:`\mathbb{E}[\sigma'(u)^2]`) for
    :math:`u \sim \mathcal N(0, q)`. Float by default, mpmath number when
    ``dps`` is given."""
    act = resolve(activation, **params)
    if derivative:
        act.require_derivative()
    Q = check_real("q (variance)", q_value, nonnegative=True)
    f = _mp_closed_form(act, derivative, True)
    if Q == 0 or f is None:
        return _quadrature(act, Q, Q, Q, derivative, Arithmetic(dps))
    return _real(f(Q))


@guarded()
def dual_kernel(activation, q11_value, q12_value, q22_value, *, derivative=False, dps=None,
                **params):
    r"""Dual kernel :math:`\mathbb{E}[\sigma(u)\sigma(v)]` (``derivative=False``) or
    :math:`\mathbb{E}[\sigma'(u)\sigma'(v)]` (``derivative=True``) at ``dps`` digits.

    Returns a float when ``dps`` is None, else an mpmath number at ``dps`` digits.
    Closed forms are used where the registry has them, the quadrature engine of this
    module otherwise. Raises ValueError for a non-PSD covariance (|rho| > 1 beyond
    rounding), negative variances, non-finite input or a non-positive ``dps``.

    >>> round(dual_kernel("relu", 1, 0, 1), 12)   # 1/(2 pi)
    0.159154943092
    """
    return _evaluate_pair(_dual_mp, activation, q11_value, q12_value, q22_value,
                          derivative, dps, params)


def _evaluate_pair(evaluator, activation, q11_value, q12_value, q22_value, derivative, dps,
                   params):
    """Shared front end of dual_kernel and quadrature_dual_kernel (both run under
    :func:`~theory.arithmetic.guarded`): resolve, validate, evaluate."""
    act = resolve(activation, **params)
    if derivative:
        act.require_derivative()
    Q11, Q12, Q22 = _inputs(q11_value, q12_value, q22_value)
    return evaluator(act, Q11, Q12, Q22, derivative, Arithmetic(dps))


def _dual_mp(act, Q11, Q12, Q22, derivative, A):
    if Q11 == Q22 and Q12 == Q11:
        f = _mp_closed_form(act, derivative, True)
        if f is not None and Q11 > 0:
            return _real(f(Q11))
    bound = mpmath.sqrt(Q11 * Q22)
    f = _mp_closed_form(act, derivative, False)
    if f is None or Q11 == 0 or Q22 == 0 or abs(Q12) == bound:
        # no closed form, or a degenerate covariance where closed forms divide by 0
        return _quadrature(act, Q11, Q12, Q22, derivative, A)
    return _real(f(Q11, Q12, Q22))


def correlation(q11_value, q12_value, q22_value) -> float:
    """rho = q12 / sqrt(q11 q22) (a convenience for REPL use)."""
    return q12_value / math.sqrt(q11_value * q22_value)
