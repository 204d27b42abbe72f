"""Tests for claim B3 (verify/bmz_b3.py) and its library pieces: the network's exact
population risk against Monte Carlo, one online-SGD step by hand, the noise-free
(population-gradient) control against the mean of large-batch SGD; the claim PASSes at
reduced size and FAILs when the ODE drops the finite-m self-interaction."""

from __future__ import annotations

import numpy as np
import pytest

from numerics import networks
from numerics import single_index as S
from theory.activations import get
from verify import bmz_b3 as B


def test_network_risk_against_monte_carlo():
    rng = np.random.default_rng(0)
    m, d = 5, 30
    a = rng.standard_normal(m)
    U = rng.standard_normal((m, d))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    u_star = np.zeros(d)
    u_star[0] = 1
    U[0] = 0.6 * u_star + 0.8 * np.eye(d)[1]  # one row with overlap 0.6
    exact = S.network_risk(a, U, u_star, "elu", (0.1, 1, 0.5, 0.25))
    X = rng.standard_normal((400_000, d))
    from numerics.compile import activation_function

    s = activation_function(get("elu"))
    z = X[:, 0]
    y = 0.1 + z + 0.5 * (z**2 - 1) / np.sqrt(2) + 0.25 * (z**3 - 3 * z) / np.sqrt(6)
    loss = 0.5 * (y - s(X @ U.T) @ a / m) ** 2
    assert abs(loss.mean() - exact) < 4 * loss.std() / np.sqrt(loss.size)


def test_online_sgd_single_index_one_step():
    rng = np.random.default_rng(2)
    d, m = 10, 3
    a0 = rng.standard_normal((1, m))
    U0 = rng.standard_normal((1, m, d))
    U0 /= np.linalg.norm(U0, axis=2, keepdims=True)
    u_star = np.eye(d)[0]
    rec, A, U = networks.online_sgd_single_index(a0, U0, u_star, "relu", (0, 1), lr_a=0.1,
                                                 lr_u=0.2, steps=1, rng=np.random.default_rng(5))
    x = np.random.default_rng(5).standard_normal((1, 1, d))[0, 0]
    pre = U0[0] @ x
    delta = x[0] - np.maximum(pre, 0) @ a0[0] / m
    u = U0[0] + 0.2 * (delta * (pre > 0) * a0[0])[:, None] * x
    assert np.allclose(U[-1, 0], u / np.linalg.norm(u, axis=1, keepdims=True))
    assert np.allclose(A[-1, 0], a0[0] + 0.1 * delta * np.maximum(pre, 0))
    assert list(rec) == [0, 1]
    with pytest.raises(ValueError, match="need a0"):
        networks.online_sgd_single_index(a0[0], U0, u_star, "relu", (0, 1), lr_a=0.1,
                                         lr_u=0.1, steps=1, rng=rng)


FAST = dict(dims=(100, 200, 400), seeds=3)


@pytest.fixture(scope="module")
def quick_result():
    return B.compute("quick", **FAST)


def test_reduced_passes(quick_result):
    r = quick_result
    assert r.passed, r.summary
    assert r.measured["gap_slope_vs_d"] < -0.4
    assert r.figure is not None


def test_dropped_finite_m_term_fails():
    r = B.compute("quick", drop_finite_m=True, **FAST)
    assert not r.passed
    for d in FAST["dims"]:  # the noise-free network sits well above the mean-field ODE
        assert r.tolerance[f"noise_free_below_ode_d{d}"]["passed"] is False
    assert r.tolerance["gap_slope"]["passed"] is True  # the slope alone cannot see it


def test_population_gd_is_the_mean_of_sgd():
    """Three steps of the noise-free flow = the seed mean of SGD with a huge batch (its
    noise, about lr sqrt(3 / (b S)) per coordinate, is the tolerance)."""
    rng = np.random.default_rng(1)
    d, m, batch, reps = 30, 6, 100_000, 4
    a0 = rng.standard_normal((1, m))
    U0 = rng.standard_normal((1, m, d))
    U0 /= np.linalg.norm(U0, axis=2, keepdims=True)
    u_star = np.eye(d)[0]
    U0[0, 0] = 0.6 * u_star + 0.8 * np.eye(d)[1]
    target, kw = (0.0, 1.0, 0.5), dict(lr_a=0.05, lr_u=0.02, steps=3)
    _, A, R, G = S.population_gd_single_index(a0, U0, u_star, "elu", target, **kw)
    runs = [networks.online_sgd_single_index(a0, U0, u_star, "elu", target, batch=batch,
                                             rng=np.random.default_rng(k), **kw)
            for k in range(reps)]
    a_sgd = np.mean([A_[-1] for _, A_, _ in runs], axis=0)
    r_sgd = np.mean([U_[-1] @ u_star for _, _, U_ in runs], axis=0)
    tol = 4 * 0.05 * np.sqrt(3 / (batch * reps)) * 3  # 4 sigma, |delta sigma| up to ~3
    assert np.abs(A[-1] - a_sgd).max() < tol < 0.1 * np.abs(A[-1] - a0).max()
    assert np.abs(R[-1] - r_sgd).max() < tol < np.abs(R[-1] - R[0]).max()
    assert np.allclose(np.diagonal(G[-1], axis1=1, axis2=2), 1.0)
    # the risk from (a, r, G) is the network's risk
    U = runs[0][2][-1]
    assert np.isclose(S.gram_risk(runs[0][1][-1], U @ u_star, U @ U.transpose(0, 2, 1), "elu",
                                  target), S.network_risk(runs[0][1][-1], U, u_star, "elu",
                                                          target)).all()
    with pytest.raises(ValueError, match="need a0"):
        S.population_gd_single_index(a0[0], U0, u_star, "elu", target, **kw)
    with pytest.raises(ValueError, match="steps"):
        S.population_gd_single_index(a0, U0, u_star, "elu", target, lr_a=0.1, lr_u=0.1,
                                     steps=0)


def test_series_and_derivative():
    x = np.linspace(-1, 1, 7)
    coef = np.array([0.3, -1.0, 2.0, 0.5])
    p, dp = S._series_and_derivative(coef, x)
    poly = np.polynomial.Polynomial(coef)
    assert np.allclose(p, poly(x)) and np.allclose(dp, poly.deriv()(x))


def test_bad_overrides():
    with pytest.raises(ValueError, match="two dimensions"):
        B.compute("quick", dims=(100,))
    with pytest.raises(ValueError, match="noise_free_seeds"):
        B.compute("quick", dims=(100, 200), seeds=2, noise_free_seeds=3)


@pytest.mark.slow
def test_full_passes():
    r = B.compute("full")
    assert r.passed, r.summary


def test_hermite_coefficients_cached_on_disk(tmp_path, monkeypatch):
    from numerics import codecache
    from theory.gaussian import hermite_coefficients

    monkeypatch.setenv("NNTHEORY_CACHE_DIR", str(tmp_path))
    codecache.cache_dir.cache_clear()
    codecache._LOADED.clear()
    S._coefficients.cache_clear()
    try:
        act = get("elu")
        first = S._coefficients(act, 3)
        assert first == tuple(float(c) for c in hermite_coefficients(act, 3))
        S._coefficients.cache_clear()
        codecache._LOADED.clear()
        monkeypatch.setattr(S, "hermite_coefficients", None)  # a hit must not integrate
        assert S._coefficients(act, 3) == first
        assert len(list(tmp_path.glob("_nntheory_hermite_*.py"))) == 1
    finally:
        codecache.cache_dir.cache_clear()
        codecache._LOADED.clear()
        S._coefficients.cache_clear()
