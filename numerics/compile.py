r"""Compile registry expressions into vectorized float64 NumPy/SciPy callables.

Every SymPy expression of :mod:`theory.activations` (activation, derivative,
dual kernels and their diagonals) is turned into a NumPy function by
:func:`sympy.lambdify` with common-subexpression elimination (``cse=True``),
once per activation (``functools.lru_cache`` on the hashable
:class:`~theory.activations.Activation`).  No SymPy runs at call time.

Function mapping (the ``modules`` argument of ``lambdify``, in priority order):

==========================  ===============================================
SymPy                       float64 implementation
==========================  ===============================================
``BivariateNormalCDF``      :func:`bivariate_normal_cdf` (Owen's T, below)
``TiltedOrthant``           :func:`tilted_orthant` (Owen's T where well
                            conditioned, else a fixed-rule scaled integral,
                            :mod:`numerics.jit_special`)
``Erfcx``                   :func:`scipy.special.erfcx`
``erf``, ``erfc``           :func:`scipy.special.erf`, :func:`scipy.special.erfc`
                            (lambdify's ``"scipy"`` module)
``Piecewise``               :func:`numpy.select` (lambdify's NumPy printer)
``Heaviside``               :func:`numpy.heaviside`
everything else             NumPy (``exp``, ``sqrt``, ``arccos``, ...)
==========================  ===============================================

The compiled functions always return a float64 array of the broadcast shape
of their arguments (constant expressions such as ``identity``'s derivative
are broadcast too).  They evaluate the registry expressions *as written*:
inputs outside their domain (e.g. :math:`|\rho|` a rounding error above 1
inside ``arccos``) give NaN here; :mod:`numerics.kernels` clips and guards.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.special as sc
import sympy as sp

from numerics.stable_forms import RHO, S1, S2, in_s_rho
from theory.activations import Activation, resolve
from theory.special import BivariateNormalCDF
from theory.symbols import q, q11, q12, q22, x

__all__ = [
    "activation_function",
    "bivariate_normal_cdf",
    "dual_function",
    "dual_pair_function",
    "tilted_orthant",
    "FLOAT64_FUNCTIONS",
    "TILTED_ORTHANT_RTOL",
]


def bivariate_normal_cdf(h, k, rho):
    r"""Float64 bivariate normal CDF :math:`\Phi_2(h, k; \rho) = P(Z_1<h, Z_2<k)`
    for standard normals with correlation :math:`\rho`, vectorized (broadcasts).

    Owen (1956), eq. (3.1), with Owen's T function
    :math:`T(h,a)=\frac1{2\pi}\int_0^a \frac{e^{-h^2(1+x^2)/2}}{1+x^2}dx`
    (:func:`scipy.special.owens_t`) and :math:`r=\sqrt{1-\rho^2}`:

    .. math:: \Phi_2(h,k;\rho) = \tfrac12\Phi(h) + \tfrac12\Phi(k)
              - T\!\left(h, \tfrac{k-\rho h}{h r}\right)
              - T\!\left(k, \tfrac{h-\rho k}{k r}\right) - \beta,

    :math:`\beta = 0` if :math:`h, k` have the same sign, else :math:`\tfrac12`.
    Edge cases handled by their own formulas (limits of the above):

    * :math:`h = 0`: :math:`\tfrac12\Phi(k) + T(k, \rho/r)` (and symmetrically
      :math:`k = 0`); :math:`h = k = 0`: Sheppard's
      :math:`\tfrac14 + \arcsin(\rho)/(2\pi)`;
    * :math:`\rho = 1`: :math:`\Phi(\min(h,k))`; :math:`\rho = -1`:
      :math:`\max(0, \Phi(h) - \Phi(-k))`.

    ``rho`` must lie in :math:`[-1, 1]` (not checked here: this is an inner
    kernel; :mod:`numerics.kernels` validates inputs).
    """
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, dtype=float), np.asarray(k, dtype=float), np.asarray(rho, dtype=float)
    )
    out = np.empty(h.shape)
    edge = (rho >= 1.0) | (rho <= -1.0) | (h == 0) | (k == 0)
    general = ~edge
    if edge.any():
        if general.any():
            out[general] = _bvn_general(h[general], k[general], rho[general])
        he, ke, re = h[edge], k[edge], rho[edge]
        r = np.sqrt(np.maximum((1.0 - re) * (1.0 + re), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            a0 = re / r
            h_zero = 0.5 * sc.ndtr(ke) + _owens_t(ke, a0)
            k_zero = 0.5 * sc.ndtr(he) + _owens_t(he, a0)
        out[edge] = np.select(
            [re >= 1.0, re <= -1.0, (he == 0) & (ke == 0), he == 0, ke == 0],
            [sc.ndtr(np.minimum(he, ke)), np.maximum(0.0, sc.ndtr(he) - sc.ndtr(-ke)),
             0.25 + np.arcsin(np.clip(re, -1.0, 1.0)) / (2 * np.pi), h_zero, k_zero],
        )
    else:
        out = _bvn_general(h, k, rho)
    return out if out.ndim else out[()]


def _owens_t(h, a):
    """Owen's T, skipping a = 0 (T = 0) and evaluating only the rest: the ELU kernels'
    Phi_2(-s, -s rho; rho) has one such argument, and owens_t costs ~100 ns a value."""
    nonzero = a != 0
    if nonzero.all():
        return sc.owens_t(h, a)
    out = np.zeros(np.shape(a))
    out[nonzero] = sc.owens_t(h[nonzero], a[nonzero])
    return out


def _bvn_general(h, k, rho):
    """Owen's formula for h, k != 0 and |rho| < 1."""
    r = np.sqrt((1.0 - rho) * (1.0 + rho))
    # x - rho y as (x -+ y) +- (1 -+ rho) y (1 -+ rho exact): no eps / (1 - |rho|) loss
    # for x = +-y as |rho| -> 1 (numerics.jit_special._minus_rho_times)
    positive = rho >= 0
    sign = np.where(positive, 1.0, -1.0)
    one_minus = np.where(positive, 1.0 - rho, 1.0 + rho)
    a_h = ((k - sign * h) + sign * one_minus * h) / (h * r)
    a_k = ((h - sign * k) + sign * one_minus * k) / (k * r)
    out = sc.ndtr(h)
    out += sc.ndtr(k)
    out *= 0.5
    out -= _owens_t(h, a_h)
    out -= _owens_t(k, a_k)
    out -= np.where((h > 0) == (k > 0), 0.0, 0.5)
    return out


