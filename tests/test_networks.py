"""Finite networks: analytic gradients, cross-backend agreement, training options."""

import warnings

import mpmath
import numpy as np
import pytest

from numerics.networks import (
    GDStepper,
    Network,
    TrainingDiverged,
    deep_net,
    gradient_flow,
    loss_and_gradient,
    train,
    two_layer_net,
)
from numerics.precision import float32_normal, get_backend

# the agreement setup of issue 4: n = 20 samples, d = 5 inputs, m = 16 hidden units, erf
N, D, M = 20, 5, 16
LR = 0.5  # stable: loss decreases monotonically, and float64 errors do not grow (see below)


@pytest.fixture(scope="module")
def data():
    X = float32_normal(1, (N, D))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    return X, y


@pytest.fixture(scope="module")
def erf_net():
    net = two_layer_net(D, M, "erf")
    return net, net.init(0)


# --- analytic gradients vs finite differences in high precision ------------------

GRAD_NETS = [
    ("two-layer erf ntk", lambda: two_layer_net(3, 4, "erf")),
    ("two-layer erf ntk with bias", lambda: two_layer_net(3, 5, "erf", bias=True, sigma_w=1.25,
                                                          sigma_b=0.25)),
    ("two-layer relu mean-field", lambda: two_layer_net(3, 4, "relu",
                                                       parameterization="mean_field")),
    ("deep tanh standard with bias", lambda: deep_net(3, 4, 2, "tanh", parameterization="standard",
                                                      sigma_w=1.5, sigma_b=0.5, bias=True)),
    ("deep gelu ntk two outputs", lambda: Network(3, (4, 3), "gelu", output_dim=2, bias=True,
                                                  sigma_b=0.25)),
    ("two-layer elu unit-norm", lambda: two_layer_net(3, 4, "elu", unit_norm_rows=True)),
]


@pytest.mark.parametrize("label, make", GRAD_NETS, ids=[g[0] for g in GRAD_NETS])
def test_gradient_matches_central_differences_at_50_digits(label, make):
    """Central differences with h = 1e-20 at 50 digits: truncation h^2/6 |L'''| ~ 1e-40,
    rounding ~ 1e-50 / h = 1e-30, so analytic and numerical gradients agree to 1e-25
    (relative to max(1, |g|)); a wrong sign or factor anywhere fails by O(1)."""
    net = make()
    params = net.init(5)
    X = float32_normal(6, (6, net.input_dim))
    y = float32_normal(7, (6, net.output_dim))
    B = get_backend("mpmath", dps=50)
    _, grads = loss_and_gradient(net, params, X, y, backend=B)
    rng = np.random.default_rng(0)
    h = mpmath.mpf(10) ** -20
    for name in net.param_names:
        g = B.to_mpmath(grads[name])
        rows, cols = g.shape
        for _ in range(3):
            i, j = int(rng.integers(rows)), int(rng.integers(cols))
            with mpmath.workdps(50):
                plus = B.to_mpmath(B.asarray(params[name])).copy()
                minus = plus.copy()
                plus[i, j] += h
                minus[i, j] -= h
                lp = loss_and_gradient(net, {**params, name: plus}, X, y, backend=B)[0]
                lm = loss_and_gradient(net, {**params, name: minus}, X, y, backend=B)[0]
                fd = (lp - lm) / (2 * h)
                assert abs(fd - g[i, j]) <= mpmath.mpf(10) ** -25 * max(1, abs(g[i, j])), (
                    label, name, i, j, fd, g[i, j])


# --- agreement across number systems (issue 4, item 3) -------------------------------


def _max_diff(a, b):
    return max(abs(u - v) for u, v in zip(a, b, strict=True))


def _bound(backend, steps, theta_max):
    r"""A-priori rounding bound for ``steps`` GD steps at unit roundoff u = 2^-bits:
    each step rounds every parameter after accumulations of length at most
    K = n + d + m (forward dot products over d, readout over m, gradient sums over n),
    error <= K u |theta|; for a stable step size the GD map does not amplify errors
    (growth factor 1: the float64 error below stays flat instead of growing), so the
    errors add up: steps * K * u * max|theta|."""
    return steps * (N + D + M) * 2.0 ** -backend.bits * theta_max


