"""numerics.one_dim_relu.train_relu_1d: its compiled loop follows
numerics.networks.train_ensemble (the reference, itself tested against train) step for
step, for GD and for SGD with batches drawn with replacement from the same streams."""

import numpy as np
import pytest

from numerics import one_dim_relu as odr
from numerics.networks import inverse_sharpness_lr

pytest.importorskip("numba")

X = np.array(odr.DATA_X)[:, None]
Y = np.array(odr.DATA_Y)


@pytest.mark.parametrize("method", ["gd", "sgd"])
@pytest.mark.parametrize("init,bias_std,weighted", [("he", 0.0, True), ("swapped", 0.5, True),
                                                    ("he", 0.0, False)])
def test_compiled_loop_equals_train_ensemble(method, init, bias_std, weighted):
    # same update, only the summation order differs: after 400 steps the two agree to a
    # few hundred ulps (measured 2e-15 on parameters, 2e-14 on kink distances), 1e-11 is
    # far below any real difference (a wrong gradient term changes them at O(lr))
    net = odr.relu_net(24, init, bias_std)
    seeds = np.random.SeedSequence(11).spawn(16)
    params = [net.init(s) for s in seeds[:8]]
    # unweighted: uniform batches (train_ensemble draws them with p=None, another stream)
    w = np.random.default_rng(1).dirichlet(np.ones(6), size=8) if weighted else None
    lrs = [inverse_sharpness_lr(net, p, X, Y, sample_weights=None if w is None else w[i])
           for i, p in enumerate(params)]
    kw = dict(lr=lrs, steps=400, method=method, batch_size=16, sample_weights=w,
              seeds=seeds[8:])
    fast = odr.train_relu_1d(net, params, X, Y, compiled=True, **kw)
    ref = odr.train_relu_1d(net, params, X, Y, compiled=False, **kw)
    np.testing.assert_allclose(fast.loss[-1], ref.loss[-1], rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(fast.max_kink_distance, ref.max_kink_distance, rtol=1e-11)
    for k in ("W1", "b1", "a", "c"):
        np.testing.assert_allclose(fast.params[-1][k], ref.params[-1][k], rtol=1e-11,
                                   atol=1e-13)
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at)
    assert ref.diverged_at.max() == -1  # stable at 1/lambda_max


def test_compiled_loop_freezes_diverging_replicas_like_train_ensemble():
    net = odr.relu_net(8)
    params = [net.init(s) for s in range(3)]
    lr = [inverse_sharpness_lr(net, p, X, Y) for p in params]
    lr[1] *= 50  # far beyond 2 / lambda_max: this replica overflows
    fast = odr.train_relu_1d(net, params, X, Y, lr=lr, steps=300, compiled=True)
    ref = odr.train_relu_1d(net, params, X, Y, lr=lr, steps=300, compiled=False)
    assert fast.diverged_at[1] > 0
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at)
    np.testing.assert_allclose(fast.loss[-1][[0, 2]], ref.loss[-1][[0, 2]], rtol=1e-11)


def test_compiled_loop_rejects_other_nets_and_bad_input():
    from numerics.networks import Network

    tanh = Network(1, (4,), "tanh", bias=True)
    with pytest.raises(ValueError, match="ReLU net with biases"):
        odr.train_relu_1d(tanh, [tanh.init(0)], X, Y, lr=0.1, steps=1, compiled=True)
    net = odr.relu_net(4)
    with pytest.raises(ValueError, match="lr"):
        odr.train_relu_1d(net, [net.init(0)], X, Y, lr=-1.0, steps=1, compiled=True)
    with pytest.raises(ValueError, match="batch_size"):
        odr.train_relu_1d(net, [net.init(0)], X, Y, lr=0.1, steps=1, method="sgd",
                          seeds=[0], compiled=True)


def test_event_slope_recovers_a_known_rate_and_refuses_missing_events():
    # P(event) = 16 / width exactly (deterministic arrays): slope -1, complement's slope
    # computed from the same counts
    out = {w: {"crossed": np.arange(64) < 64 * 16 // w} for w in (16, 32, 64)}
    out[16]["crossed"][-1] = False  # 63 / 64 at width 16
    fit = odr.event_slope(out, "crossed", bootstrap=0)
    expected = np.polyfit(np.log([16, 32, 64]), np.log([63 / 64, 0.5, 0.25]), 1)[0]
    assert abs(fit.slope - expected) < 1e-12
    comp = odr.event_slope(out, "crossed", complement=True, bootstrap=0)
    assert comp.slope > 0  # the complement rises with width
    out[64]["crossed"][:] = False
    with pytest.raises(ValueError, match="no run has the event"):
        odr.event_slope(out, "crossed")
