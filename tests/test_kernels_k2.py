"""Claim K2: empirical NNGP/NTK of finite networks -> analytic, slope -1/2."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numerics.compile import activation_function
from verify import kernels_k2

SW, SB = 1.5, 0.1


@pytest.mark.parametrize("activation", ["relu", "erf", "gelu"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_ntk_equals_explicit_jacobian_gram(activation, depth):
    rng = np.random.default_rng(depth)
    X = rng.standard_normal((4, 3))
    params = kernels_k2.random_network(rng, 9, 3, depth)
    nngp, ntk = kernels_k2.empirical_kernels(params, X, activation, sigma_w=SW, sigma_b=SB)
    J = kernels_k2.explicit_jacobian(params, X, activation, sigma_w=SW, sigma_b=SB)
    n_params = sum(W.size + b.size for W, b in params)
    assert J.shape == (4, n_params)
    np.testing.assert_allclose(ntk, J @ J.T, rtol=1e-12, atol=1e-12)
    # the readout block of J is the NNGP feature map: its Gram is the empirical NNGP
    readout = params[-1][0].size + 1
    np.testing.assert_allclose(nngp, J[:, -readout:] @ J[:, -readout:].T, rtol=1e-12)


def test_jacobian_by_finite_differences():
    # independent check of the backpropagation: central differences of f in each parameter
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 3))
    params = kernels_k2.random_network(rng, 4, 3, 2)
    phi = activation_function("erf")
    J = kernels_k2.explicit_jacobian(params, X, "erf", sigma_w=SW, sigma_b=SB)

    def f(ps):
        h = X
        for W, b in ps[:-1]:
            h = phi((SW / math.sqrt(W.shape[1])) * h @ W.T + SB * b)
        W, b = ps[-1]
        return ((SW / math.sqrt(W.shape[1])) * h @ W.T + SB * b)[:, 0]

    flat = []
    for W, b in params:
        flat += [W, b]
    col, eps = 0, 1e-6
    for arr in flat:
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = f(params)
            arr[idx] = old - eps
            down = f(params)
            arr[idx] = old
            np.testing.assert_allclose(J[:, col], (up - down) / (2 * eps), atol=1e-8)
            col += 1
    assert col == J.shape[1]


def test_stacked_float32_matches_float64():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 4))
    p64 = kernels_k2.random_network(np.random.default_rng(3), 256, 4, 2)
    p32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in p64]
    many = kernels_k2.empirical_kernels_many(p32, X, ["relu", "erf"], sigma_w=SW, sigma_b=SB)
    for act, (nngp32, ntk32) in zip(["relu", "erf"], many, strict=True):
        nngp, ntk = kernels_k2.empirical_kernels(p64, X, act, sigma_w=SW, sigma_b=SB)
        # float32 rounding (~1e-6 relative) is far below the ~1e-1 errors K2 measures here
        np.testing.assert_allclose(nngp32, nngp, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(ntk32, ntk, rtol=2e-5, atol=1e-6)


# one hidden layer is cheap (no n x n matrix): many seeds, all widths
FAST = dict(activations=["relu", "erf"], depths=[1], seeds=16)


def test_one_layer_passes():
    result = kernels_k2.compute("quick", seed=0, **FAST)
    assert result.passed, result.summary
    for name, se in result.measured["slope_bootstrap_se"].items():
        assert se < 0.05, name  # the 0.1 band is at least two bootstrap SEs wide


def test_wrong_sigma_b_fails():
    # the analytic kernel with sigma_b = 0.5 instead of 0.1: an O(1) error that does not
    # shrink with the width, so the slope is near 0
    result = kernels_k2.compute("quick", seed=0, analytic_sigma_b=0.5, **FAST)
    assert not result.passed
    assert all(abs(s) < 0.2 for s in result.measured["slopes"].values())


def test_fit_slope_exact():
    widths = [64, 256, 1024]
    slope, intercept = kernels_k2.fit_slope(widths, [3.0 * w**-0.5 for w in widths])
    assert slope == pytest.approx(-0.5, abs=1e-12)
    assert intercept == pytest.approx(math.log(3.0), abs=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        kernels_k2.compute("slow")
    with pytest.raises(ValueError, match="override"):
        kernels_k2.compute("quick", width=[1])
    with pytest.raises(ValueError, match="two widths"):
        kernels_k2.compute("quick", widths=[64])


@pytest.mark.slow
def test_quick_mode_passes():
    result = kernels_k2.compute("quick", seed=0)
    assert result.passed, result.summary