# ---------------------------------------------------------------------------
# tilted orthant A(a, b; rho) = E[e^{a Z1 + b Z2} 1{Z1 < 0, Z2 < 0}]
# ---------------------------------------------------------------------------

#: Owen's-T form is used where its estimated relative error is below this
TILTED_ORTHANT_RTOL = 1e-12
_EPS = np.finfo(float).eps
_INV_SQRT2 = 1 / np.sqrt(2.0)


def _tilted_orthant_integral(a, b, rho):
    r"""Stable :math:`A(a, b; \rho)` for :math:`a, b \ge 0`, :math:`|\rho| < 1` (arrays):
    the positive conditioning integral in the scaled variable :math:`w = -Z_1/\sqrt{1-\rho^2}`
    with a fixed 40-node rule, :func:`numerics.jit_special._tilted_orthant_scaled` (relative
    error at most 32 eps, ~1-3 us an entry; tests/test_jit_special.py)."""
    from numerics.jit_special import tilted_orthant_scaled_vec  # compiles on import

    return tilted_orthant_scaled_vec(a, b, rho)


def _tilted_orthant_owen_a0(b, rho):
    r"""Owen's form of :math:`A(0, b; \rho) = e^{b^2/2}\Phi_2(-b\rho, -b; \rho)` (1-D arrays)
    and its factor :math:`e^{b^2/2}`. In Owen's formula (:func:`bivariate_normal_cdf`)
    with :math:`h=-b\rho`, :math:`k=-b`, the second T has argument
    :math:`(h-\rho k)/(kr) = 0` and vanishes, and :math:`e^{b^2/2}\Phi(-b) =
    \operatorname{erfcx}(b/\sqrt2)/2`, so

    .. math:: A(0,b;\rho) = e^{b^2/2}\big(\tfrac12\Phi(-b\rho) - T(b\rho, r/\rho)
              - \beta\big) + \tfrac14\operatorname{erfcx}(b/\sqrt2),

    :math:`r = \sqrt{1-\rho^2}`, :math:`\beta = \tfrac12` when :math:`\rho < 0` (h, k of
    opposite signs), else 0; T is even in its first argument. One Owen's T instead of
    the general form's two. ``b = 0`` or ``rho = 0`` (Owen's h or a = 0) go to
    :func:`bivariate_normal_cdf`'s edge formulas."""
    grow = np.exp(b * b / 2)
    edge = (b == 0) | (rho == 0) | (np.abs(rho) >= 1)
    if edge.any():
        ok = ~edge
        out = np.empty(b.shape)
        out[edge] = grow[edge] * bivariate_normal_cdf(-b[edge] * rho[edge], -b[edge], rho[edge])
        if ok.any():
            out[ok] = _owen_a0_general(b[ok], rho[ok], grow[ok])
        return grow, out
    return grow, _owen_a0_general(b, rho, grow)


