"""numerics.finite_width: moment closure, one-step covariance and residuals, checked
against simulated finite networks with tolerances from the number of networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from numerics import empirical, finite_width, kernels
from numerics.compile import activation_function
from theory import fixedpoints as fp

RHO_IN = 0.2
ALPHA = 1e-3  # family-wise false-failure probability of each statistical test below


@pytest.fixture(scope="module")
def sigma_star():
    return {name: fp.norm_preserving_sigma(name, 1.0) for name in ("gelu", "elu")}


# ---------------------------------------------------------------------------
# moment closure
# ---------------------------------------------------------------------------

def test_moment_closure_layer_one_is_wick():
    out = finite_width.moment_closure("gelu", 1.5, width=1000, depth=2, rho0=RHO_IN)
    # no propagated noise yet: sd(q_hat) = sqrt(Var((u^2 + v^2)/2)/N) = sqrt((1 + rho^2)/N)
    assert out["sd_q"][0] == pytest.approx(math.sqrt((1 + RHO_IN**2) / 1000), rel=1e-6)
    assert out["bias_q"][0] == 0
    assert set(out) == {"bias_q", "bias_rho", "sd_q", "sd_rho"}
    assert all(v.shape == (2,) for v in out.values())


def test_moment_closure_scales_as_one_over_width():
    """sd ~ N^{-1/2}, bias ~ 1/N, up to the O(1/N) relative shift of the mean trajectory
    (0.3% at N = 100 here; exact at layers 1 and 2, before that shift enters)."""
    a = finite_width.moment_closure("elu", 1.2, width=100, depth=5, rho0=RHO_IN)
    b = finite_width.moment_closure("elu", 1.2, width=400, depth=5, rho0=RHO_IN)
    np.testing.assert_allclose(b["sd_rho"][:2], a["sd_rho"][:2] / 2, rtol=1e-9)
    np.testing.assert_allclose(b["sd_rho"], a["sd_rho"] / 2, rtol=1e-2)
    np.testing.assert_allclose(b["bias_rho"], a["bias_rho"] / 4, rtol=5e-2)


def test_moment_closure_sd_matches_the_spread_over_networks(sigma_star):
    """ELU at sigma* (a stable length map), width 100, 200 networks: for every layer and
    statistic, (S - 1) s^2 / sd_pred^2 must lie in the chi-square_{S-1} interval
    (Bonferroni over the 2 x depth tests; the closure's own error is O(1/N) relative, well
    inside the +-20% the band allows). Predicting with half the width (sd 41% too large)
    must fall below it for most layers (>= 0.9 of the tests for each of seeds 20-35)."""
    sw, width, depth, S = sigma_star["elu"], 100, 5, 200
    stats = empirical.finite_network_statistics("elu", sw, width=width, depth=depth, seeds=S,
                                                seed=21, rho_in=RHO_IN, input_dim=40)
    sample_var = stats.var(axis=0, ddof=1)  # (depth, 2)

    def ratios(w):
        c = finite_width.moment_closure("elu", sw, width=w, depth=depth, rho0=RHO_IN)
        return (S - 1) * sample_var / np.stack([c["sd_q"], c["sd_rho"]], axis=1) ** 2

    tests = 2 * depth
    low, high = st.chi2.ppf(ALPHA / (2 * tests), S - 1), st.chi2.isf(ALPHA / (2 * tests), S - 1)
    right = ratios(width)
    assert np.all((low < right) & (right < high)), right / (S - 1)
    wrong = ratios(width // 2)
    assert np.mean(wrong < low) >= 0.8


def test_moment_closure_bias_and_mean_over_networks(sigma_star):
    """Mean of (q_l, rho_l) over networks = infinite-width recursion + predicted bias,
    within Bonferroni z at the predicted spread."""
    sw, width, depth, S = sigma_star["elu"], 100, 5, 200
    stats = empirical.finite_network_statistics("elu", sw, width=width, depth=depth, seeds=S,
                                                seed=22, rho_in=RHO_IN, input_dim=40)
    c = finite_width.moment_closure("elu", sw, width=width, depth=depth, rho0=RHO_IN)
    V = np.array([1.0, 1.0, RHO_IN])
    rec = [empirical.q_rho(V)]
    for _ in range(depth - 1):
        V = kernels.layer_map("elu", V, sigma_w=sw)
        rec.append(empirical.q_rho(V))
    expected = np.array(rec) + np.stack([c["bias_q"], c["bias_rho"]], axis=1)
    z = (stats.mean(axis=0) - expected) / (np.stack([c["sd_q"], c["sd_rho"]], axis=1)
                                           / math.sqrt(S))
    assert np.max(np.abs(z)) <= st.norm.isf(ALPHA / (2 * z.size)), z


# ---------------------------------------------------------------------------
# one-step covariance
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gelu", "elu"])
def test_one_step_covariance_matches_simulation(name, sigma_star):
    """Monte Carlo of the exact conditional law: given layer l, the rows of layer l+1 are
    i.i.d. N(0, sigma_w^2 s(h)^T s(h)/N), so two steps of M = 2000 width-400 'networks'
    need only N x 2 draws. The six residual variances have relative sd sqrt(2/M) = 0.03
    and the leading-order covariance O(N^{-1/2}) ~ 0.05 corrections: 0.2 on the ratio;
    sample correlations (sd <= 1/sqrt(M) = 0.022) within 0.1, which also checks that
    consecutive steps are uncorrelated."""
    sw = sigma_star[name]
    s = activation_function(name)
    N, M = 400, 2000
    rng = np.random.default_rng(5)

    def rows(S):
        chol = np.linalg.cholesky(S)
        return np.einsum("mij,mnj->mni", chol, rng.standard_normal((S.shape[0], N, 2)))

    h = rows(np.broadcast_to(np.array([[1.0, RHO_IN], [RHO_IN, 1.0]]), (M, 2, 2)))
    V = []
    for layer in range(3):
        G = np.einsum("mni,mnj->mij", h, h) / N
        V.append(np.stack([G[:, 0, 0], G[:, 1, 1], G[:, 0, 1]], axis=-1))
        if layer < 2:
            post = s(h)
            h = rows(sw**2 * np.einsum("mni,mnj->mij", post, post) / N)
    V = np.stack(V, axis=1)
    e = (V[:, 1:] - kernels.layer_map(name, V[:, :-1], sigma_w=sw)).reshape(M, 6)
    empirical_cov = np.cov(e.T)
    trajectory = [np.array([1.0, 1.0, RHO_IN])]
    for _ in range(2):
        trajectory.append(kernels.layer_map(name, trajectory[-1], sigma_w=sw))
    predicted = finite_width.one_step_covariance(name, np.array(trajectory), sigma_w=sw,
                                                 width=N)
    assert np.diag(empirical_cov) / np.diag(predicted) == pytest.approx(np.ones(6), abs=0.2)
    de, dp = np.sqrt(np.diag(empirical_cov)), np.sqrt(np.diag(predicted))
    np.testing.assert_allclose(empirical_cov / np.outer(de, de), predicted / np.outer(dp, dp),
                               atol=0.1)


@pytest.mark.parametrize("name", ["gelu", "elu"])
def test_cross_layer_blocks_vanish(name):
    """Price's theorem makes consecutive residuals uncorrelated; the code builds those
    blocks from quadrature and finite differences, which must cancel (GELU: 64^2
    Gauss-Hermite exact to ~1e-7; ELU: ~1e-4 relative, see ROW_MOMENT_NODES)."""
    V = np.array([[1.0, 1.0, 0.2], [1.1, 0.9, 0.4], [1.3, 0.8, 0.5]])
    cov = finite_width.one_step_covariance(name, V, sigma_w=1.4, width=1)
    off = cov[0:3, 3:6]
    scale = np.sqrt(np.outer(np.diag(cov)[0:3], np.diag(cov)[3:6]))
    assert np.max(np.abs(off) / scale) < (1e-6 if name == "gelu" else 1e-3)


def test_identity_activation_leaves_only_wishart_noise():
    """s(x) = x: F(V) = sigma_w^2 V is linear and J hh^T = g exactly, so the residual is the
    Wishart noise of layer l+1 alone: Wick(V_{l+1})/N."""
    V = np.array([[1.0, 2.0, 0.3], [1.5, 1.2, -0.4]])
    cov = finite_width.one_step_covariance("identity", V, sigma_w=1.3, width=50)
    a, b, c = V[1]
    wick = np.array([[2 * a * a, 2 * c * c, 2 * a * c], [2 * c * c, 2 * b * b, 2 * b * c],
                     [2 * a * c, 2 * b * c, a * b + c * c]]) / 50
    np.testing.assert_allclose(cov, wick, rtol=1e-8, atol=1e-12)


def test_row_moment_quadrature_converges():
    """ROW_MOMENT_NODES = 64 against a 160-node rule: GELU ~1e-7, ELU ~1e-4 relative."""
    V = np.array([[1.0, 1.0, 0.5], [3.0, 0.5, 1.1]])
    for name, tol in (("gelu", 1e-6), ("elu", 5e-4)):
        coarse = finite_width.row_moment_covariance(name, V, 1.2)
        fine = finite_width.row_moment_covariance(name, V, 1.2, nodes=160)
        assert np.max(np.abs(coarse - fine)) / np.max(np.abs(fine)) < tol


# ---------------------------------------------------------------------------
# one-step residuals of simulated networks
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def networks(sigma_star):
    """Width 400, depth 6, 8 networks per activation (shared weights): n = 120 residuals."""
    return empirical.finite_network_covariances(sigma_star, width=400, depth=6, seeds=8,
                                                seed=7, rho_in=RHO_IN, input_dim=60)


def _chi2_band(n):
    return st.chi2.ppf(ALPHA / 2, n) / n, st.chi2.isf(ALPHA / 2, n) / n


@pytest.mark.parametrize("name", ["gelu", "elu"])
def test_whitened_residuals_are_standard_normal(networks, sigma_star, name):
    r = finite_width.one_step_residuals(name, networks[name], sigma_w=sigma_star[name],
                                        width=400)
    assert r["n"] == 8 * 5 * 3
    assert r["residual"].shape == r["sd"].shape == r["z"].shape == (8, 5, 3)
    assert r["whitened"].shape == (8, 15)
    np.testing.assert_array_equal(r["z"], r["residual"] / r["sd"])
    low, high = _chi2_band(r["n"])
    assert low <= np.mean(r["whitened"] ** 2) <= high
    assert np.max(np.abs(r["z"])) <= st.norm.isf(ALPHA / (2 * r["n"]))


@pytest.mark.parametrize("name", ["gelu", "elu"])
def test_wrong_layer_map_gives_large_residuals(networks, sigma_star, name):
    """ReLU's kernel, or sigma_w 10% too large (a ~20% bias in every entry, ~2 sd at width
    400), must push the mean whitened z^2 above the chi-square band (at width 2000, the
    claim's, the margin is 5x larger)."""
    high = _chi2_band(120)[1]
    relu = finite_width.one_step_residuals("relu", networks[name], sigma_w=sigma_star[name],
                                           width=400)
    assert np.mean(relu["whitened"] ** 2) > high
    off = finite_width.one_step_residuals(name, networks[name], sigma_w=1.1 * sigma_star[name],
                                          width=400)
    assert np.mean(off["whitened"] ** 2) > high


def test_bad_one_step_arguments():
    with pytest.raises(ValueError, match="shape"):
        finite_width.one_step_residuals("gelu", np.ones((3, 2)), sigma_w=1.5, width=100)
    with pytest.raises(ValueError, match="width"):
        finite_width.one_step_residuals("gelu", np.ones((1, 3, 3)) * [1, 1, 0.5], sigma_w=1.5,
                                        width=0)
    with pytest.raises(ValueError, match="rho"):
        finite_width.one_step_residuals("gelu", np.ones((1, 3, 3)), sigma_w=1.5, width=100)
    with pytest.raises(ValueError, match="closed-form"):
        finite_width.one_step_residuals("tanh", np.ones((1, 3, 3)) * [1, 1, 0.5], sigma_w=1.5,
                                        width=100)
    with pytest.raises(ValueError, match=r"layers >= 2"):
        finite_width.one_step_covariance("gelu", np.ones((1, 3)), sigma_w=1.5, width=100)
    with pytest.raises(ValueError, match="q11, q22 > 0"):
        finite_width.row_moment_covariance("gelu", np.array([0.0, 1.0, 0.0]), 1.5)
    with pytest.raises(ValueError, match=r"rho0 must lie in \[-1, 1\]"):
        finite_width.moment_closure("gelu", 1.5, width=10, depth=2, rho0=1.5)
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        finite_width.moment_closure("gelu", 1.5, width=10, depth=0, rho0=0.2)
    with pytest.raises(ValueError, match="sigma_w must be > 0"):
        finite_width.moment_closure("gelu", 0.0, width=10, depth=2, rho0=0.2)
