"""Sweeps: grid order, worker-count independence, BLAS pinning, Dask executor."""

import concurrent.futures as cf

import numpy as np
import pytest

from numerics.parallel import blas_threads, limit_blas_threads, product_grid, run_sweep


def noisy_point(point, seed):
    """Module-level (picklable): depends on the point and its own random stream."""
    rng = np.random.default_rng(seed)
    return point["x"] * 100 + point["y"] + rng.standard_normal()


def worker_blas_threads(point, seed):
    return blas_threads()


def worker_thread_limits(point, seed):
    """Every loaded BLAS/OpenMP pool and the environment for libraries loaded later."""
    import os

    import threadpoolctl

    return ([info["num_threads"] for info in threadpoolctl.threadpool_info()],
            os.environ.get("OPENBLAS_NUM_THREADS"), os.environ.get("OMP_NUM_THREADS"))


def failing(point, seed):
    if point == 2:
        raise ZeroDivisionError("boom")
    return point


GRID = product_grid(x=[1, 2, 3], y=[0, 1])


def test_product_grid_order():
    assert GRID[:3] == [{"x": 1, "y": 0}, {"x": 1, "y": 1}, {"x": 2, "y": 0}]
    assert len(GRID) == 6
    with pytest.raises(ValueError, match="axis 'x'"):
        product_grid(x=3)
    with pytest.raises(ValueError, match="at least one axis"):
        product_grid()


def test_results_in_grid_order_and_independent_of_workers():
    serial = run_sweep(noisy_point, GRID, executor="serial", seed=11, progress=False)
    one = run_sweep(noisy_point, GRID, seed=11, max_workers=1, progress=False)
    two = run_sweep(noisy_point, GRID, seed=11, max_workers=2, progress=False)
    assert serial == one == two
    for v, p in zip(serial, GRID, strict=True):  # grid order: the value encodes the point
        assert abs(v - (p["x"] * 100 + p["y"])) < 6  # plus one N(0,1) draw
    # children are independent streams: all draws differ, another seed changes them
    draws = [v - (p["x"] * 100 + p["y"]) for v, p in zip(serial, GRID, strict=True)]
    assert len(set(draws)) == len(draws)
    assert run_sweep(noisy_point, GRID, executor="serial", seed=12, progress=False) != serial


def test_any_executor_gives_the_same_sweep():
    with cf.ThreadPoolExecutor(max_workers=3) as ex:
        threaded = run_sweep(noisy_point, GRID, executor=ex, seed=5, progress=False)
    assert threaded == run_sweep(noisy_point, GRID, executor="serial", seed=5, progress=False)


def test_default_workers_use_one_blas_thread():
    threads = run_sweep(worker_blas_threads, [0, 1], seed=0, max_workers=2, progress=False)
    if threads[0] is None:
        pytest.skip("no OpenBLAS loaded in this NumPy build")
    assert threads == [1, 1]
    more = run_sweep(worker_blas_threads, [0], seed=0, max_workers=1, blas_threads=2,
                     progress=False)
    assert more == [min(2, more[0])] and more[0] >= 1


def test_worker_limits_every_loaded_pool_through_threadpoolctl():
    (pools, openblas_env, omp_env), = run_sweep(worker_thread_limits, [0], seed=0,
                                                max_workers=1, blas_threads=1, progress=False)
    assert openblas_env == omp_env == "1"
    assert pools and all(n == 1 for n in pools)


def test_limit_blas_threads_refuses_bad_counts():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="blas_threads must be an integer >= 1"):
            limit_blas_threads(bad)


def test_errors_name_the_point():
    with pytest.raises(RuntimeError, match=r"sweep point 2 \(2\) failed: ZeroDivisionError"):
        run_sweep(failing, [0, 1, 2, 3], executor="serial", seed=0, progress=False)
    with pytest.raises(RuntimeError, match="sweep point 2"):
        run_sweep(failing, [0, 1, 2, 3], seed=0, max_workers=2, progress=False)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(seed=-1), "seed"),
        (dict(seed=None), "seed"),
        (dict(seed=0, max_workers=0), "max_workers"),
        (dict(seed=0, blas_threads=0), "blas_threads"),
        (dict(seed=0, executor=42), "executor"),
    ],
)
def test_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        run_sweep(noisy_point, GRID, progress=False, **kwargs)
    with pytest.raises(ValueError, match="grid"):
        run_sweep(noisy_point, {"x": [1]}, seed=0, progress=False)


def test_dask_client_executor_runs_the_same_sweep():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = run_sweep(noisy_point, GRID, executor=client.get_executor(), seed=11,
                           progress=False)
    assert result == run_sweep(noisy_point, GRID, executor="serial", seed=11, progress=False)
