r"""Float64 Gaussian quadrature for dual kernels (the fallback and the cross-check).

.. math:: k(q_{11}, q_{12}, q_{22}) = \mathbb{E}[f(u) f(v)], \qquad
          u = s_1 z_1,\; v = s_2(\rho z_1 + c z_2),

with :math:`z_1, z_2` independent standard normals, :math:`s_i = \sqrt{q_{ii}}`,
:math:`\rho = q_{12}/(s_1 s_2)`, :math:`c = \sqrt{1-\rho^2}`, and :math:`f = \sigma`
or :math:`\sigma'` (``derivative=True``).  Two methods:

``"hermite"``
    Tensor Gauss–Hermite (probabilists' weight :math:`e^{-z^2/2}`), order
    ``n`` per dimension (default :data:`DEFAULT_HERMITE_ORDER`).  Its error
    falls super-geometrically only when :math:`f` is *entire* (erf, GELU,
    sin, cos, polynomials): the n-point rule is exact for polynomials of
    degree :math:`2n-1`.  For a kink it is algebraic (about 1e-3 for ReLU), and
    for a function with complex poles (tanh: poles at
    :math:`\pm i\pi/(2 s)`) it decays only like :math:`e^{-c\sqrt n}`.

``"panels"``
    Composite Gauss–Legendre on :math:`|z| \le L` (:data:`TRUNCATION`; the
    Gaussian mass beyond is :math:`< 2\cdot 10^{-23}`) with panel edges at
    (i) a uniform grid of spacing 2 in :math:`z` (for the Gaussian factor),
    (ii) every kink :math:`k` of :math:`f` and the geometrically graded points
    :math:`k \pm 2^j` in pre-activation space (so a kink is integrated
    exactly and a pole near the real axis at the kink, as tanh's at 0, sees
    panels no longer than their distance to it), and (iii) in the outer
    variable, the same graded set around the *smeared* kink
    :math:`z_1 = k/(s_2\rho)` of the inner expectation
    :math:`g(z_1) = \mathbb{E}_{z_2}[f(v)]`, graded down to its smoothing
    width :math:`s_2 c` (which is what makes :math:`\rho \to \pm 1` accurate).
    The inner integral is split the same way at
    :math:`z_2 = ((k \pm 2^j)/s_2 - \rho z_1)/c`.  Each panel carries ``m``
    Gauss–Legendre nodes (default :data:`DEFAULT_PANEL_ORDER`); on a panel
    whose length is at most its distance to the nearest singularity the
    Bernstein-ellipse bound gives an error :math:`\lesssim 5.8^{-2m}`, i.e.
    below 1e-12 for ``m = 10``; the graded offsets are :math:`2^j`,
    :math:`j=-3..3`, extended down to the smoothing width.  Kinks are assumed
    at ``act.kinks`` (0 for all registry entries); non-kink singularities
    are assumed near the real axis only around 0 (true for tanh and the usual smooth activations).

``method="auto"`` uses ``"hermite"`` when the activation has no kinks and is a
polynomial or built from exp/sin/cos of linear arguments (:func:`is_entire`),
else ``"panels"`` (erf, GELU and tanh included: their Hermite coefficients
fall only geometrically, and tanh's 64-point rule is off by ~1e-7).
When :math:`c < 10^{-8}` the inner integral is replaced by its
:math:`\rho = \pm 1` limit (the change of the kernel is
:math:`O(1-|\rho|) < 10^{-16}` relative).

Work is chunked so that at most :data:`MAX_ELEMENTS` float64 numbers (16 MB)
live in one temporary, whatever the number of entries.
"""

from __future__ import annotations

import functools
import math
import numbers

import mpmath
import numpy as np
import sympy as sp
from numpy.polynomial.legendre import leggauss
from scipy.special import gammainc, roots_hermitenorm

from numerics.compile import activation_function
from theory.activations import Activation, resolve
from theory.gaussian import check_gaussian_expectation, exp_polynomial_terms
from theory.symbols import x

__all__ = [
    "trapezoid_reference",
    "DEFAULT_HERMITE_ORDER",
    "DEFAULT_PANEL_ORDER",
    "gaussian_dual",
    "gaussian_diagonal",
    "is_entire",
    "hermite_error_estimate",
    "check_covariance",
]

