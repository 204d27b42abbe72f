r"""Kernel fixed points, edge of chaos and depth scales (SymPy + mpmath only).

Signal propagation through a deep random network of width :math:`\to\infty`
(Poole et al. 2016, "Exponential expressivity in deep neural networks through
transient chaos"; Schoenholz et al. 2017, "Deep information propagation"):
with weights of variance :math:`\sigma_w^2/N` and biases of variance
:math:`\sigma_b^2`, the pre-activation variance follows the **length map**

.. math:: \mathcal L(q) = \sigma_w^2\,\mathbb E_{z}\big[\sigma(\sqrt q\,z)^2\big] + \sigma_b^2,

and the correlation of two inputs of equal variance :math:`q` follows the
**correlation map**

.. math:: \mathcal C_q(\rho) = \frac{\sigma_w^2\,\mathbb E[\sigma(u)\sigma(v)] + \sigma_b^2}
          {\sigma_w^2\,\mathbb E[\sigma(u)^2] + \sigma_b^2},\qquad
          \operatorname{Var} u = \operatorname{Var} v = q,\ \operatorname{Cov}(u,v) = \rho q .

At a fixed point :math:`q = q^* = \mathcal L(q^*)` the denominator is
:math:`q^*`, which is the convention :math:`\rho \mapsto (\sigma_w^2 \mathbb E[\sigma(u)
\sigma(v)] + \sigma_b^2)/q^*` of the usual mean-field papers (Poole et al. 2016);
dividing by :math:`\mathcal L(q)`
makes :math:`\mathcal C_q(1) = 1` for every ``q`` a user passes, and it is the
exact one-layer map of the correlation of two equal-variance inputs.
Slopes: :math:`\chi_1 = \sigma_w^2 \mathbb E[\sigma'(\sqrt{q^*} z)^2]`
(:math:`= \mathcal C'(1)` at a fixed point), :math:`\chi_c = \sigma_w^2
\mathbb E[\sigma'(u)\sigma'(v)]` at :math:`(q^*, \rho^*)`
(:math:`= \mathcal C'(\rho^*)`), :math:`\chi_q = \mathcal L'(q^*)`; depth scales
:math:`\xi = -1/\log|\chi|` (Schoenholz et al. 2017, eqs. (5)-(9)).
Edge of chaos: :math:`\chi_1 = 1`.

Every function takes an activation name or registry entry, and ``dps``:
``None`` (default) returns Python floats computed at double precision (plus
guard digits), an integer returns mpmath numbers correct to about ``dps``
decimal digits. Internally the arithmetic is an explicit
:class:`theory.arithmetic.Arithmetic` ``A`` handed to every helper (inner quadratures
run in floats when ``A.is_float``), and the public functions are
:func:`theory.arithmetic.guarded` (10 guard digits, result rounded by ``A.finish``).

Evaluation routes (fast enough for a REPL):

* closed-form registry kernels (ReLU family, erf, GELU, sin/cos, monomials,
  ELU diagonals): :mod:`theory.dual`;
* ELU off the diagonal (its closed form needs bivariate normal CDFs, slow in
  mpmath): a 1-D quadrature over :math:`u` of the closed-form inner
  expectation :math:`\mathbb E[\sigma(v) \mid u]` (:func:`_elu_inner`);
* activations without closed forms (tanh, user activations): 1-D
  expectations by tanh-sinh quadrature split at the kinks (``mpmath.fp`` at
  double precision); 2-D expectations of smooth activations by a tensor
  trapezoidal rule on :math:`[-Z, Z]^2` in the standard-normal variables,
  halving the step until two successive results agree (the trapezoidal rule
  converges geometrically for integrands analytic in a strip); kinked ones by
  :func:`theory.dual.dual_kernel` (nested quadrature, slow).

Root finding uses :func:`mpmath.findroot` (Anderson–Björk) on a bracket found
by scanning a grid; a missing fixed point or an empty bracket is a ValueError
that says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import sympy as sp

from theory import dual
from theory.activations import Activation, resolve
from theory.arithmetic import Arithmetic, check_real, guarded
from theory.special import MPMATH_FUNCTIONS, BivariateNormalCDF, TiltedOrthant
from theory.symbols import q, q11, q12, q22, sigma_b, sigma_w, x

__all__ = [
    "length_map",
    "length_map_slope",
    "length_fixed_point",
    "correlation_map",
    "correlation_map_slope",
    "correlation_fixed_point",
    "chi1",
    "norm_preserving_sigma",
    "edge_of_chaos",
    "edge_of_chaos_curve",
    "depth_scales",
    "DepthScales",
    "EveryQIsFixed",
    "joint_recursion",
    "iterate_correlation",
    "length_map_expression",
    "correlation_map_expression",
    "critical_weight_variance",
    "eoc_depth_asymptotics",
    "relu_gap_step",
    "relu_gap_sequence",
    "depth_scale_near_edge",
    "edge_of_chaos_polyline",
]

#: q-grid (log-spaced) on which roots of the length map are bracketed
_Q_GRID_RANGE = (-10, 8)  # decades: 1e-10 ... 1e8
_Q_GRID_PER_DECADE = 6
#: rho-grid on which roots of the correlation map are bracketed
_RHO_GRID = 40


# ---------------------------------------------------------------------------
# arithmetic and argument checks
# ---------------------------------------------------------------------------

#: the arithmetic of bracketing scans: grids are scanned at double precision (floats in
#: the inner quadratures, mpmath at 15 + 10 digits around them), and only the bracketed
#: roots are refined in the caller's arithmetic (a sign change of size >> 1e-12 at
#: double precision is a sign change at any precision)
_COARSE = Arithmetic(None)


class EveryQIsFixed(ValueError):
    """Every q > 0 is a fixed point of the length map (a positively homogeneous
    activation at its critical sigma_w): q* is undefined."""


def _weights(sigma_w, sigma_b):
    sw = check_real("sigma_w", sigma_w, nonnegative=True)
    sb = check_real("sigma_b", sigma_b, nonnegative=True)
    return sw, sb


def _rho(value):
    r = check_real("rho", value)
    if abs(r) > 1:
        raise ValueError(f"rho must lie in [-1, 1], got {value!r}")
    return r


# ---------------------------------------------------------------------------
# activation data: values at 0, compiled callables
# ---------------------------------------------------------------------------

_INFO_CACHE: dict = {}


def _info(act: Activation):
    r"""``s(0)`` and the one-sided slopes :math:`a = \sigma'(0^-)`, :math:`b = \sigma'(0^+)`
    (exact SymPy numbers), and float (``math``) callables of sigma, sigma'."""
    if act not in _INFO_CACHE:
        t = sp.Symbol("t", positive=True)
        s0 = sp.nsimplify(act.expr.subs(x, 0))
        if act.derivative is None:
            a = b = None
        else:
            b = sp.limit(act.derivative.subs(x, t), t, 0, "+")
            a = sp.limit(act.derivative.subs(x, -t), t, 0, "+")
        modules = [{"Erfcx": _COARSE.erfcx}, "math"]
        try:
            f = sp.lambdify(x, act.expr, modules=modules)
            df = (sp.lambdify(x, act.derivative, modules=modules)
                  if act.derivative is not None else None)
            f(0.3)
            if df is not None:
                df(0.3)
        except Exception:  # noqa: BLE001 - no float version: use mpmath at 15 digits
            f = df = None
        _INFO_CACHE[act] = {"s0": s0, "a": a, "b": b, "f": f, "df": df}
    return _INFO_CACHE[act]


def _origin_slope_square(act):
    r""":math:`\tfrac12(\sigma'(0^-)^2 + \sigma'(0^+)^2)`: the :math:`q \to 0` limit of
    :math:`\mathbb E[\sigma'(\sqrt q z)^2]` and of :math:`\mathbb E[\sigma(\sqrt q z)^2]/q`
    when :math:`\sigma(0) = 0`."""
    info = _info(act)
    act.require_derivative()
    return mpmath.mpf(sp.N((info["a"] ** 2 + info["b"] ** 2) / 2, mpmath.mp.dps + 5))


