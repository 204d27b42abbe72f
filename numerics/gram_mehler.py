r"""Compiled Gram engine for activations without a closed form: Mehler's series.

For tanh and user-registered activations (no closed-form dual kernel) the NNGP/NTK
recursion is run layer by layer: at layer l the Hermite coefficients of
:math:`\sigma(sZ)` and :math:`\sigma'(sZ)` are tabulated once per point
(:func:`numerics.mehler.hermite_table`, scale :math:`s = \sqrt{\Sigma^l(x,x)}`), and a
numba loop, parallel over rows (in threads: :func:`numerics.gram_loops.in_threads`) and
on the upper triangle only for a symmetric Gram, updates every entry in place with

.. math:: \mathbb E[f(u)f(v)] = \sum_n a_n(s_1)a_n(s_2)\rho^n

(:func:`numerics.mehler.mehler_sum`, which also returns a bound on the truncation,
coefficient and rounding error). An entry whose bound exceeds ``tol`` times the kernel
scale :math:`\sqrt{\mathbb E f(u)^2\,\mathbb E f(v)^2}` (correlations near
:math:`\pm1` at variances where the coefficients decay slowly) is set to NaN and
recomputed by :mod:`numerics.kernels` on the NumPy path (panel quadrature). Layer by layer
rather than one pass per entry so that only one layer's tables are held: peak memory is
the two outputs plus :math:`2n(N_\sigma + N_{\sigma'})` doubles for the coefficients and
tails at each table's longest row (:math:`N \le` :data:`numerics.mehler.N_MAX` + 1
terms; a table is trimmed in place) and, while a table is built, :math:`2n`
(N_MAX + 1) more (measured: 24 KB a point for tanh at the benchmark's scales, 0.5 GB for
n = 20 000).
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from numerics.gram_loops import in_threads, mirror_upper, nonfinite_rows, row_count, row_span
from numerics.mehler import DEFAULT_TOL, hermite_table, mehler_sum, require_kinks_at_zero
from theory.activations import Activation

__all__ = ["MehlerEngine", "engine"]

_EPS = 2.220446049250313e-16


@numba.njit(cache=True, error_model="numpy", inline="always")
def _series(a1, t1, n1, m1, a2, t2, n2, m2, i, j, rho, tol):
    scale = np.sqrt(m1[i] * m2[j])
    # both rows to the longer length (numerics.mehler's contract: the shorter row's
    # coefficients beyond its own length are small but computed, and its tail is defined)
    m = max(n1[i], n2[j])
    value, bound = mehler_sum(a1[i, :m], a2[j, :m], t1[i, :m], t2[j, :m], rho,
                              0.25 * tol * scale)
    return value if bound <= tol * scale else np.nan


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _layer(K, T, I1, I2, A1, TA1, N1, M1, A2, TA2, N2, M2, D1, TD1, ND1, MD1, D2, TD2, ND2,
           MD2, sw2, sb2, standard, width, want_ntk, mode, tol, p0, p1):
    # one layer in place on the rows (or row pairs) p0 <= p < p1 of
    # numerics.gram_loops.row_span; modes as numerics.gram: 0 cross, 1 symmetric (upper
    # triangle), 2 pairs (K[i, 0] pairs x1_i with x2_i)
    n1, n2 = K.shape
    for p in range(p0, p1):
        for side in range(2 if mode == 1 else 1):
            i, j0, j1 = row_span(p, side, mode, n1, n2)
            for j in range(j0, j1):
                col = 0 if mode == 2 else j
                rho = K[i, col] * (I1[i] * I2[j])
                if rho > 1.0 - 4.0 * _EPS:
                    rho = 1.0
                elif rho < -1.0 + 4.0 * _EPS:
                    rho = -1.0
                e = _series(A1, TA1, N1, M1, A2, TA2, N2, M2, i, j, rho, tol)
                k = sw2 * e + sb2
                if want_ntk:
                    ed = _series(D1, TD1, ND1, MD1, D2, TD2, ND2, MD2, i, j, rho, tol)
                    lead = width * e + 1.0 if standard else k
                    T[i, col] = lead + sw2 * ed * T[i, col]
                K[i, col] = k


def _table(act, s, derivative):
    table = hermite_table(act, s, derivative=derivative, trim=True)  # memory n * width
    return table.coefficients, table.tails, table.lengths, table.second_moment


class MehlerEngine:
    """The same interface as :class:`numerics.gram.Engine`, for activations without a
    closed form (see the module docstring)."""

    path = "compiled (Mehler series)"

    def __init__(self, act: Activation, tol: float = DEFAULT_TOL):
        self.act, self.tol = act, tol

    def _layers(self, K, T, S1, S2, L, sw2, sb2, standard, width, want_ntk, mode):
        same = S2 is S1  # a symmetric Gram: one set of tables
        for layer in range(L):
            s1, s2 = S1[layer], S2[layer]
            inv1 = np.where(s1 > 0, 1.0 / np.where(s1 > 0, s1, 1.0), np.nan)
            inv2 = inv1 if same else np.where(s2 > 0, 1.0 / np.where(s2 > 0, s2, 1.0), np.nan)
            a1 = _table(self.act, s1, False)
            a2 = a1 if same else _table(self.act, s2, False)
            d1 = _table(self.act, s1, True) if want_ntk else a1
            d2 = d1 if same else (_table(self.act, s2, True) if want_ntk else a2)
            args = (K, T, inv1, inv2, *a1, *a2, *d1, *d2, sw2, sb2, standard, float(width),
                    want_ntk, mode, self.tol)
            in_threads(_layer, args, row_count(mode, K.shape[0]), K.size)
            del args, a1, a2, d1, d2  # not held while the next layer's tables are built

    def symmetric(self, K, T, S, Vlast, theta, L, sw2, sb2, d, standard, width, want_ntk):
        self._run(K, T, S, S, L, sw2, sb2, d, standard, width, want_ntk, 1)
        n = K.shape[0]
        K[np.diag_indices(n)] = Vlast
        mirror_upper(K)
        if want_ntk:
            T[np.diag_indices(n)] = theta
            mirror_upper(T)
        return _bad_rows(K, T, want_ntk)

    def cross(self, K, T, S1, S2, L, sw2, sb2, d, standard, width, want_ntk):
        self._run(K, T, S1, S2, L, sw2, sb2, d, standard, width, want_ntk, 0)
        return _bad_rows(K, T, want_ntk)

    def pairs(self, dots, S1, S2, L, sw2, sb2, d, standard, width, want_ntk):
        K, T = dots.reshape(-1, 1).copy(), np.empty((dots.size, 1))
        self._run(K, T, S1, S2, L, sw2, sb2, d, standard, width, want_ntk, 2)
        return K[:, 0], (T[:, 0] if want_ntk else None), _bad_rows(K, T, want_ntk)

    def _run(self, K, T, S1, S2, L, sw2, sb2, d, standard, width, want_ntk, mode):
        if want_ntk:
            if standard:  # Theta^1 = <x, x'> + 1
                np.add(K, 1.0, out=T)
        K *= sw2 / d  # K held <x, x'>: now Sigma^1
        K += sb2
        if want_ntk and not standard:
            T[...] = K
        self._layers(K, T, S1, S2, L, sw2, sb2, standard, width, want_ntk, mode)


def _bad_rows(K, T, want_ntk):
    bad = np.zeros(K.shape[0], dtype=np.bool_)
    nonfinite_rows(K, T, want_ntk, bad)
    return bad


@functools.lru_cache(maxsize=64)
def engine(act: Activation) -> MehlerEngine | None:
    """The Mehler engine of an activation, or None where it does not apply (kinks away
    from 0, which the coefficient rule does not split at)."""
    try:
        require_kinks_at_zero(act)
    except ValueError:
        return None
    return MehlerEngine(act)
