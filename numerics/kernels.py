r"""NNGP and NTK of deep fully connected networks, float64, vectorized over Gram matrices.

The network has ``hidden_layers`` = L hidden layers and a linear readout; every
Dense layer has weight std :math:`\sigma_w` and bias std :math:`\sigma_b`.
NTK parameterization (Jacot et al. 2018; neural-tangents ``stax.Dense``), inputs
:math:`x \in \mathbb R^d`:

.. math::
    \Sigma^1(x,x') = \sigma_w^2 \langle x, x'\rangle/d + \sigma_b^2, \qquad \Theta^1 = \Sigma^1,

    \Sigma^{l+1} = \sigma_w^2\,\mathbb E[\sigma(u)\sigma(v)] + \sigma_b^2, \qquad
    \Theta^{l+1} = \Sigma^{l+1} + \sigma_w^2\,\mathbb E[\sigma'(u)\sigma'(v)]\,\Theta^l,

with :math:`(u,v)\sim\mathcal N(0, \Sigma^l)` restricted to :math:`(x, x')`.  The
returned kernels are :math:`\Sigma^{L+1}, \Theta^{L+1}` (the readout's), so
``hidden_layers=1`` equals neural-tangents'
``stax.serial(Dense(w, W_std, b_std), Relu(), Dense(1, W_std, b_std))`` (checked in
``tests/test_kernels.py`` against stored neural-tangents 0.6.5 values).

``parameterization="standard"`` (Sohl-Dickstein et al. 2020; neural-tangents'
``Dense(parameterization="standard")``): the weights are
:math:`W\sim\mathcal N(0,\sigma_w^2/n_{\text{in}})` and trained at unit learning
rate, so the NNGP is unchanged but the NTK picks up the layer widths: with
hidden ``width`` n (the first layer's fan-in is d),

.. math::
    \Theta^1 = \langle x,x'\rangle + 1, \qquad
    \Theta^{l+1} = n\,\mathbb E[\sigma(u)\sigma(v)] + 1
                   + \sigma_w^2\,\mathbb E[\sigma'(u)\sigma'(v)]\,\Theta^l

(the ``+1`` is the bias gradient, present as in neural-tangents whenever the
layer has a bias, even at :math:`\sigma_b = 0`).  ``width`` is required for the
standard parameterization and refused for the NTK one.

Evaluation: where the activation's closed forms compile, the Gram comes from the
compiled engine :mod:`numerics.gram` (generated from the registry, all layers of an
entry in one numba pass, parallel, upper triangle only; ``engine="auto"``, the
default). The vectorized NumPy path below is the fallback (no numba, no compilable
closed form, ``NNTHEORY_JIT=0``, ``engine="numpy"``) and the reference the engine is
tested against; :func:`kernel_path` names the path taken. On the NumPy path dual
kernels come from the registry's closed form, rewritten in :math:`(s_1, s_2, \rho)` by
:mod:`numerics.stable_forms` (the same expressions the compiled engine evaluates) and
lambdified by :mod:`numerics.compile`, or, without a closed form, from quadrature
(:mod:`numerics.quadrature`: tanh and user activations). Nothing is written per
activation; a family's stable form where its closed form cancels is registered in
:data:`NEAR_ONE_FAMILIES` (keyed by ``Activation.family``, never by name).

Numerical guards: correlations are formed as :math:`q_{12}/(s_1 s_2)` with
:math:`s_i=\sqrt{q_{ii}}` (no overflow of :math:`q_{11}q_{22}`), clipped to :math:`[-1,1]`
and snapped to :math:`\pm 1` within 4 ulp; :math:`1-\rho^2` is
computed as :math:`(1-\rho)(1+\rho)`; the diagonal :math:`x=x'` is computed by
the registry's diagonal formula so :math:`\rho=1` is exact.  Kernel values that
exceed float64 raise ValueError (ReLU with :math:`\sigma_w=16` and 100 hidden
layers reaches ~1e212 and stays finite: positively homogeneous kernels are
evaluated as :math:`s_1 s_2 J(\rho)`).

Memory: the compiled engine writes into the two outputs and allocates nothing else of
size :math:`n_1 n_2`. On the NumPy path rows of ``x1`` are processed in blocks so
that one block has at most :data:`MAX_CHUNK_ELEMENTS` entries (default :math:`2^{22}`,
32 MB per float64 temporary); peak memory is about the two outputs (:math:`16\,n_1 n_2` bytes)
plus ten block-sized temporaries (~350 MB at the default), whatever
:math:`n`.  Expensive kernels (special functions, quadrature) on a symmetric
Gram evaluate only the upper triangle.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable

import mpmath
import numpy as np

from numerics import gram as _gram
from numerics.compile import dual_function, dual_pair_function
from numerics.mehler import DEFAULT_TOL as DEFAULT_MEHLER_TOL
from numerics.mehler import mehler_pair, require_kinks_at_zero
from numerics.quadrature import gaussian_diagonal, gaussian_dual
from theory.activations import Activation, resolve
from theory.arithmetic import Arithmetic, check_dps
from theory.special import BivariateNormalCDF, TiltedOrthant

__all__ = [
    "MAX_CHUNK_ELEMENTS",
    "dual_kernel",
    "dual_diagonal",
    "nngp",
    "ntk",
    "kernel_path",
    "nngp_ntk",
    "predict",
]

MAX_CHUNK_ELEMENTS = 2**22
PARAMETERIZATIONS = ("ntk", "standard")
_EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def _check_points(name, x):
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real 2-D array (n, d), got {type(x).__name__}") \
            from None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have input dimension d >= 1, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return arr


def _check_nonnegative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number >= 0, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite real number >= 0, got {value!r}")
    return value


def _check_setup(activation, hidden_layers, sigma_w, sigma_b, parameterization, width):
    act = resolve(activation)
    if (
        isinstance(hidden_layers, bool)
        or not isinstance(hidden_layers, numbers.Integral)
        or hidden_layers < 1
    ):
        raise ValueError(f"hidden_layers must be an integer >= 1, got {hidden_layers!r}")
    sw = _check_nonnegative("sigma_w", sigma_w)
    sb = _check_nonnegative("sigma_b", sigma_b)
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}"
        )
    if parameterization == "standard":
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(
                f"width (hidden-layer width) must be an integer >= 1 for the standard "
                f"parameterization, got {width!r}"
            )
        width = int(width)
    elif width is not None:
        raise ValueError("width is only used by parameterization='standard'; pass width=None")
    return act, int(hidden_layers), sw, sb, width


def _check_pair(x1, x2):
    x1 = _check_points("x1", x1)
    if x2 is None:
        return x1, None
    x2 = _check_points("x2", x2)
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"x1 and x2 must have the same input dimension d: x1 has d={x1.shape[1]}, "
            f"x2 has d={x2.shape[1]}"
        )
    return x1, x2


# ---------------------------------------------------------------------------
# dual-kernel maps: (s1, s2, q12) -> (E[s s], E[s' s'])
# ---------------------------------------------------------------------------

def _correlation(s1, s2, q12):
    """rho = q12/(s1 s2) (0 where a variance is 0), clipped to [-1, 1]."""
    with np.errstate(divide="ignore"):
        inv1 = np.where(s1 > 0, 1.0 / np.where(s1 > 0, s1, 1.0), 0.0)
        inv2 = np.where(s2 > 0, 1.0 / np.where(s2 > 0, s2, 1.0), 0.0)
    # q12 * (inv1 inv2): the product inv1 inv2 is commutative, so a symmetric q12
    # gives a bitwise symmetric rho (no symmetrization pass needed afterwards)
    rho = inv1 * inv2
    rho *= q12
    np.clip(rho, -1.0, 1.0, out=rho)
    # |rho| within 4 ulp of 1 is 1 up to the rounding of q12 and s1 s2 (1 ulp each):
    # snap it, so identical inputs get the exact rho = 1 value even off the diagonal
    # (the arc-cosine kernels have a sqrt(1-rho) singularity there)
    near = np.abs(rho) > 1.0 - 4 * _EPS
    if near.any():
        rho[near] = np.sign(rho[near])
    return rho


class _Compiled:
    """Registry closed forms in (s1, s2, rho), compiled by numerics.compile."""

    def __init__(self, act):
        self.act = act
        self.kdiag = dual_function(act, diagonal=True)
        self.pair_diag = dual_pair_function(act, diagonal=True)
        # special-function forms (ELU): evaluated on the upper triangle only, and
        # replaced near |rho| = 1 where their square-root terms cancel (see _eval)
        self.expensive = act.dual.has(BivariateNormalCDF, TiltedOrthant)
        near_one = NEAR_ONE_FAMILIES.get(act.family)
        self.near_one = near_one(act) if near_one is not None else None

    # the off-diagonal forms are built on first use: with the compiled engine they serve
    # only entries it flags (first-call time)
    @functools.cached_property
    def k(self):
        return dual_function(self.act, s_rho=True)

    @functools.cached_property
    def pair_fn(self):
        return dual_pair_function(self.act, s_rho=True)

    def _eval(self, fn, s1, s2, q12, derivatives):
        q11, q22 = s1 * s1, s2 * s2
        bound = s1 * s2
        q12 = np.clip(q12, -bound, bound)
        rho = _correlation(s1, s2, q12)  # clipped, and snapped to +-1 within 4 ulp
        out = fn(s1, s2, rho)
        if self.expensive:
            # the closed form's sqrt(1-rho^2) terms (and Owen's T) cancel as |rho| -> 1:
            # there (and wherever the family's stable form says so) use that form (ELU:
            # numerics.jit_special.elu_pair_near_one, exact to rounding), else, within
            # 1-|rho| < 5e-7 (error ~ eps / sqrt(1-rho^2), bound 1e-12), the exact diagonal
            # (rho = 1, q11 = q22) or the kink-split quadrature
            if self.near_one is not None:
                near = self.near_one[0](s1, s2, rho)
            else:
                near = np.abs(rho) > 1 - 5e-7
            near = np.broadcast_to(near, np.shape(out[0] if isinstance(out, tuple) else out))
            if np.any(near):
                values = out if isinstance(out, tuple) else (out,)
                args = [np.broadcast_to(a, near.shape)[near] for a in (q11, q12, q22)]
                if self.near_one is not None:
                    # identical inputs get the diagonal's value bitwise: diag uses it too
                    pair = self.near_one[1](*args)
                    for v, derivative in zip(values, derivatives, strict=True):
                        v[near] = pair[1 if derivative else 0]
                else:
                    self._near_one_quadrature(values, derivatives, near, args)
        values = out if isinstance(out, tuple) else (out,)
        # a zero variance: rho is set to 0 there, and a closed form at rho = 0 is the
        # zero-variance value only if it is continuous (the step kernel gives 1/4 where the
        # truth is step(0)^2 = 0); non-finite values: overflow or a removable 0/0
        bad = np.broadcast_to((s1 == 0) | (s2 == 0), np.shape(values[0])).copy()
        for v in values:
            bad |= ~np.isfinite(v)
        if np.any(bad):
            # the quadrature handles u = 0 or v = 0 directly
            args = [np.broadcast_to(a, bad.shape)[bad] for a in (q11, q12, q22)]
            for v, derivative in zip(values, derivatives, strict=True):
                v[bad] = gaussian_dual(self.act, *args, derivative=derivative)
        return out

    def _near_one_quadrature(self, values, derivatives, near, args):
        exact = (args[0] == args[2]) & (args[1] == args[0])
        for v, derivative in zip(values, derivatives, strict=True):
            sub = np.empty(args[0].shape)
            if np.any(exact):
                sub[exact] = self.kdiag_pair(args[0][exact], derivative)
            if np.any(~exact):
                sub[~exact] = gaussian_dual(self.act, *(a[~exact] for a in args),
                                            derivative=derivative)
            v[near] = sub

    def kdiag_pair(self, q, derivative):
        return dual_function(self.act, derivative=derivative, diagonal=True)(q)

    def pair(self, s1, s2, q12, want_derivative, scale=1.0):
        if want_derivative:
            self.act.require_derivative()
            if self.pair_fn is not None:
                k, kd = self._eval(self.pair_fn, s1, s2, q12, (False, True))
                return k * scale, kd * scale
        return self._eval(self.k, s1, s2, q12, (False,)) * scale, None

    def diag(self, q, want_derivative):
        if want_derivative:
            self.act.require_derivative()
        if self.near_one is not None:
            # the stable form at rho = 1 (the registry diagonal cancels at small q, and
            # off-diagonal entries with identical inputs use the stable form): q > 0 only
            q = np.asarray(q, dtype=float)
            positive = q > 0
            k, kd = self.pair_diag(q) if want_derivative else (self.kdiag(q), None)
            k = np.array(k, dtype=float)
            kd = None if kd is None else np.array(kd, dtype=float)
            if np.any(positive):
                qp = q[positive]
                stable = self.near_one[1](qp, qp, qp)
                k[positive] = stable[0]
                if kd is not None:
                    kd[positive] = stable[1]
            return k, kd
        if want_derivative:
            return self.pair_diag(q)
        return self.kdiag(q), None


class _Quadrature:
    """Activations without closed form: numerics.quadrature (graded panels by default)."""

    expensive = True

    def __init__(self, act, method="auto", order=None):
        self.act, self.method, self.order = act, method, order

    def pair(self, s1, s2, q12, want_derivative, scale=1.0):
        q11, q22 = s1 * s1, s2 * s2
        kw = {"method": self.method, "order": self.order}
        k = scale * gaussian_dual(self.act, q11, q12, q22, **kw)
        kd = scale * gaussian_dual(self.act, q11, q12, q22, derivative=True, **kw) \
            if want_derivative else None
        return k, kd

    def diag(self, q, want_derivative):
        kw = {"method": self.method, "order": self.order}
        k = gaussian_diagonal(self.act, q, **kw)
        kd = gaussian_diagonal(self.act, q, derivative=True, **kw) if want_derivative else None
        return k, kd


class _Mehler:
    """Activations without closed form by Mehler's formula (numerics.mehler): Hermite
    coefficients per scale, a bound on every entry, panel quadrature where the bound
    exceeds ``tol`` of the kernel scale (|rho| near 1 at large variance); the diagonal
    by panel quadrature as in _Quadrature. ``last_bounds`` keeps the bounds of the last
    ``pair`` call (NNGP, derivative) to say with what error a result was produced."""

    expensive = True

    def __init__(self, act, tol=DEFAULT_MEHLER_TOL):
        require_kinks_at_zero(act)
        self.act, self.tol, self.last_bounds = act, tol, None

    def pair(self, s1, s2, q12, want_derivative, scale=1.0):
        shape = np.broadcast_shapes(np.shape(s1), np.shape(s2), np.shape(q12))
        s1, s2, q12 = (np.broadcast_to(v, shape).ravel() for v in (s1, s2, q12))
        bound = s1 * s2
        q12 = np.clip(q12, -bound, bound)
        flags = (False, True) if want_derivative else (False,)
        results = mehler_pair(self.act, s1, s2, q12, derivatives=flags, tol=self.tol)
        self.last_bounds = tuple(b.reshape(shape) for _, b in results)
        k = scale * results[0][0].reshape(shape)
        kd = scale * results[1][0].reshape(shape) if want_derivative else None
        return k, kd

    def diag(self, q, want_derivative):
        k = gaussian_diagonal(self.act, q)
        kd = gaussian_diagonal(self.act, q, derivative=True) if want_derivative else None
        return k, kd


def _family_floats(act: Activation, *names):
    params = dict(act.family_params)
    return tuple(float(params[n]) for n in names)


def _elu_near_one(act: Activation):
    # imported here: numerics.jit_special compiles (or loads) its C functions on import,
    # which only the families that use them should pay for
    from numerics.jit_special import ELU_NEAR_ONE, ELU_SMALL_S, elu_pair_near_one_vec

    (alpha,) = _family_floats(act, "alpha")

    def where(s1, s2, rho):
        return (np.abs(rho) > 1 - ELU_NEAR_ONE) | (np.maximum(s1, s2) <= ELU_SMALL_S)

    return where, lambda q11, q12, q22: elu_pair_near_one_vec(q11, q12, q22, alpha)


#: activation family -> builder of (where(s1, s2, rho) -> mask, vectorized (q11, q12, q22)
#: -> (k, kd)): a stable form replacing the compiled closed form where its terms cancel
#: (ELU: near |rho| = 1 and at small variances); families absent here use the exact
#: diagonal or quadrature within 5e-7 of |rho| = 1
NEAR_ONE_FAMILIES: dict[str, Callable[[Activation], tuple]] = {"elu": _elu_near_one}


def _dual_map(act: Activation, method=None, order=None):
    """The evaluator for one activation: its compiled closed form, else quadrature.
    ``method`` forces quadrature ('hermite' / 'panels' / 'auto') or Mehler's formula
    ('mehler', :mod:`numerics.mehler`) even where a closed form exists (used to compare
    and benchmark)."""
    if method == "mehler":
        return _Mehler(act)
    if method is not None:
        return _Quadrature(act, method, order)
    if act.dual is not None and act.dual_diagonal is not None:
        return _Compiled(act)
    return _Quadrature(act)


# ---------------------------------------------------------------------------
# public single-entry / elementwise dual kernels
# ---------------------------------------------------------------------------

def dual_kernel(activation, q11, q12, q22, *, derivative=False):
    r"""Float64 dual kernel :math:`\mathbb E[\sigma(u)\sigma(v)]` (or
    :math:`\mathbb E[\sigma'(u)\sigma'(v)]`) elementwise over broadcastable arrays,
    by the same evaluator the Gram code uses.  ValueError for negative or
    non-finite variances and :math:`|q_{12}|>\sqrt{q_{11}q_{22}}` beyond rounding."""
    from numerics.quadrature import check_covariance

    act = resolve(activation)
    a, b, c = check_covariance(q11, q12, q22)
    shape = a.shape
    a, b, c = (np.atleast_1d(v) for v in (a, b, c))
    k, kd = _dual_map(act).pair(np.sqrt(a), np.sqrt(c), b, derivative)
    out = np.asarray(kd if derivative else k, dtype=float).reshape(shape)
    return out if out.ndim else out[()]


def dual_diagonal(activation, q, *, derivative=False):
    r""":math:`\mathbb E[\sigma(u)^2]` (or :math:`\mathbb E[\sigma'(u)^2]`),
    :math:`u\sim\mathcal N(0,q)`, elementwise over ``q``."""
    from numerics.quadrature import check_covariance

    act = resolve(activation)
    qa, _, _ = check_covariance(q, 0.0, q, names=("q", "0", "q"))
    k, kd = _dual_map(act).diag(np.atleast_1d(qa), derivative)
    out = np.asarray(kd if derivative else k, dtype=float).reshape(qa.shape)
    return out if out.ndim else out[()]


# ---------------------------------------------------------------------------
# the depth recursion
# ---------------------------------------------------------------------------

class _Setup:
    def __init__(self, act, L, sw, sb, parameterization, width, dmap):
        self.act, self.L, self.sw2, self.sb2 = act, L, sw * sw, sb * sb
        self.standard = parameterization == "standard"
        self.width = width
        self.map = dmap


def _variances(setup, x, want_ntk):
    """Per-point Sigma^l(x,x) for l = 1..L+1 (exact diagonal formulas) and Theta^{L+1}(x,x)."""
    d = x.shape[1]
    norms = np.einsum("ij,ij->i", x, x)
    var = setup.sw2 * norms / d + setup.sb2
    theta = (norms + 1.0 if setup.standard else var.copy()) if want_ntk else None
    out = [var]
    for _ in range(setup.L):
        k, kd = setup.map.diag(var, want_ntk)
        new = setup.sw2 * np.asarray(k, dtype=float) + setup.sb2
        if want_ntk:
            lead = setup.width * np.asarray(k) + 1.0 if setup.standard else new
            theta = lead + setup.sw2 * np.asarray(kd) * theta
        var = new
        out.append(var)
    return out, theta


def _cross(setup, dot, d, s1_layers, s2_layers, want_ntk, exact_diag=None):
    """Run the recursion on one block of entries. ``dot`` holds <x,x'> for the block,
    ``s*_layers[l]`` the broadcastable sqrt variances at layer l. ``exact_diag``:
    (row index, col index, var layers, theta) to overwrite x = x' entries exactly."""
    K = dot * (setup.sw2 / d)
    K += setup.sb2
    T = None
    if want_ntk:
        T = dot + 1.0 if setup.standard else K.copy()
    for layer in range(setup.L):
        # the maps return sw^2 E[s s] and sw^2 E[s' s'] (the scale folded into their
        # last multiplication)
        scale = 1.0 if setup.standard else setup.sw2
        k, kd = setup.map.pair(s1_layers[layer], s2_layers[layer], K, want_ntk, scale=scale)
        if want_ntk:
            if setup.standard:
                kd *= setup.sw2
            T *= kd
            if setup.standard:
                T += setup.width * k + 1.0
        if setup.standard:
            k *= setup.sw2
        k += setup.sb2
        K = k
        if want_ntk and not setup.standard:
            T += K
        if exact_diag is not None:
            rows, cols, var_layers = exact_diag
            K[rows, cols] = var_layers[layer + 1]
    return K, T


