"""Training options of numerics.networks added for papers 001 and 003: gradient clipping
by global norm, batches drawn with replacement, per-sample weights, the loss Hessian and
the step 1/lambda_max, per-side affine fits, and the vectorized ensemble trainer."""

import math

import mpmath
import numpy as np
import pytest

from numerics.networks import (
    Network,
    flatten_params,
    global_norm,
    group_lasso,
    group_soft_threshold,
    inverse_sharpness_lr,
    loss_and_gradient,
    loss_hessian,
    per_side_affine_fit,
    top_hessian_eigenvalue,
    train,
    train_ensemble,
    two_layer_hessian_operator,
    two_layer_net,
    unflatten_params,
)
from numerics.precision import float32_normal

X1 = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])[:, None]  # paper 003's data
Y1 = np.array([-1.0, 2.0, -1.0, 1.0, -2.0, 1.0])


def he_relu(width, **kw):
    """Paper 003's net f(x) = c + sum_i w_i relu(a_i x + b_i), He init, zero biases."""
    return Network(1, (width,), "relu", parameterization="standard", sigma_w=math.sqrt(2),
                   sigma_b=0, bias=True, **kw)


def deep_linear():
    """Paper 001's net 15 -> 15 -> 15 -> 15 -> 1, no biases, He-normal init."""
    return Network(15, (15, 15, 15), "identity", parameterization="standard",
                   sigma_w=math.sqrt(2))


@pytest.fixture(scope="module")
def small():
    X = float32_normal(3, (12, 4))
    y = np.sin(X[:, 0]) + X[:, 1]
    net = two_layer_net(4, 6, "tanh", bias=True, sigma_b=0.3)
    return net, net.init(1), X, y


# --- the nets of the two papers are expressible -----------------------------------


def test_paper_003_he_init():
    net = he_relu(4000)
    p = net.init(0)
    assert np.all(p["b1"] == 0) and np.all(p["c"] == 0)
    assert np.var(p["W1"]) == pytest.approx(2.0, rel=0.1)  # a_i ~ N(0, 2)
    assert np.var(p["a"]) * 4000 == pytest.approx(2.0, rel=0.1)  # w_i ~ N(0, 2/n)
    swapped = Network(1, (4000,), "relu", parameterization="standard",
                      sigma_w=math.sqrt(2 / 4000), readout_std=math.sqrt(2), bias=True)
    q = swapped.init(0)
    assert np.var(q["W1"]) * 4000 == pytest.approx(2.0, rel=0.1)
    assert np.var(q["a"]) == pytest.approx(2.0, rel=0.1)
    # f(x) = c + sum_i w_i relu(a_i x + b_i)
    x = np.array([[-2.0], [0.5]])
    from numerics.networks import forward

    f = forward(net, p, x)[:, 0]
    direct = np.maximum(p["W1"][:, 0][None, :] * x + p["b1"][:, 0], 0) @ p["a"][0]
    np.testing.assert_allclose(f, direct, rtol=1e-12)


def test_paper_001_irrelevant_norm_at_init():
    # ||W1[:, 5:]||_F^2 has mean 150 * 2/15 = 20: about 4.47 (SETUPS.md, paper 001)
    net = deep_linear()
    norms = [np.linalg.norm(net.init(s)["W1"][:, 5:]) for s in range(200)]
    assert np.mean(np.square(norms)) == pytest.approx(20.0, rel=0.03)


# --- clipping ------------------------------------------------------------------------


def test_clip_norm_large_is_bit_identical(small):
    net, p, X, y = small
    a = train(net, p, X, y, lr=0.1, steps=20, record=5)
    b = train(net, p, X, y, lr=0.1, steps=20, record=5, clip_norm=1e9)
    assert all(np.array_equal(a.flat(i), b.flat(i)) for i in range(len(a.params)))


