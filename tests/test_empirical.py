"""numerics.empirical: random MLPs, empirical NNGP/NTK, pair covariances, Monte Carlo dual."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from numerics import empirical, kernels
from numerics.compile import activation_function, dual_function

SW, SB = 1.5, 0.1


# ---------------------------------------------------------------------------
# empirical kernels
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["relu", "erf", "gelu"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_factorized_ntk_equals_explicit_jacobian_gram(activation, depth):
    rng = np.random.default_rng(depth)
    X = rng.standard_normal((4, 3))
    params = empirical.random_network(rng, 9, 3, depth)
    nngp, ntk = empirical.empirical_kernels(params, X, activation, sigma_w=SW, sigma_b=SB)
    J = empirical.explicit_jacobian(params, X, activation, sigma_w=SW, sigma_b=SB)
    assert J.shape == (4, sum(W.size + b.size for W, b in params))
    np.testing.assert_allclose(ntk, J @ J.T, rtol=1e-10, atol=1e-10)
    # the readout block of J is the NNGP feature map
    readout = params[-1][0].size + 1
    np.testing.assert_allclose(nngp, J[:, -readout:] @ J[:, -readout:].T, rtol=1e-10)


def test_explicit_jacobian_by_finite_differences():
    """Independent check of the backpropagation: central differences of f = forward pass."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 3))
    params = empirical.random_network(rng, 4, 3, 2)
    J = empirical.explicit_jacobian(params, X, "erf", sigma_w=SW, sigma_b=SB)

    def f(ps):
        _, posts = empirical.forward(ps, X, "erf", sigma_w=SW, sigma_b=SB)
        W, b = ps[-1]
        return ((SW / math.sqrt(W.shape[1])) * posts[-1] @ W.T + SB * b)[:, 0]

    col, eps = 0, 1e-6
    for arr in [a for layer in params for a in layer]:
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = f(params)
            arr[idx] = old - eps
            down = f(params)
            arr[idx] = old
            np.testing.assert_allclose(J[:, col], (up - down) / (2 * eps), atol=1e-8)
            col += 1


def test_stacked_activations_equal_one_at_a_time():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 5))
    params = empirical.random_network(rng, 20, 5, 2)
    many = empirical.empirical_kernels_many(params, X, ["relu", "gelu"], sigma_w=SW,
                                            sigma_b=SB)
    for (K, T), name in zip(many, ["relu", "gelu"], strict=True):
        K1, T1 = empirical.empirical_kernels(params, X, name, sigma_w=SW, sigma_b=SB)
        np.testing.assert_allclose(K, K1, rtol=1e-13)
        np.testing.assert_allclose(T, T1, rtol=1e-13)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_mean_over_networks_is_the_analytic_kernel(activation):
    """One hidden layer: the empirical NNGP and NTK are averages of `width` i.i.d. terms
    whose mean is exactly the analytic kernel (no O(1/n) bias at depth 1), so the mean over
    S networks has z = (mean - K)/SE ~ N(0, 1) per entry; Bonferroni over the 12 entries at
    family-wise level 1e-3. A 1% error in sigma_w^2 of the analytic kernel must fail."""
    X = np.array([[1.0, 0.3, -0.5], [-0.4, 1.2, 0.1], [0.8, 0.8, 0.8]])
    S, width = 2000, 128
    root = np.random.SeedSequence(11)
    draws = np.array([np.stack(empirical.empirical_kernels(
        empirical.random_network(np.random.default_rng(c), width, 3, 1), X, activation,
        sigma_w=SW, sigma_b=SB)) for c in root.spawn(S)])  # (S, 2, m, m)
    iu = np.triu_indices(3)
    values = draws[:, :, iu[0], iu[1]].reshape(S, -1)
    mean, se = values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(S)
    threshold = st.norm.isf(1e-3 / (2 * values.shape[1]))

    def z(sigma_w):
        kw = dict(activation=activation, hidden_layers=1, sigma_w=sigma_w, sigma_b=SB)
        analytic = np.stack([kernels.nngp(X, **kw), kernels.ntk(X, **kw)])
        return (mean - analytic[:, iu[0], iu[1]].ravel()) / se

    assert np.max(np.abs(z(SW))) <= threshold
    assert np.max(np.abs(z(SW * math.sqrt(1.01)))) > threshold


