"""Static numba loops shared by the compiled Gram engines (:mod:`numerics.gram`,
:mod:`numerics.gram_mehler`): mirroring a computed upper triangle and finding the rows
that hold a non-finite entry. Compiled without fastmath, so ``isfinite`` is exact."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["mirror", "nonfinite_rows"]


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


@njit(cache=True, parallel=True)
def nonfinite_rows(K, T, want_ntk, bad):
    """bad[i] = True where row i of K (or of T, with want_ntk) has a NaN or inf."""
    for i in prange(K.shape[0]):
        for j in range(K.shape[1]):
            if not np.isfinite(K[i, j]) or (want_ntk and not np.isfinite(T[i, j])):
                bad[i] = True
                break