def _owen_a0_general(b, rho, grow):
    br = b * rho
    r = np.sqrt((1.0 - rho) * (1.0 + rho))
    r /= rho
    inner = sc.ndtr(-br)
    inner *= 0.5
    inner -= sc.owens_t(br, r)
    inner -= np.where(rho < 0, 0.5, 0.0)
    inner *= grow
    inner += 0.25 * sc.erfcx(b * _INV_SQRT2)
    return inner


def tilted_orthant(a, b, rho):
    r"""Float64 tilted orthant probability, vectorized (broadcasts):

    .. math:: A(a, b; \rho) = \mathbb{E}[e^{aZ_1+bZ_2}\,1\{Z_1<0, Z_2<0\}]
              = e^{E}\,\Phi_2(-(a+b\rho), -(a\rho+b); \rho), \qquad
              E = \tfrac12(a^2 + 2ab\rho + b^2).

    The closed form multiplies :math:`e^{E}` into a CDF whose Owen's-T evaluation
    (:func:`bivariate_normal_cdf`) has an absolute error of a few ulp, so its relative
    error grows like :math:`\epsilon e^{E}/A` (and like :math:`1/(1+\rho)` as
    :math:`\rho\to-1`, where Owen's T arguments blow up). Measured against mpmath on
    2400 random points (:math:`a, b \le 9`, :math:`1-|\rho| \ge 5\cdot10^{-7}`), the error
    of the Owen form is at most 50 times (median 0.006 times)

    .. math:: \hat e = \epsilon\, e^{E} / \big(A_{\text{Owen}}\,(1 + \min(\rho, 0))\big),

    and it is at most 2.3e-13 wherever :math:`\hat e \le 10^{-12}`
    (:data:`TILTED_ORTHANT_RTOL`). Entries with :math:`a, b \ge 0` and
    :math:`\hat e` above that (or an overflowing/non-positive Owen value) are
    recomputed by the positive conditioning integral :func:`_tilted_orthant_integral`
    (relative error <= 32 eps, 1-3 µs an entry; Owen's form costs ~0.3 µs), so Grams at
    variances of order one stay on the fast path. :math:`\rho = 1`:
    :math:`\operatorname{erfcx}((a+b)/\sqrt2)/2`; :math:`\rho = -1`: 0. Entries with a
    negative ``a`` or ``b`` always keep the Owen form (the integral's bound
    :math:`G \le \varphi` needs :math:`a, b \ge 0`; the ELU kernels never have them).
    ``rho`` must lie in :math:`[-1, 1]` (not checked: an inner kernel).
    """
    a_is_zero = np.ndim(a) == 0 and a == 0  # A(0, b; rho): 4 of the 5 ELU terms
    a, b, rho = np.broadcast_arrays(
        np.asarray(a, dtype=float), np.asarray(b, dtype=float), np.asarray(rho, dtype=float)
    )
    shape = a.shape
    a, b, rho = (np.ravel(v) for v in (a, b, rho))
    with np.errstate(all="ignore"):
        if a_is_zero:
            grow, out = _tilted_orthant_owen_a0(b, rho)
        else:
            grow = np.exp((a * a + 2 * a * b * rho + b * b) / 2)
            out = grow * bivariate_normal_cdf(-(a + b * rho), -(a * rho + b), rho)
        # keep Owen where estimate <= RTOL, i.e. out (1 + min(rho, 0)) RTOL >= eps grow;
        # NaN (overflow) and non-positive values (A > 0 for |rho| < 1) are not kept
        keep = np.minimum(rho, 0.0)
        keep += 1.0
        keep *= out
        keep *= TILTED_ORTHANT_RTOL / _EPS
        keep = keep >= grow
        keep &= out > 0
    if not keep.all():
        bad = np.flatnonzero(~keep)
        ab, bb, rb = a[bad], b[bad], rho[bad]
        stable = (ab >= 0) & (bb >= 0) & np.isfinite(ab + bb) & (np.abs(rb) < 1)
        if stable.any():
            out[bad[stable]] = _tilted_orthant_integral(ab[stable], bb[stable], rb[stable])
        upper, lower = rb >= 1.0, rb <= -1.0
        if upper.any():
            out[bad[upper]] = sc.erfcx((ab[upper] + bb[upper]) * _INV_SQRT2) / 2
        if lower.any():
            out[bad[lower]] = 0.0
    out = out.reshape(shape)
    return out if out.ndim else out[()]