DEFAULT_HERMITE_ORDER = 64
DEFAULT_PANEL_ORDER = 10
TRUNCATION = 10.0
MAX_ELEMENTS = 2**21
_C_FLOOR = 1e-8
_J_MAX = 3  # graded offsets 2^j reach at least 8 in pre-activation space ...
_J_MIN = -3


# ---------------------------------------------------------------------------
# input checks shared with numerics.kernels
# ---------------------------------------------------------------------------

def check_covariance(q11, q12, q22, *, names=("q11", "q12", "q22"), rtol=None):
    r"""Validate and broadcast a batch of 2x2 covariances.

    Raises ValueError (naming the argument) for non-finite values, negative
    variances, or :math:`|q_{12}| > \sqrt{q_{11}q_{22}}` beyond rounding
    (relative slack ``rtol``, default :math:`64\,\varepsilon`); returns float64
    arrays with :math:`q_{12}` clipped into :math:`[-\sqrt{q_{11}q_{22}},
    \sqrt{q_{11}q_{22}}]`.
    """
    arrays = []
    for name, value in zip(names, (q11, q12, q22), strict=True):
        raw = np.asarray(value)
        # one rule for numbers (numerics.validate): bool, str, complex are not real numbers
        if raw.dtype.kind not in "iuf" and not (raw.dtype.kind == "O" and raw.size and all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in raw.ravel())):
            raise ValueError(f"{name} must be a real number or array, got {value!r:.60}")
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a real array, got {value!r:.60}") from None
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite (found NaN or inf)")
        arrays.append(arr)
    a, b, c = np.broadcast_arrays(*arrays)
    for name, arr in ((names[0], a), (names[2], c)):
        if np.any(arr < 0):
            raise ValueError(f"{name} (a variance) must be >= 0, got min {arr.min()!r}")
    bound = np.sqrt(a) * np.sqrt(c)  # not sqrt(a c): that overflows for variances > 1e154
    slack = (64 * np.finfo(float).eps if rtol is None else rtol) * np.maximum(bound, np.abs(b))
    if np.any(np.abs(b) > bound + slack):
        i = np.unravel_index(np.argmax(np.abs(b) - bound), b.shape)
        raise ValueError(
            f"{names[1]} violates |{names[1]}| <= sqrt({names[0]} {names[2]}) "
            f"(|rho| must be <= 1): |{names[1]}| = {abs(b[i])!r} > {bound[i]!r}"
        )
    return a.copy(), np.clip(b, -bound, bound), c.copy()


# ---------------------------------------------------------------------------
# method selection
# ---------------------------------------------------------------------------

_EXPONENTIAL = (sp.exp, sp.sin, sp.cos, sp.sinh, sp.cosh)


def _hermite_friendly(expr) -> bool:
    """Polynomials, and exp/sin/cos/sinh/cosh of linear arguments, combined by
    sums and products: the Hermite coefficients of such f(s z) fall like
    s^k/sqrt(k!), so Gauss-Hermite converges super-geometrically.  (erf or
    GELU are entire too, but their coefficients fall only geometrically with
    ratio ~ sqrt(s^2/(1+s^2)), so they go to the panel rule.)"""
    if expr.is_number or expr.is_Symbol:
        return True
    if isinstance(expr, (sp.Add, sp.Mul)):
        return all(_hermite_friendly(a) for a in expr.args)
    if isinstance(expr, sp.Pow):
        base, exponent = expr.args
        return bool(exponent.is_Integer and exponent >= 0) and _hermite_friendly(base)
    if isinstance(expr, _EXPONENTIAL):
        (arg,) = expr.args
        return sp.Poly(arg, *arg.free_symbols).total_degree() <= 1 if arg.free_symbols else True
    return False


@functools.lru_cache(maxsize=256)
def is_entire(act: Activation) -> bool:
    """True when Gauss-Hermite is the right rule: no kinks, and the activation
    (and its derivative) is a polynomial or built from exp/sin/cos/sinh/cosh
    of linear arguments (see ``_hermite_friendly``)."""
    if act.kinks:
        return False
    exprs = [act.expr] + ([act.derivative] if act.derivative is not None else [])
    try:
        return all(_hermite_friendly(sp.expand(e)) for e in exprs)
    except sp.PolynomialError:
        return False


