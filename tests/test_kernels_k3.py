"""Tests for claim K3 (verify/kernels_k3.py): it PASSes on the right inputs and FAILs on
deliberately wrong ones. Reduced sizes keep this file fast; the claim's real quick mode
runs under ``-m slow``."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import kernels_k3 as K

#: small sizes at which the correct claim still passes: 2e4 ReLU layers leave an
#: O(log l / l) ~ 2e-3 error (< 1%); 250 layers bring ELU (C' = 0.97) within 1e-3 of rho*
SMALL = dict(relu_layers=20_000, relu_mp_layers=500, iterate_layers=250, seeds=3, width=400,
             depth=8)


@pytest.fixture(scope="module")
def small_result():
    return K.compute("quick", seed=0, **SMALL)


def test_small_passes(small_result):
    r = small_result
    assert r.passed, r.summary
    for name in K.ACTIVATIONS:
        # 3 seeds x 7 steps x 3 entries, all inside the Bonferroni and chi-square bounds
        assert r.measured[f"{name}_one_step_residuals"] == 63
        assert r.measured[f"{name}_one_step_max_abs_z"] <= r.tolerance["one_step_max_abs_z"]
        low, high = r.tolerance["one_step_mean_z2_bounds"]
        assert low <= r.measured[f"{name}_one_step_mean_z2_whitened"] <= high
    assert r.params["trajectory_judged"] == ["elu"]  # GELU's L'(1) = 1.14 > 1
    assert abs(r.measured["relu_l2_one_minus_rho"] / K.RELU_CONSTANT - 1) < 0.01
    assert r.measured["relu_rho_star"] == 1.0
    # the issue: local exponent about -1.8 at l = 100
    assert r.measured["relu_local_exponent_at_100"] == pytest.approx(-1.8, abs=0.05)
    assert r.figure is not None


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=1e-12, max_value=2.0))
def test_relu_delta_step_matches_mpmath(delta):
    with mpmath.workdps(40):
        rho = 1 - mpmath.mpf(delta)
        new = (mpmath.sqrt((1 - rho) * (1 + rho)) + (mpmath.pi - mpmath.acos(rho)) * rho
               ) / mpmath.pi
        reference = float(1 - new)
    # a few ulps per step (see relu_delta_step's docstring)
    assert K.relu_delta_step(delta) == pytest.approx(reference, rel=1e-14)


def test_series_matches_direct_form():
    for theta in (0.3, 0.49, 0.5, 0.8):
        with mpmath.workdps(40):
            ref = float(mpmath.sin(theta) - theta * mpmath.cos(theta))
        assert K._sin_minus_theta_cos(theta) == pytest.approx(ref, rel=1e-14)


def test_wrong_relu_map_fails():
    def wrong(delta):  # 10% too strong a contraction: the constant becomes 9 pi^2/(2 * 1.21)
        theta = 2 * math.asin(math.sqrt(delta / 2))
        return delta - 1.1 * K._sin_minus_theta_cos(theta) / math.pi

    r = K.compute("quick", relu_delta_step=wrong, **SMALL)
    assert not r.passed
    assert abs(r.measured["relu_l2_one_minus_rho"] / K.RELU_CONSTANT - 1) > 0.1


def test_wrong_correlation_map_fails():
    from theory import fixedpoints as fp

    def flipped(name, rho, sigma_w):  # sign flip of the input correlation
        return fp.correlation_map(name, -rho, sigma_w=sigma_w, sigma_b=0, q=1.0)

    r = K.compute("quick", correlation_map=flipped, **{**SMALL, "iterate_layers": 60})
    assert not r.passed


def test_wrong_network_sigma_fails():
    # networks built with sigma_w 4% above ELU's sigma* drift away from the recursion
    r = K.compute("quick", network_sigma_w={"elu": 1.3}, **SMALL)
    assert not r.passed
    assert r.measured["elu_network_max_deviation_over_tolerance"] > 1


# ---------------------------------------------------------------------------
# one-step check
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wide_networks():
    """Width-2000 networks (the claim's width), depth 12, 3 seeds: 99 one-step residuals
    per activation."""
    from theory import fixedpoints as fp

    sigma = {name: fp.norm_preserving_sigma(name, 1.0) for name in K.ACTIVATIONS}
    cov = K.finite_network_covariances(sigma, width=2000, depth=12, seeds=3, seed=7)
    return sigma, cov


@pytest.mark.parametrize("name", K.ACTIVATIONS)
def test_one_step_right_map_passes(wide_networks, name):
    sigma, cov = wide_networks
    o = K.one_step_comparison(name, cov[name], sigma_w=sigma[name], width=2000)
    assert o["n"] == 99
    assert o["passed"], (o["max_abs_z"], o["mean_z2_whitened"], o["chi2_bounds"])


@pytest.mark.parametrize("name", K.ACTIVATIONS)
def test_one_step_wrong_map_fails(wide_networks, name):
    """ReLU's kernel in place of the network's, or sigma_w 5% too large (a 10% bias in
    every entry, ~2 sd of a residual at width 2000), must be rejected."""
    sigma, cov = wide_networks
    relu = K.one_step_comparison("relu", cov[name], sigma_w=sigma[name], width=2000)
    assert not relu["passed"]
    assert relu["mean_z2_whitened"] > 2 * relu["chi2_bounds"][1]
    off = K.one_step_comparison(name, cov[name], sigma_w=1.05 * sigma[name], width=2000)
    assert not off["passed"]
    assert off["mean_z2_whitened"] > off["chi2_bounds"][1]


def test_wrong_layer_maps_fail_in_claim():
    """The claim itself FAILs when the one-step layer map of the GELU networks is the ReLU
    kernel, and when that of the ELU networks has sigma_w 5% too large (width 2000, so
    that the one-step resolution is that of the claim)."""
    from theory import fixedpoints as fp

    sizes = {**SMALL, "width": 2000}
    wrong = 1.05 * fp.norm_preserving_sigma("elu", 1.0)
    r = K.compute("quick", layer_activation={"gelu": "relu"}, layer_sigma_w={"elu": wrong},
                  **sizes)
    assert not r.passed
    high = r.tolerance["one_step_mean_z2_bounds"][1]
    assert r.measured["gelu_one_step_mean_z2_whitened"] > high
    assert r.measured["elu_one_step_mean_z2_whitened"] > high


@pytest.mark.parametrize("name", K.ACTIVATIONS)
def test_one_step_covariance_matches_simulation(name):
    """Monte Carlo of the exact conditional law: given layer l, the rows of layer l+1 are
    i.i.d. N(0, sigma_w^2 s(h)^T s(h)/N), so two steps of M = 3000 width-1000 'networks'
    need only N x 2 draws. The sample variances of the six residuals (two steps x three
    entries) have relative sd sqrt(2/M) = 0.026 (4 sd = 0.10) and the leading-order
    covariance has O(N^{-1/2}) ~ 0.03 corrections: tolerance 0.15 on the ratio. The sample
    correlations have sd <= 1/sqrt(M) = 0.018: tolerance 0.1 on them, which also checks
    that consecutive steps are uncorrelated."""
    from numerics.compile import activation_function
    from theory import fixedpoints as fp

    sw = fp.norm_preserving_sigma(name, 1.0)
    s = activation_function(name)
    N, M = 1000, 3000
    rng = np.random.default_rng(5)

    def rows(S):
        chol = np.linalg.cholesky(S)
        return np.einsum("mij,mnj->mni", chol, rng.standard_normal((S.shape[0], N, 2)))

    start = np.array([1.0, 1.0, K.INPUT_RHO])
    h = rows(np.broadcast_to(np.array([[1.0, K.INPUT_RHO], [K.INPUT_RHO, 1.0]]), (M, 2, 2)))
    V = []
    for layer in range(3):
        G = np.einsum("mni,mnj->mij", h, h) / N
        V.append(np.stack([G[:, 0, 0], G[:, 1, 1], G[:, 0, 1]], axis=-1))
        if layer < 2:
            post = s(h)
            h = rows(sw**2 * np.einsum("mni,mnj->mij", post, post) / N)
    V = np.stack(V, axis=1)
    e = (V[:, 1:] - K.layer_map(name, V[:, :-1], sigma_w=sw)).reshape(M, 6)
    empirical = np.cov(e.T)
    trajectory = [start]
    for _ in range(2):
        trajectory.append(K.layer_map(name, trajectory[-1], sigma_w=sw))
    predicted = K.one_step_covariance(name, np.array(trajectory), sigma_w=sw, width=N)
    assert np.diag(empirical) / np.diag(predicted) == pytest.approx(np.ones(6), abs=0.15)
    de, dp = np.sqrt(np.diag(empirical)), np.sqrt(np.diag(predicted))
    np.testing.assert_allclose(empirical / np.outer(de, de), predicted / np.outer(dp, dp),
                               atol=0.1)


@pytest.mark.parametrize("name", K.ACTIVATIONS)
def test_cross_layer_blocks_vanish(name):
    """Price's theorem: Cov(h h^T, g(h)) = Wick(Sigma) J^T, so the residuals of consecutive
    layers are uncorrelated; the code builds those blocks from the quadrature and the
    finite-difference Jacobian, which must agree (GELU: 64^2 Gauss-Hermite is exact to
    ~1e-7; ELU: ~1e-4 relative, see ONE_STEP_NODES)."""
    V = np.array([[1.0, 1.0, 0.2], [1.1, 0.9, 0.4], [1.3, 0.8, 0.5]])
    cov = K.one_step_covariance(name, V, sigma_w=1.4, width=1)
    off = cov[0:3, 3:6]
    scale = np.sqrt(np.outer(np.diag(cov)[0:3], np.diag(cov)[3:6]))
    assert np.max(np.abs(off) / scale) < (1e-6 if name == "gelu" else 1e-3)


def test_identity_activation_leaves_only_wishart_noise():
    """For s(x) = x the layer map is linear, F(V) = sigma_w^2 V, and J hh^T = g exactly, so
    the residual is the Wishart noise of layer l+1 alone: Wick(V_{l+1})/N."""
    V = np.array([[1.0, 2.0, 0.3], [1.5, 1.2, -0.4]])
    cov = K.one_step_covariance("identity", V, sigma_w=1.3, width=50)
    a, b, c = V[1]
    wick = np.array([[2 * a * a, 2 * c * c, 2 * a * c], [2 * c * c, 2 * b * b, 2 * b * c],
                     [2 * a * c, 2 * b * c, a * b + c * c]]) / 50
    np.testing.assert_allclose(cov, wick, rtol=1e-8, atol=1e-12)


def test_row_moment_quadrature_converges():
    """ONE_STEP_NODES = 64 against a 160-node rule (itself within 1e-5 of a 300-node one):
    GELU ~1e-7, ELU ~1e-4 relative."""
    V = np.array([[1.0, 1.0, 0.5], [3.0, 0.5, 1.1]])
    for name, tol in (("gelu", 1e-6), ("elu", 5e-4)):
        coarse = K._row_moment_covariance(name, V, 1.2)
        fine = K._row_moment_covariance(name, V, 1.2, nodes=160)
        assert np.max(np.abs(coarse - fine)) / np.max(np.abs(fine)) < tol


def test_layer_map_is_the_registry_kernel():
    from theory.dual import dual_kernel

    V = np.array([1.3, 0.7, 0.4])
    F = K.layer_map("elu", V, sigma_w=1.2, sigma_b=0.1)
    assert F[2] == pytest.approx(1.44 * dual_kernel("elu", 1.3, 0.4, 0.7) + 0.01, rel=1e-10)
    assert F[0] == pytest.approx(1.44 * dual_kernel("elu", 1.3, 1.3, 1.3) + 0.01, rel=1e-10)


def test_one_step_bad_input():
    with pytest.raises(ValueError, match="shape"):
        K.one_step_comparison("gelu", np.ones((3, 2)), sigma_w=1.5, width=100)
    with pytest.raises(ValueError, match="width"):
        K.one_step_comparison("gelu", np.ones((1, 3, 3)) * [1, 1, 0.5], sigma_w=1.5, width=0)
    with pytest.raises(ValueError, match="rho"):
        K.one_step_comparison("gelu", np.ones((1, 3, 3)), sigma_w=1.5, width=100)
    with pytest.raises(ValueError, match="closed-form"):
        K.layer_map("tanh", np.array([1.0, 1.0, 0.5]), sigma_w=1.0)
    with pytest.raises(ValueError, match="layer_activation keys"):
        K.compute("quick", layer_activation={"tanh": "relu"})
    with pytest.raises(ValueError, match="layer_sigma_w"):
        K.compute("quick", layer_sigma_w={"gelu": -1.0})


def test_shared_weights_match_single_activation():
    """finite_network_covariances shares weights across activations; each activation's
    networks are the same as when simulated alone (same seed)."""
    both = K.finite_network_covariances({"gelu": 1.5, "elu": 1.2}, width=200, depth=4,
                                        seeds=2, seed=3)
    alone = K.finite_network_covariances({"elu": 1.2}, width=200, depth=4, seeds=2, seed=3)
    np.testing.assert_allclose(both["elu"], alone["elu"], rtol=1e-12)
    assert both["gelu"][:, 0] == pytest.approx(both["elu"][:, 0])  # same layer 1


def test_finite_network_statistics_shapes_and_layer_one():
    stats = K.finite_network_statistics("elu", 1.2, width=300, depth=3, seeds=2, seed=1)
    assert stats.shape == (2, 3, 2)
    # layer 1: q = 1 and rho = INPUT_RHO up to sampling error (Wick: sd ~ sqrt(2/N) = 0.08)
    assert np.all(np.abs(stats[:, 0, 0] - 1) < 0.4)
    assert np.all(np.abs(stats[:, 0, 1] - K.INPUT_RHO) < 0.4)


def test_moment_closure_layer_one_is_wick():
    out = K.moment_closure("gelu", 1.5, width=1000, depth=2)
    # layer 1: no propagated noise; sd(q_hat) = sqrt(Var((u^2+v^2)/2)/N) = sqrt((1+rho^2)/N)
    assert out["sd_q"][0] == pytest.approx(math.sqrt((1 + K.INPUT_RHO**2) / 1000), rel=1e-6)
    assert out["bias_q"][0] == 0


def test_bad_overrides():
    with pytest.raises(ValueError, match="unknown override"):
        K.compute("quick", nonsense=1)
    with pytest.raises(ValueError, match="mode"):
        K.compute("medium")


def test_fixed_point_table_markdown():
    rows = K.fixed_point_table(q_values=(1.0,), activations=("gelu",))
    assert rows[0][0] == "gelu" and rows[0][2] == pytest.approx(1.5335304411955, rel=1e-12)
    text = K.fixed_point_table_markdown(q_values=(1.0,))
    assert "| gelu | 1 | 1.533530 |" in text and "| elu | 1 |" in text
    for file in K.FIGURE_FILES.values():
        assert f"figures/{file}" in text


@pytest.mark.slow
def test_quick_mode_passes():
    r = K.compute("quick", seed=0)
    assert r.passed, r.summary