def _overflow_check(name, arr):
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"the {name} exceeds the float64 range (~1.8e308) or became undefined for these "
            "inputs (too many hidden layers or too large sigma_w); use dps= for an mpmath "
            "evaluation or reduce sigma_w / hidden_layers"
        )


def nngp_ntk(x1, x2=None, *, activation, hidden_layers, sigma_w, sigma_b, diagonal=False,
             parameterization="ntk", width=None, want_ntk=True, quadrature_method=None,
             quadrature_order=None, max_chunk_elements=None, engine="auto", info=None):
    r"""NNGP :math:`\Sigma^{L+1}` and NTK :math:`\Theta^{L+1}` together (the engine behind
    :func:`nngp` and :func:`ntk`; see the module docstring for the recursion).

    Returns ``(nngp, ntk)`` (``ntk`` is None when ``want_ntk=False``), each of shape
    ``(n1, n2)``, or ``(n,)`` with ``diagonal=True`` (entries :math:`(x_i, x_i)` when
    ``x2`` is None, else the pairs :math:`(x1_i, x2_i)`). An ``x2`` equal to ``x1`` is
    computed as ``x2=None`` (the symmetric Gram: half the entries, exactly symmetric).
    ``quadrature_method`` ('auto', 'hermite', 'panels') forces quadrature even where a
    closed form exists, with ``quadrature_order`` points (used to validate and benchmark);
    ``'mehler'`` uses Mehler's formula (:mod:`numerics.mehler`, error bounded per entry);
    ``max_chunk_elements`` overrides :data:`MAX_CHUNK_ELEMENTS`.
    ``engine``: ``"auto"`` (the compiled engine of :mod:`numerics.gram` where the
    activation has one, else NumPy), ``"compiled"`` (require it: ValueError if there is
    none) or ``"numpy"`` (the vectorized NumPy path, the reference the engine is tested
    against). :func:`kernel_path` says which path a call takes; pass a dict as ``info``
    to have it filled with ``path`` and ``recomputed_entries`` (entries the compiled
    engine left to the NumPy path: zero variances, overflow, Mehler bounds above
    tolerance).
    """
    act, L, sw, sb, width = _check_setup(
        activation, hidden_layers, sigma_w, sigma_b, parameterization, width
    )
    if want_ntk:
        act.require_derivative()
    x1, x2 = _check_pair(x1, x2)
    if x2 is not None and x2.shape == x1.shape and np.array_equal(x1, x2):
        # the same points (kernel(x_train, x_train)): the symmetric Gram, half the entries
        # and exactly symmetric; with diagonal=True the same pairs (x_i, x_i)
        x2 = None
    budget = MAX_CHUNK_ELEMENTS if max_chunk_elements is None else int(max_chunk_elements)
    if budget < 1:
        raise ValueError(f"max_chunk_elements must be >= 1, got {max_chunk_elements!r}")
    setup = _Setup(act, L, sw, sb, parameterization, width,
                   _dual_map(act, quadrature_method, quadrature_order))
    compiled = _choose_engine(act, engine, quadrature_method)
    info = {} if info is None else info
    info["path"] = getattr(compiled, "path", "compiled") if compiled is not None else \
        kernel_path(act, engine="numpy", quadrature_method=quadrature_method)
    info["recomputed_entries"] = 0
    d = x1.shape[1]
    symmetric = x2 is None
    with np.errstate(over="ignore", invalid="ignore"):
        var1, theta1 = _variances(setup, x1, want_ntk)
        if symmetric:
            var2, theta2, xb = var1, theta1, x1
        else:
            var2, theta2 = _variances(setup, x2, want_ntk)
            xb = x2
        for name, v in (("NNGP", var1[-1]), ("NNGP", var2[-1])):
            _overflow_check(name, v)
        s1 = [np.sqrt(v) for v in var1]
        s2 = [np.sqrt(v) for v in var2]
        if diagonal and symmetric:
            return var1[-1].copy(), (theta1.copy() if want_ntk else None)
        if diagonal and x1.shape[0] != x2.shape[0]:
            raise ValueError(
                "diagonal=True with x2 needs as many rows in x2 as in x1 "
                f"(got {x1.shape[0]} and {x2.shape[0]})"
            )
        if compiled is not None and x1.shape[0] and (symmetric or x2.shape[0]):
            return _engine_kernels(compiled, setup, x1, x2, var1, var2, theta1, s1, s2,
                                   want_ntk, diagonal, budget, info)
        if diagonal:
            K, T = _pairs(setup, x1, x2, s1, s2, np.arange(len(x1)), np.arange(len(x1)),
                          want_ntk, budget)
            return _finish(K, T)
        n1, n2 = x1.shape[0], xb.shape[0]
        if symmetric and setup.map.expensive and n1 > 1:
            rows, cols = np.triu_indices(n1, k=1)
            Kt, Tt = _pairs(setup, x1, x1, s1, s1, rows, cols, want_ntk, budget)
            K = np.empty((n1, n1))
            K[rows, cols] = Kt
            K[cols, rows] = Kt
            K[np.diag_indices(n1)] = var1[-1]
            T = None
            if want_ntk:
                T = np.empty((n1, n1))
                T[rows, cols] = Tt
                T[cols, rows] = Tt
                T[np.diag_indices(n1)] = theta1
            return _finish(K, T)
        K = np.empty((n1, n2))
        T = np.empty((n1, n2)) if want_ntk else None
        block = max(1, budget // max(n2, 1))
        for r0 in range(0, n1, block):
            r1 = min(n1, r0 + block)
            dot = x1[r0:r1] @ xb.T
            exact = None
            if symmetric:
                idx = np.arange(r0, r1)
                exact = (idx - r0, idx, [v[r0:r1] for v in var1])
            Kb, Tb = _cross(setup, dot, d, [s[r0:r1, None] for s in s1],
                            [s[None, :] for s in s2], want_ntk, exact)
            K[r0:r1] = Kb
            if want_ntk:
                T[r0:r1] = Tb
        if symmetric:
            # K(x_i, x_j) and K(x_j, x_i) may differ by a few ulp (the expressions are not
            # symmetric in s1, s2 to the bit): average them so the Gram is exactly symmetric
            for M, diag in ((K, var1[-1]), (T, theta1)):
                if M is not None:
                    M += M.T
                    M *= 0.5
                    M[np.diag_indices(n1)] = diag
        return _finish(K, T)


ENGINES = ("auto", "compiled", "numpy")


def _choose_engine(act, engine, quadrature_method):
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "numpy" or quadrature_method is not None:
        return None
    compiled = _gram.engine(act)
    if compiled is None and act.dual is None and _gram.available():
        from numerics import gram_mehler  # no closed form: Mehler's series, compiled

        compiled = gram_mehler.engine(act)
    if compiled is None and engine == "compiled":
        why = "numba is not available or NNTHEORY_JIT=0" if not _gram.available() else \
            f"{act.label} has no closed form the engine can compile"
        raise ValueError(f"engine='compiled' is not available: {why}")
    return compiled


def kernel_path(activation, *, engine="auto", quadrature_method=None) -> str:
    """Which evaluator :func:`nngp_ntk` uses for an activation: ``"compiled"``
    (:mod:`numerics.gram`), ``"compiled (Mehler series)"`` (:mod:`numerics.gram_mehler`,
    activations without a closed form), ``"numpy closed form"`` (:mod:`numerics.compile`),
    ``"mehler"`` or ``"quadrature"``."""
    act = resolve(activation)
    compiled = _choose_engine(act, engine, quadrature_method)
    if compiled is not None:
        return getattr(compiled, "path", "compiled")
    dmap = _dual_map(act, quadrature_method)
    return {_Compiled: "numpy closed form", _Quadrature: "quadrature",
            _Mehler: "mehler"}[type(dmap)]


def _engine_kernels(eng, setup, x1, x2, var1, var2, theta1, s1, s2, want_ntk, diagonal,
                    budget, info):
    """The Gram through a compiled engine. Entries it leaves non-finite (a removable
    singularity of a closed form at a zero variance, an overflow, a Mehler bound above
    its tolerance) are recomputed one by one on the NumPy path, which handles them or
    raises its overflow error."""
    L, d = setup.L, x1.shape[1]
    args = (L, setup.sw2, setup.sb2, d, setup.standard, setup.width or 0, want_ntk)
    S1 = np.sqrt(np.stack(var1[:L]))
    if diagonal:
        S2 = np.sqrt(np.stack(var2[:L]))
        K, T, bad = eng.pairs(np.einsum("ij,ij->i", x1, x2), S1, S2, *args)
        idx = np.flatnonzero(bad)
        info["recomputed_entries"] = int(idx.size)
        if idx.size:
            K[idx], Tb = _pairs(setup, x1, x2, s1, s2, idx, idx, want_ntk, budget)
            if want_ntk:
                T[idx] = Tb
        return _finish(K, T)
    symmetric = x2 is None
    K = x1 @ (x1 if symmetric else x2).T  # the dot products, overwritten in place
    T = np.empty_like(K) if want_ntk else np.empty((1, 1))
    if symmetric:
        bad = eng.symmetric(K, T, S1, var1[-1], theta1 if want_ntk else var1[-1], *args)
    else:
        bad = eng.cross(K, T, S1, np.sqrt(np.stack(var2[:L])), *args)
    rows = np.flatnonzero(bad)
    r, c = np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    if rows.size:
        broken = ~np.isfinite(K[rows])
        if want_ntk:
            broken |= ~np.isfinite(T[rows])
        r, c = np.nonzero(broken)
        r = rows[r]
        if symmetric:  # each broken pair once; its mirror image is written with it
            keep = r <= c
            r, c = r[keep], c[keep]
        Kb, Tb = _pairs(setup, x1, x1 if symmetric else x2, s1, s1 if symmetric else s2, r,
                        c, want_ntk, budget)
        _finish(Kb, Tb)
        for M, values in ((K, Kb), (T, Tb)) if want_ntk else ((K, Kb),):
            M[r, c] = values
            if symmetric:
                M[c, r] = values
        if symmetric:
            K[rows, rows] = var1[-1][rows]
            if want_ntk:
                T[rows, rows] = theta1[rows]
    info["recomputed_entries"] = int(r.size)
    return K, (T if want_ntk else None)


def _pairs(setup, xa, xb, s1, s2, rows, cols, want_ntk, budget):
    """Recursion on the listed entries (rows[i], cols[i]) only, in chunks."""
    d = xa.shape[1]
    K = np.empty(len(rows))
    T = np.empty(len(rows)) if want_ntk else None
    for e0 in range(0, len(rows), budget):
        r, c = rows[e0:e0 + budget], cols[e0:e0 + budget]
        dot = np.einsum("ij,ij->i", xa[r], xb[c])
        Kc, Tc = _cross(setup, dot, d, [s[r] for s in s1], [s[c] for s in s2], want_ntk)
        K[e0:e0 + budget] = Kc
        if want_ntk:
            T[e0:e0 + budget] = Tc
    return K, T


def _finish(K, T):
    _overflow_check("NNGP", K)
    if T is not None:
        _overflow_check("NTK", T)
    return K, T


# ---------------------------------------------------------------------------
# mpmath path
# ---------------------------------------------------------------------------

def _mp_kernels(x1, x2, act, L, sw, sb, parameterization, width, diagonal, want_ntk, dps):
    """Entry-by-entry recursion with theory.dual at ``dps`` digits (inputs and sigmas
    are taken as the exact binary values of the given floats)."""
    from theory.dual import dual_diagonal as mp_diag
    from theory.dual import dual_kernel as mp_dual

    standard = parameterization == "standard"
    symmetric = x2 is None
    xb = x1 if symmetric else x2
    d = x1.shape[1]
    A = Arithmetic(dps)
    with A.guard():
        sw2, sb2 = mpmath.mpf(sw) ** 2, mpmath.mpf(sb) ** 2

        def dot(a, b):
            return mpmath.fsum(mpmath.mpf(float(u)) * mpmath.mpf(float(v)) for u, v in zip(a, b,
                                                                                      strict=True))

        def layer1(a, b):
            g = dot(a, b)
            return sw2 * g / d + sb2, (g + 1 if standard else sw2 * g / d + sb2)

        def variances(x):
            out = []
            for row in x:
                q, t = layer1(row, row)
                qs = [q]
                for _ in range(L):
                    k = mp_diag(act, q, dps=dps + 10)
                    new = sw2 * k + sb2
                    if want_ntk:
                        kd = mp_diag(act, q, derivative=True, dps=dps + 10)
                        t = (width * k + 1 if standard else new) + sw2 * kd * t
                    q = new
                    qs.append(q)
                out.append((qs, t))
            return out

        v1 = variances(x1)
        v2 = v1 if symmetric else variances(xb)

        def entry(i, j):
            if symmetric and i == j:
                return v1[i][0][-1], v1[i][1]
            q12, t = layer1(x1[i], xb[j])
            for layer in range(L):
                qa, qb = v1[i][0][layer], v2[j][0][layer]
                bound = mpmath.sqrt(qa * qb)
                q12 = max(-bound, min(bound, q12))
                k = mp_dual(act, qa, q12, qb, dps=dps + 10)
                new = sw2 * k + sb2
                if want_ntk:
                    kd = mp_dual(act, qa, q12, qb, derivative=True, dps=dps + 10)
                    t = (width * k + 1 if standard else new) + sw2 * kd * t
                q12 = new
            return q12, t

        if diagonal:
            if not symmetric and len(x1) != len(xb):
                raise ValueError("diagonal=True with x2 needs as many rows in x2 as in x1")
            pairs = [entry(i, i) for i in range(len(x1))]
            K = np.empty(len(x1), dtype=object)
            T = np.empty(len(x1), dtype=object)
            for i, (k, t) in enumerate(pairs):
                K[i], T[i] = k, t
        else:
            K = np.empty((len(x1), len(xb)), dtype=object)
            T = np.empty((len(x1), len(xb)), dtype=object)
            for i in range(len(x1)):
                for j in range(len(xb)):
                    if symmetric and j < i:
                        K[i, j], T[i, j] = K[j, i], T[j, i]
                        continue
                    K[i, j], T[i, j] = entry(i, j)
    K = np.vectorize(A.finish, otypes=[object])(K)
    T = np.vectorize(A.finish, otypes=[object])(T) if want_ntk else None
    return K, T


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------

def _kernels(x1, x2, activation, hidden_layers, sigma_w, sigma_b, diagonal, parameterization,
             width, dps, want_ntk):
    if dps is None:
        return nngp_ntk(x1, x2, activation=activation, hidden_layers=hidden_layers,
                        sigma_w=sigma_w, sigma_b=sigma_b, diagonal=diagonal,
                        parameterization=parameterization, width=width, want_ntk=want_ntk)
    act, L, sw, sb, width = _check_setup(
        activation, hidden_layers, sigma_w, sigma_b, parameterization, width
    )
    if want_ntk:
        act.require_derivative()
    x1, x2 = _check_pair(x1, x2)
    return _mp_kernels(x1, x2, act, L, sw, sb, parameterization, width, diagonal, want_ntk,
                       check_dps(dps))


def nngp(x1, x2=None, *, activation, hidden_layers, sigma_w, sigma_b, diagonal=False,
         parameterization="ntk", dps=None, width=None):
    r"""NNGP kernel :math:`\Sigma^{L+1}(x, x')` of the readout of a network with
    ``hidden_layers`` = L hidden layers (module docstring: recursion, guards, memory).

    ``x1`` (n1, d), ``x2`` (n2, d) or None (then the symmetric Gram of ``x1`` with the
    exact diagonal).  Returns a float64 array (n1, n2), or (n,) with ``diagonal=True``.
    With ``dps`` (decimal digits) the entries are computed one by one with mpmath
    through :func:`theory.dual.dual_kernel` and returned as a NumPy *object* array of
    ``mpmath.mpf`` (for small inputs: quadrature activations take seconds per entry).
    ``width``: hidden-layer width, only for ``parameterization="standard"`` (the NNGP
    does not depend on it; it is accepted so both calls take the same arguments).
    """
    return _kernels(x1, x2, activation, hidden_layers, sigma_w, sigma_b, diagonal,
                    parameterization, width, dps, want_ntk=False)[0]


def ntk(x1, x2=None, *, activation, hidden_layers, sigma_w, sigma_b, diagonal=False,
        parameterization="ntk", dps=None, width=None):
    r"""NTK :math:`\Theta^{L+1}(x, x')` of the readout (NTK parameterization by default;
    ``parameterization="standard"`` needs ``width``).  Same conventions as
    :func:`nngp`; ValueError for activations without derivative (step)."""
    return _kernels(x1, x2, activation, hidden_layers, sigma_w, sigma_b, diagonal,
                    parameterization, width, dps, want_ntk=True)[1]


def predict(x_train, y_train, x_test, *, kernel="nngp", activation, hidden_layers, sigma_w,
            sigma_b, t=math.inf, noise=0.0, learning_rate=1.0, compute_cov=False,
            parameterization="ntk", width=None):
    r"""Mean (and covariance) of the infinite-width predictions on ``x_test``.

    ``kernel="nngp"`` and ``t=inf``: the Gaussian-process posterior
    :math:`\mu = K_{*x}(K_{xx}+\text{noise}\,I)^{-1}y`,
    :math:`C = K_{**} - K_{*x}(K_{xx}+\text{noise}\,I)^{-1}K_{x*}`.

    Otherwise gradient flow on the loss :math:`\frac1{2N}\|f(X)-y\|^2` (N =
    ``y_train.size``) from :math:`f_0 = 0` with the kernel :math:`\Theta`
    (:math:`\Theta` = NTK for ``kernel="ntk"``, = NNGP for ``"nngp"``, i.e. training
    the readout only), as neural-tangents' ``predict.gradient_descent_mse`` with
    ``diag_reg=noise`` (absolute scale):
    :math:`\mu(t) = \Theta_{*x}\Theta_r^{-1}(I - e^{-\eta t\Theta_r/N})y`,
    :math:`\Theta_r = \Theta_{xx}+\text{noise}\,I`; ``t=inf`` is kernel regression.
    The covariance over random initializations (Lee et al. 2019, eq. 16) with
    :math:`T = \Theta_{*x}\Theta_r^{-1}(I - e^{-\eta t\Theta_r/N})` is
    :math:`K_{**} + T K_{xx} T^\top - T K_{x*} - K_{*x} T^\top` (K = NNGP).

    Returns ``mean`` of shape ``(n_test,) + y_train.shape[1:]``, or ``(mean, cov)``.
    """
    if kernel not in ("nngp", "ntk"):
        raise ValueError(f"kernel must be 'nngp' or 'ntk', got {kernel!r}")
    x_train = _check_points("x_train", x_train)
    x_test = _check_points("x_test", x_test)
    if x_test.shape[1] != x_train.shape[1]:
        raise ValueError(
            f"x_train and x_test must have the same input dimension: {x_train.shape[1]} vs "
            f"{x_test.shape[1]}"
        )
    y = np.asarray(y_train, dtype=float)
    if y.ndim == 0 or y.shape[0] != x_train.shape[0]:
        raise ValueError(
            f"y_train must have one row per training point ({x_train.shape[0]}), "
            f"got shape {y.shape}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("y_train must be finite")
    noise = _check_nonnegative("noise", noise)
    lr = _check_nonnegative("learning_rate", learning_rate)
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or math.isnan(t) or t < 0:
        raise ValueError(f"t must be a real number >= 0 or inf, got {t!r}")
    kw = dict(activation=activation, hidden_layers=hidden_layers, sigma_w=sigma_w,
              sigma_b=sigma_b, parameterization=parameterization, width=width)
    want_ntk = kernel == "ntk"
    Kxx, Txx = nngp_ntk(x_train, want_ntk=want_ntk, **kw)
    Ksx, Tsx = nngp_ntk(x_test, x_train, want_ntk=want_ntk, **kw)
    n = len(x_train)
    y2 = y.reshape(n, -1)
    if kernel == "nngp" and math.isinf(t):
        A = Kxx + noise * np.eye(n)
        evals, evecs = np.linalg.eigh(A)
        T = _spectral_apply(Ksx, evals, evecs, lambda lam: _safe_inverse(lam))
        mean = (T @ y2).reshape((len(x_test),) + y.shape[1:])
        if not compute_cov:
            return mean
        Kss = nngp_ntk(x_test, want_ntk=False, **kw)[0]
        return mean, Kss - T @ Ksx.T
    theta_xx = Txx if want_ntk else Kxx
    theta_sx = Tsx if want_ntk else Ksx
    A = theta_xx + noise * np.eye(n)
    evals, evecs = np.linalg.eigh(A)
    N = y.size
    if math.isinf(t):
        def weight(lam):
            return _safe_inverse(lam)
    else:
        scale = lr * t / N

        def weight(lam):
            lam = np.maximum(lam, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                w = -np.expm1(-lam * scale) / lam
            return np.where(lam > 0, w, scale)
    T = _spectral_apply(theta_sx, evals, evecs, weight)
    mean = (T @ y2).reshape((len(x_test),) + y.shape[1:])
    if not compute_cov:
        return mean
    Kss = nngp_ntk(x_test, want_ntk=False, **kw)[0]
    cov = Kss + T @ Kxx @ T.T - T @ Ksx.T - Ksx @ T.T
    return mean, cov


def _safe_inverse(lam):
    """1/lambda on the numerically positive spectrum, 0 on the null space (pseudo-inverse)."""
    cutoff = lam.max() * len(lam) * _EPS if lam.size else 0.0
    with np.errstate(divide="ignore"):
        return np.where(lam > cutoff, 1.0 / np.where(lam > cutoff, lam, 1.0), 0.0)


def _spectral_apply(left, evals, evecs, weight):
    """left @ V diag(weight(evals)) V^T."""
    return ((left @ evecs) * weight(evals)) @ evecs.T


# ---------------------------------------------------------------------------
# the layer map on one pair of inputs (moved from verify/kernels_k3.py)
# ---------------------------------------------------------------------------

#: entries of a pair covariance V in the last axis, everywhere layer_map's convention is used
PAIR_ENTRIES = ("q11", "q22", "q12")

__all__ += ["PAIR_ENTRIES", "layer_map", "layer_map_jacobian"]


def _closed_form_pair_kernels(activation):
    """The compiled closed forms k(q11, q12, q22) and k(q) (diagonal) of an entry;
    ValueError naming the activation when the registry has none."""
    k = dual_function(activation)
    if k is None:
        raise ValueError(f"activation {resolve(activation).label!r} has no closed-form dual "
                         "kernel in the registry; layer_map needs one")
    kd = dual_function(activation, diagonal=True)
    if kd is None:
        def kd(q):
            return k(q, q, q)
    return k, kd


def _check_pair_covariance(V, name="V", rho_margin=0.0):
    """V as a float array with last axis (q11, q22, q12): finite, q11, q22 > 0 and
    |rho| <= 1 - rho_margin (up to 1e-12 of rounding when the margin is 0)."""
    try:
        V = np.asarray(V, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real array with last axis (q11, q22, q12)") from None
    if V.ndim < 1 or V.shape[-1] != 3:
        raise ValueError(f"{name} must have last axis of length 3 (q11, q22, q12), "
                         f"got shape {V.shape}")
    if not np.all(np.isfinite(V)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if np.any(V[..., 0] <= 0) or np.any(V[..., 1] <= 0):
        raise ValueError(f"{name}: the variances q11, q22 must be > 0")
    rho = np.abs(V[..., 2]) / np.sqrt(V[..., 0] * V[..., 1])
    bound = 1 - rho_margin if rho_margin else 1 + 1e-12
    if np.any(rho > bound):
        raise ValueError(f"{name} must be a covariance with |rho| = |q12|/sqrt(q11 q22) <= "
                         f"{bound:g}, got max |rho| = {float(rho.max()):.6g}")
    return V


def layer_map(activation, V, *, sigma_w, sigma_b=0.0):
    r"""The exact infinite-width layer map on a pair's covariance
    :math:`V = (q_{11}, q_{22}, q_{12})` (last axis of ``V``, any leading shape):

    .. math:: F(V) = \sigma_w^2\,\bigl(k(q_{11}),\ k(q_{22}),\ k(q_{11}, q_{12}, q_{22})\bigr)
              + \sigma_b^2,\qquad k = \mathbb E[\sigma(u)\sigma(v)],\
              (u, v) \sim \mathcal N(0, V),

    one NNGP layer :math:`\Sigma^l \mapsto \Sigma^{l+1}` restricted to two inputs (the
    recursion of :func:`nngp`), with the registry's closed-form dual kernel compiled to
    float64 (:func:`numerics.compile.dual_function`; papers/kernels.md, "Conventions").
    Activations without a closed form (tanh, user entries) are refused with a ValueError: the
    finite-width statistics built on this map need its float64 accuracy."""
    k, kd = _closed_form_pair_kernels(activation)
    V = _check_pair_covariance(V)
    sigma_w = _check_nonnegative("sigma_w", sigma_w)
    sigma_b = _check_nonnegative("sigma_b", sigma_b)
    a, b, c = V[..., 0], V[..., 1], V[..., 2]
    sw2, sb2 = sigma_w**2, sigma_b**2
    return np.stack([sw2 * kd(a) + sb2, sw2 * kd(b) + sb2, sw2 * k(a, c, b) + sb2], axis=-1)


#: relative step of layer_map_jacobian's central differences
_JACOBIAN_STEP = 1e-6


def layer_map_jacobian(activation, V, *, sigma_w):
    r"""The Jacobian :math:`J_{ij} = \partial F_i/\partial V_j` of :func:`layer_map`
    (shape ``V.shape + (3,)``; independent of :math:`\sigma_b`).

    By central differences of the closed forms with step
    :math:`h = 10^{-6}\sqrt{q_{11}q_{22}}`: truncation :math:`O(h^2) \sim 10^{-12}`,
    rounding :math:`\sim 10^{-16}/h \sim 10^{-10}` relative (tested against the SymPy
    derivative of the registry expression). Exact alternatives exist (Price's theorem:
    :math:`\partial k/\partial q_{12} = \mathbb E[\sigma'(u)\sigma'(v)]`), but the diagonal
    derivatives need :math:`\mathbb E[\sigma''(u)\sigma(v)]`, which the registry does not
    carry. ``V`` needs :math:`|\rho| \le 1 - 10^{-5}` so that the steps stay inside the
    covariance cone."""
    V = _check_pair_covariance(V, rho_margin=10 * _JACOBIAN_STEP)
    h = _JACOBIAN_STEP * np.sqrt(V[..., 0] * V[..., 1])
    J = np.empty(V.shape + (3,))
    for j in range(3):
        step = np.zeros_like(V)
        step[..., j] = h
        J[..., :, j] = (layer_map(activation, V + step, sigma_w=sigma_w)
                        - layer_map(activation, V - step, sigma_w=sigma_w)) / (2 * h[..., None])
    return J
