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

from theory.activations import Activation, q, q11, q12, q22, resolve, x

__all__ = [
    "activation_function",
    "bivariate_normal_cdf",
    "dual_function",
    "dual_pair_function",
    "FLOAT64_FUNCTIONS",
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
    a_h = (k - rho * h) / (h * r)
    a_k = (h - rho * k) / (k * r)
    out = sc.ndtr(h)
    out += sc.ndtr(k)
    out *= 0.5
    out -= _owens_t(h, a_h)
    out -= _owens_t(k, a_k)
    out -= np.where((h > 0) == (k > 0), 0.0, 0.5)
    return out


#: SymPy function name -> float64 implementation, the first lambdify module.
FLOAT64_FUNCTIONS = {
    "BivariateNormalCDF": bivariate_normal_cdf,
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
    from theory.gaussian import BivariateNormalCDF

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


@functools.lru_cache(maxsize=512)
def _dual_function(act: Activation, derivative: bool, diagonal: bool):
    if derivative:
        act.require_derivative()
        expr = act.dual_derivative_diagonal if diagonal else act.dual_derivative
    else:
        expr = act.dual_diagonal if diagonal else act.dual
    if expr is None:
        return None
    args = (q,) if diagonal else (q11, q12, q22)
    fn = _vectorize(_lambdify(args, expr), len(args))
    kind = "E[s'(u)s'(v)]" if derivative else "E[s(u)s(v)]"
    fn.__doc__ = f"{kind} for {act.label}{' (diagonal)' if diagonal else ''}: {sp.sstr(expr)}"
    return fn


def dual_function(act, derivative: bool = False, diagonal: bool = False):
    r"""Compiled closed-form dual kernel of a registry entry (or name).

    Returns a vectorized float64 callable ``f(q11, q12, q22)`` for
    :math:`\mathbb{E}[\sigma(u)\sigma(v)]` (``derivative=True``:
    :math:`\mathbb{E}[\sigma'(u)\sigma'(v)]`), or ``f(q)`` for the diagonal
    :math:`\mathbb{E}[\sigma(u)^2]` with ``diagonal=True``; ``None`` when the
    registry has no closed form (then use :mod:`numerics.quadrature`).
    Raises ValueError when ``derivative=True`` and the activation has no
    derivative (step).
    """
    return _dual_function(resolve(act), bool(derivative), bool(diagonal))


@functools.lru_cache(maxsize=256)
def _dual_pair_function(act: Activation, diagonal: bool):
    if diagonal:
        exprs = (act.dual_diagonal, act.dual_derivative_diagonal)
        args = (q,)
    else:
        exprs = (act.dual, act.dual_derivative)
        args = (q11, q12, q22)
    if act.derivative is None or any(e is None for e in exprs):
        return None
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


def dual_pair_function(act, diagonal: bool = False):
    r"""Both closed-form kernels at once: a callable returning the pair
    :math:`(\mathbb{E}[\sigma\sigma], \mathbb{E}[\sigma'\sigma'])` from one
    lambdified function (shared subexpressions evaluated once), or ``None``
    when either has no closed form or the activation has no derivative."""
    return _dual_pair_function(resolve(act), bool(diagonal))