def _agreement(erf_net, data, steps):
    net, params = erf_net
    X, y = data
    runs = {
        "float64": train(net, params, X, y, lr=LR, steps=steps, backend="float64", record=10),
        "mpmath": train(net, params, X, y, lr=LR, steps=steps, backend="mpmath", dps=30,
                        record=10),
        "arb": train(net, params, X, y, lr=LR, steps=steps, backend="arb", bits=100, record=10),
    }
    ref = runs["mpmath"]
    theta_max = max(float(abs(v)) for i in range(len(ref.steps)) for v in ref.flat_mpmath(i))
    for name in ("float64", "arb"):
        run = runs[name]
        assert run.steps == ref.steps
        diffs = [_max_diff(run.flat_mpmath(i), ref.flat_mpmath(i)) for i in range(len(ref.steps))]
        assert diffs[0] == 0  # bit-identical start
        bound = _bound(run.backend, steps, theta_max)
        assert max(diffs) <= bound, (name, max(diffs), bound)
        # and not better than the precision allows: the run really is at its own precision
        assert max(diffs) > 2.0 ** -(run.backend.bits + 12)
    # mpmath (103 bits) and arb (100 bits) agree to ~1e-28 (the figure)
    assert _max_diff(runs["arb"].flat_mpmath(-1), ref.flat_mpmath(-1)) < 1e-26
    assert abs(runs["float64"].loss[-1] - ref.loss[-1]) < 1e-12
    assert ref.loss[-1] < 0.5 * ref.loss[0]  # it trained
    return runs


def test_float64_mpmath_arb_agree_50_steps(erf_net, data):
    _agreement(erf_net, data, 50)


@pytest.mark.slow
def test_float64_mpmath_arb_agree_200_steps(erf_net, data):
    # about 20 s (mpmath at 30 digits is pure Python)
    _agreement(erf_net, data, 200)


def test_arb_no_reset_encloses_the_exact_trajectory(erf_net, data):
    """No-reset balls contain the exact trajectory; the 40-digit mpmath run is within
    ~steps * 41 * 1e-40 of it, far below the radii (>= 1e-30), so it must lie inside."""
    net, params = erf_net
    X, y = data
    steps = 30
    arb = train(net, params, X, y, lr=LR, steps=steps, backend="arb", bits=100,
                mode="no-reset", record=10)
    ref = train(net, params, X, y, lr=LR, steps=steps, backend="mpmath", dps=40, record=10)
    assert arb.backend.radius_meaning == "rigorous enclosure"
    for i in range(len(arb.steps)):
        mids, rads = arb.flat_mpmath(i), arb.flat_radius(i)
        for m, r, e in zip(mids, rads, ref.flat_mpmath(i), strict=True):
            assert abs(m - e) <= r
    assert 0 < arb.flat_radius(len(arb.steps) - 1).max() < 1e-20  # short horizon: still tight
    # midpoint-reset radii are only one step's rounding (a few ulp at 100 bits)
    reset = train(net, params, X, y, lr=LR, steps=steps, backend="arb", bits=100, record=10)
    assert reset.backend.radius_meaning == "per-step rounding"
    assert 0 < max(reset.radius) < 1e3 * 2.0**-100


def test_gradient_flow_is_the_small_step_limit_of_gd(erf_net, data):
    """GD is explicit Euler for the flow: error at fixed time T is O(eta)."""
    net, params = erf_net
    X, y = data
    T = 2.0
    flow = gradient_flow(net, params, X, y, times=[T], rtol=1e-12, atol=1e-14)
    theta_flow = flow.flat(-1)
    etas = np.array([0.1, 0.05, 0.025, 0.0125])
    errors = []
    for eta in etas:
        gd = train(net, params, X, y, lr=eta, steps=int(round(T / eta)), record=10**9)
        errors.append(np.abs(gd.flat(-1) - theta_flow).max())
    slope = np.polyfit(np.log(etas), np.log(errors), 1)[0]
    assert abs(slope - 1) < 0.1, (slope, errors)


# --- training options -------------------------------------------------------------


def test_sgd_uses_explicit_seed_and_same_batches_on_every_backend(erf_net, data):
    net, params = erf_net
    X, y = data
    kw = dict(lr=0.2, steps=15, method="sgd", batch_size=5, record=5)
    a = train(net, params, X, y, seed=1, **kw)
    b = train(net, params, X, y, seed=1, **kw)
    c = train(net, params, X, y, seed=2, **kw)
    gd = train(net, params, X, y, lr=0.2, steps=15, record=5)
    assert np.array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy()[-1], c.numpy()[-1])
    assert not np.allclose(a.numpy()[-1], gd.numpy()[-1])
    arb = train(net, params, X, y, seed=1, backend="arb", bits=80, **kw)
    # same batches: arb and float64 differ only by rounding (bound as above, 15 steps)
    assert np.abs(arb.numpy() - a.numpy()).max() < 15 * (N + D + M) * 2.0**-53 * 5