def _zero_is_root(act, sb):
    """q = 0 is a root of the length map iff sigma_b = 0 and sigma(0) = 0."""
    return sb == 0 and _info(act)["s0"] == 0


# ---------------------------------------------------------------------------
# Gaussian expectations
# ---------------------------------------------------------------------------

def _expect_1d(A, act, q_value, derivative, power=2, weight_z=False):
    r""":math:`\mathbb E[g(\sqrt q z)^{p}]` (``weight_z``: times ``z``) by quadrature split at
    the kinks; ``mpmath.fp`` in float arithmetic, ``mpmath.mp`` otherwise."""
    info = _info(act)
    sq = mpmath.sqrt(q_value)
    float_mode = A.is_float and info["f"] is not None
    cuts = sorted({mpmath.mpf(k) / sq for k in act.kinks})
    if float_mode:
        g = info["df"] if derivative else info["f"]
        s = float(sq)

        def integrand(z):
            v = g(s * z) ** power * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
            return v * z if weight_z else v

        points = [-math.inf, *(float(c) for c in cuts), math.inf]
        return mpmath.mpf(mpmath.fp.quad(integrand, points))
    g = act.mpmath_function(derivative)

    def integrand_mp(z):
        v = g(sq * z) ** power * mpmath.npdf(z)
        return v * z if weight_z else v

    return mpmath.quad(integrand_mp, [-mpmath.inf, *cuts, mpmath.inf])


def _diag(A, act, q_value, derivative=False):
    r""":math:`\mathbb E[\sigma(\sqrt q z)^2]` (or of :math:`\sigma'`) at the working precision."""
    if q_value == 0:
        f = act.mpmath_function(derivative)
        return f(0) ** 2
    expr = dual.kernel_expression(act, derivative=derivative, diagonal=True)
    if expr is not None:
        return dual.dual_diagonal(act, q_value, derivative=derivative, dps=mpmath.mp.dps)
    return _expect_1d(A, act, q_value, derivative)


def _has_fast_closed_form(act, derivative):
    expr = dual.kernel_expression(act, derivative=derivative, diagonal=False)
    return expr is not None and not expr.has(BivariateNormalCDF, TiltedOrthant)


def _elu_inner(m, sd, alpha, derivative, A):
    r"""Closed-form :math:`\mathbb E[g(m + s Z)]`, :math:`Z\sim\mathcal N(0,1)`, for
    :math:`g` = ELU(:math:`\alpha`) or its derivative:

    .. math:: \mathbb E[\mathrm{elu}(m+sZ)] = m\Phi(m/s) + s\varphi(m/s)
              + \alpha\big[e^{m+s^2/2}\Phi(-m/s-s) - \Phi(-m/s)\big],
    .. math:: \mathbb E[\mathrm{elu}'(m+sZ)] = \Phi(m/s) + \alpha e^{m+s^2/2}\Phi(-m/s-s)

    (the tilted term from completing the square). With :math:`t = m/s + s > 0`
    the tilted term is written :math:`e^{-m^2/(2s^2)}\operatorname{erfcx}(t/\sqrt2)/2`
    so it never forms ``inf * 0``; ``A`` is the arithmetic."""
    t = m / sd + sd
    if t > 0:
        tilted = A.exp(-(m / sd) ** 2 / 2) * A.erfcx(t / A.sqrt(2)) / 2
    else:
        tilted = A.exp(m + sd * sd / 2) * A.ncdf(-t)
    if derivative:
        return A.ncdf(m / sd) + alpha * tilted
    return m * A.ncdf(m / sd) + sd * A.npdf(m / sd) + alpha * (tilted - A.ncdf(-m / sd))


def _elu_pair(A, act, q_value, rho, derivative):
    r""":math:`\mathbb E[g(u)g(v)]` for ELU by 1-D quadrature over :math:`u=\sqrt q z` of
    :math:`g(u)\,\mathbb E[g(v)\mid u]`, :math:`v \mid u \sim \mathcal N(\rho u, q(1-\rho^2))`,
    split at the kink ``z = 0``."""
    alpha = dict(act.family_params)["alpha"]
    if A.is_float:
        sq, r, alpha = math.sqrt(float(q_value)), float(rho), float(alpha)
        g = _info(act)["df" if derivative else "f"]
    else:
        sq, r = mpmath.sqrt(q_value), rho
        alpha = mpmath.mpf(sp.N(alpha, mpmath.mp.dps + 5))
        g = act.mpmath_function(derivative)
    sd = sq * A.sqrt((1 - r) * (1 + r))

    def integrand(z):
        u = sq * z
        return g(u) * _elu_inner(r * u, sd, alpha, derivative, A) * A.npdf(z)

    return mpmath.mpf(A.quad(integrand, [-A.inf, 0, A.inf]))


#: activation family -> E[g(u) g(v)] evaluator at the working precision, for families
#: whose registry closed form is slow in mpmath (special functions); keyed by
#: :attr:`Activation.family`, never by name
_PAIR_FAMILIES = {"elu": _elu_pair}

_TRAPZ_MAX_HALVINGS = 7


def _trapezoid_pair(A, act, q_value, rho, derivative):
    r""":math:`\mathbb E[g(u)g(v)]` for smooth ``g`` by the tensor trapezoidal rule in
    :math:`(z_1, z_2)`, :math:`u=\sqrt q z_1`, :math:`v=\sqrt q(\rho z_1+\sqrt{1-\rho^2}z_2)`,
    on :math:`[-Z,Z]^2` with :math:`\varphi(Z) <` the target accuracy. The step is
    halved until two successive results agree to the working precision; the
    trapezoidal rule converges like :math:`e^{-2\pi d/h}` for integrands analytic
    in a strip of half-width ``d``, so the finer result is far more accurate than
    the difference of the two."""
    float_mode = A.is_float and _info(act)["f"] is not None
    if float_mode:
        g = _info(act)["df" if derivative else "f"]
        sq, r = math.sqrt(float(q_value)), float(rho)
        c = math.sqrt((1 - r) * (1 + r))
        zmax, tol = 9.0, 1e-15
        exp, norm = math.exp, 1 / (2 * math.pi)
    else:
        g = act.mpmath_function(derivative)
        sq, r = mpmath.sqrt(q_value), rho
        c = mpmath.sqrt((1 - r) * (1 + r))
        digits = mpmath.mp.dps - 5
        zmax = mpmath.sqrt(2 * mpmath.log(10) * (digits + 3))
        tol = mpmath.mpf(10) ** (-digits)
        exp, norm = mpmath.exp, 1 / (2 * mpmath.pi)
    h = zmax / 16
    previous = None
    for _ in range(_TRAPZ_MAX_HALVINGS):
        n = int(round(float(zmax / h)))
        nodes = [k * h for k in range(-n, n + 1)]
        weights = [exp(-z * z / 2) for z in nodes]
        gu = [g(sq * z) for z in nodes]
        total = 0
        for z1, w1, g1 in zip(nodes, weights, gu, strict=True):
            if w1 == 0:
                continue
            m = sq * r * z1
            inner = 0
            for z2, w2 in zip(nodes, weights, strict=True):
                inner += w2 * g(m + sq * c * z2)
            total += w1 * g1 * inner
        value = total * h * h * norm
        if previous is not None and abs(value - previous) <= tol * max(1, abs(value)):
            return mpmath.mpf(value)
        previous, h = value, h / 2
    raise ValueError(
        f"the 2-D trapezoidal rule for {act.label} did not converge at q={mpmath.nstr(q_value, 6)},"
        f" rho={mpmath.nstr(rho, 6)} (the activation may not be smooth enough); "
        "register it with kinks or a closed-form dual kernel"
    )