#: relative error the Gauss-Hermite rule must be certified to (see hermite_error_estimate)
HERMITE_TOLERANCE = 1e-10


@functools.lru_cache(maxsize=256)
def _exp_polynomial_size(act: Activation):
    """(sum |c_i|, max |lambda_i|, max j_i) over the terms c x^j e^{lambda x} of sigma and
    sigma' (theory.gaussian.exp_polynomial_terms), or None when either is not of that form."""
    sizes = []
    for expr in (act.expr, act.derivative):
        terms = exp_polynomial_terms(expr) if expr is not None else None
        if terms is None:
            return None
        sizes.append((sum(abs(complex(c)) for c, _, _ in terms),
                      max(abs(complex(lam)) for _, _, lam in terms),
                      max(j for _, j, _ in terms)))
    return tuple(max(v) for v in zip(*sizes, strict=True))


def hermite_error_estimate(act: Activation, s_max: float, n: int) -> float:
    r"""Error of the n-point Gauss-Hermite rule for :math:`\mathbb{E}[f(u)f(v)]`, relative to
    :math:`C^2\max(1,s)^{2j}` (:math:`f = \sum c_i x^{j_i}e^{\lambda_i x}`, :math:`C=\sum|c_i|`,
    :math:`j = \max j_i`, :math:`\Lambda = \max|\lambda_i|`, :math:`s` the largest standard
    deviation). The rule is exact to degree :math:`2n-1`. In each variable the integrand is
    dominated, coefficient by coefficient of its Taylor series, by
    :math:`C^2 |z|^{2j} e^{y|z|}`, :math:`y = 2\Lambda s`; so the error is at most the rule's
    plus the Gaussian's integral of the tail beyond degree :math:`K = 2n-2j`,
    :math:`|z|^{2j}\sum_{m\ge K}(y|z|)^m/m! = |z|^{2j}e^{y|z|}P(K, y|z|)` (``P`` the
    regularized lower incomplete gamma function), the Gaussian one by the trapezoid rule on
    :math:`0 \le z \le 60`; times two variables. Polynomials: 0 (exact for
    :math:`2j \le 2n-1`). sin 3x + x: about 1e-36 at q = 0.1, inf at q = 1e6."""
    size = _exp_polynomial_size(act)
    if size is None:
        return 0.0 if act.expr.is_polynomial(x) else float("inf")
    _, rate, power = size
    order = 2 * n - 2 * power
    if order < 1:
        return float("inf")
    y = 2 * rate * s_max
    if y == 0:
        return 0.0

    def tail(z):
        a = np.abs(z)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            log_poly = 2 * power * np.log(a) if power else 0.0
            log_t = log_poly + y * a + np.log(gammainc(order, y * a))
        return np.exp(np.minimum(log_t, 700.0))

    nodes, weights = _hermite_rule(n)
    grid = np.linspace(0.0, 60.0, 6001)
    gaussian = 2 * np.trapezoid(tail(grid) * np.exp(-grid**2 / 2), grid) * _INV_SQRT_2PI
    estimate = 2 * (weights @ tail(nodes) + gaussian) / max(1.0, s_max) ** (2 * power)
    return float(estimate) if np.isfinite(estimate) else float("inf")


def _check_hermite(act, s_max, n):
    """Refuse Gauss-Hermite for an exponential polynomial (the activations 'auto' gives it)
    where its error estimate exceeds HERMITE_TOLERANCE. Other activations have no estimate:
    'hermite' requested for them explicitly stays the documented inexact rule (comparisons)."""
    if _exp_polynomial_size(act) is None:
        return
    estimate = hermite_error_estimate(act, s_max, n)
    if not estimate <= HERMITE_TOLERANCE:
        raise ValueError(
            f"Gauss-Hermite with {n} points cannot integrate {act.label} at standard deviation "
            f"{s_max:.4g} (error estimate {estimate:.3g} > {HERMITE_TOLERANCE:g}: the rule "
            "aliases its oscillations); use a smaller variance, a larger order, or the closed "
            "form (numerics.kernels.dual_kernel without method)")