def test_float32_networks_agree_with_float64():
    X = np.random.default_rng(0).standard_normal((4, 3))
    p64 = empirical.random_network(np.random.default_rng(1), 256, 3, 2)
    p32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in p64]
    for a, b in zip(empirical.empirical_kernels(p64, X, "gelu", sigma_w=SW, sigma_b=SB),
                    empirical.empirical_kernels(p32, X, "gelu", sigma_w=SW, sigma_b=SB),
                    strict=True):
        assert b.dtype == np.float64
        # float32 rounding of length-256 dot products: ~sqrt(256) 6e-8 of the kernel scale
        np.testing.assert_allclose(b, a, atol=1e-5 * np.abs(a).max())


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: empirical.random_network(np.random.default_rng(0), 0, 3, 1), "width"),
        (lambda: empirical.random_network(np.random.default_rng(0), 4, 3, 0), "hidden_layers"),
        (lambda: empirical.random_network(0, 4, 3, 1), "rng must be a numpy.random.Generator"),
        (lambda: empirical.random_network(np.random.default_rng(0), 4, 3, 1, dtype=int),
         "dtype"),
        (lambda: empirical.empirical_kernels(
            empirical.random_network(np.random.default_rng(0), 4, 3, 1), np.ones((2, 5)),
            "relu", sigma_w=1.0, sigma_b=0.0), r"X must have shape \(m, 3\)"),
        (lambda: empirical.empirical_kernels(
            empirical.random_network(np.random.default_rng(0), 4, 3, 1), np.ones((2, 3)),
            "relu", sigma_w=-1.0, sigma_b=0.0), "sigma_w"),
        (lambda: empirical.empirical_kernels_many(
            empirical.random_network(np.random.default_rng(0), 4, 3, 1), np.ones((2, 3)),
            "relu", sigma_w=1.0, sigma_b=0.0), "activations must be a non-empty list"),
        (lambda: empirical.empirical_kernels(
            empirical.random_network(np.random.default_rng(0), 4, 3, 1), np.ones((2, 3)),
            "step", sigma_w=1.0, sigma_b=0.0), "step"),
        (lambda: empirical.empirical_kernels([], np.ones((2, 3)), "relu", sigma_w=1.0,
                                             sigma_b=0.0), "params"),
    ],
)
def test_bad_network_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------
# pair covariances
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("rho", [-1.0, -0.3, 0.0, 0.2, 0.95])
def test_two_inputs_have_exact_norm_and_cosine(rho):
    X = empirical.two_inputs_with_correlation(np.random.default_rng(2), rho, 30, sigma_w=1.7)
    assert X.shape == (30, 2)
    G = 1.7**2 * X.T @ X / 30  # the layer-1 kernel
    np.testing.assert_allclose(G, [[1.0, rho], [rho, 1.0]], atol=1e-13)


def test_covariances_share_weights_across_activations():
    kw = dict(width=200, depth=4, seeds=2, seed=3, rho_in=0.2, input_dim=50)
    both = empirical.finite_network_covariances({"gelu": 1.5, "elu": 1.2}, **kw)
    alone = empirical.finite_network_covariances({"elu": 1.2}, **kw)
    np.testing.assert_allclose(both["elu"], alone["elu"], rtol=1e-12)
    np.testing.assert_array_equal(both["gelu"][:, 0], both["elu"][:, 0])  # same layer 1
    assert not np.allclose(both["gelu"][:, 1], both["elu"][:, 1])


def test_layer_one_covariance_is_wishart_around_the_input_kernel():
    """V_1 = row mean of (u^2, v^2, uv), (u, v) ~ N(0, [[1, rho], [rho, 1]]): mean
    (1, 1, rho) and Wick variances (2, 2, 1 + rho^2)/N; z of the mean over 200 seeds within
    Bonferroni at 1e-3, and the sample variances inside their chi-square band."""
    rho, N, S = 0.2, 50, 200
    V1 = empirical.finite_network_covariances({"relu": 1.0}, width=N, depth=1, seeds=S,
                                              seed=1, rho_in=rho, input_dim=20)["relu"][:, 0]
    var = np.array([2.0, 2.0, 1 + rho**2]) / N
    z = (V1.mean(axis=0) - [1, 1, rho]) / np.sqrt(var / S)
    assert np.max(np.abs(z)) <= st.norm.isf(1e-3 / 6)
    ratio = V1.var(axis=0, ddof=1) * (S - 1) / var
    assert np.all(st.chi2.ppf(1e-3 / 6, S - 1) < ratio)
    assert np.all(ratio < st.chi2.isf(1e-3 / 6, S - 1))