def _pair(A, act, q_value, rho, derivative=False):
    r""":math:`\mathbb E[g(u)g(v)]` with :math:`\operatorname{Var} u=\operatorname{Var} v = q`,
    :math:`\operatorname{Cov} = \rho q`, ``g`` = sigma or sigma'."""
    if rho == 1:
        return _diag(A, act, q_value, derivative)
    if q_value == 0:
        f = act.mpmath_function(derivative)
        return f(0) ** 2
    if _has_fast_closed_form(act, derivative) or rho == -1:
        return dual.dual_kernel(act, q_value, rho * q_value, q_value, derivative=derivative,
                                dps=mpmath.mp.dps)
    pair = _PAIR_FAMILIES.get(act.family)
    if pair is not None:
        return pair(A, act, q_value, rho, derivative)
    if not act.kinks:
        return _trapezoid_pair(A, act, q_value, rho, derivative)
    return dual.dual_kernel(act, q_value, rho * q_value, q_value, derivative=derivative,
                            dps=mpmath.mp.dps)


def _relu_unit_kernel(rho):
    r"""Arc-cosine kernel at unit variances,
    :math:`(\sqrt{1-\rho^2}+(\pi-\arccos\rho)\rho)/2\pi`."""
    return (mpmath.sqrt((1 - rho) * (1 + rho)) + (mpmath.pi - mpmath.acos(rho)) * rho) / (
        2 * mpmath.pi)


def _tangent_correlation(act, rho, slope=False):
    r"""The :math:`q\to 0` limit of the correlation map when :math:`\sigma(0)=0`:
    :math:`\sigma` is replaced by its tangent :math:`h(x) = a\min(x,0)+b\max(x,0)`,

    .. math:: \mathcal C_0(\rho) = \frac{(a-b)^2 K_1(\rho) + ab\rho}{(a^2+b^2)/2},\qquad
              \mathcal C_0'(\rho) = \frac{(a-b)^2 K_0(\rho) + ab}{(a^2+b^2)/2}

    with the arc-cosine kernels :math:`K_1` (ReLU) and :math:`K_0=(\pi-\arccos\rho)/2\pi`
    (Cho & Saul 2009). For smooth :math:`\sigma` (``a = b``) it is the identity."""
    info = _info(act)
    a = mpmath.mpf(sp.N(info["a"], mpmath.mp.dps + 5))
    b = mpmath.mpf(sp.N(info["b"], mpmath.mp.dps + 5))
    norm = (a * a + b * b) / 2
    if norm == 0:
        raise ValueError(f"{act.label} has sigma'(0) = 0: the q -> 0 correlation map is undefined")
    if slope:
        return ((a - b) ** 2 * (mpmath.pi - mpmath.acos(rho)) / (2 * mpmath.pi) + a * b) / norm
    return ((a - b) ** 2 * _relu_unit_kernel(rho) + a * b * rho) / norm


# ---------------------------------------------------------------------------
# length map
# ---------------------------------------------------------------------------

def _length(A, act, Q, sw, sb):
    return sw * sw * _diag(A, act, Q) + sb * sb


@guarded()
def length_map(activation, q_value, *, sigma_w, sigma_b, dps=None):
    r"""The length map :math:`\mathcal L(q) = \sigma_w^2\,\mathbb E[\sigma(\sqrt q z)^2]
    + \sigma_b^2` (Poole et al. 2016, eq. (3)); ``q`` is the pre-activation variance.

    >>> round(length_map("relu", 1.0, sigma_w=2**0.5, sigma_b=0), 12)
    1.0
    """
    act = resolve(activation)
    sw, sb = _weights(sigma_w, sigma_b)
    Q = check_real("q", q_value, nonnegative=True)
    return _length(Arithmetic(dps), act, Q, sw, sb)


_SLOPE_CACHE: dict = {}


