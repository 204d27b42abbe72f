"""Static numba loops shared by the compiled Gram engines (:mod:`numerics.gram`,
:mod:`numerics.gram_mehler`): the work items of a pass, running a pass's kernel on
threads, mirroring a computed upper triangle and finding the rows that hold a non-finite
entry. Compiled without fastmath, so ``isfinite`` is exact."""

from __future__ import annotations

import concurrent.futures
import os

import numba
import numpy as np
from numba import njit, prange

__all__ = ["in_threads", "mirror", "mirror_upper", "nonfinite_rows",
           "row_count", "row_span", "THREAD_MIN_WORK"]

#: below this much work (entry-layers of a pass, entries of a mirror) the calling thread
#: does it alone (starting threads costs ~0.1 ms on an idle machine, the work of ~2e4
#: entry-layers)
THREAD_MIN_WORK = 1 << 16
_PER_THREAD = 4
_POOLS = {}


def _pool(threads):
    """A thread pool kept for the process (starting threads costs milliseconds per call),
    keyed by the process id too: a forked worker process gets its own."""
    key = (os.getpid(), threads)
    if key not in _POOLS:
        _POOLS[key] = concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="nntheory-gram")
    return _POOLS[key]


def in_threads(kernel, args, count, work):
    """``kernel(*args, lo, hi)`` on chunks of the work items ``range(count)``, in numba's
    number of threads (``kernel`` releases the GIL; ``work`` below
    :data:`THREAD_MIN_WORK`: on the calling thread). Python threads rather than numba's
    ``prange``, whose parallel pipeline costs seconds of compile time in every fresh process
    with an empty cache. Chunks of equal size, a few per thread, so that threads that
    finish early take more (entries differ in cost: Mehler terms, special-function
    branches)."""
    threads = min(numba.get_num_threads(), count) if work >= THREAD_MIN_WORK else 1
    if threads <= 1:
        kernel(*args, 0, count)
        return
    edges = np.linspace(0, count, min(count, _PER_THREAD * threads) + 1).astype(np.int64)
    pool = _pool(threads)
    for done in [pool.submit(kernel, *args, lo, hi)
                 for lo, hi in zip(edges[:-1], edges[1:], strict=True)]:
        done.result()  # re-raises a thread's exception


def mirror_upper(M):
    """Lower triangle of a square ``M`` := its upper triangle, on threads for large ``M``
    (small ones by NumPy: waking numba's threads, or compiling a serial loop, costs more)."""
    if M.size >= THREAD_MIN_WORK:
        mirror(M)
    else:
        lower = np.tril_indices(M.shape[0], -1)
        M[lower] = M.T[lower]


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


@njit(cache=True, parallel=True)
def nonfinite_rows(K, T, want_ntk, bad):
    """bad[i] = True where row i of K (or of T, with want_ntk) has a NaN or inf."""
    for i in prange(K.shape[0]):
        for j in range(K.shape[1]):
            if not np.isfinite(K[i, j]) or (want_ntk and not np.isfinite(T[i, j])):
                bad[i] = True
                break