def test_gd_step_with_weight_decay_is_the_formula(erf_net, data):
    net, params = erf_net
    X, y = data
    lam, eta = 0.3, 0.1
    run = train(net, params, X, y, lr=eta, steps=1, weight_decay=lam)
    _, g = loss_and_gradient(net, params, X, y)
    for k in net.param_names:
        expected = params[k] - eta * (g[k] + lam * params[k])
        np.testing.assert_allclose(run.final_params[k], expected, rtol=1e-14, atol=1e-15)


def test_frozen_layer_and_learning_rate_multiplier(erf_net, data):
    net, params = erf_net
    X, y = data
    fixed = train(net, params, X, y, lr=0.1, steps=5, frozen=("a",))
    assert np.array_equal(fixed.final_params["a"], params["a"])
    assert not np.array_equal(fixed.final_params["W1"], params["W1"])
    zero = train(net, params, X, y, lr=0.1, steps=5, lr_multipliers={"a": 0})
    assert np.array_equal(zero.numpy(), fixed.numpy())
    fast = train(net, params, X, y, lr=0.1, steps=1, lr_multipliers={"a": 4})
    _, g = loss_and_gradient(net, params, X, y)
    np.testing.assert_allclose(fast.final_params["a"], params["a"] - 0.4 * g["a"], rtol=1e-14)


def test_langevin_noise_has_the_stated_scale(erf_net, data):
    """With lr -> tiny the drift is negligible: increments are sqrt(2 eta T) xi, so the
    mean square increment is 2 eta T within 4 standard errors (chi^2 with P dof)."""
    net, params = erf_net
    X, y = data
    eta, T = 1e-12, 0.5
    run = train(net, params, X, y, lr=eta, steps=1, method="langevin", temperature=T, seed=3)
    inc = run.flat(-1) - run.flat(0)
    P = inc.size
    ms = np.mean(inc**2) / (2 * eta * T)
    assert abs(ms - 1) < 4 * np.sqrt(2 / P)
    again = train(net, params, X, y, lr=eta, steps=1, method="langevin", temperature=T, seed=3)
    assert np.array_equal(again.numpy(), run.numpy())
    arb = train(net, params, X, y, lr=eta, steps=1, method="langevin", temperature=T, seed=3,
                backend="arb", bits=80)
    np.testing.assert_allclose(arb.numpy(), run.numpy(), rtol=0, atol=1e-15)


def test_label_noise_is_seeded_and_unbiased_in_one_step(erf_net, data):
    net, params = erf_net
    X, y = data
    clean = train(net, params, X, y, lr=0.1, steps=1).flat(-1)
    noisy = [train(net, params, X, y, lr=0.1, steps=1, label_noise=0.3, seed=s).flat(-1)
             for s in range(40)]
    assert not np.allclose(noisy[0], noisy[1])
    # the update is linear in the labels: the mean over seeds approaches the clean step,
    # with standard error std/sqrt(40)
    mean, se = np.mean(noisy, axis=0), np.std(noisy, axis=0) / np.sqrt(40)
    assert np.all(np.abs(mean - clean) <= 5 * se + 1e-15)


def test_unit_norm_rows_stay_on_the_sphere(data):
    X, y = data
    net = two_layer_net(D, 8, "relu", parameterization="mean_field", unit_norm_rows=True)
    params = net.init(4)
    run = train(net, params, X, y, lr=0.5, steps=20, temperature=1e-4, seed=0)
    norms = np.linalg.norm(run.final_params["W1"], axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-14)
    assert not np.allclose(run.final_params["W1"], params["W1"])


def test_standard_parameterization_he_init():
    net = two_layer_net(50, 400, "relu", parameterization="standard", sigma_w=2**0.5, bias=True)
    p = net.init(0)
    # He: Var W1 = 2/d; the sample variance has SE ~ var * sqrt(2/N)
    var, size = p["W1"].var(), p["W1"].size
    assert abs(var - 2 / 50) < 4 * (2 / 50) * np.sqrt(2 / size)
    assert np.all(p["b1"] == 0) and np.all(p["c"] == 0)
    assert net.hidden_layers == 1 and net.param_names == ("W1", "b1", "a", "c")


def test_deep_net_agrees_between_float64_and_arb(data):
    X, y = data
    net = deep_net(D, 6, 3, "tanh", bias=True, sigma_b=0.1)
    params = net.init(1)
    steps = 10
    f = train(net, params, X, y, lr=0.2, steps=steps, record=5)
    a = train(net, params, X, y, lr=0.2, steps=steps, backend="arb", bits=100, record=5)
    theta = np.abs(a.numpy()).max()
    assert np.abs(f.numpy() - a.numpy()).max() <= steps * (N + D + 6) * 2.0**-53 * theta
    assert f.loss[-1] < f.loss[0]


