"""numerics.mean_field against theory.odes.mean_field and finite differences."""

import numpy as np
import pytest
import sympy as sp

from numerics import mean_field as mf
from theory.odes import mean_field as tmf


def _problem(n=12, d=3, N=7, seed=0):
    rng = np.random.default_rng(seed)
    X = mf.augment(rng.standard_normal((n, d)))
    return rng, X, X[:, 0] * X[:, 1], rng.standard_normal((N, d + 1))


def test_symbolic_ridge_reduction_and_first_variation():
    out = tmf.ridge_reduction(2)
    assert out["stationary"] and out["equal"]
    assert tmf.first_variation_check(2)["equal"]


def test_symbolic_label_noise_expectations():
    out = tmf.label_noise_expectations(2)
    assert out["naive_minus"] == 0 and out["refit_minus"] == 0
    assert out["refit_closed_form"] == 0
    assert tmf.expected_label_noise_objective("refit") == 1
    assert tmf.expected_label_noise_objective("naive") == -1
    with pytest.raises(ValueError):
        tmf.expected_label_noise_objective("other")


def test_objective_matches_sympy_lambdified():
    rng, X, y, W = _problem(n=3)
    Ks = tmf.symbolic_kernel(3)
    ys = sp.Matrix(sp.symbols("y_0:3", real=True))
    G = tmf.objective_expression(Ks, ys)
    K = mf.feature_kernel(W, X)
    subs = {Ks[i, j]: K[i, j] for i in range(3) for j in range(3)}
    subs.update({ys[i]: y[i] for i in range(3)})
    subs[tmf.lam_a] = 0.3
    assert float(G.subs(subs)) == pytest.approx(float(mf.objective(W, X, y, 0.3)), rel=1e-12)


def _fd(fun, W, h=1e-6):
    out = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        out[idx] = (fun(Wp) - fun(Wm)) / (2 * h)
    return out


@pytest.mark.parametrize("procedure", [None, "refit", "naive"])
def test_particle_drift_is_N_times_gradient(procedure):
    rng, X, y, W = _problem()
    eps = None if procedure is None else rng.uniform(-1, 1, size=y.shape)
    drift, G = mf.particle_drift(W, X, y, 0.25, 0.1, eps, procedure or "refit")
    if procedure is None:
        fun = lambda V: mf.regularized_objective(V, X, y, 0.25, 0.1)  # noqa: E731
    else:
        fun = lambda V: (mf.label_noise_objective(V, X, y, eps, 0.25, procedure)  # noqa: E731
                         + 0.1 * np.mean(np.sum(V**2, axis=-1)))
    assert np.max(np.abs(W.shape[0] * _fd(fun, W) - drift)) < 1e-6 * np.max(np.abs(drift))
    assert G == pytest.approx(float(mf.objective(W, X, y, 0.25)), rel=1e-12)


def test_first_variation_is_directional_derivative():
    rng, X, y, W = _problem()
    w = rng.standard_normal((1, W.shape[1]))
    t = 1e-5  # mixture (1 - t) mu + t delta_w, G'(0) = dG/dmu(w) - E_mu dG/dmu
    N = W.shape[0]
    K0, Kw = mf.feature_kernel(W, X), mf.feature_kernel(w, X)

    def G_mix(s):
        K = (1 - s) * K0 + s * Kw
        return 0.25 * y @ np.linalg.solve(K + len(y) * 0.25 * np.eye(len(y)), y)

    fd = (G_mix(t) - G_mix(-t)) / (2 * t)
    fv = mf.first_variation(np.vstack([w, W]), W, X, y, 0.25)
    assert fd == pytest.approx(fv[0] - fv[1:].mean(), rel=1e-6)
    assert N == len(fv) - 1


def test_batched_replicas_match_single():
    rng, X, y, W = _problem()
    Wb = np.stack([W, 2 * W])
    d, G = mf.particle_drift(Wb, X, y, 0.25, 0.1)
    d1, G1 = mf.particle_drift(2 * W, X, y, 0.25, 0.1)
    assert np.allclose(d[1], d1) and G[1] == pytest.approx(G1)


def test_degrees_of_freedom_and_alignment():
    rng, X, y, W = _problem()
    K = mf.feature_kernel(W, X)
    n = len(y)
    df = np.trace(K @ np.linalg.inv(K + n * 0.25 * np.eye(n)))
    assert mf.degrees_of_freedom(K, 0.25) == pytest.approx(df, rel=1e-12)
    assert mf.alignment(np.outer(y, y), y) == pytest.approx(1.0)
    assert 0 < mf.alignment(K, y) < 1