def _choose(act, method):
    if method == "auto":
        return "hermite" if is_entire(act) else "panels"
    if method not in ("hermite", "panels"):
        raise ValueError(f"method must be 'auto', 'hermite' or 'panels', got {method!r}")
    return method


def _check_order(order, default):
    if order is None:
        return default
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    return int(order)


@functools.lru_cache(maxsize=64)
def _hermite_rule(n):
    z, w = roots_hermitenorm(n)
    return z, w / np.sqrt(2 * np.pi)


@functools.lru_cache(maxsize=64)
def _legendre_rule(m):
    t, w = leggauss(m)
    return (t + 1) / 2, w / 2  # on [0, 1]


_INV_SQRT_2PI = 1 / np.sqrt(2 * np.pi)


# ---------------------------------------------------------------------------
# panel machinery
# ---------------------------------------------------------------------------

def _j_max(s_max):
    """... and at least 2 s_max, where the z grid (panels of length 2) takes over: a grid
    panel [a, a + 2] must not be longer than its distance a to a singularity at 0 (tanh's
    poles at +-i pi/(2 s)); with 8 only, q = 900 lost 6e-10 relative in E[tanh(u)^2]."""
    if not s_max > 4.0:
        return _J_MAX
    return int(min(60, math.ceil(math.log2(2.0 * s_max))))


def _graded_offsets(j_min, j_max=_J_MAX):
    powers = 2.0 ** np.arange(j_min, j_max + 1)
    return np.concatenate([[0.0], powers, -powers])


def _panel_nodes(edges, m):
    """edges (..., p+1) sorted -> nodes, weights (..., p*m) including the
    Gaussian density, for integrating g(z) phi(z) over [edges[0], edges[-1]]."""
    t, w = _legendre_rule(m)
    lo = edges[..., :-1, None]
    width = edges[..., 1:, None] - lo
    z = lo + width * t
    wz = width * w * np.exp(-0.5 * z * z) * _INV_SQRT_2PI
    shape = edges.shape[:-1] + (-1,)
    return z.reshape(shape), wz.reshape(shape)


def _edges(points, L):
    """Sorted panel edges from candidate breakpoints (..., k), clipped to [-L, L];
    edge columns that coincide for every row (empty panels) are dropped."""
    points = np.nan_to_num(points, nan=0.0, posinf=L, neginf=-L)
    points = np.clip(points, -L, L)
    grid = np.broadcast_to(np.arange(-L, L + 1e-12, 2.0), points.shape[:-1] + (int(L) + 1,))
    edges = np.sort(np.concatenate([grid, points], axis=-1), axis=-1)
    flat = edges.reshape(-1, edges.shape[-1])
    keep = np.ones(edges.shape[-1], dtype=bool)
    keep[1:] = np.any(flat[:, 1:] != flat[:, :-1], axis=0)
    return edges[..., keep]


