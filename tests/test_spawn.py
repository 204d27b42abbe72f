"""Activations registered at run time reach worker processes under the spawn start
method (Python 3.14's default on Linux is no longer fork): an entry pickles by value
(``Activation.__reduce__``), so a worker that never ran ``register`` gets it too."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing

import numpy as np
import pytest

from numerics.compile import activation_function
from numerics.kernels import dual_kernel
from numerics.parallel import run_sweep
from theory import activations as A

Z = np.linspace(-3.0, 3.0, 7)


def _evaluate(point, seed):
    """Sweep function (module level, so the spawn worker can import it): the activation
    on a grid and one dual kernel entry by quadrature, plus the registry's view of the
    name in the worker (registered, the same entry, the same hash)."""
    act = point["activation"]
    values = activation_function(act)(Z)
    kernel = float(dual_kernel(act, point["q11"], point["q12"], point["q22"]))
    known = act.name in A.names() and A.get(act.name) == act and hash(A.get(act.name)) == hash(
        act)
    return values, kernel, known


@pytest.fixture
def softsign():
    name = "softsign_spawn_test"
    act = A.register(name, "x/(1+abs(x))")
    yield act
    A.unregister(name)


def test_registered_activation_on_a_spawn_pool(softsign):
    grid = [{"activation": softsign, "q11": 1.0, "q12": 0.3, "q22": 2.0},
            {"activation": softsign, "q11": 0.5, "q12": -0.2, "q22": 0.7}]
    expected = [_evaluate(point, None) for point in grid]
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        results = run_sweep(_evaluate, grid, executor=pool, seed=0, progress=False)
    for (values, kernel, known), (want_values, want_kernel, _) in zip(results, expected,
                                                                       strict=True):
        np.testing.assert_array_equal(values, want_values)
        # same evaluator, same floats: quadrature is deterministic
        assert kernel == want_kernel
        assert known  # re-registered in the worker on unpickling