def test_clip_norm_rescales_global_norm(small):
    net, p, X, y = small
    _, g = loss_and_gradient(net, p, X, y)
    norm = global_norm(g)
    c = norm / 3
    t = train(net, p, X, y, lr=0.1, steps=1, clip_norm=c)
    expected = flatten_params(net, p) - 0.1 * flatten_params(net, g) * (c / norm)
    np.testing.assert_allclose(t.flat(-1), expected, rtol=1e-14, atol=1e-16)
    # weight decay is added after clipping (as torch.optim.SGD after clip_grad_norm_)
    t = train(net, p, X, y, lr=0.1, steps=1, clip_norm=c, weight_decay=0.5)
    theta = flatten_params(net, p)
    expected = theta - 0.1 * (flatten_params(net, g) * (c / norm) + 0.5 * theta)
    np.testing.assert_allclose(t.flat(-1), expected, rtol=1e-14, atol=1e-16)


def test_clip_norm_frozen_groups_excluded(small):
    net, p, X, y = small
    _, g = loss_and_gradient(net, p, X, y)
    trained = {k: v for k, v in g.items() if k != "a"}
    c = global_norm(trained) / 2
    t = train(net, p, X, y, lr=0.1, steps=1, clip_norm=c, frozen=("a",))
    np.testing.assert_allclose(t.final_params["W1"], p["W1"] - 0.1 * g["W1"] / 2, rtol=1e-14)
    assert np.array_equal(t.final_params["a"], p["a"])


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_clip_norm_invalid(small, bad):
    net, p, X, y = small
    with pytest.raises(ValueError, match="clip_norm"):
        train(net, p, X, y, lr=0.1, steps=1, clip_norm=bad)


# --- batches with replacement ------------------------------------------------------


def test_batches_with_replacement_follow_the_seed(small):
    net, p, X, y = small
    b = 20  # more than n = 12: allowed with replacement
    t = train(net, p, X, y, lr=0.05, steps=1, method="sgd", batch_size=b, replace=True, seed=7)
    rng = np.random.default_rng(np.random.SeedSequence(7).spawn(3)[0])
    idx = np.sort(rng.choice(X.shape[0], size=b, replace=True))
    assert len(set(idx)) < b  # duplicates occur
    _, g = loss_and_gradient(net, p, X[idx], y[idx])
    np.testing.assert_allclose(t.flat(-1), flatten_params(net, p) - 0.05 * flatten_params(
        net, g), rtol=1e-14, atol=1e-16)
    with pytest.raises(ValueError, match="batch_size"):
        train(net, p, X, y, lr=0.05, steps=1, method="sgd", batch_size=b)


def test_without_replacement_unchanged(small):
    net, p, X, y = small
    a = train(net, p, X, y, lr=0.05, steps=10, method="sgd", batch_size=4, seed=3, record=1)
    b = train(net, p, X, y, lr=0.05, steps=10, method="sgd", batch_size=4, seed=3, record=1,
              replace=False)
    assert all(np.array_equal(a.flat(i), b.flat(i)) for i in range(len(a.params)))


# --- per-sample weights ------------------------------------------------------------


def test_uniform_weights_equal_default(small):
    net, p, X, y = small
    n = X.shape[0]
    l0, g0 = loss_and_gradient(net, p, X, y)
    l1, g1 = loss_and_gradient(net, p, X, y, sample_weights=np.full(n, 1 / n))
    assert float(l1) == pytest.approx(float(l0), rel=1e-14)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-13, atol=1e-17)


def test_integer_weights_equal_duplicated_data(small):
    net, p, X, y = small
    counts = np.array([3, 1, 0, 2, 1, 1, 1, 1, 1, 2, 1, 1])
    Xd, yd = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    w = counts / counts.sum()
    a = train(net, p, X, y, lr=0.2, steps=30, record=10, sample_weights=w)
    b = train(net, p, Xd, yd, lr=0.2, steps=30, record=10)
    np.testing.assert_allclose(a.flat(-1), b.flat(-1), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12)


def test_weighted_sgd_draws_by_weight(small):
    net, p, X, y = small
    w = np.zeros(X.shape[0])
    w[4] = 0.5  # all mass on one sample: every batch is that sample
    sgd = train(net, p, X, y, lr=0.1, steps=15, method="sgd", batch_size=3, replace=True,
                sample_weights=w, seed=1, record=5)
    gd = train(net, p, X, y, lr=0.1, steps=15, sample_weights=w, record=5)
    np.testing.assert_allclose(sgd.flat(-1), gd.flat(-1), rtol=1e-13, atol=1e-16)
    with pytest.raises(ValueError, match="replace=True"):
        train(net, p, X, y, lr=0.1, steps=1, method="sgd", batch_size=3, sample_weights=w)


