r"""Dual kernels of any activation by Mehler's formula, with a bound on every entry.

With :math:`u = s_1 Z_1`, :math:`v = s_2 Z_2`, :math:`\operatorname{corr}(Z_1, Z_2) = \rho`
and :math:`f = \sigma` (NNGP) or :math:`f = \sigma'` (NTK derivative kernel), Mehler's
formula (the Hermite expansion of the bivariate normal density) gives, for *any*
:math:`s_1, s_2`,

.. math:: \mathbb E[f(s_1Z_1) f(s_2Z_2)] = \sum_{n\ge 0} a_n(s_1)\,a_n(s_2)\,\rho^n,
          \qquad a_n(s) = \mathbb E[f(sZ)\,\mathrm{He}_n(Z)]/\sqrt{n!},

and, by Cauchy–Schwarz, the remainder after the term :math:`n = N` is at most
:math:`|\rho|^{N+1}\sqrt{T_N(s_1)T_N(s_2)}` with the tail
:math:`T_N(s) = \mathbb E[f(sZ)^2] - \sum_{n\le N} a_n(s)^2`.

Coefficients (:func:`hermite_table`). With the orthonormal Hermite functions
:math:`h_n(z) = \mathrm{He}_n(z)\sqrt{\varphi(z)/n!}` (three-term recurrence, stable, no
overflow) :math:`a_n(s) = \int f(sz)\,h_n(z)\,h_0(z)\,dz`; the factor
:math:`h_0 \propto e^{-z^2/4}` makes :math:`|z| \le 13` enough for every :math:`n`
(:math:`e^{-13^2/4} < 5\cdot10^{-19}`, and :math:`|h_n| < 1` by Cramér's inequality).
The integral is a composite Gauss–Legendre rule on the half line (even and odd parts of
:math:`f(sz)` pair with even and odd :math:`n`), with panels of length :data:`PANEL_LENGTH`
(:math:`m` nodes, chosen so that the oscillation of :math:`h_{N}` and of a
unit-frequency activation at :math:`s` is resolved) and panels graded geometrically
towards :math:`z = 0` down to :math:`1/(8 s_{\max})` (a kink at 0 is a panel edge; the
poles of :math:`\tanh(sz)` at :math:`\pm i\pi/(2s)` are farther from every panel than
its length). The node set is shared by all scales of a call, so the coefficients of
many scales are two matrix products. Measured accuracy: :data:`COEFFICIENT_RTOL`
(``tests/test_mehler.py`` compares with the exact coefficients of sin(x) + x and, for
tanh, with a rule of half the panel length).

Orders are chosen per scale: all scales get :data:`FIRST_ORDER` terms; scales whose
tail is not yet below :data:`TAIL_RTOL` are recomputed with ``n_max`` terms; the stored
length :math:`N(s)` is the first order whose tail is below :data:`TAIL_RTOL`
:math:`\mathbb E[f^2]` (so the bound is below about 1e-13 of the kernel scale for every
:math:`\rho`), else ``n_max``. Tails are computed without cancellation:
:math:`T_N = \sum_{N<n\le N_c} a_n^2 + R`, where only the last remainder
:math:`R = \mathbb E[f^2] - \sum_{n \le N_c} a_n^2` is a difference; it is
clipped at 0 and raised by :data:`TAIL_RTOL` :math:`\mathbb E[f^2]`, which exceeds its
rounding and quadrature error (about 1e-15 relative).

Summation (:func:`mehler_sum`, ``numba.njit(cache=True)``): a plain loop over
:math:`n` that stops as soon as the remainder bound is below ``stop``; the returned
bound adds the effect of coefficient errors (:math:`2\,\varepsilon_c` times the kernel
scale, :math:`\varepsilon_c` = :data:`COEFFICIENT_RTOL`) and of rounding.

Fallback contract: where the bound exceeds ``tol`` times the kernel scale (only for
:math:`|\rho|` near 1 at scales whose coefficients decay slowly; measured for tanh: every
:math:`\rho \in [-1, 1]` is within about 1e-13 of the scale up to :math:`q \approx 11`
for :math:`\sigma` and :math:`q \approx 7.5` for :math:`\sigma'` (:math:`N(s) < 1025`),
within 1e-10 up to :math:`q = 9` for both; at :math:`q = 100` the series alone reaches
1e-8 of the scale for :math:`|\rho| \le 0.993` (:math:`\sigma`) and 0.988
(:math:`\sigma'`); tanh's :math:`a_n(s)^2` fall like :math:`n^{-3/2}` up to
:math:`n \sim s^2`), :func:`mehler_dual` recomputes the entry with
:func:`numerics.quadrature.gaussian_dual` (its own choice of rule: graded panels,
accurate at :math:`\rho \to \pm1`, milliseconds per entry, or Gauss–Hermite for entire
activations), evaluated at its default order and at a higher one (panels 16, Hermite
128), returns the higher-order value with, as its error, the difference plus
:data:`PANEL_FLOOR` of the scale (an estimate, not a bound), where that is smaller than the
series' bound. :math:`|\rho| = 1` exactly is
the one-dimensional integral :math:`\mathbb E[f(s_1 Z) f(\pm s_2 Z)]` on the
coefficient nodes (``ntk(x, x)`` has these on its diagonal).

For a compiled Gram engine: build one :func:`hermite_table` per layer for
:math:`\sigma` and one for :math:`\sigma'` from the per-point variances (known before
the entries), call :func:`mehler_sum` per entry and layer on the two table rows cut to
the longer of their ``lengths`` (as :func:`mehler_sums` does) with
``stop = tol * sqrt(second_moment[i] * second_moment[j]) / 4``, and when a returned
bound exceeds ``tol`` times that scale, stop that entry's recursion and mark it; after
the parallel loop, recompute the (few) marked entries with the NumPy path
(``numerics.kernels.nngp_ntk(..., quadrature_method="mehler")`` on those pairs, i.e.
:func:`mehler_pair`, which applies the 1-D rule and the panel fallback per layer).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba
import numpy as np
from numpy.polynomial.legendre import leggauss

from numerics.compile import activation_function
from numerics.quadrature import (
    DEFAULT_HERMITE_ORDER,
    check_covariance,
    gaussian_dual,
    is_entire,
)
from theory.activations import Activation, resolve

__all__ = [
    "COEFFICIENT_RTOL",
    "DEFAULT_TOL",
    "FIRST_ORDER",
    "N_MAX",
    "PANEL_FLOOR",
    "TAIL_RTOL",
    "HermiteTable",
    "hermite_table",
    "mehler_dual",
    "mehler_pair",
    "mehler_sum",
    "mehler_sums",
    "require_kinks_at_zero",
]

#: relative l2 error of a computed coefficient vector (a_0..a_N)(s), N = 1024 (measured:
#: <= 3.1e-15 against the exact coefficients of sin(x) + x for s <= 30, <= 6e-15 for tanh
#: against a rule of half the panel length for s <= 40; tests/test_mehler.py)
COEFFICIENT_RTOL = 1e-14
#: tails below TAIL_RTOL E[f^2] are not resolved (rounding of E[f^2] - sum a_n^2)
TAIL_RTOL = 1e-13
#: default tolerance of mehler_dual, relative to the kernel scale sqrt(E f(u)^2 E f(v)^2)
DEFAULT_TOL = 1e-12
#: error floor of the panel fallback relative to the kernel scale: float64 summation over
#: ~1e4 nodes (tests/test_quadrature.py), added to the order-10 vs order-16 difference
PANEL_FLOOR = 1e-14
#: panel order of the fallback's second evaluation (the first uses the default, 10)
FINE_PANEL_ORDER = 16
FIRST_ORDER = 256
N_MAX = 1024
#: integration range in z and panel length of the coefficient rule
TRUNCATION = 13.0
PANEL_LENGTH = 0.5
_EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------
# coefficients
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _rule(n_max: int, j_min: int, s_cap: float):
    """Nodes z > 0, and the matrices W_even (K, n_even), W_odd (K, n_odd) of
    w_k h_n(z_k) h_0(z_k), plus the weights w_k h_0(z_k)^2 for E[f^2]."""
    # frequency to resolve: h_N oscillates like cos(sqrt(2N+1) z); an activation like
    # sin(x) adds s; the m-point rule on a panel of half-length h/2 integrates
    # e^{i omega z} to ~(e omega h / (8 m))^(2m), below 1e-17 for m >= omega h / 2 + 12
    omega = math.sqrt(2 * n_max + 1) + s_cap
    m = int(math.ceil(omega * PANEL_LENGTH / 2)) + 12
    grid = np.arange(0.0, TRUNCATION + 1e-9, PANEL_LENGTH)
    graded = 2.0 ** np.arange(j_min, 0)
    edges = np.unique(np.concatenate([grid, graded]))
    t, w = leggauss(m)
    t, w = (t + 1) / 2, w / 2
    width = np.diff(edges)[:, None]
    z = (edges[:-1, None] + width * t).ravel()
    wz = (width * w).ravel()
    h = np.empty((n_max + 1, z.size))
    h[0] = (2 * np.pi) ** -0.25 * np.exp(-z * z / 4)
    if n_max >= 1:
        h[1] = z * h[0]
    for n in range(1, n_max):
        h[n + 1] = (z * h[n] - math.sqrt(n) * h[n - 1]) / math.sqrt(n + 1)
    weighted = h * (wz * h[0])
    return z, np.ascontiguousarray(weighted[0::2].T), np.ascontiguousarray(weighted[1::2].T), \
        wz * h[0] ** 2


def _grading(s_max):
    """Finest graded edge 2^j_min <= 1/(8 s_max) (and <= 1/8); the activation's share of
    the frequency the rule resolves, s_max rounded up to a power of 2 (so that the cached
    rules are few) and at most 64: beyond, sin(s z) has its coefficients near n = s^2 >
    N_MAX, which the tails report, and tanh(s z) needs no more nodes."""
    j_min = min(-3, int(math.floor(math.log2(1.0 / (8.0 * s_max)))) if s_max > 0 else -3)
    s_cap = min(64.0, 2.0 ** math.ceil(math.log2(max(s_max, 1.0))))
    return j_min, s_cap


def _raw_coefficients(f, s, n_max, j_min, s_cap):
    """(a_0..a_{n_max})(s) for each s and E[f(sZ)^2]."""
    z, w_even, w_odd, w2 = _rule(n_max, j_min, s_cap)
    with np.errstate(over="ignore", invalid="ignore"):
        plus = f(s[:, None] * z[None, :])
        minus = f(-s[:, None] * z[None, :])
    plus = np.broadcast_to(plus, (s.size, z.size))
    minus = np.broadcast_to(minus, (s.size, z.size))
    a = np.empty((s.size, n_max + 1))
    a[:, 0::2] = (plus + minus) @ w_even
    a[:, 1::2] = (plus - minus) @ w_odd
    second = (plus * plus + minus * minus) @ w2
    return a, second


class HermiteTable(NamedTuple):
    """Coefficients of f(s Z) for a batch of scales (rows), zero-padded to a common width.

    ``coefficients[i, :lengths[i]]`` are a_0..a_{N_i}(s_i); ``tails[i, n]`` is the bound
    T_n(s_i) on E[f(s_i Z)^2] - sum_{k<=n} a_k(s_i)^2 (non-increasing in n, >=
    TAIL_RTOL E[f^2]); ``second_moment[i]`` = E[f(s_i Z)^2]; ``method`` says how they were
    computed."""

    coefficients: np.ndarray
    tails: np.ndarray
    lengths: np.ndarray
    second_moment: np.ndarray
    method: str


def require_kinks_at_zero(act: Activation):
    """ValueError unless every kink of the activation is at 0 (a panel edge of the rule)."""
    if any(float(k) != 0.0 for k in act.kinks):
        raise ValueError(
            f"activation {act.label!r} has kinks at {act.kinks}; the Mehler coefficients "
            "split the integral only at 0: use numerics.quadrature.gaussian_dual"
        )


def hermite_table(activation, s, *, derivative=False, n_max=N_MAX, trim=False):
    r"""Normalized Hermite coefficients :math:`a_n(s) = \mathbb E[f(sZ)\mathrm{He}_n(Z)]
    /\sqrt{n!}` of :math:`f = \sigma` (or :math:`\sigma'`) for an array of scales
    :math:`s \ge 0` (standard deviations), with tails and adaptive lengths (module
    docstring), ``n_max + 1`` columns, or with ``trim`` as many as the longest row needs
    (``lengths.max()``; made in place, so that a full-width table and its trimmed copy
    never coexist: numerics.gram_mehler's memory bound). ValueError for negative or
    non-finite scales, for kinks away from 0, and when :math:`f(sz)` overflows float64."""
    act = resolve(activation)
    if derivative:
        act.require_derivative()
    require_kinks_at_zero(act)
    if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or n_max < 1:
        raise ValueError(f"n_max must be an integer >= 1, got {n_max!r}")
    n_max = int(n_max)
    s = np.asarray(s, dtype=float).ravel()
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("s (standard deviations) must be finite and >= 0")
    f = activation_function(act, derivative=derivative)
    width = n_max + 1
    coefficients = np.zeros((s.size, width))
    second = np.zeros(s.size)
    if s.size == 0:
        return HermiteTable(coefficients, np.zeros((0, width)), np.zeros(0, dtype=np.int64),
                            second, "mehler")
    j_min, s_cap = _grading(float(s.max()))  # one rule for all points, chunked or not
    tails = np.empty_like(coefficients)
    lengths = np.empty(s.size, dtype=np.int64)
    # in chunks of points: the quadrature's temporaries are (points x nodes), a GB for
    # 20 000 points at once (numerics.gram_mehler's memory bound)
    for lo in range(0, s.size, TABLE_CHUNK):
        rows = slice(lo, lo + TABLE_CHUNK)
        computed = _coefficients_into(f, s[rows], n_max, j_min, s_cap, coefficients[rows],
                                      second[rows])
        if not (np.all(np.isfinite(coefficients[rows])) and np.all(np.isfinite(second[rows]))):
            raise ValueError(f"the Hermite coefficients of {act.label} overflow float64 at "
                             f"these scales (max s = {s.max():.3g})")
        lengths[rows] = _tails_into(coefficients[rows], second[rows], tails[rows], computed)
    if trim:
        coefficients = _keep_columns(coefficients, int(lengths.max()))
        tails = _keep_columns(tails, int(lengths.max()))
    return HermiteTable(coefficients, tails, lengths, second, "mehler")


def _keep_columns(a, width):
    """``a[:, :width]`` in ``a``'s own memory (a C-contiguous array no view refers to): rows
    moved to the front in order (each row's destination lies before its source; NumPy
    buffers an overlapping copy), then ``ndarray.resize``, a realloc, which gives the
    rest back (a large block shrinks in place)."""
    rows, full = a.shape
    if width >= full:
        return a
    flat = a.reshape(-1)
    for i in range(1, rows):
        flat[i * width:(i + 1) * width] = flat[i * full:i * full + width]
    del flat
    a.resize((rows, width), refcheck=False)
    return a


#: points per chunk of :func:`hermite_table` (temporaries of ~ TABLE_CHUNK x 1e3 doubles)
TABLE_CHUNK = 1024


def _coefficients_into(f, s, n_max, j_min, s_cap, coefficients, second):
    """a_0..a_{FIRST_ORDER} for every point, a_0..a_{n_max} where those leave more than
    TAIL_RTOL of E[f^2], written into the (zeroed) rows ``coefficients`` and ``second``;
    returns how many coefficients each row has (FIRST_ORDER + 1 or n_max + 1)."""
    first = min(FIRST_ORDER, n_max)
    a, m2 = _raw_coefficients(f, s, first, j_min, s_cap)
    coefficients[:, :first + 1], second[:] = a, m2
    computed = np.full(s.size, first + 1)
    if first < n_max:
        remainder = m2 - np.einsum("ij,ij->i", a, a)
        redo = remainder > TAIL_RTOL * m2
        if np.any(redo):
            a, _ = _raw_coefficients(f, s[redo], n_max, j_min, s_cap)
            coefficients[redo] = a
            computed[redo] = n_max + 1
    return computed


def _tails_into(coefficients, second, tails, computed):
    """Write tails[:, n] = sum_{k > n} a_k^2 + R (accumulated from the end: no
    cancellation) and return the adaptive lengths, at most ``computed`` (a row's
    coefficients beyond are zero, and its tail there is R: a row whose remainder after
    FIRST_ORDER is just below TAIL_RTOL in the redo test but just above it here, a
    difference of roundings, would otherwise get length n_max + 1, and widen the table of
    every point to n_max + 1)."""
    width = coefficients.shape[1]
    after = np.cumsum((coefficients * coefficients)[:, ::-1], axis=1)[:, ::-1]
    remainder = np.maximum(second - after[:, 0], 0.0) + TAIL_RTOL * second
    tails[:, :-1] = after[:, 1:]
    tails[:, -1] = 0.0
    tails += remainder[:, None]
    below = tails <= 2 * TAIL_RTOL * second[:, None]
    return np.minimum(np.where(below.any(axis=1), below.argmax(axis=1) + 1, width), computed)


# ---------------------------------------------------------------------------
# summation
# ---------------------------------------------------------------------------

@numba.njit(cache=True)
def mehler_sum(a_i, a_j, tail_i, tail_j, rho, stop=0.0):
    r""":math:`\sum_{n\le N} a_i[n] a_j[n] \rho^n` and a bound on its error.

    ``a_i, a_j``: coefficient rows (N + 1 = the shorter length, or fewer when the
    remainder bound falls below ``stop`` first, checked every 8 terms; pass the rows of a
    :func:`hermite_table` to the *longer* of their two ``lengths``: a row is zero-padded
    and its tail stays a valid bound past its own length); ``tail_i, tail_j``: the tails
    T_n of :func:`hermite_table` (same lengths as the rows). The
    bound is :math:`|\rho|^{N+1}\sqrt{T_N^iT_N^j}` plus :math:`(2\varepsilon_c +
    (N/4+4)\epsilon)` times the scale :math:`\sqrt{(a_i[0]^2+T^i_0)(a_j[0]^2+T^j_0)}`
    (coefficient errors, and rounding: :math:`\sum|a_i[n]a_j[n]\rho^n|` is at most the
    scale by Cauchy-Schwarz; each of the four partial sums adds about N/4 roundings).
    Four interleaved partial sums (powers
    :math:`\rho^{n+k}`, :math:`k<4`, advanced by :math:`\rho^4`) keep the loop from
    waiting on one multiply-add chain. Returns ``(value, bound)``."""
    count = min(a_i.size, a_j.size)
    r2 = rho * rho
    r4 = r2 * r2
    p0, p1, p2, p3 = 1.0, rho, r2, r2 * rho
    t0 = t1 = t2 = t3 = 0.0
    stop2 = stop * stop
    n = 0
    while n + 8 <= count:
        t0 += a_i[n] * a_j[n] * p0
        t1 += a_i[n + 1] * a_j[n + 1] * p1
        t2 += a_i[n + 2] * a_j[n + 2] * p2
        t3 += a_i[n + 3] * a_j[n + 3] * p3
        p0 *= r4
        p1 *= r4
        p2 *= r4
        p3 *= r4
        t0 += a_i[n + 4] * a_j[n + 4] * p0
        t1 += a_i[n + 5] * a_j[n + 5] * p1
        t2 += a_i[n + 6] * a_j[n + 6] * p2
        t3 += a_i[n + 7] * a_j[n + 7] * p3
        p0 *= r4
        p1 *= r4
        p2 *= r4
        p3 *= r4
        n += 8
        # p0 = rho^n: the remainder after term n - 1 is at most |p0| sqrt(T_{n-1} T_{n-1})
        if p0 * p0 * tail_i[n - 1] * tail_j[n - 1] <= stop2:
            break
    else:
        while n < count:
            t0 += a_i[n] * a_j[n] * p0
            p0 *= rho
            n += 1
    total = (t0 + t1) + (t2 + t3)
    last = max(n - 1, 0)
    truncation = abs(p0) * math.sqrt(tail_i[last] * tail_j[last])
    scale = math.sqrt((a_i[0] * a_i[0] + tail_i[0]) * (a_j[0] * a_j[0] + tail_j[0]))
    bound = truncation + (2.0 * COEFFICIENT_RTOL + (n / 4 + 4) * 2.220446049250313e-16) * scale
    return total, bound


@numba.njit(cache=True)
def mehler_sums(coef1, tail1, len1, idx1, coef2, tail2, len2, idx2, rho, stop):
    """mehler_sum over entries e: rows idx1[e] of table 1 and idx2[e] of table 2 at rho[e]
    (``stop`` per entry); returns (values, bounds)."""
    out = np.empty(rho.size)
    bounds = np.empty(rho.size)
    for e in range(rho.size):
        i, j = idx1[e], idx2[e]
        # the longer of the two lengths: past its own length a row's tail is at its floor,
        # so the remainder bound sqrt(T_i T_j) is not held up by the other row's tail
        n = min(max(len1[i], len2[j]), coef1.shape[1], coef2.shape[1])
        out[e], bounds[e] = mehler_sum(coef1[i, :n], coef2[j, :n], tail1[i, :n],
                                       tail2[j, :n], rho[e], stop[e])
    return out, bounds


# ---------------------------------------------------------------------------
# NumPy-level dual kernel
# ---------------------------------------------------------------------------

def _one_dimensional(f, s1, s2, sign):
    r""":math:`\mathbb E[f(s_1Z) f(\pm s_2 Z)]` (:math:`\rho = \pm1`) on the coefficient
    rule's nodes (both halves of the line)."""
    j_min, s_cap = _grading(float(max(s1.max(), s2.max())))
    z, _, _, w2 = _rule(N_MAX, j_min, s_cap)
    with np.errstate(over="ignore", invalid="ignore"):
        u, v = s1[:, None] * z, (sign * s2)[:, None] * z
        total = f(u) * f(v) + f(-u) * f(-v)
    return np.broadcast_to(total, u.shape) @ w2


def mehler_dual(activation, q11, q12, q22, *, derivative=False, tol=DEFAULT_TOL,
                n_max=N_MAX, fallback="quadrature"):
    r"""Dual kernel :math:`\mathbb E[f(u)f(v)]`, :math:`f = \sigma` or :math:`\sigma'`
    (``derivative``), by Mehler's formula, elementwise over broadcastable ``q11, q12,
    q22``; returns ``(values, bounds)``.

    ``bounds`` bound the error of each value (module docstring); entries whose bound
    exceeds ``tol`` times the kernel scale :math:`\sqrt{\mathbb E f(u)^2\,\mathbb E f(v)^2}`
    are recomputed with ``fallback="quadrature"`` (:func:`numerics.quadrature.gaussian_dual`
    at two orders; their bound is then the difference plus :data:`PANEL_FLOOR` of the
    scale, an estimate) or
    left as they are with ``fallback=None``. ValueError for invalid covariances, a
    non-positive ``tol``, or an unknown ``fallback``."""
    act = resolve(activation)
    if derivative:
        act.require_derivative()
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol > 0
            and math.isfinite(tol)):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    if fallback not in ("quadrature", None):
        raise ValueError(f"fallback must be 'quadrature' or None, got {fallback!r}")
    a, b, c = check_covariance(q11, q12, q22)
    shape = a.shape
    a, b, c = a.ravel(), b.ravel(), c.ravel()
    ((values, bounds),) = mehler_pair(act, np.sqrt(a), np.sqrt(c), b,
                                      derivatives=(bool(derivative),), tol=tol, n_max=n_max,
                                      fallback=fallback)
    values, bounds = values.reshape(shape), bounds.reshape(shape)
    return (values, bounds) if values.ndim else (values[()], bounds[()])