def _panels_chunk(f, kinks, s1, s2, rho, c, m, j_min, j_max=_J_MAX):
    L = TRUNCATION
    offsets = _graded_offsets(j_min, j_max)
    kinks = np.asarray(kinks, dtype=float)
    targets = (kinks[:, None] + offsets[None, :]).ravel()  # pre-activation breakpoints
    with np.errstate(divide="ignore", invalid="ignore"):
        outer_pts = np.concatenate(
            [targets[None, :] / s1[:, None], targets[None, :] / (s2 * rho)[:, None]], axis=1
        )
    z1, w1 = _panel_nodes(_edges(outer_pts, L), m)  # (E, n1)
    u = s1[:, None] * z1
    mean_v = (s2 * rho)[:, None] * z1  # (E, n1)
    cc = c[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        inner_pts = (targets[None, None, :] - mean_v[..., None]) / (s2[:, None, None] * cc)
    z2, w2 = _panel_nodes(_edges(inner_pts, L), m)  # (E, n1, n2)
    v = mean_v[..., None] + (s2[:, None] * c[:, None])[..., None] * z2
    inner = np.einsum("ein,ein->ei", f(v), w2)
    return np.einsum("ei,ei,ei->e", f(u), inner, w1)


def _hermite_chunk(f, s1, s2, rho, c, n):
    z, w = _hermite_rule(n)
    u = s1[:, None] * z[None, :]
    v = (s2 * rho)[:, None, None] * z[None, :, None] + (s2 * c)[:, None, None] * z[None, None, :]
    inner = f(v) @ w
    return (f(u) * inner) @ w


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------

def gaussian_dual(activation, q11, q12, q22, *, derivative=False, order=None, method="auto"):
    r"""Dual kernel by quadrature, vectorized over broadcastable ``q11, q12, q22``.

    .. math:: \mathbb{E}[f(u)f(v)],\quad (u,v)\sim\mathcal N\Big(0,
              \begin{pmatrix} q_{11} & q_{12}\\ q_{12} & q_{22}\end{pmatrix}\Big),
              \quad f = \sigma \text{ or } \sigma'.

    ``method``: ``"auto"`` (default), ``"hermite"`` or ``"panels"`` (see the
    module docstring); ``order``: Gauss–Hermite points per dimension, or
    Gauss–Legendre points per panel.  Raises ValueError on invalid
    covariances (naming the argument), or when ``derivative=True`` for an
    activation without derivative (step).
    """
    act = resolve(activation)
    method = _choose(act, method)
    f = activation_function(act, derivative=derivative)
    a, b, cq = check_covariance(q11, q12, q22)
    if a.size:  # divergent expectations (e.g. exp(x^2/4) at q >= 1) are refused
        largest = (a + cq) / 2 + np.hypot((a - cq) / 2, b)
        check_gaussian_expectation(act, derivative, float(largest.max()),
                                   truncation=TRUNCATION)
    shape = a.shape
    a, b, cq = a.ravel(), b.ravel(), cq.ravel()
    s1, s2 = np.sqrt(a), np.sqrt(cq)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where((s1 > 0) & (s2 > 0), b / (s1 * s2), 0.0)
    rho = np.clip(rho, -1.0, 1.0)
    c = np.sqrt((1.0 - rho) * (1.0 + rho))
    at_one = c < _C_FLOOR
    c = np.where(at_one, 0.0, c)
    rho = np.where(at_one, np.sign(rho), rho)
    out = np.empty(a.shape)
    if method == "hermite":
        n = _check_order(order, DEFAULT_HERMITE_ORDER)
        _check_hermite(act, float(max(s1.max(initial=0.0), s2.max(initial=0.0))), n)
        per_entry = n * n
    else:
        m = _check_order(order, DEFAULT_PANEL_ORDER)
        kinks = tuple(float(k) for k in act.kinks) or (0.0,)
        j_max = _j_max(max(s1.max(initial=0.0), s2.max(initial=0.0)))
        n_edges = 2 * len(kinks) * (2 * (j_max - _J_MIN) + 3) + int(TRUNCATION) + 1
        per_entry = (n_edges * m) ** 2  # rough upper bound used only for chunking
    step = max(1, MAX_ELEMENTS // per_entry)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, a.size, step):
            sl = slice(start, start + step)
            if method == "hermite":
                out[sl] = _hermite_chunk(f, s1[sl], s2[sl], rho[sl], c[sl], n)
            else:
                smear = (s2[sl] * c[sl])[~at_one[sl]]
                smallest = smear[smear > 0].min() if np.any(smear > 0) else 1.0
                j_min = int(np.clip(np.floor(np.log2(smallest)), -30, _J_MIN))
                out[sl] = _panels_chunk(f, kinks, s1[sl], s2[sl], rho[sl], c[sl], m, j_min,
                                        j_max)
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"quadrature of {act.label} gave a non-finite value: the activation overflows "
            "float64 at these variances (reduce q11, q22)"
        )
    out = out.reshape(shape)
    return out if out.ndim else out[()]


def gaussian_diagonal(activation, q, *, derivative=False, order=None, method="auto"):
    r""":math:`\mathbb{E}[f(\sqrt q\,z)^2]`, :math:`z\sim\mathcal N(0,1)`, vectorized over ``q``
    (1-D Gauss–Hermite of order ``order`` (default 4x the 2-D default) for entire
    activations, else graded panels split at the kinks)."""
    act = resolve(activation)
    method = _choose(act, method)
    f = activation_function(act, derivative=derivative)
    qa, _, _ = check_covariance(q, 0.0, q, names=("q", "0", "q"))
    shape = qa.shape
    if qa.size == 0:  # an empty Gram matrix has an empty diagonal
        return np.zeros(shape)
    check_gaussian_expectation(act, derivative, 2 * float(qa.max()), "diagonal",
                               truncation=TRUNCATION)
    s = np.sqrt(qa.ravel())
    with np.errstate(over="ignore", invalid="ignore"):
        if method == "hermite":
            n = _check_order(order, 4 * DEFAULT_HERMITE_ORDER)
            _check_hermite(act, float(s.max()), n)
            z, w = _hermite_rule(n)
            out = (f(s[:, None] * z[None, :]) ** 2) @ w
        else:
            m = _check_order(order, DEFAULT_PANEL_ORDER)
            kinks = np.asarray(tuple(float(k) for k in act.kinks) or (0.0,))
            offsets = _graded_offsets(_J_MIN, _j_max(s.max()))
            targets = (kinks[:, None] + offsets[None, :]).ravel()
            with np.errstate(divide="ignore"):
                pts = targets[None, :] / s[:, None]
            z, w = _panel_nodes(_edges(pts, TRUNCATION), m)
            out = np.einsum("ei,ei->e", f(s[:, None] * z) ** 2, w)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"quadrature of {act.label} overflows float64 at these variances")
    out = out.reshape(shape)
    return out if out.ndim else out[()]


