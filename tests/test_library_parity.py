"""The library versions in numerics/ give bit-identical results to the claim-module code
they were moved from (verify/kernels_k1..k3), for the same inputs and seeds.

Temporary: delete this file together with the old code in verify/."""

from __future__ import annotations

import numpy as np
import pytest

from numerics import empirical, finite_width, kernels
from numerics.compile import activation_function
from verify import kernels_k1, kernels_k2, kernels_k3

SW, SB = 1.5, 0.1


def _same(a, b):
    """Exact equality of nested results (arrays, tuples, lists, dicts, floats)."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_network(dtype):
    old = kernels_k2.random_network(np.random.default_rng(3), 7, 4, 2, dtype=dtype)
    new = empirical.random_network(np.random.default_rng(3), 7, 4, 2, dtype=dtype)
    _same(old, new)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empirical_kernels_many(dtype):
    X = np.random.default_rng(0).standard_normal((5, 4))
    params = empirical.random_network(np.random.default_rng(1), 16, 4, 2, dtype=dtype)
    acts = ["relu", "erf", "gelu"]
    _same(kernels_k2.empirical_kernels_many(params, X, acts, sigma_w=SW, sigma_b=SB),
          empirical.empirical_kernels_many(params, X, acts, sigma_w=SW, sigma_b=SB))
    _same(kernels_k2.empirical_kernels(params, X, "erf", sigma_w=SW, sigma_b=SB),
          empirical.empirical_kernels(params, X, "erf", sigma_w=SW, sigma_b=SB))


def test_forward_and_explicit_jacobian():
    X = np.random.default_rng(0).standard_normal((3, 4))
    params = empirical.random_network(np.random.default_rng(2), 5, 4, 3)
    _same(kernels_k2._forward(params, X, activation_function("gelu"), SW, SB),
          empirical.forward(params, X, "gelu", sigma_w=SW, sigma_b=SB))
    _same(kernels_k2.explicit_jacobian(params, X, "gelu", sigma_w=SW, sigma_b=SB),
          empirical.explicit_jacobian(params, X, "gelu", sigma_w=SW, sigma_b=SB))


@pytest.mark.parametrize("rho", [0.2, -0.7])
def test_two_inputs_with_correlation(rho):
    _same(kernels_k3._inputs(np.random.default_rng(5), 1.3, rho, 40),
          empirical.two_inputs_with_correlation(np.random.default_rng(5), rho, 40, sigma_w=1.3))


def test_finite_network_covariances_and_statistics():
    kw = dict(width=60, depth=4, seeds=2, seed=9)
    sigma = {"gelu": 1.5, "elu": 1.2}
    old = kernels_k3.finite_network_covariances(sigma, sigma_b=0.3, **kw)
    new = empirical.finite_network_covariances(sigma, sigma_b=0.3, rho_in=kernels_k3.INPUT_RHO,
                                               input_dim=kernels_k3.INPUT_DIM, **kw)
    _same(old, new)
    _same(kernels_k3._q_rho(old["elu"]), empirical.q_rho(new["elu"]))
    _same(kernels_k3.finite_network_statistics("gelu", 1.5, **kw),
          empirical.finite_network_statistics("gelu", 1.5, rho_in=kernels_k3.INPUT_RHO,
                                              input_dim=kernels_k3.INPUT_DIM, **kw))


@pytest.mark.parametrize("chunk", [None, 700])
def test_monte_carlo_dual(chunk, monkeypatch):
    f = activation_function("tanh")
    if chunk is not None:  # several chunks: the merging is identical too
        monkeypatch.setattr(kernels_k1, "_CHUNK", chunk)
    old = kernels_k1.monte_carlo_dual(f, 2.0, -1.2, 0.8, 3000, np.random.default_rng(4))
    kw = {} if chunk is None else {"chunk": chunk}
    new = empirical.monte_carlo_dual(f, 2.0, -1.2, 0.8, 3000, np.random.default_rng(4), **kw)
    assert old == new


def test_layer_map_and_jacobian():
    V = np.array([[1.3, 0.7, 0.4], [1.0, 1.0, 0.2], [2.0, 0.5, -0.9]])
    for name in ("elu", "gelu", "erf"):
        _same(kernels_k3.layer_map(name, V, sigma_w=1.2, sigma_b=0.1),
              kernels.layer_map(name, V, sigma_w=1.2, sigma_b=0.1))
        _same(kernels_k3._layer_map_jacobian(name, V, 1.2),
              kernels.layer_map_jacobian(name, V, sigma_w=1.2))


def test_moment_closure():
    _same(kernels_k3.moment_closure("elu", 1.2, width=500, depth=4, nodes=24),
          finite_width.moment_closure("elu", 1.2, width=500, depth=4, nodes=24,
                                      rho0=kernels_k3.INPUT_RHO))


def test_row_moment_and_one_step_covariance():
    V = np.array([[1.0, 1.0, 0.2], [1.1, 0.9, 0.4], [1.3, 0.8, 0.5]])
    _same(kernels_k3._row_moment_covariance("gelu", V, 1.4, nodes=20),
          finite_width.row_moment_covariance("gelu", V, 1.4, nodes=20))
    _same(kernels_k3.one_step_covariance("elu", V, sigma_w=1.4, width=300, nodes=20),
          finite_width.one_step_covariance("elu", V, sigma_w=1.4, width=300, nodes=20))


def test_one_step_residuals():
    cov = empirical.finite_network_covariances({"gelu": 1.53}, width=200, depth=4, seeds=2,
                                               seed=1, rho_in=0.2, input_dim=50)["gelu"]
    old = kernels_k3.one_step_comparison("gelu", cov, sigma_w=1.53, width=200, nodes=20)
    new = finite_width.one_step_residuals("gelu", cov, sigma_w=1.53, width=200, nodes=20)
    for key in ("predicted", "residual", "sd", "z", "whitened", "n"):
        _same(old[key], new[key])
