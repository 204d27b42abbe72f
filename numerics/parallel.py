r"""Parameter sweeps over a :mod:`concurrent.futures` executor.

:func:`run_sweep` calls ``fn(point, seed)`` for every point of a grid and
returns the results in grid order.  ``seed`` is the ``i``-th child of
``numpy.random.SeedSequence(seed).spawn(len(grid))``: every point gets an
independent stream that depends only on the sweep seed and the point's
position, never on the number of workers or the completion order, so a
sweep gives identical results on 1, 2 or 200 workers.

Executors
---------
* default: a local :class:`~concurrent.futures.ProcessPoolExecutor` whose
  workers run with ``blas_threads`` BLAS threads (default 1, so ``N``
  workers use ``N`` cores, not ``N x cores``): the initializer sets
  ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` for
  libraries loaded later and limits the BLAS/OpenMP libraries already loaded
  with :func:`threadpoolctl.threadpool_limits` (OpenBLAS, MKL, BLIS, OpenMP);
* ``"serial"``: in this process, in order (for debugging);
* any ``concurrent.futures.Executor``, e.g. a Dask distributed cluster
  (optional extra ``nntheory[dask]``)::

      from dask.distributed import Client, LocalCluster
      with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, \
              Client(cluster) as client:
          results = run_sweep(fn, grid, executor=client.get_executor(), seed=0)

  The sweep runs unchanged; pin BLAS threads on the workers yourself
  (``threads_per_worker=1`` and the environment variables above).

``fn`` must be picklable (a module-level function) for process and Dask
executors.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import os
import sys

import threadpoolctl

__all__ = ["blas_threads", "limit_blas_threads", "product_grid", "run_sweep"]

#: read by BLAS/OpenMP libraries when they are loaded: covers libraries a worker imports
#: after the limit is set, which threadpoolctl (acting on loaded libraries) cannot reach
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
               "NUMBA_NUM_THREADS")


def limit_blas_threads(n: int = 1) -> None:
    """Limit BLAS/OpenMP threads of this process to ``n`` (now, through
    :func:`threadpoolctl.threadpool_limits`, and for libraries loaded later,
    through the environment variables)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"blas_threads must be an integer >= 1, got {n!r}")
    for var in _THREAD_ENV:
        os.environ[var] = str(n)
    numba = sys.modules.get("numba")
    if numba is not None:  # the compiled Gram engine's threads (numerics.gram)
        # first: numba's OpenMP layer may start here and set libgomp's thread count
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    # a process-wide limit: the returned context is not used as a `with` block, so the
    # limit stays in force for the rest of the (worker) process
    threadpoolctl.threadpool_limits(limits=n)


def blas_threads() -> int | None:
    """Threads the loaded BLAS will use (the first BLAS library
    :func:`threadpoolctl.threadpool_info` reports; ``None`` if none is loaded)."""
    if "numpy" not in sys.modules:
        import numpy  # noqa: F401  (loads BLAS)
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas":
            return int(info["num_threads"])
    return None


def _worker_init(n):
    limit_blas_threads(n)


def _call(fn, point, seed):
    return fn(point, seed)


def product_grid(**axes) -> list[dict]:
    """Cartesian product of named axes as a list of dicts, last axis fastest:
    ``product_grid(width=[10, 20], lr=[0.1, 0.2])``."""
    if not axes:
        raise ValueError("product_grid needs at least one axis")
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"axis {name!r} must be a list of values, got {values!r}")
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(list(axes[k]) for k in keys))]


def run_sweep(fn, grid, *, executor=None, seed, progress=True, max_workers=None,
              blas_threads=1, desc="sweep") -> list:
    r"""``[fn(point, seed_i) for i, point in enumerate(grid)]``, in parallel.

    Parameters
    ----------
    fn : picklable callable ``fn(point, seed)``; ``seed`` is a
        :class:`numpy.random.SeedSequence` (pass it to
        ``numpy.random.default_rng`` or to any nntheory ``seed=``).
    grid : sequence of points (e.g. from :func:`product_grid`).
    executor : ``None`` (local process pool), ``"serial"`` or any
        :class:`concurrent.futures.Executor` (not shut down here).
    seed : int (required): children ``SeedSequence(seed).spawn(len(grid))``.
    progress : tqdm bar over completed points.
    max_workers, blas_threads : for the default process pool.

    Returns the list of results in grid order.  An exception in ``fn`` is
    re-raised with the failing grid index and point in its message.
    """
    import numpy as np
    from tqdm.auto import tqdm

    if callable(grid) or isinstance(grid, (str, bytes, dict)):
        raise ValueError("grid must be a sequence of points (list/tuple), e.g. product_grid(...)")
    grid = list(grid)
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {fn!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
        raise ValueError(f"max_workers must be an integer >= 1, got {max_workers!r}")
    if isinstance(blas_threads, bool) or not isinstance(blas_threads, int) or blas_threads < 1:
        raise ValueError(f"blas_threads must be an integer >= 1, got {blas_threads!r}")
    seeds = np.random.SeedSequence(int(seed)).spawn(len(grid))
    results = [None] * len(grid)
    bar = tqdm(total=len(grid), disable=not progress, desc=desc, leave=False)

    def fail(i, exc):
        raise RuntimeError(f"sweep point {i} ({grid[i]!r}) failed: "
                           f"{type(exc).__name__}: {exc}") from exc

    try:
        if executor == "serial":
            for i, (point, s) in enumerate(zip(grid, seeds, strict=True)):
                try:
                    results[i] = fn(point, s)
                except Exception as exc:  # noqa: BLE001 - re-raised with the point
                    fail(i, exc)
                bar.update(1)
            return results
        own = executor is None
        if own:
            executor = cf.ProcessPoolExecutor(max_workers=max_workers, initializer=_worker_init,
                                              initargs=(blas_threads,))
        elif not isinstance(executor, cf.Executor) and not hasattr(executor, "submit"):
            raise ValueError("executor must be None, 'serial' or a concurrent.futures.Executor, "
                             f"got {executor!r}")
        try:
            futures = {executor.submit(_call, fn, point, s): i
                       for i, (point, s) in enumerate(zip(grid, seeds, strict=True))}
            for fut in cf.as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as exc:  # noqa: BLE001 - re-raised with the point
                    for other in futures:
                        other.cancel()
                    fail(i, exc)
                bar.update(1)
        finally:
            if own:
                executor.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    return results