def test_label_noise_monte_carlo_sign_and_size():
    rng, X, y, W = _problem(n=10)
    K = mf.feature_kernel(W, X)
    s, lam = 1.0, 0.25
    n = len(y)
    df, G = mf.degrees_of_freedom(K, lam), mf.objective(W, X, y, lam)
    eps = rng.uniform(-s, s, size=(40000, n))
    for proc, sign, const in (("refit", 1, -s**2 / 3), ("naive", -1, s**2 / 3)):
        vals = mf.label_noise_objective(W, X, y, eps, lam, proc)
        expected = G + sign * s**2 / 3 * df / n + const
        assert abs(vals.mean() - expected) < 4 * vals.std() / np.sqrt(len(vals))


def test_langevin_records_and_decreases():
    rng, X, y, W = _problem(n=20, N=32)
    r = mf.langevin(np.stack([W, W]), X, y, lam_a=0.25, lam_w=0.01, temperature=1e-4,
                    eta=0.5, steps=200, rng=rng, record_every=50)
    assert list(r.steps) == [0, 50, 100, 150, 200]
    assert r.G.shape == (5, 2) and r.time_average.shape == (2,)
    assert np.all(r.regularized[-1] < r.regularized[0])
    with pytest.raises(ValueError):
        mf.langevin(W, X, y, lam_a=0.25, lam_w=0.01, temperature=0.0, eta=-1, steps=5,
                    rng=rng)


def test_langevin_label_noise_runs_and_uses_rng():
    rng, X, y, W = _problem(n=20, N=16)
    a = mf.langevin(W, X, y, lam_a=0.25, lam_w=0.01, temperature=1e-3, eta=0.2, steps=20,
                    rng=np.random.default_rng(1), label_noise=0.5)
    b = mf.langevin(W, X, y, lam_a=0.25, lam_w=0.01, temperature=1e-3, eta=0.2, steps=20,
                    rng=np.random.default_rng(1), label_noise=0.5)
    assert np.array_equal(a.W, b.W)


def test_coupled_langevin_finest_level_equals_plain_run_without_noise():
    rng, X, y, W = _problem(n=20, N=16)
    out = mf.coupled_langevin(W, X, y, lam_a=0.25, lam_w=0.01, temperature=0.0, eta=0.4,
                              levels=2, time=4.0, rng=rng, burn_in_time=2.0,
                              observable="regularized")
    plain = mf.langevin(W, X, y, lam_a=0.25, lam_w=0.01, temperature=0.0, eta=0.2, steps=20,
                        rng=rng, burn_in=9)
    # plain averages steps 10..20 (11 points, incl. the last); coupled averages steps 10..19
    assert out.shape == (2,)
    assert abs(out[1] - plain.time_average) < 1e-2 * abs(out[1])


def test_ridge_predict_matches_predict():
    rng, X, y, W = _problem()
    Z = mf.augment(rng.standard_normal((5, X.shape[1] - 1)))
    K, Kz = mf.feature_kernel(W, X), mf.feature_kernel(W, Z, X)
    assert np.allclose(mf.ridge_predict(K, Kz, y, 0.1), mf.predict(W, X, y, Z, 0.1))