def trapezoid_reference(act: Activation, q11: float, q12: float, q22: float, *,
                        derivative: bool = False, h: float = 0.1, L: float = 10.0,
                        dps: int = 30) -> tuple[float, float]:
    r"""High-precision reference for kernels without a closed form.

    .. math:: \mathbb{E}[f(u)f(v)] \approx h^2 \sum_{|z_i|,|z_j|\le L}
              f(s_1 z_i)\, f\big(s_2(\rho z_i + c z_j)\big)\,\varphi(z_i)\varphi(z_j),
              \qquad z_k = k h,

    the tensor trapezoidal rule in mpmath at ``dps`` digits. For an integrand
    analytic in the strip :math:`|\mathrm{Im}\,z| < a` the rule's error is
    :math:`\le 2M/(e^{2\pi a/h}-1)` (Trefethen & Weideman, SIAM Review 56 (2014),
    Thm 5.1): geometric in :math:`1/h`. For tanh (poles at :math:`\pm i\pi/2`) and
    the variances used here :math:`a \ge \pi/(2\sqrt 2) \approx 1.1`, so
    ``h = 0.2`` gives :math:`\lesssim 10^{-13}` and ``h = 0.1`` :math:`\lesssim 10^{-26}`;
    truncating at ``L`` drops Gaussian mass :math:`P(|z|>L)` (:math:`10^{-15}` at
    ``L = 8``, :math:`10^{-23}` at ``L = 10``) times :math:`\sup|f|`.

    Returns ``(value, error_estimate)`` where the estimate is the difference to
    the rule with step ``2h``: geometric convergence makes the error of the
    ``h`` rule about the square of the ``2h`` rule's relative error, so a small
    estimate certifies the value (a kinked activation, for which the rule
    converges only algebraically, shows up as a large estimate).
    """
    f = act.mpmath_function(derivative)
    with mpmath.workdps(dps + 5):
        s1, s2 = mpmath.sqrt(q11), mpmath.sqrt(q22)
        rho = mpmath.mpf(q12) / (s1 * s2)
        c = mpmath.sqrt((1 - rho) * (1 + rho))
        n = int(round(L / h))
        hh = mpmath.mpf(h)
        z = [k * hh for k in range(-n, n + 1)]
        w = [hh * mpmath.npdf(zk) for zk in z]

        def rule(stride):
            nodes = range(0, len(z), stride)
            total = mpmath.mpf(0)
            for i in nodes:
                inner = mpmath.fsum(w[j] * stride * f(s2 * (rho * z[i] + c * z[j]))
                                    for j in nodes)
                total += w[i] * stride * f(s1 * z[i]) * inner
            return total

        # n is even for the step/truncation pairs used here, so stride 2 keeps +-L
        fine, coarse = rule(1), rule(2)
        return float(fine), float(abs(fine - coarse))