@pytest.mark.parametrize("bad", [np.ones(3), -np.ones(12), np.zeros(12),
                                 np.full(12, np.nan)])
def test_bad_weights(small, bad):
    net, p, X, y = small
    with pytest.raises(ValueError, match="sample_weights"):
        train(net, p, X, y, lr=0.1, steps=1, sample_weights=bad)


# --- Hessian and 1/lambda_max -------------------------------------------------------


def test_hessian_of_scalar_product_model():
    # f = a w x (identity, width 1, no bias): L = 1/(2n) sum (a w x - y)^2
    net = Network(1, (1,), "identity", parameterization="standard")
    x = np.array([0.5, -1.0, 2.0])
    y = np.array([1.0, 0.25, -0.5])
    p = {"W1": np.array([[0.75]]), "a": np.array([[-1.25]])}
    w, a = 0.75, -1.25
    sxx, sxy, n = x @ x, x @ y, 3
    expected = np.array([[a * a * sxx, 2 * a * w * sxx - sxy],
                         [2 * a * w * sxx - sxy, w * w * sxx]]) / n
    np.testing.assert_allclose(loss_hessian(net, p, x[:, None], y), expected, rtol=1e-8)


def test_hessian_vectorized_equals_loop(small):
    net, p, X, y = small
    H = loss_hessian(net, p, X, y)
    assert np.allclose(H, H.T)
    # the generic loop serves several outputs: compare it on the same net via the theta map
    theta = flatten_params(net, p)
    v = np.random.default_rng(0).standard_normal(theta.size)
    h = 1e-5
    g = [flatten_params(net, loss_and_gradient(net, unflatten_params(net, theta + s * h * v),
                                               X, y)[1]) for s in (1, -1)]
    np.testing.assert_allclose(H @ v, (g[0] - g[1]) / (2 * h), rtol=1e-6, atol=1e-9)