def test_particle_drift_derived_in_sympy_matches_numerics():
    w, Xs, ys, Ks, drift, formula = tmf.particle_drift_expression(2, 2)
    assert all(sp.simplify(a - b) == 0 for a, b in zip(drift, formula, strict=True))
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((2, 2)), rng.standard_normal(2)
    W = rng.standard_normal((5, 2))
    K = mf.feature_kernel(W, X)
    probe = rng.standard_normal(2)
    subs = {Ks[i, j]: K[i, j] for i in range(2) for j in range(2)}
    subs.update({ys[j]: y[j] for j in range(2)})
    subs.update({Xs[j, p]: X[j, p] for j in range(2) for p in range(2)})
    subs.update({w[p]: probe[p] for p in range(2)})
    subs[tmf.lam_a] = 0.3
    fn = sp.lambdify([], drift.subs(subs), "numpy")
    # SymPy's gradient of dG/dmu at a probe point, for the kernel of W held fixed, against
    # finite differences of numerics.first_variation (particle_drift uses the same closed
    # form; test_particle_drift_is_N_times_gradient checks it against G itself)
    h = 1e-6
    fd = [(mf.first_variation((probe + h * e)[None], W, X, y, 0.3)[0]
           - mf.first_variation((probe - h * e)[None], W, X, y, 0.3)[0]) / (2 * h)
          for e in np.eye(2)]
    assert np.allclose(np.asarray(fn(), dtype=float).ravel(), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("lam", [0.25, 0.01])
def test_ridge_solve_matches_direct_within_its_error_bound(lam):
    rng, X, y, W = _problem(n=60, d=4, N=90)
    H = mf.features(W, X)
    K = H @ H.T / W.shape[0]
    n = len(y)
    rhs = np.stack([y, rng.uniform(-1, 1, n)], axis=-1)
    direct = np.linalg.solve(K + n * lam * np.eye(n), rhs)
    ev = np.linalg.eigvalsh(K + n * lam * np.eye(n))
    kappa = ev[-1] / ev[0]
    assert kappa <= 1 + 1 / lam  # the bound CG_RTOL's comment uses
    x, it = mf.ridge_solve(H, rhs, lam)
    # |x - x*| / |x*| <= kappa |r| / |b| <= kappa rtol (plus the direct solve's rounding)
    err = np.linalg.norm(x - direct, axis=0) / np.linalg.norm(direct, axis=0)
    assert np.all(err <= kappa * (mf.CG_RTOL + n * 1e-15))
    assert 0 < it <= n
    # a warm start at the solution stops at once; a good guess needs fewer iterations
    assert mf.ridge_solve(H, rhs, lam, guess=direct)[1] == 0
    near = direct * (1 + 1e-3 * rng.standard_normal(direct.shape))
    assert mf.ridge_solve(H, rhs, lam, guess=near)[1] < it


def test_ridge_solve_refuses_bad_input_and_reports_non_convergence():
    rng, X, y, W = _problem(n=40, N=50)
    H = mf.features(W, X)
    with pytest.raises(ValueError, match="rhs"):
        mf.ridge_solve(H, y, 0.1)  # needs (n, k)
    with pytest.raises(ValueError, match="lam_a"):
        mf.ridge_solve(H, y[:, None], 0.0)
    with pytest.raises(ArithmeticError):
        mf.ridge_solve(H, y[:, None], 1e-4, max_iter=2)


@pytest.mark.parametrize("procedure", [None, "refit", "naive"])
def test_cg_drift_matches_direct(procedure):
    rng, X, y, W = _problem(n=30, N=40)
    eps = None if procedure is None else rng.uniform(-1, 1, size=y.shape)
    args = (W, X, y, 0.05, 0.1, eps, procedure or "refit")
    d_direct, G_direct = mf.particle_drift(*args, solver="direct")
    d_cg, G_cg = mf.particle_drift(*args, solver="cg")
    # kappa <= 1 + 1/lam_a = 21 times CG_RTOL, relative to the drift's scale
    assert np.max(np.abs(d_cg - d_direct)) <= 21 * 1e-8 * np.max(np.abs(d_direct))
    assert G_cg == pytest.approx(G_direct, rel=21e-8)
    with pytest.raises(ValueError, match="solver"):
        mf.particle_drift(*args, solver="lu")


def test_langevin_cg_and_direct_agree():
    rng, X, y, W = _problem(n=30, N=40)
    kw = dict(lam_a=0.05, lam_w=0.1, temperature=1e-3, eta=0.2, steps=50, label_noise=0.5,
              record_every=10)
    a = mf.langevin(W, X, y, rng=np.random.default_rng(1), solver="direct", **kw)
    b = mf.langevin(W, X, y, rng=np.random.default_rng(1), solver="cg", **kw)
    # same noise; 50 steps of a contraction-free map amplify the 2e-7 per-step error little
    assert np.max(np.abs(a.W - b.W)) < 1e-5 * np.max(np.abs(a.W))
    assert np.allclose(a.df, b.df, rtol=1e-5)
    with pytest.raises(ValueError, match="solver"):
        mf.langevin(W, X, y, rng=rng, solver="lu", **kw)


# --- the weak-kernel learning threshold (why the paper's lambda_a = 0.25 cannot learn here)


def test_symbolic_weak_kernel_first_variation():
    for size in (1, 2, 3):
        assert tmf.first_variation_weak_kernel(size)["equal"]


def test_weak_kernel_first_variation_is_the_small_kernel_limit_numerically():
    # with c = n lam_a, |h^T (K + c)^-1 y - h^T y / c| <= |h||y| lambda_max(K) / c^2 and
    # |h^T (K + c)^-1 y + h^T y / c| <= 2 |h||y| / c, so the first variation differs from
    # -m^2 / lam_a by at most 2 lam_a |h|^2 |y|^2 lambda_max / c^3 (a weak kernel: tiny)
    rng, X, y, W = _problem(n=40, N=9)
    lam_a, w = 0.3, rng.standard_normal((5, W.shape[1]))
    Ws = 1e-3 * W  # tanh nearly linear and small: lambda_max(K) ~ 1e-4 << c = 12
    c = len(y) * lam_a
    exact = mf.first_variation(w, Ws, X, y, lam_a)
    h = mf.features(w, X)  # (n, 5)
    m = h.T @ y / len(y)
    lam_max = np.linalg.eigvalsh(mf.feature_kernel(Ws, X))[-1]
    bound = 2 * lam_a * np.sum(h * h, axis=0) * (y @ y) * lam_max / c**3
    assert np.all(np.abs(exact + m**2 / lam_a) <= bound)
    assert np.all(bound < 1e-3 * np.abs(exact).max())  # the limit is approached


@pytest.mark.parametrize("point", [(0.3, -0.2, 0.5), (0.671, -0.671, 0.892), (1.5, 0.8, -0.4),
                                   (2.5, -1.0, 1.2)])
def test_x1x2_correlation_against_monte_carlo(point):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 400_000))
    v = np.tanh(point[0] * x[0] + point[1] * x[1] + point[2]) * x[0] * x[1]
    z = (v.mean() - mf.x1x2_correlation(*point)) / (v.std(ddof=1) / np.sqrt(v.size))
    assert abs(z) < 4.5  # 8 tests x two-sided normal tail: family error < 1e-4


