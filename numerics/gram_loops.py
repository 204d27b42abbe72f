"""Static numba loops shared by the compiled Gram engines (:mod:`numerics.gram`,
:mod:`numerics.gram_mehler`): mirroring a computed upper triangle and finding the rows
that hold a non-finite entry. Compiled without fastmath, so ``isfinite`` is exact."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["mirror", "mirror_serial", "nonfinite_rows", "row_count", "row_span"]


@njit(cache=True)
def row_count(mode, n1):
    """Parallel work items of a Gram pass: mode 0 cross and 2 pairs, one per row; mode 1
    symmetric, one per pair of rows (p, n-1-p), so every item holds the same share of
    the upper triangle."""
    return (n1 + 1) // 2 if mode == 1 else n1


@njit(cache=True)
def row_span(p, side, mode, n1, n2):
    """(row i, first column, end column) of work item p (side 0/1 of a symmetric pair):
    mode 0 all n2 columns, mode 1 the columns right of the diagonal, mode 2 column i
    (the pair (x1_i, x2_i)); an empty span for the second side of the middle row."""
    first = np.int64(p)  # prange's index may be unsigned: keep i an int64
    if mode != 1:
        return first, (first if mode == 2 else np.int64(0)), \
            (first + 1 if mode == 2 else np.int64(n2))
    i = first if side == 0 else np.int64(n1) - 1 - first
    if side == 1 and i == first:
        return i, i, i
    return i, i + 1, np.int64(n1)


@njit(cache=True, parallel=True)
def mirror(M):
    """Lower triangle := upper, by 64 x 64 tiles (a column-wise copy misses the cache)."""
    n = M.shape[0]
    tiles = (n + 63) // 64
    for bi in prange(tiles):
        for bj in range(bi + 1):
            for i in range(bi * 64, min(n, bi * 64 + 64)):
                for j in range(bj * 64, min(i, bj * 64 + 64)):
                    M[i, j] = M[j, i]


@njit(cache=True)
def mirror_serial(M):
    """:func:`mirror` on the calling thread (small Grams: waking numba's threads costs more)."""
    n = M.shape[0]
    for i in range(n):
        for j in range(i):
            M[i, j] = M[j, i]


@njit(cache=True, parallel=True)
def nonfinite_rows(K, T, want_ntk, bad):
    """bad[i] = True where row i of K (or of T, with want_ntk) has a NaN or inf."""
    for i in prange(K.shape[0]):
        for j in range(K.shape[1]):
            if not np.isfinite(K[i, j]) or (want_ntk and not np.isfinite(T[i, j])):
                bad[i] = True
                break