def test_float32_run_starts_identical_and_stays_close(erf_net, data):
    net, params = erf_net
    X, y = data
    f32 = train(net, params, X, y, lr=LR, steps=20, backend="float32", record=10)
    f64 = train(net, params, X, y, lr=LR, steps=20, record=10)
    assert np.array_equal(f32.numpy()[0], f64.numpy()[0])
    diff = np.abs(f32.numpy() - f64.numpy()).max()
    assert 0 < diff < 20 * (N + D + M) * 2.0**-24 * 3


def test_record_steps_and_callback(erf_net, data):
    net, params = erf_net
    X, y = data
    seen = []
    run = train(net, params, X, y, lr=0.1, steps=7, record=[0, 3],
                callback=lambda step, p, B: seen.append(step) or float(B.to_numpy(p["a"])[0, 0]))
    assert run.steps == [0, 3, 7] and seen == [0, 3, 7]
    assert len(run.params) == 3 and len(run.extra) == 3
    assert run.loss[0] > run.loss[-1]


# --- divergence and bad input --------------------------------------------------------


def test_divergence_is_one_clear_error_with_its_step(erf_net, data):
    net, params = erf_net
    X, y = data
    big_y = 1e3 * y
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings
        with pytest.raises(TrainingDiverged, match="diverged at step") as info:
            train(net, params, X, big_y, lr=1e4, steps=200, backend="float32")
    assert 0 < info.value.step <= 200
    assert isinstance(info.value, ArithmeticError)
    stopped = train(net, params, X, big_y, lr=1e4, steps=200, on_divergence="stop")
    assert stopped.diverged_at is not None and stopped.steps[-1] == stopped.diverged_at
    # SGD checks its mini-batch loss every step, not only at recorded steps
    with pytest.raises(TrainingDiverged) as sgd:
        train(net, params, X, big_y, lr=1e4, steps=200, method="sgd", batch_size=4, record=100)
    assert 0 < sgd.value.step < 100


def test_gd_stepper_matches_train(erf_net, data):
    net, params = erf_net
    X, y = data
    stepper = GDStepper(net, params, X, y, lr=0.3, backend="arb", bits=90)
    losses = [stepper.backend.to_float(stepper.step()) for _ in range(3)]
    run = train(net, params, X, y, lr=0.3, steps=3, backend="arb", bits=90)
    assert losses == run.loss[:3]
    for k in net.param_names:
        assert (stepper.backend.to_mpmath(stepper.params[k]).tolist()
                == run.backend.to_mpmath(run.final_params[k]).tolist())


@pytest.mark.parametrize(
    "change, word",
    [
        (dict(lr=0.0), "lr"),
        (dict(lr=-1.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(backend="float128"), "backend"),
        (dict(backend="arb", bits=0), "bits"),
        (dict(backend="mpmath", dps=-5), "dps"),
        (dict(method="adam"), "method"),
        (dict(method="sgd"), "batch_size"),
        (dict(method="sgd", batch_size=100), "batch_size"),
        (dict(method="langevin"), "temperature"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(frozen=("V",)), "frozen"),
        (dict(steps=-1), "steps"),
        (dict(seed=None), "seed"),
    ],
)
def test_bad_training_arguments(erf_net, data, change, word):
    net, params = erf_net
    X, y = data
    kw = dict(lr=0.1, steps=2)
    kw.update(change)
    with pytest.raises(ValueError, match=word):
        train(net, params, X, y, **kw)


def test_bad_data_and_params(erf_net, data):
    net, params = erf_net
    X, y = data
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        train(net, params, Xn, y, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="X must have shape"):
        train(net, params, X[:, :3], y, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="y must have shape"):
        train(net, params, X, y[:-1], lr=0.1, steps=1)
    with pytest.raises(ValueError, match=r"params\['W1'\] must have shape"):
        train(net, {**params, "W1": params["W1"][:, :2]}, X, y, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="params must be a dict"):
        train(net, {"W1": params["W1"]}, X, y, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="parameterization"):
        two_layer_net(3, 4, "erf", parameterization="muP")
    with pytest.raises(ValueError, match="derivative"):
        two_layer_net(3, 4, "step")
    with pytest.raises(ValueError, match="times"):
        gradient_flow(net, params, X, y, times=[1.0, 0.5])