def test_q_rho_and_statistics():
    V = np.array([[2.0, 0.5, 0.5], [1.0, 1.0, -0.25]])
    np.testing.assert_allclose(empirical.q_rho(V), [[1.25, 0.5], [1.0, -0.25]])
    stats = empirical.finite_network_statistics("elu", 1.2, width=300, depth=3, seeds=2, seed=1,
                                                rho_in=0.2, input_dim=40)
    cov = empirical.finite_network_covariances({"elu": 1.2}, width=300, depth=3, seeds=2,
                                               seed=1, rho_in=0.2, input_dim=40)["elu"]
    assert stats.shape == (2, 3, 2)
    np.testing.assert_array_equal(stats, empirical.q_rho(cov))
    with pytest.raises(ValueError, match="last axis of length 3"):
        empirical.q_rho(np.ones((2, 2)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sigma_ws={}), "at least one"),
        (dict(sigma_ws={"gelu": 0.0}), r"sigma_ws\['gelu'\]"),
        (dict(width=0), "width must be an integer >= 1"),
        (dict(depth=1.5), "depth"),
        (dict(seeds=True), "seeds"),
        (dict(rho_in=1.2), r"rho_in must be a real number in \[-1, 1\]"),
        (dict(input_dim=1), "input_dim must be an integer >= 2"),
        (dict(sigma_b=-0.1), "sigma_b"),
    ],
)
def test_bad_covariance_arguments(kwargs, message):
    kw = dict(sigma_ws={"gelu": 1.5}, width=10, depth=2, seeds=1, rho_in=0.2, input_dim=5)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=message):
        empirical.finite_network_covariances(kw.pop("sigma_ws"), **kw)


# ---------------------------------------------------------------------------
# Monte Carlo dual
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("point", [(1.0, 0.5, 1.0), (2.0, -1.2, 0.8), (0.5, 0.3, 2.0)])
def test_monte_carlo_dual_matches_closed_form(point):
    k = float(dual_function("relu")(*point))
    # 1.5e6 draws (two chunks): SE ~ 0.3% of the kernel
    mean, se = empirical.monte_carlo_dual("relu", *point, 1_500_000, np.random.default_rng(0))
    assert abs(mean - k) <= 4 * se
    assert se < 0.005 * math.sqrt(point[0] * point[2])
    # a 2% error of the kernel is more than 4 SE away at this sample size
    assert abs(mean - 1.02 * k) > 4 * se or abs(k) < 0.1


def test_chunk_merging_is_exact():
    """Chunked mean and SE = those of all draws at once (the same draws, re-generated)."""
    f = activation_function("tanh")
    chunk, samples = 700, 3000
    mean, se = empirical.monte_carlo_dual(f, 2.0, -1.2, 0.8, samples, np.random.default_rng(4),
                                          chunk=chunk)
    rng, prods, s1, s2 = np.random.default_rng(4), [], math.sqrt(2.0), math.sqrt(0.8)
    rho = -1.2 / (s1 * s2)
    for start in range(0, samples, chunk):
        z = rng.standard_normal((2, min(chunk, samples - start)))
        prods.append(f(s1 * z[0]) * f(s2 * (rho * z[0] + math.sqrt(1 - rho**2) * z[1])))
    prods = np.concatenate(prods)
    assert mean == pytest.approx(prods.mean(), rel=1e-13)
    assert se == pytest.approx(prods.std(ddof=1) / math.sqrt(samples), rel=1e-12)


def test_standard_error_is_calibrated():
    """Over 200 independent small runs the z-scores of the mean have variance 1: the
    variance ratio inside the chi-square band at 1e-3."""
    k = float(dual_function("erf")(1.0, 0.6, 1.5))
    root = np.random.SeedSequence(3)
    z = np.array([(lambda m, s: (m - k) / s)(*empirical.monte_carlo_dual(
        "erf", 1.0, 0.6, 1.5, 2000, np.random.default_rng(c), chunk=500))
        for c in root.spawn(200)])
    stat = float(np.sum(z**2))
    assert st.chi2.ppf(5e-4, 200) < stat < st.chi2.isf(5e-4, 200)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((1.0, 0.5, 1.0, 1), {}, "samples must be an integer >= 2"),
        ((0.0, 0.0, 1.0, 10), {}, "q11 must be > 0"),
        ((1.0, 0.5, -1.0, 10), {}, "q22"),
        ((1.0, 2.0, 1.0, 10), {}, "not a covariance"),
        ((1.0, math.nan, 1.0, 10), {}, "q12"),
        ((1.0, 0.5, 1.0, 10), {"chunk": 0}, "chunk"),
    ],
)
def test_bad_monte_carlo_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        empirical.monte_carlo_dual("relu", *args, np.random.default_rng(0), **kwargs)
    with pytest.raises(ValueError, match="rng"):
        empirical.monte_carlo_dual("relu", 1.0, 0.5, 1.0, 10, 0)