def mehler_pair(act: Activation, s1, s2, q12, *, derivatives=(False,), tol=DEFAULT_TOL,
                n_max=N_MAX, fallback="quadrature"):
    """The work of :func:`mehler_dual` on validated 1-D arrays of standard deviations
    ``s1, s2`` and covariances ``q12`` (|q12| <= s1 s2), for the Gram code: one
    ``(values, bounds)`` per flag in ``derivatives`` (f = sigma for False, sigma' for
    True), sharing the correlations and the scale lookup."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where((s1 > 0) & (s2 > 0), q12 / (s1 * s2), 0.0)
    np.clip(rho, -1.0, 1.0, out=rho)
    near = np.abs(rho) > 1.0 - 4 * _EPS  # rounding of q12 and s1 s2: snap to +-1
    rho[near] = np.sign(rho[near])
    scales, inverse = np.unique(np.concatenate([s1, s2]), return_inverse=True)
    idx1, idx2 = inverse[:s1.size], inverse[s1.size:]
    return [_sum_entries(act, derivative, scales, idx1, idx2, s1, s2, q12, rho, tol, n_max,
                         fallback) for derivative in derivatives]


def _sum_entries(act, derivative, scales, idx1, idx2, s1, s2, q12, rho, tol, n_max, fallback):
    table = hermite_table(act, scales, derivative=derivative, n_max=n_max, trim=True)
    kernel_scale = np.sqrt(table.second_moment[idx1] * table.second_moment[idx2])
    stop = 0.25 * tol * kernel_scale  # stop early well inside the tolerance
    values, bounds = mehler_sums(table.coefficients, table.tails, table.lengths, idx1,
                                 table.coefficients, table.tails, table.lengths, idx2, rho,
                                 stop)
    f = activation_function(act, derivative=derivative)
    edge = np.abs(rho) == 1.0  # the 1-D integral is cheaper and tighter than the series
    if np.any(edge):
        values[edge] = _one_dimensional(f, s1[edge], s2[edge], rho[edge])
        bounds[edge] = 2 * COEFFICIENT_RTOL * kernel_scale[edge]
    flagged = bounds > tol * kernel_scale
    if fallback == "quadrature" and np.any(flagged):
        args = (s1[flagged] ** 2, q12[flagged], s2[flagged] ** 2)
        # numerics.quadrature's own choice (panels, or Gauss-Hermite for entire
        # activations such as sin(x) + x, whose oscillation the panels do not resolve),
        # and the same rule at higher order as the error estimate
        finer_order = 2 * DEFAULT_HERMITE_ORDER if is_entire(act) else FINE_PANEL_ORDER
        try:
            rule = gaussian_dual(act, *args, derivative=derivative)
            finer = gaussian_dual(act, *args, derivative=derivative, order=finer_order)
        except ValueError:
            # Gauss-Hermite refuses where its own error estimate says it aliases: then
            # it is no better than the series, whose values and bounds stand
            return values, bounds
        estimate = np.abs(finer - rule) + PANEL_FLOOR * kernel_scale[flagged]
        # keep the series where its bound is the smaller (Gauss-Hermite aliases for
        # sin(x) + x at q = 100: its estimate is 1e-2 there, the series' 1e-13)
        better = estimate < bounds[flagged]
        where = np.flatnonzero(flagged)[better]
        values[where] = finer[better]
        bounds[where] = estimate[better]
    return values, bounds