def test_gd_at_inverse_sharpness_is_stable_and_twice_beyond_diverges():
    # a linear model: the Hessian is constant, GD is stable iff lr < 2/lambda_max
    net = Network(3, (1,), "identity", parameterization="standard")
    X = float32_normal(5, (30, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    p = net.init(2)
    p["a"] = np.array([[1.0]])
    lr = inverse_sharpness_lr(net, p, X, y)
    lam_w = np.linalg.eigvalsh(X.T @ X / 30)[-1]  # W1-block of the Hessian with a = 1 frozen
    stable = train(net, p, X, y, lr=1.9 / lam_w, steps=200, frozen=("a",))
    assert stable.loss[-1] < 1e-6
    unstable = train(net, p, X, y, lr=2.1 / lam_w, steps=400, frozen=("a",),
                     on_divergence="stop")
    assert unstable.loss[-1] > unstable.loss[0]
    assert lr == pytest.approx(1 / top_hessian_eigenvalue(net, p, X, y))
    assert 0 < lr < 1.0 / lam_w * 1.001  # the full Hessian has the W1 block as a minor


def test_weighted_hessian_paper_003():
    net = he_relu(8)
    p = net.init(4)
    w = np.array([1, 2, 3, 4, 5, 6]) / 21
    H = loss_hessian(net, p, X1, Y1, sample_weights=w)
    Hd = loss_hessian(net, p, np.repeat(X1, [1, 2, 3, 4, 5, 6], axis=0),
                      np.repeat(Y1, [1, 2, 3, 4, 5, 6]))
    np.testing.assert_allclose(H, Hd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", ["he", "random_bias_leaky_ntk", "no_bias_3d"])
def test_two_layer_hessian_operator_equals_dense_hessian(case):
    # the dense Hessian is central differences of the analytic gradient, exact for ReLU up
    # to round-off (no pre-activation within 1e-5 of a kink here): 1e-9 relative is ~1e3 x
    # its measured 1e-12 error, far below any real mistake (an O(1) entry)
    rng = np.random.default_rng(7)
    if case == "he":
        net, X, y = he_relu(12), X1, Y1
    elif case == "random_bias_leaky_ntk":
        net = Network(1, (10,), "leaky_relu", parameterization="ntk", sigma_b=1.0, bias=True)
        X, y = X1, Y1
    else:
        net = Network(3, (9,), "relu", parameterization="mean_field", bias=False)
        X, y = rng.standard_normal((7, 3)), rng.standard_normal(7)
    p = net.init(3)
    w = rng.dirichlet(np.ones(X.shape[0]))
    H = loss_hessian(net, p, X, y, sample_weights=w)
    mv = two_layer_hessian_operator(net, p, X, y, sample_weights=w)
    Hm = np.stack([mv(e) for e in np.eye(net.num_params)], axis=1)
    np.testing.assert_allclose(Hm, H, rtol=0, atol=1e-9 * np.abs(H).max())
    lam = np.linalg.eigvalsh(H)[-1]
    assert top_hessian_eigenvalue(net, p, X, y, sample_weights=w,
                                  method="lanczos") == pytest.approx(lam, rel=1e-9)


def test_two_layer_hessian_operator_rejects_other_nets():
    with pytest.raises(ValueError, match="one hidden layer"):
        two_layer_hessian_operator(deep_linear(), deep_linear().init(0), np.zeros((2, 15)),
                                   np.zeros(2))
    tanh = Network(1, (4,), "tanh", bias=True)
    with pytest.raises(ValueError, match="piecewise-linear"):
        two_layer_hessian_operator(tanh, tanh.init(0), X1, Y1)
    with pytest.raises(ValueError, match="method"):
        top_hessian_eigenvalue(tanh, tanh.init(0), X1, Y1, method="power")


# --- group penalty on first-layer input columns ---------------------------------------


def test_group_lasso_gradient_against_high_precision_differences():
    # central differences at 40 digits with h = 1e-15: truncation O(h^2) ~ 1e-30 and
    # cancellation ~ 1e-25, so the reference is exact to float64's 1e-16; the float64
    # gradient carries a few ulps (2e-15 relative allows ~10)
    rng = np.random.default_rng(3)
    W = rng.standard_normal((4, 3))
    W[:, 1] = 0.0  # a removed input: the penalty is not differentiable there
    lam = 0.37
    value, grad = group_lasso(W, lam)
    mp = mpmath.mp.clone()
    mp.dps = 40

    def penalty(V):
        return lam * sum(mp.sqrt(sum(mp.mpf(V[i][j]) ** 2 for i in range(4)))
                         for j in range(3))
    assert value == pytest.approx(float(penalty(W.tolist())), rel=1e-15)
    h = mp.mpf("1e-15")
    for i in range(4):
        for j in (0, 2):
            Vp = [[mp.mpf(v) for v in row] for row in W.tolist()]
            Vm = [row[:] for row in Vp]
            Vp[i][j] += h
            Vm[i][j] -= h
            ref = float((penalty(Vp) - penalty(Vm)) / (2 * h))
            assert grad[i, j] == pytest.approx(ref, rel=2e-15, abs=1e-300)
    # at the zero column the one-sided derivative along v is lam ||v|| >= <0, v>: 0 is a
    # subgradient (the subdifferential is the ball of radius lam; 0 its smallest element)
    np.testing.assert_array_equal(grad[:, 1], 0.0)
    v = rng.standard_normal(4)
    V = W.copy()
    V[:, 1] = 1e-8 * v
    assert (group_lasso(V, lam)[0] - value) / 1e-8 == pytest.approx(lam * np.linalg.norm(v),
                                                                    rel=1e-7)
    stacked, sgrad = group_lasso(np.stack([W, 2 * W]), lam)
    np.testing.assert_allclose(stacked, [value, 2 * value], rtol=1e-15)
    with pytest.raises(ValueError, match="lam"):
        group_lasso(W, -1.0)


def test_group_soft_threshold_is_the_proximal_map():
    # V = prox(W) iff 0 is in V - W + t * subdifferential(sum_j ||V_j||): for V_j != 0
    # V_j - W_j + t V_j / ||V_j|| = 0, for V_j = 0 ||W_j|| <= t
    rng = np.random.default_rng(5)
    W = rng.standard_normal((5, 6)) * np.array([0.1, 0.3, 1.0, 2.0, 0.05, 3.0])
    t = 0.6
    V = group_soft_threshold(W, t)
    for j in range(6):
        nw, nv = np.linalg.norm(W[:, j]), np.linalg.norm(V[:, j])
        if nw <= t:
            assert nv == 0.0
        else:
            np.testing.assert_allclose(V[:, j] - W[:, j] + t * V[:, j] / nv, 0.0, atol=1e-15)
    assert 0 < np.sum(np.linalg.norm(V, axis=0) == 0) < 6  # both branches exercised
    # stacked replicas with their own thresholds
    S = group_soft_threshold(np.stack([W, W]), np.array([t, 0.0]))
    np.testing.assert_array_equal(S[0], V)
    np.testing.assert_array_equal(S[1], W)
    with pytest.raises(ValueError, match="t must"):
        group_soft_threshold(W, -0.1)


def test_ensemble_group_penalty_is_a_proximal_gradient_step():
    net = deep_linear()
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 15))
    y = X[:, :5].sum(axis=1)
    ps = [net.init(s) for s in range(3)]
    lr, lam, clip = 0.05, 0.3, 0.5
    ens = train_ensemble(net, ps, X, y, lr=lr, steps=1, clip_norm=clip, group_penalty=lam,
                         record=[1])
    for r in (0, 2):
        _, g = loss_and_gradient(net, ps[r], X, y)
        factor = min(1.0, clip / global_norm(g))
        expected = group_soft_threshold(ps[r]["W1"] - lr * factor * g["W1"], lr * lam)
        np.testing.assert_allclose(ens.params[-1]["W1"][r], expected, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(ens.params[-1]["a"][r], ps[r]["a"] - lr * factor * g["a"],
                                   rtol=1e-13)
    # the penalty removes inputs exactly, irrelevant ones only here (2000 steps); plain GD
    # removes none
    for lam in (0.1, 0.0):
        long = train_ensemble(net, ps, X, y, lr=lr, steps=2000, clip_norm=clip,
                              group_penalty=lam, record=[2000])
        norms = np.linalg.norm(long.params[-1]["W1"], axis=1)   # (R, input_dim)
        zero = norms == 0.0
        assert np.all(zero.any(axis=1)) if lam else not zero.any()
        assert np.all(norms[:, :5] > 0)
    with pytest.raises(ValueError, match="group_penalty"):
        train_ensemble(net, ps, X, y, lr=lr, steps=1, group_penalty=-1.0)


# --- per-side affine fit -------------------------------------------------------------


def test_per_side_fit_of_paper_003_data():
    # slope 0, intercept D on each side; loss exactly 1 with uniform weights (SETUPS.md)
    for D in (0.0, 0.01, 0.1):
        slopes, intercepts, loss = per_side_affine_fit(X1[:, 0], Y1 + D)
        np.testing.assert_allclose(slopes, 0.0, atol=1e-14)
        np.testing.assert_allclose(intercepts, D, atol=1e-14)
        assert loss == pytest.approx(1.0, rel=1e-14)
    w = np.array([1, 1, 1, 2, 1, 1]) / 7
    _, _, loss = per_side_affine_fit(X1[:, 0], Y1, w)
    assert loss < 1.0  # weighted fit differs
    with pytest.raises(ValueError, match="0 belong"):
        per_side_affine_fit([0.0, 1.0], [1.0, 2.0])


# --- ensembles ------------------------------------------------------------------------


def test_ensemble_gd_matches_train_per_replica():
    net = he_relu(16)
    ps = [net.init(s) for s in range(5)]
    w = np.random.default_rng(0).dirichlet(np.ones(6), size=5)
    lrs = [inverse_sharpness_lr(net, p, X1, Y1, sample_weights=w[i]) for i, p in enumerate(ps)]
    ens = train_ensemble(net, ps, X1, Y1, lr=lrs, steps=300, record=100,
                         sample_weights=w, track_kinks=True)
    for r in (0, 4):
        t = train(net, ps[r], X1, Y1, lr=lrs[r], steps=300, record=100, sample_weights=w[r])
        np.testing.assert_allclose(flatten_params(net, ens.replica(r)), t.flat(-1),
                                   rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(np.array(ens.loss)[:, r], t.loss, rtol=1e-11)
        kinks = max(np.max(np.abs(q["b1"] / q["W1"])) for q in t.params)
        assert ens.max_kink_distance[r] >= kinks - 1e-12


def test_ensemble_sgd_matches_train_with_clipping():
    net = deep_linear()
    X = float32_normal(2, (50, 15))
    y = X[:, :5].sum(1)
    ps = [net.init(s) for s in range(3)]
    ens = train_ensemble(net, ps, X, y, lr=0.01, steps=40, method="sgd", batch_size=4,
                         seeds=[10, 11, 12], clip_norm=0.5, weight_decay=0.01)
    t = train(net, ps[1], X, y, lr=0.01, steps=40, method="sgd", batch_size=4, seed=11,
              clip_norm=0.5, weight_decay=0.01)
    np.testing.assert_allclose(flatten_params(net, ens.replica(1)), t.flat(-1), rtol=1e-11,
                               atol=1e-14)


def test_ensemble_weighted_sgd_with_replacement():
    net = he_relu(6)
    ps = [net.init(s) for s in range(2)]
    w = np.array([0.1, 0.3, 0.1, 0.2, 0.2, 0.1])
    ens = train_ensemble(net, ps, X1, Y1, lr=0.01, steps=300, method="sgd", batch_size=16,
                         replace=True, sample_weights=w, seeds=[3, 4])
    t = train(net, ps[0], X1, Y1, lr=0.01, steps=300, method="sgd", batch_size=16,
              replace=True, sample_weights=w, seed=3)
    np.testing.assert_allclose(flatten_params(net, ens.replica(0)), t.flat(-1), rtol=1e-11,
                               atol=1e-14)


def test_ensemble_batches_with_replacement_drawn_ahead_match_train():
    # batches are drawn 256 steps at a time; the stream equals train()'s step-by-step draws
    net = he_relu(5)
    X = float32_normal(8, (9, 1))
    y = np.sin(3 * X[:, 0])
    ps = [net.init(s) for s in range(2)]
    ens = train_ensemble(net, ps, X, y, lr=0.02, steps=300, method="sgd", batch_size=4,
                         replace=True, seeds=[5, 6])
    t = train(net, ps[1], X, y, lr=0.02, steps=300, method="sgd", batch_size=4,
              replace=True, seed=6)
    np.testing.assert_allclose(flatten_params(net, ens.replica(1)), t.flat(-1), rtol=1e-10,
                               atol=1e-13)


def test_ensemble_divergence_freezes_one_replica():
    net = he_relu(8)
    ps = [net.init(s) for s in range(2)]
    ens = train_ensemble(net, ps, X1, Y1, lr=[1e-3, 50.0], steps=60)
    assert ens.diverged_at[0] == -1 and ens.diverged_at[1] > 0
    assert np.isfinite(ens.loss[-1][0])


def test_ensemble_bad_input():
    net = he_relu(4)
    ps = [net.init(0)]
    with pytest.raises(ValueError, match="seed"):
        train_ensemble(net, ps, X1, Y1, lr=0.1, steps=1, method="sgd", batch_size=2)
    with pytest.raises(ValueError, match="lr"):
        train_ensemble(net, ps, X1, Y1, lr=-1.0, steps=1)
    with pytest.raises(ValueError, match="biases"):
        train_ensemble(deep_linear(), [deep_linear().init(0)], np.zeros((2, 15)), [0, 0],
                       lr=0.1, steps=1, track_kinks=True)


def test_compressed_linear_data_gives_the_same_gd():
    # GD (clipped) on 400 samples == GD on their 16-row QR compression, for a deep linear net
    from numerics.networks import compress_linear_data

    net = deep_linear()
    X = float32_normal(9, (400, 15))
    y = X[:, :5].sum(1) + 0.1 * X[:, 7]
    Xc, yc, w = compress_linear_data(X, y)
    assert Xc.shape == (16, 15)
    ps = [net.init(s) for s in range(2)]
    full = train_ensemble(net, ps, X, y, lr=0.2, steps=50, clip_norm=0.5, record=10)
    comp = train_ensemble(net, ps, Xc, yc, lr=0.2, steps=50, clip_norm=0.5, record=10,
                          sample_weights=w)
    np.testing.assert_allclose(np.array(comp.loss), np.array(full.loss), rtol=1e-10)
    np.testing.assert_allclose(comp.params[-1]["W1"], full.params[-1]["W1"], rtol=1e-9,
                               atol=1e-12)
    with pytest.raises(ValueError, match="n >= d"):
        compress_linear_data(X[:10], y[:10])