#: SymPy function name -> float64 implementation, the first lambdify module.
FLOAT64_FUNCTIONS = {
    "BivariateNormalCDF": bivariate_normal_cdf,
    "TiltedOrthant": tilted_orthant,
    "Erfcx": sc.erfcx,
    "erf": sc.erf,
    "erfc": sc.erfc,
}

_MODULES = [FLOAT64_FUNCTIONS, "scipy", "numpy"]


def _vectorize(raw, nargs):
    """Wrap a lambdified function: float64 inputs, output broadcast to the
    argument shape, floating-point warnings from unselected Piecewise branches
    silenced (NumPy evaluates every branch of ``select``)."""

    def compiled(*args):
        if len(args) != nargs:
            raise TypeError(f"expected {nargs} argument(s), got {len(args)}")
        arrays = [np.asarray(a, dtype=float) for a in args]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        with np.errstate(all="ignore"):
            value = raw(*arrays)
        out = np.broadcast_to(np.asarray(value, dtype=float), shape)
        if not out.flags.writeable:
            out = out.copy()
        return out if out.ndim else out[()]

    compiled.__wrapped__ = raw
    return compiled


def _canonical_bvn(expr):
    """Phi_2(h, k; rho) = Phi_2(k, h; rho): order (h, k) canonically so that cse
    recognizes the same CDF written both ways (the ELU kernels contain both)."""
    return expr.replace(
        BivariateNormalCDF,
        lambda h, k, r: BivariateNormalCDF(*sorted((h, k), key=sp.default_sort_key), r),
    )


def _lambdify(args, expr):
    return sp.lambdify(args, _canonical_bvn(expr), modules=_MODULES, cse=True)


@functools.lru_cache(maxsize=256)
def _activation_function(act: Activation, derivative: bool):
    if derivative:
        expr = act.require_derivative()
    else:
        expr = act.expr
    fn = _vectorize(_lambdify((x,), expr), 1)
    fn.__doc__ = f"{'derivative of ' if derivative else ''}{act.label}: {sp.sstr(expr)}"
    return fn


def activation_function(act, derivative: bool = False):
    r"""Vectorized float64 :math:`\sigma` (or :math:`\sigma'` with
    ``derivative=True``) of a registry entry or name.

    ``Piecewise`` becomes :func:`numpy.select`, ``erf`` becomes
    :func:`scipy.special.erf`.  Raises ValueError for the derivative of an
    activation without one (step).
    """
    return _activation_function(resolve(act), bool(derivative))