def _length_slope(A, act, Q, sw):
    r""":math:`\mathcal L'(q) = \sigma_w^2\,\frac{d}{dq}\mathbb E[\sigma(\sqrt q z)^2]`:
    the derivative of the closed-form diagonal where there is one, else
    :math:`\mathbb E[z\,\sigma(\sqrt q z)\sigma'(\sqrt q z)]/\sqrt q` (differentiate under
    the integral); at :math:`q = 0` (with :math:`\sigma(0)=0`) the limit
    :math:`\tfrac12(\sigma'(0^-)^2+\sigma'(0^+)^2)`."""
    if Q == 0:
        if _info(act)["s0"] != 0:
            raise ValueError("the length-map slope at q = 0 needs sigma(0) = 0")
        return sw * sw * _origin_slope_square(act)
    expr = dual.kernel_expression(act, diagonal=True)
    if expr is not None:
        if act not in _SLOPE_CACHE:
            _SLOPE_CACHE[act] = sp.lambdify(q, sp.diff(expr, q),
                                            modules=[MPMATH_FUNCTIONS, "mpmath"])
        return sw * sw * _SLOPE_CACHE[act](Q)
    act.require_derivative()
    # E[z s(sqrt q z) s'(sqrt q z)] / sqrt(q): product s*s' by quadrature
    info = _info(act)
    sq = mpmath.sqrt(Q)
    cuts = sorted({mpmath.mpf(k) / sq for k in act.kinks})
    if A.is_float and info["f"] is not None:
        f, df, s = info["f"], info["df"], float(sq)
        value = mpmath.fp.quad(
            lambda z: z * f(s * z) * df(s * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
            [-math.inf, *(float(c) for c in cuts), math.inf])
    else:
        f, df = act.mpmath_function(), act.mpmath_function(True)
        value = mpmath.quad(lambda z: z * f(sq * z) * df(sq * z) * mpmath.npdf(z),
                            [-mpmath.inf, *cuts, mpmath.inf])
    return sw * sw * 2 * mpmath.mpf(value) / (2 * sq)


@guarded()
def length_map_slope(activation, q_value, *, sigma_w, sigma_b=0, dps=None):
    r""":math:`\mathcal L'(q)`; at a fixed point it is :math:`\chi_q` and
    :math:`\xi_q = -1/\log\chi_q` (Schoenholz et al. 2017, eq. (5)). ``sigma_b``
    does not enter (kept for a uniform signature)."""
    act = resolve(activation)
    sw, _ = _weights(sigma_w, sigma_b)
    Q = check_real("q", q_value, nonnegative=True)
    return _length_slope(Arithmetic(dps), act, Q, sw)


#: values within this of 0 at double precision count as 0 in scans
_SCAN_ZERO = mpmath.mpf(2) ** -40


def _scan(fn, grid):
    """Signs (-1, 0, 1) of ``fn(A, t)`` on ``grid`` in the double-precision arithmetic
    :data:`_COARSE`."""
    with _COARSE.guard():
        values = [fn(_COARSE, t) for t in grid]
    return [0 if abs(v) <= _SCAN_ZERO else (1 if v > 0 else -1) for v in values]


def _root_near(A, fn, grid, i, what):
    """Refine in the arithmetic ``A`` a root of ``fn(A, t)`` that the double-precision scan
    put in ``[grid[i], grid[i+1]]`` (sign change) or at ``grid[i]`` (value ~ 0)."""
    # "zero" = within the evaluation noise: double precision in float arithmetic, else a
    # few digits above the requested precision (inner quadratures have ~5 guard digits)
    zero = _SCAN_ZERO if A.is_float else mpmath.mpf(10) ** (-(mpmath.mp.dps - 8))
    candidates = [(i, i + 1)] if i + 1 < len(grid) else []
    candidates += [(i - 1, i)] if i > 0 else []
    at = fn(A, grid[i])
    if abs(at) <= zero:
        return grid[i]
    for a, b in candidates:
        fa, fb = fn(A, grid[a]), fn(A, grid[b])
        if abs(fa) <= zero:
            return grid[a]
        if abs(fb) <= zero:
            return grid[b]
        if fa * fb < 0:
            return _refine(A, fn, grid[a], grid[b], what)
    raise ValueError(f"{what}: the bracket found at double precision near "
                     f"{mpmath.nstr(grid[i], 8)} shows no sign change at {mpmath.mp.dps} digits")


def _refine(A, fn, lo, hi, what):
    """Root of ``fn(A, t)`` in [lo, hi] by findroot (Anderson–Björk), checked to stay in the
    bracket. The iteration runs in mpmath at the working precision whatever ``A`` is (the
    bracket is made of mpmath numbers); ``A`` is the arithmetic of ``fn``'s quadratures."""
    if lo == hi:
        return lo
    # double precision: the function values carry ~1e-16 relative noise
    tol = mpmath.mpf(2) ** -50 if A.is_float else mpmath.mpf(10) ** (-(mpmath.mp.dps - 8))
    try:
        root = mpmath.findroot(lambda t: fn(A, t), (lo, hi), solver="anderson",
                               tol=tol * (abs(lo) + abs(hi)), maxsteps=400, verify=False)
    except (ZeroDivisionError, ValueError) as exc:
        raise ValueError(f"root finding for {what} failed in [{mpmath.nstr(lo, 8)}, "
                         f"{mpmath.nstr(hi, 8)}]: {exc}") from None
    if not (min(lo, hi) <= root <= max(lo, hi)):
        raise ValueError(f"root finding for {what} left the bracket [{mpmath.nstr(lo, 8)}, "
                         f"{mpmath.nstr(hi, 8)}]")
    return +root  # findroot works (and returns) at a raised precision: round back


def _q_grid():
    lo, hi = _Q_GRID_RANGE
    n = (hi - lo) * _Q_GRID_PER_DECADE
    return [mpmath.mpf(10) ** (lo + mpmath.mpf(k) / _Q_GRID_PER_DECADE) for k in range(n + 1)]


def _length_fixed_point(A, act, sw, sb):
    r"""See :func:`length_fixed_point`; works in ``A`` at the current precision."""
    zero_root = _zero_is_root(act, sb)

    def excess(A_, Q):  # L(q)/q - 1: same sign as L(q) - q, no cancellation near q = 0
        return (_length(A_, act, Q, sw, sb)) / Q - 1

    grid = _q_grid()
    signs = _scan(excess, grid)
    if all(v == 0 for v in signs) and not A.is_float:
        # zero to double precision: look again at the requested precision
        values = [excess(A, t) for t in grid]
        zero = 2**10 * mpmath.eps
        signs = [0 if abs(v) <= zero else (1 if v > 0 else -1) for v in values]
    if all(v == 0 for v in signs):
        raise EveryQIsFixed(
            f"every q > 0 is a fixed point of the length map of {act.label} at "
            f"sigma_w={mpmath.nstr(sw, 8)}, sigma_b={mpmath.nstr(sb, 8)} (L(q) = q: a positively "
            "homogeneous activation at its critical sigma_w); pass q= explicitly")
    for i in range(len(grid) - 1):
        if (signs[i] == 0 and (i == 0 or signs[i - 1] != 0)) or signs[i] * signs[i + 1] < 0:
            return _root_near(A, excess, grid, i, "the length fixed point q*")
    lo, hi = grid[0], grid[-1]
    if signs[-1] > 0:
        raise ValueError(
            f"no fixed point of the length map of {act.label} at sigma_w={mpmath.nstr(sw, 8)}, "
            f"sigma_b={mpmath.nstr(sb, 8)}: L(q) > q on the whole grid q in "
            f"[{mpmath.nstr(lo, 3)}, {mpmath.nstr(hi, 3)}] (and at q = 0: "
            f"{'q = 0 is repelling' if zero_root else 'L(0) = ' + mpmath.nstr(_length(A, act, mpmath.mpf(0), sw, sb), 6) + ' > 0'}),"  # noqa: E501
            " so q_l grows without bound; decrease sigma_w")
    if zero_root:
        return mpmath.mpf(0)
    raise ValueError(
        f"no fixed point of the length map of {act.label} found in [{mpmath.nstr(lo, 3)}, "
        f"{mpmath.nstr(hi, 3)}] at sigma_w={mpmath.nstr(sw, 8)}, sigma_b={mpmath.nstr(sb, 8)}")


@guarded()
def length_fixed_point(activation, *, sigma_w, sigma_b, dps=None):
    r"""Fixed point :math:`q^* = \mathcal L(q^*)` of the length map.

    Which root: the **smallest positive root**, bracketed on a log grid
    :math:`q \in [10^{-10}, 10^{8}]` (6 points per decade) and refined by
    ``mpmath.findroot``. With :math:`\sigma_b > 0` (or :math:`\sigma(0)\ne0`),
    :math:`\mathcal L(0) > 0`, so this is the first crossing of the diagonal,
    the stable fixed point reached from small ``q``.
    At :math:`\sigma_b = 0` with :math:`\sigma(0) = 0`, :math:`q = 0` is always a
    root: the smallest *positive* root is still returned when there is one
    (tanh with :math:`\sigma_w > 1`; the norm-preserving ``q`` of GELU, which is
    unstable, see :func:`length_map_slope`), else ``0`` (the ordered phase,
    e.g. tanh with :math:`\sigma_w \le 1`), for which :func:`chi1` and the
    correlation map use their :math:`q \to 0` limits.

    Raises ValueError when :math:`\mathcal L(q) > q` for all ``q`` (no fixed
    point: :math:`q_l \to \infty`), and :class:`EveryQIsFixed` (a ValueError) when
    every ``q`` is a fixed point (ReLU at :math:`\sigma_w^2 = 2, \sigma_b = 0`).
    """
    act = resolve(activation)
    sw, sb = _weights(sigma_w, sigma_b)
    return _length_fixed_point(Arithmetic(dps), act, sw, sb)


def _resolve_q(A, act, sw, sb, q_value):
    """The q the correlation quantities use: the given one, else q*. If every q is
    a fixed point (homogeneous activation at criticality) the correlation map does
    not depend on q and q = 1 is used."""
    if q_value is not None:
        return check_real("q", q_value, nonnegative=True)
    try:
        return _length_fixed_point(A, act, sw, sb)
    except EveryQIsFixed:
        return mpmath.mpf(1)


@guarded()
def norm_preserving_sigma(activation, q=1.0, *, dps=None):
    r"""The weight scale :math:`\sigma^*` (with :math:`\sigma_b = 0`) that makes ``q`` a
    fixed point of the length map:

    .. math:: \sigma^* = \sqrt{q\,/\,\mathbb E[\sigma(\sqrt q z)^2]} .

    For positively homogeneous activations it does not depend on ``q``
    (:math:`\sqrt2` for ReLU); for GELU and ELU it does (Tsuchida et al. 2021,
    "Avoiding kernel fixed points").
    """
    act = resolve(activation)
    Q = check_real("q", q, positive=True)
    second = _diag(Arithmetic(dps), act, Q)
    if second <= 0:
        raise ValueError(f"E[sigma(sqrt(q) z)^2] = 0 for {act.label} at q={q}: no sigma_w "
                         "preserves the norm")
    return mpmath.sqrt(Q / second)


# ---------------------------------------------------------------------------
# correlation map
# ---------------------------------------------------------------------------

def _correlation(A, act, rho, Q, sw, sb):
    if Q == 0:
        if sb != 0 or _info(act)["s0"] != 0:
            return mpmath.mpf(1)  # all signals equal sigma_b * b or sigma_w s(0)...: rho = 1
        return _tangent_correlation(act, rho)
    return (sw * sw * _pair(A, act, Q, rho) + sb * sb) / _length(A, act, Q, sw, sb)


def _correlation_slope(A, act, rho, Q, sw, sb):
    if Q == 0:
        return _tangent_correlation(act, rho, slope=True)
    act.require_derivative()
    return sw * sw * Q * _pair(A, act, Q, rho, derivative=True) / _length(A, act, Q, sw, sb)


@guarded()
def correlation_map(activation, rho, *, sigma_w, sigma_b, q=None, dps=None):
    r"""The correlation map at variance ``q`` (default :math:`q^*`, see
    :func:`length_fixed_point`):

    .. math:: \mathcal C_q(\rho) = \frac{\sigma_w^2\,k(q, \rho q, q) + \sigma_b^2}
              {\sigma_w^2\,k(q, q, q) + \sigma_b^2},\qquad k = \mathbb E[\sigma(u)\sigma(v)],

    which at :math:`q = q^*` is :math:`(\sigma_w^2 k + \sigma_b^2)/q^*`
    (Poole et al. 2016, eq. (5)). At :math:`q = 0` (only reached with
    :math:`\sigma_b = 0`, :math:`\sigma(0)=0`) the :math:`q\to0` limit
    :math:`((a-b)^2K_1(\rho)+ab\rho)/((a^2+b^2)/2)`, :math:`a,b = \sigma'(0^\mp)`.
    """
    act, A = resolve(activation), Arithmetic(dps)
    sw, sb = _weights(sigma_w, sigma_b)
    r = _rho(rho)
    Q = _resolve_q(A, act, sw, sb, q)
    return _correlation(A, act, r, Q, sw, sb)


@guarded()
def correlation_map_slope(activation, rho, *, sigma_w, sigma_b, q=None, dps=None):
    r""":math:`\mathcal C_q'(\rho) = \sigma_w^2 q\,\mathbb E[\sigma'(u)\sigma'(v)] / \mathcal L(q)`
    (Price's theorem); at :math:`q^*` it is :math:`\chi_c(\rho)=\sigma_w^2\mathbb
    E[\sigma'(u)\sigma'(v)]`, and at :math:`\rho = 1` it is :math:`\chi_1`."""
    act, A = resolve(activation), Arithmetic(dps)
    sw, sb = _weights(sigma_w, sigma_b)
    r = _rho(rho)
    Q = _resolve_q(A, act, sw, sb, q)
    return _correlation_slope(A, act, r, Q, sw, sb)


def _chi1(A, act, Q, sw):
    if Q == 0:
        return sw * sw * _origin_slope_square(act)
    act.require_derivative()
    return sw * sw * _diag(A, act, Q, derivative=True)


@guarded()
def chi1(activation, *, sigma_w, sigma_b, q=None, dps=None):
    r""":math:`\chi_1 = \sigma_w^2\,\mathbb E[\sigma'(\sqrt q z)^2]` at ``q`` (default
    :math:`q^*`), the slope of the correlation map at :math:`\rho = 1` when ``q``
    is a fixed point (Poole et al. 2016, eq. (7)). At :math:`q = 0` the limit
    :math:`\sigma_w^2\,\tfrac12(\sigma'(0^-)^2 + \sigma'(0^+)^2)`."""
    act, A = resolve(activation), Arithmetic(dps)
    sw, sb = _weights(sigma_w, sigma_b)
    Q = _resolve_q(A, act, sw, sb, q)
    return _chi1(A, act, Q, sw)


def _correlation_fixed_point(A, act, Q, sw, sb):
    one = mpmath.mpf(1)
    c1 = _correlation_slope(A, act, one, Q, sw, sb)

    def reduced(A_, r):
        # (C(r) - r)/(1 - r): the trivial root r = 1 divided out; -> 1 - C'(1) at r = 1
        if r == 1:
            return 1 - c1
        return (_correlation(A_, act, r, Q, sw, sb) - r) / (1 - r)

    if abs(1 - c1) <= 1e-12:
        # marginal (e.g. ReLU at sigma_w^2 = 2): the next order decides
        with _COARSE.guard():
            probe = reduced(_COARSE, 1 - mpmath.mpf(1) / 1000)
        if abs(probe) <= _SCAN_ZERO:
            raise ValueError(
                f"every rho is a fixed point of the correlation map of {act.label} at "
                f"q={mpmath.nstr(Q, 8)} (at q* = 0 a smooth activation acts linearly): rho* is "
                "undefined; pass q > 0")
        if probe > 0:
            return one
    elif c1 < 1:
        return one  # C(rho) > rho just below 1: rho_l -> 1 (ordered phase)
    # C'(1) > 1: rho = 1 repels; the largest root below 1 is the candidate
    grid = [one - 2 * mpmath.mpf(k) / _RHO_GRID for k in range(_RHO_GRID + 1)]
    for k in range(1, len(grid)):
        with _COARSE.guard():
            value = reduced(_COARSE, grid[k])
        if value >= -_SCAN_ZERO:
            root = _root_near(A, reduced, grid, k - 1, "the correlation fixed point rho*")
            if root == 1:  # the sign change was within rounding of rho = 1
                root = _refine(A, reduced, grid[k], grid[k - 1],
                               "the correlation fixed point rho*")
            slope = _correlation_slope(A, act, root, Q, sw, sb)
            if abs(slope) >= 1:
                raise ValueError(
                    f"the correlation map of {act.label} has no stable fixed point below 1: its "
                    f"fixed point rho={mpmath.nstr(root, 8)} has C'(rho)={mpmath.nstr(slope, 8)}"
                    " (|C'| >= 1)")
            return root
    raise ValueError(
        f"the correlation map of {act.label} has C(rho) < rho on all of [-1, 1): no fixed point "
        "below 1 (correlations decrease to -1)")


@guarded()
def correlation_fixed_point(activation, *, sigma_w, sigma_b, q=None, dps=None):
    r"""The stable fixed point :math:`\rho^*` of :func:`correlation_map` at ``q``
    (default :math:`q^*`): the limit of :math:`\rho_l` for inputs that start nearly
    aligned (:math:`\rho_0 \to 1^-`).

    :math:`\rho = 1` is always a fixed point. If :math:`\mathcal C(\rho) > \rho`
    just below 1 (:math:`\mathcal C'(1) < 1`, ordered phase; at :math:`\mathcal C'(1)
    = 1`, e.g. ReLU at :math:`\sigma_w^2=2`, decided by the next order),
    :math:`\rho^* = 1`. Otherwise :math:`\rho^*` is the largest root below 1 of
    :math:`(\mathcal C(\rho)-\rho)/(1-\rho)`, bracketed by scanning down a
    41-point grid of :math:`[-1, 1]` at double precision and refined by
    ``findroot`` at the requested precision; a ValueError is raised if
    :math:`|\mathcal C'(\rho^*)| \ge 1` (no stable fixed point) or if there is no
    root.
    """
    act, A = resolve(activation), Arithmetic(dps)
    sw, sb = _weights(sigma_w, sigma_b)
    Q = _resolve_q(A, act, sw, sb, q)
    return _correlation_fixed_point(A, act, Q, sw, sb)


# ---------------------------------------------------------------------------
# iterations
# ---------------------------------------------------------------------------

@guarded()
def iterate_correlation(activation, rho0, depth, *, sigma_w, sigma_b, q=None, dps=None):
    r""":math:`[\rho_0, \rho_1, \dots, \rho_{\text{depth}}]` with
    :math:`\rho_{l+1} = \mathcal C_q(\rho_l)` at fixed ``q`` (default :math:`q^*`)."""
    act = resolve(activation)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    A = Arithmetic(dps)
    sw, sb = _weights(sigma_w, sigma_b)
    Q = _resolve_q(A, act, sw, sb, q)
    r = _rho(rho0)
    out = [r]
    for _ in range(depth):
        r = min(mpmath.mpf(1), max(mpmath.mpf(-1), _correlation(A, act, r, Q, sw, sb)))
        out.append(r)
    return out


@guarded()
def joint_recursion(activation, q0, rho0, depth, *, sigma_w, sigma_b, dps=None):
    r"""The joint infinite-width recursion for two inputs of equal variance:

    .. math:: q_{l+1} = \mathcal L(q_l),\qquad
              \rho_{l+1} = \frac{\sigma_w^2\,k(q_l, \rho_l q_l, q_l) + \sigma_b^2}{q_{l+1}},

    returned as ``[(q_0, rho_0), ..., (q_depth, rho_depth)]``. Unlike
    :func:`iterate_correlation` the variance moves too, which matters when
    :math:`q_0` is not a stable fixed point (GELU at its norm-preserving
    :math:`\sigma^*`, where :math:`\mathcal L'(1) \approx 1.14`)."""
    act = resolve(activation)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    A = Arithmetic(dps)
    sw, sb = _weights(sigma_w, sigma_b)
    Q = check_real("q0", q0, nonnegative=True)
    r = _rho(rho0)
    out = [(Q, r)]
    for _ in range(depth):
        r = min(mpmath.mpf(1), max(mpmath.mpf(-1), _correlation(A, act, r, Q, sw, sb)))
        Q = _length(A, act, Q, sw, sb)
        out.append((Q, r))
    return out


# ---------------------------------------------------------------------------
# edge of chaos
# ---------------------------------------------------------------------------

def _eoc_bias_square(A, act, Q):
    r""":math:`\sigma_b^2(q) = q - \mathbb E[\sigma^2]/\mathbb E[\sigma'^2]` on the EOC curve
    parametrized by :math:`q^*` (the :math:`\sigma_w` with :math:`\chi_1(q)=1` is
    :math:`\mathbb E[\sigma'(\sqrt q z)^2]^{-1/2}`)."""
    return Q - _diag(A, act, Q) / _diag(A, act, Q, derivative=True)


def _is_first_root(act, Q, sw, sb):
    """Is ``Q`` (a fixed point of the length map) the one :func:`length_fixed_point`
    returns, i.e. is there no sign change of L(q)/q - 1 on the grid below ``Q``?
    (Checked at double precision on every third grid point, 2 per decade.)"""
    def excess(A, t):
        return _length(A, act, t, sw, sb) / t - 1

    below = [t for t in _q_grid()[::3] if t < Q * (1 - mpmath.mpf(10) ** -6)]
    signs = [v for v in _scan(excess, below) if v != 0]
    return all(v == signs[0] for v in signs)


@guarded()
def edge_of_chaos_curve(activation, q_values, *, dps=None):
    r"""Points :math:`(\sigma_w, \sigma_b)` of the edge of chaos :math:`\chi_1 = 1`,
    parametrized by the fixed point :math:`q^*` (Poole et al. 2016, Fig. 2):

    .. math:: \sigma_w = \mathbb E[\sigma'(\sqrt{q^*}z)^2]^{-1/2},\qquad
              \sigma_b^2 = q^* - \sigma_w^2\,\mathbb E[\sigma(\sqrt{q^*}z)^2].

    Returns a list of ``(q*, sigma_w, sigma_b)`` for the given ``q*`` values at
    which :math:`\sigma_b^2 \ge 0` and ``q*`` is the fixed point that
    :func:`length_fixed_point` returns at that :math:`(\sigma_w, \sigma_b)` (the
    smallest positive root; for GELU a larger root can satisfy
    :math:`\chi_1 = 1` while the network settles at a smaller, stable one: such
    points are not on the physical edge of chaos and are skipped).
    ``q* = 0`` gives the :math:`\sigma_b = 0` point when :math:`\sigma(0) = 0`."""
    act = resolve(activation)
    act.require_derivative()
    A = Arithmetic(dps)
    out = []
    for value in q_values:
        Q = check_real("q*", value, nonnegative=True)
        if Q == 0:
            if _info(act)["s0"] != 0:
                continue
            sw = 1 / mpmath.sqrt(_origin_slope_square(act))
            out.append((Q, sw, 0))
            continue
        b2 = _eoc_bias_square(A, act, Q)
        if b2 < 0:
            continue
        sw = 1 / mpmath.sqrt(_diag(A, act, Q, derivative=True))
        sb = mpmath.sqrt(b2)
        if not _is_first_root(act, Q, sw, sb):
            continue
        out.append((Q, sw, sb))
    return out


@guarded()
def edge_of_chaos(activation, *, sigma_b, dps=None):
    r"""The critical :math:`\sigma_w` at which :math:`\chi_1 = 1` for this
    :math:`\sigma_b` (Schoenholz et al. 2017, Sec. 3).

    Solved on the :math:`q^*`-parametrization of :func:`edge_of_chaos_curve`:
    the smallest :math:`q^* > 0` with :math:`q^* - \mathbb E[\sigma^2]/\mathbb
    E[\sigma'^2] = \sigma_b^2` (bracketed on a log grid, refined by
    ``findroot``) that is also the fixed point :func:`length_fixed_point` returns
    there (see :func:`edge_of_chaos_curve`), then
    :math:`\sigma_w = \mathbb E[\sigma'(\sqrt{q^*}z)^2]^{-1/2}`.
    At :math:`\sigma_b = 0` with :math:`\sigma(0) = 0` the EOC point is at
    :math:`q^* = 0`: :math:`\sigma_w^2 = 2/(\sigma'(0^-)^2+\sigma'(0^+)^2)`
    (1 for tanh, :math:`\pi/4` for erf, 2 for ReLU, 4 for GELU).
    Raises ValueError when no :math:`q^*` reaches :math:`\sigma_b^2` (e.g. ReLU,
    whose only EOC point is :math:`\sigma_b = 0`).
    """
    act = resolve(activation)
    act.require_derivative()
    A = Arithmetic(dps)
    sb = check_real("sigma_b", sigma_b, nonnegative=True)
    if sb == 0 and _info(act)["s0"] == 0:
        return 1 / mpmath.sqrt(_origin_slope_square(act))
    target = sb * sb

    def excess(A_, Q):
        return _eoc_bias_square(A_, act, Q) - target

    grid = _q_grid()
    signs = _scan(excess, grid)
    skipped = []
    for i in range(len(grid) - 1):
        if signs[i] == 0 or signs[i] * signs[i + 1] < 0:
            Q = _root_near(A, excess, grid, i, "the edge of chaos")
            sw = 1 / mpmath.sqrt(_diag(A, act, Q, derivative=True))
            if _is_first_root(act, Q, sw, sb):
                return sw
            skipped.append(Q)
    if skipped:
        raise ValueError(
            f"no edge of chaos for {act.label} at sigma_b={sigma_b}: chi1 = 1 holds only at "
            f"fixed points q = {', '.join(mpmath.nstr(v, 6) for v in skipped)} that are not "
            "the fixed point the length map settles at (a smaller stable one exists)")
    raise ValueError(
        f"no edge of chaos for {act.label} at sigma_b={sigma_b}: q* - E[s^2]/E[s'^2] never "
        f"reaches sigma_b^2 for q* in [{mpmath.nstr(grid[0], 3)}, {mpmath.nstr(grid[-1], 3)}]")


# ---------------------------------------------------------------------------
# depth scales
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DepthScales:
    r"""Depth scales at :math:`(\sigma_w, \sigma_b)`; unpacks as ``xi_q, xi_c``.

    ``xi = -1/log|chi|``: positive and finite for a stable fixed point, ``inf``
    at :math:`|\chi| = 1` (criticality), negative when the fixed point is
    unstable (:math:`|\chi| > 1`: then :math:`|\xi|` is the growth length).
    ``rho_star`` is None when it is undefined (:math:`q^*=0` with an activation
    smooth at 0)."""

    xi_q: object
    xi_c: object
    q_star: object
    rho_star: object
    chi_q: object
    chi_c: object

    def __iter__(self):
        return iter((self.xi_q, self.xi_c))


def _xi(chi):
    a = abs(chi)
    if a == 1:
        return mpmath.inf
    if a == 0:
        return mpmath.mpf(0)
    return -1 / mpmath.log(a)


@guarded()
def depth_scales(activation, *, sigma_w, sigma_b, dps=None):
    r"""Depth scales of Schoenholz et al. (2017), eqs. (5) and (9):

    .. math:: \xi_q = -1/\log\chi_q,\ \chi_q = \mathcal L'(q^*);\qquad
              \xi_c = -1/\log\chi_c,\ \chi_c = \sigma_w^2\,\mathbb E[\sigma'(u)\sigma'(v)]
              \big|_{q^*, \rho^*}.

    :math:`\chi_c = \mathcal C'(\rho^*)`; at :math:`\rho^* = 1` it is :math:`\chi_1`.
    At :math:`q^* = 0` (:math:`\sigma_b = 0`, ordered phase) both use the
    :math:`q \to 0` limit :math:`\chi_q = \chi_c = \chi_1(0)`.
    Returns a :class:`DepthScales` (``xi_q, xi_c = depth_scales(...)`` works).
    """
    act = resolve(activation)
    act.require_derivative()
    A = Arithmetic(dps)
    sw, sb = _weights(sigma_w, sigma_b)
    Q = _length_fixed_point(A, act, sw, sb)
    chi_q = _length_slope(A, act, Q, sw)
    rho_star = None
    if Q == 0:
        chi_c = _chi1(A, act, Q, sw)
        try:
            rho_star = _correlation_fixed_point(A, act, Q, sw, sb)
        except ValueError:
            rho_star = None
    else:
        rho_star = _correlation_fixed_point(A, act, Q, sw, sb)
        chi_c = sw * sw * _pair(A, act, Q, rho_star, derivative=True)
    return DepthScales(xi_q=_xi(chi_q), xi_c=_xi(chi_c), q_star=Q, rho_star=rho_star,
                       chi_q=chi_q, chi_c=chi_c)


# ---------------------------------------------------------------------------
# the maps as SymPy expressions (their LaTeX: theory.latex)
# ---------------------------------------------------------------------------

#: the correlation and the fixed-point variance in :func:`correlation_map_expression`
rho_symbol = sp.Symbol("rho", positive=True)
q_star_symbol = sp.Symbol("q^{*}", positive=True)


def length_map_expression(activation) -> sp.Expr | None:
    r""":math:`\mathcal L(q) = \sigma_w^2\,k(q, q, q) + \sigma_b^2` with the registry's
    closed-form diagonal :math:`k(q,q,q) = \mathbb E[\sigma(\sqrt q z)^2]`, in the symbols
    ``q, sigma_w, sigma_b`` of :mod:`theory.symbols`; ``None`` without a closed form."""
    act = resolve(activation)
    if act.dual_diagonal is None:
        return None
    return sigma_w**2 * act.dual_diagonal + sigma_b**2


def correlation_map_expression(activation) -> sp.Expr | None:
    r""":math:`\mathcal C(\rho) = (\sigma_w^2\,k(q^*, \rho q^*, q^*) + \sigma_b^2)/q^*` with
    the registry's closed-form dual kernel, in :data:`rho_symbol`, :data:`q_star_symbol`,
    ``sigma_w, sigma_b``; ``None`` without a closed form."""
    act = resolve(activation)
    if act.dual is None:
        return None
    qs = q_star_symbol
    k = act.dual.subs({q11: qs, q22: qs, q12: rho_symbol * qs}, simultaneous=True)
    return (sigma_w**2 * k + sigma_b**2) / qs


# ---------------------------------------------------------------------------
# symbolic edge-of-chaos asymptotics (sigma_b = 0, odd activations)
# ---------------------------------------------------------------------------

def critical_weight_variance(activation) -> sp.Expr:
    r"""Exact critical :math:`\sigma_w^2` at :math:`\sigma_b = 0` for an activation with
    :math:`\sigma(0) = 0`, from :math:`\chi_1` at :math:`q^* = 0`:
    :math:`\sigma_w^2\,\tfrac12(\sigma'(0^-)^2+\sigma'(0^+)^2) = 1` (SymPy; e.g. 1 for
    tanh, :math:`\pi/4` for erf)."""
    act = resolve(activation)
    info = _info(act)
    if info["s0"] != 0:
        raise ValueError(f"{act.label} has sigma(0) = {info['s0']} != 0: q* = 0 is not a fixed "
                         "point at sigma_b = 0")
    act.require_derivative()
    return sp.simplify(2 / (info["a"] ** 2 + info["b"] ** 2))


def _gaussian_polynomial_expectation(poly_in_x, order):
    r""":math:`\mathbb E[p(\sqrt q z)]` for a polynomial ``p``, truncated at :math:`q^{order}`,
    from :math:`\mathbb E[z^{2k}] = (2k-1)!!` (odd moments vanish)."""
    poly = sp.Poly(sp.expand(poly_in_x), x)
    out = sp.Integer(0)
    for (k,), c in poly.terms():
        if k % 2 == 0 and k // 2 <= order:
            out += c * sp.factorial2(k - 1) * q ** (k // 2)
    return sp.expand(out)


def eoc_depth_asymptotics(activation, order=3):
    r"""Leading asymptotics of the correlation depth scale just above the edge of
    chaos at :math:`\sigma_b = 0`, derived in SymPy, for an **odd** activation
    analytic at 0 (tanh, erf).

    With :math:`w = \sigma_w^2 = w^*(1+\delta)` (:math:`w^*` from
    :func:`critical_weight_variance`), expand :math:`\sigma` in its Taylor series,
    take Gaussian moments to get :math:`\mathbb E[\sigma(\sqrt q z)^2]` and
    :math:`\mathbb E[\sigma'(\sqrt q z)]` as series in ``q``, solve the fixed-point
    equation :math:`1 = w\,\mathbb E[\sigma^2]/q` for :math:`q^*(\delta)` order by
    order, and insert into :math:`\chi_c = w\,\mathbb E[\sigma'(\sqrt{q^*}z)]^2`
    (for odd :math:`\sigma` at :math:`\sigma_b=0` the correlation map is odd, so
    :math:`\rho^*=0` and :math:`\mathbb E[\sigma'(u)\sigma'(v)] = \mathbb E[\sigma']^2`).
    Then :math:`\xi_c = -1/\log\chi_c \sim A/\delta^2`, and with
    :math:`\varepsilon = \sigma_w - \sigma_w^*`, :math:`\delta = 2\varepsilon/\sigma_w^* +
    O(\varepsilon^2)`: :math:`\xi_c \sim (A\,\sigma_w^{*2}/4)\,\varepsilon^{-2}`.

    Returns a dict of SymPy expressions: ``w_star``, ``q_star`` (series in
    ``delta``), ``chi_c`` (series in ``delta``), ``xi_c_delta_coefficient`` (A),
    ``xi_c_epsilon_coefficient`` (:math:`A\sigma_w^{*2}/4`), ``xi_c_relative_correction``
    (the :math:`O(\varepsilon)` relative correction coefficient ``c``:
    :math:`\xi_c = \text{leading}\cdot(1 + c\,\varepsilon + c_2\varepsilon^2 +
    O(\varepsilon^3))`), for ``order >= 4`` also ``xi_c_second_correction`` (:math:`c_2`),
    and the symbols ``delta``, ``epsilon``.
    """
    act = resolve(activation)
    if sp.simplify(act.expr.subs(x, -x) + act.expr) != 0:
        raise ValueError(f"{act.label} is not odd: the rho* = 0 expansion does not apply")
    delta, eps = sp.symbols("delta epsilon", positive=True)
    w_star = critical_weight_variance(act)
    n_terms = order + 1
    series = sp.series(act.expr, x, 0, 2 * n_terms + 2).removeO()
    dseries = sp.series(sp.diff(act.expr, x), x, 0, 2 * n_terms + 1).removeO()
    second = _gaussian_polynomial_expectation(series**2, n_terms)
    first_derivative = _gaussian_polynomial_expectation(dseries, n_terms)
    w = w_star * (1 + delta)

    def truncate(expr, n):  # drop powers of delta above n (everything is polynomial)
        poly = sp.Poly(sp.expand(expr), delta)
        return sum(c * delta**k for (k,), c in poly.terms() if k <= n)

    coeffs = sp.symbols(f"a1:{order + 1}")
    q_star = sum(coeffs[k] * delta ** (k + 1) for k in range(order))
    # fixed point q > 0: w E[s^2](q)/q = 1 (E[s^2] = O(q)), order by order in delta
    ratio = sp.expand(sp.cancel(w * second / q))
    equation = truncate(ratio.subs(q, q_star) - 1, order)
    solution = {}
    for k in range(1, order + 1):
        coefficient = sp.expand(equation.coeff(delta, k).subs(solution))
        roots = sp.solve(coefficient, coeffs[k - 1])
        if len(roots) != 1:
            raise ValueError(f"cannot solve the fixed-point expansion at order {k}")
        solution[coeffs[k - 1]] = sp.simplify(roots[0])
    q_series = sp.expand(q_star.subs(solution))
    chi_c = truncate(w * first_derivative.subs(q, q_series) ** 2, order)
    # chi_c = 1 + c2 delta^2 + c3 delta^3 + ...  =>  -log chi_c = -c2 delta^2 - c3 delta^3 + O(d^4)
    if sp.simplify(chi_c.coeff(delta, 0) - 1) != 0 or sp.simplify(chi_c.coeff(delta, 1)) != 0:
        raise ValueError("chi_c - 1 does not start at order delta^2; expansion does not apply")
    lead = sp.simplify(-chi_c.coeff(delta, 2))
    next_ = sp.simplify(-chi_c.coeff(delta, 3))
    if lead == 0:
        raise ValueError("chi_c - 1 vanishes at order delta^2; expansion does not apply")
    A = sp.simplify(1 / lead)
    sw_star = sp.sqrt(w_star)
    # xi = A/delta^2 (1 - (next/lead) delta + ...), delta = (2 eps/sw*)(1 + eps/(2 sw*)):
    # 1/delta^2 = sw*^2/(4 eps^2) (1 - eps/sw* + ...), so
    # xi = (A sw*^2/4) eps^-2 (1 - (1 + 2 next/lead) eps/sw* + O(eps^2))
    coefficient = sp.simplify(A * w_star / 4)
    correction = sp.simplify(-(1 + 2 * next_ / lead) / sw_star)
    out = {
        "w_star": w_star,
        "q_star": q_series,
        "chi_c": chi_c,
        "xi_c_delta_coefficient": A,
        "xi_c_epsilon_coefficient": coefficient,
        "xi_c_relative_correction": correction,
        "delta": delta,
        "epsilon": eps,
    }
    if order >= 4:
        # the O(eps^2) relative term, from the exact series of xi = -1/log chi_c in eps with
        # delta = 2 eps/sw* + eps^2/sw*^2 (chi_c to delta^4 is enough)
        xi = -1 / sp.log(chi_c.subs(delta, 2 * eps / sw_star + eps**2 / w_star))
        terms = sp.series(xi * eps**2, eps, 0, 3).removeO()
        out["xi_c_second_correction"] = sp.simplify(terms.coeff(eps, 2) / coefficient)
    return out


# ---------------------------------------------------------------------------
# ReLU: the correlation gap 1 - rho near the fixed point rho* = 1
# ---------------------------------------------------------------------------

def _sin_minus_theta_cos(theta: float) -> float:
    r""":math:`\sin\theta - \theta\cos\theta = \sum_{k\ge1} (-1)^{k+1} 2k\,\theta^{2k+1}/(2k+1)!`
    (series for small :math:`\theta`, where the direct form cancels to
    :math:`\theta^3/3`; 9 terms leave an error below :math:`\theta^{19}/19! < 10^{-22}`
    at :math:`\theta<0.5`)."""
    if theta >= 0.5:
        return math.sin(theta) - theta * math.cos(theta)
    total, power, t2 = 0.0, theta, theta * theta
    for k in range(1, 10):
        power *= t2
        total += (-1) ** (k + 1) * 2 * k * power / math.factorial(2 * k + 1)
    return total


def relu_gap_step(delta: float) -> float:
    r"""One layer of the ReLU correlation map (:math:`\sigma_w^2 = 2`, :math:`\sigma_b = 0`)
    on the gap :math:`\delta = 1-\rho`, keeping full relative precision as
    :math:`\delta \to 0`:

    .. math:: \theta = 2\arcsin\sqrt{\delta/2},\qquad
              \delta' = \delta - \frac{\sin\theta - \theta\cos\theta}{\pi}.

    Computing :math:`1-\mathcal C(\rho)` from :math:`\rho` loses :math:`\log_{10}(1/\delta)`
    digits (about 9 at :math:`l=10^5`); here :math:`\theta` comes from :math:`\delta` without
    cancellation (:math:`1-\cos\theta = 2\sin^2(\theta/2)`), the bracket by a series, and the
    subtraction removes only a fraction :math:`\approx 2\theta/(3\pi)` of :math:`\delta`, so
    each step has relative error of a few ulps. Tested against the registry's ReLU kernel
    iterated at 30 digits (:func:`iterate_correlation` with ``dps=30``)."""
    if not (isinstance(delta, (int, float)) and 0 <= delta <= 2):
        raise ValueError(f"delta = 1 - rho must lie in [0, 2], got {delta!r}")
    theta = 2 * math.asin(math.sqrt(delta / 2))
    return delta - _sin_minus_theta_cos(theta) / math.pi


def relu_gap_sequence(layers: int, delta0: float = 1.0, *, step=None) -> list[float]:
    """``[delta_0, ..., delta_layers]`` under :func:`relu_gap_step` (or ``step``)."""
    if not isinstance(layers, int) or isinstance(layers, bool) or layers < 0:
        raise ValueError(f"layers must be a non-negative integer, got {layers!r}")
    step = relu_gap_step if step is None else step
    out = [float(delta0)]
    for _ in range(layers):
        out.append(step(out[-1]))
    return out


# ---------------------------------------------------------------------------
# sweeps used by plots and claims
# ---------------------------------------------------------------------------

def depth_scale_near_edge(activation, distances, *, w_star=None, dps=None) -> list:
    r""":math:`\xi_c` at :math:`\sigma_w = \sqrt{w^*} + \varepsilon`, :math:`\sigma_b = 0`,
    for each :math:`\varepsilon` in ``distances`` (:math:`w^*` from
    :func:`critical_weight_variance` unless given), computed from the numerical
    :math:`q^*, \rho^*, \chi_c` (:func:`depth_scales`; nothing from the expansion)."""
    w = critical_weight_variance(activation) if w_star is None else w_star
    root = mpmath.sqrt(mpmath.mpf(sp.N(w, 30) if isinstance(w, sp.Basic) else w))
    out = []
    for eps in distances:
        if not eps > 0:
            raise ValueError(f"distances must be > 0, got {eps!r}")
        out.append(depth_scales(activation, sigma_w=float(root) + float(eps), sigma_b=0,
                                dps=dps).xi_c)
    return out


def edge_of_chaos_polyline(activation, q_values, *, max_sigma_b=math.inf) -> list:
    """Points ``(sigma_w, sigma_b)`` of :func:`edge_of_chaos_curve` in the order of
    ``q_values`` with ``sigma_b <= max_sigma_b``, a ``(nan, nan)`` pair breaking the line
    where q* values were skipped (not the fixed point the length map settles at)."""
    points = {qv: (sw, sb) for qv, sw, sb in edge_of_chaos_curve(activation, q_values)}
    line = []
    for qv in q_values:
        if qv in points and points[qv][1] <= max_sigma_b:
            line.append(points[qv])
        elif line and not math.isnan(line[-1][0]):
            line.append((math.nan, math.nan))
    return line[:-1] if line and math.isnan(line[-1][0]) else line