def test_x1x2_correlation_rules_agree_where_both_apply(monkeypatch):
    # the same points through Gauss-Hermite and through the trapezoid rule (moving the
    # switch) near the switch, 0.14 <= s <= 0.35, where both are accurate to ~1e-15
    # (GH_MAX_SCALE's comment): independent rules
    rng = np.random.default_rng(1)
    w1, w2, b = rng.uniform(0.1, 0.25, 50), rng.uniform(0.1, 0.25, 50), rng.uniform(-2, 2, 50)
    monkeypatch.setattr(mf, "GH_MAX_SCALE", 10.0)
    gauss_hermite = mf.x1x2_correlation(w1, w2, b, order=120)
    monkeypatch.setattr(mf, "GH_MAX_SCALE", 0.0)
    trapezoid = mf.x1x2_correlation(w1, w2, b)
    assert np.max(np.abs(gauss_hermite - trapezoid)) < 1e-13


def test_x1x2_correlation_vanishes_without_bias_or_second_weight():
    # odd feature (b = 0) and a feature of x1 alone are orthogonal to x1 x2
    assert np.allclose(mf.x1x2_correlation([0.5, 2.0], [1.0, -3.0], 0.0), 0.0, atol=1e-15)
    assert np.allclose(mf.x1x2_correlation([0.5, 2.0], 0.0, 0.7), 0.0, atol=1e-15)


def test_ridge_threshold_is_the_maximum_and_scales_with_lam_w():
    lam_star, w = mf.ridge_threshold(0.25)
    ratio = mf.x1x2_correlation(*w) ** 2 / (0.25 * w @ w)
    assert abs(ratio - lam_star) <= 1e-12 * lam_star
    # no random point (other weights split, other signs) beats it
    rng = np.random.default_rng(3)
    P = rng.uniform(-4, 4, (20000, 3))
    others = mf.x1x2_correlation(*P.T) ** 2 / (0.25 * np.sum(P * P, axis=1))
    assert others.max() <= lam_star * (1 + 1e-9)
    # lam_a* = max m^2 / (lam_w |w|^2) is exactly 1 / lam_w times the ratio's maximum
    assert abs(mf.ridge_threshold(0.125)[0] - 2 * lam_star) <= 1e-9 * lam_star
    # the paper's lam_a = 0.25 (with lam_w = 0.25) is above it: no learning from a weak
    # kernel in this reconstruction (papers/002_takakura_suzuki.md and
    # papers/002_takakura_suzuki_sources.md)
    assert lam_star < 0.25


def test_ridge_threshold_rejects_bad_input():
    with pytest.raises(ValueError, match="lam_w"):
        mf.ridge_threshold(0.0)
    with pytest.raises(ValueError, match="order"):
        mf.x1x2_correlation(1.0, 1.0, 0.0, order=1)