def _variables(exprs, diagonal: bool, s_rho: bool):
    """The arguments of a compiled kernel and its expressions in them: (q,) for a diagonal,
    (q11, q12, q22) as the registry writes them, or (s1, s2, rho) in the rewritten form
    of :mod:`numerics.stable_forms`."""
    if diagonal:
        return (q,), exprs
    if s_rho:
        return (S1, S2, RHO), [in_s_rho(e) for e in exprs]
    return (q11, q12, q22), exprs


@functools.lru_cache(maxsize=512)
def _dual_function(act: Activation, derivative: bool, diagonal: bool, s_rho: bool = False):
    if derivative:
        act.require_derivative()
        expr = act.dual_derivative_diagonal if diagonal else act.dual_derivative
    else:
        expr = act.dual_diagonal if diagonal else act.dual
    if expr is None:
        return None
    args, (expr,) = _variables([expr], diagonal, s_rho)
    fn = _vectorize(_lambdify(args, expr), len(args))
    kind = "E[s'(u)s'(v)]" if derivative else "E[s(u)s(v)]"
    fn.__doc__ = f"{kind} for {act.label}{' (diagonal)' if diagonal else ''}: {sp.sstr(expr)}"
    return fn


def dual_function(act, derivative: bool = False, diagonal: bool = False, s_rho: bool = False):
    r"""Compiled closed-form dual kernel of a registry entry (or name).

    Returns a vectorized float64 callable ``f(q11, q12, q22)`` for
    :math:`\mathbb{E}[\sigma(u)\sigma(v)]` (``derivative=True``:
    :math:`\mathbb{E}[\sigma'(u)\sigma'(v)]`), or ``f(q)`` for the diagonal
    :math:`\mathbb{E}[\sigma(u)^2]` with ``diagonal=True``; ``None`` when the
    registry has no closed form (then use :mod:`numerics.quadrature`).
    Raises ValueError when ``derivative=True`` and the activation has no
    derivative (step). ``s_rho=True``: ``f(s1, s2, rho)`` with :math:`q_{ii} = s_i^2`,
    :math:`q_{12} = \rho s_1 s_2`, in the cancellation-free form of
    :mod:`numerics.stable_forms` (what :mod:`numerics.kernels` evaluates).
    """
    return _dual_function(resolve(act), bool(derivative), bool(diagonal), bool(s_rho))


@functools.lru_cache(maxsize=256)
def _dual_pair_function(act: Activation, diagonal: bool, s_rho: bool = False):
    if diagonal:
        exprs = (act.dual_diagonal, act.dual_derivative_diagonal)
    else:
        exprs = (act.dual, act.dual_derivative)
    if act.derivative is None or any(e is None for e in exprs):
        return None
    args, exprs = _variables(exprs, diagonal, s_rho)
    # one lambdify of the pair: cse shares the bivariate normal CDFs and
    # exponentials that E[s s] and E[s' s'] have in common (ELU: 3 of them)
    raw = sp.lambdify(args, [_canonical_bvn(e) for e in exprs], modules=_MODULES, cse=True)
    nargs = len(args)

    def pair(*arrays):
        if len(arrays) != nargs:
            raise TypeError(f"expected {nargs} argument(s), got {len(arrays)}")
        arrays = [np.asarray(a, dtype=float) for a in arrays]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        with np.errstate(all="ignore"):
            k, kd = raw(*arrays)
        return tuple(np.broadcast_to(np.asarray(v, dtype=float), shape).copy() for v in (k, kd))

    pair.__doc__ = f"(E[s s], E[s' s']) for {act.label}{' (diagonal)' if diagonal else ''}"
    return pair


def dual_pair_function(act, diagonal: bool = False, s_rho: bool = False):
    r"""Both closed-form kernels at once: a callable returning the pair
    :math:`(\mathbb{E}[\sigma\sigma], \mathbb{E}[\sigma'\sigma'])` from one
    lambdified function (shared subexpressions evaluated once), or ``None``
    when either has no closed form or the activation has no derivative.
    ``s_rho`` as for :func:`dual_function`."""
    return _dual_pair_function(resolve(act), bool(diagonal), bool(s_rho))
