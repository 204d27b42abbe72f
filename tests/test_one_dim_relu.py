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


# ---------------------------------------------------------------------------
# early stopping (the authors' rule, mc_training.EarlyStoppingCriterion and
# CrossingStoppingCriterion)
# ---------------------------------------------------------------------------


def _authors_rule(vals, patience, min_delta):
    """mc_training.EarlyStoppingCriterion.check, written out: the 1-based check at which a
    run with these validation losses stops, or None."""
    best, wait = np.inf, 0
    for k, v in enumerate(vals, 1):
        wait += 1
        if v < best - min_delta:
            best, wait = v, 0
        if wait >= patience:
            return k
    return None


def test_validation_check_stops_where_the_hand_computed_sequence_says():
    from numerics._relu1d_jit import validation_check

    # by hand, patience 3, min_delta 1e-8 (absolute, against the best so far): checks 1, 2
    # improve (inf -> 3 -> 2); 3 (2 again) and 4 (better by 5e-11 < 1e-8) do not, 5
    # improves (1.5), 6-8 do not (worse than 1.5, though 7 and 8 beat check 6): stop at 8
    vals = [3.0, 2.0, 2.0, 2.0 - 5e-11, 1.5, 1.6, 1.55, 1.52, 1.0]
    best, wait, stops = np.inf, 0, []
    for v in vals:
        best, wait, stop = validation_check(v, best, wait, 1e-8, 3)
        stops.append(stop)
        if stop:
            break
    assert stops == [False] * 7 + [True] and _authors_rule(vals, 3, 1e-8) == 8
    assert best == 1.5 and wait == 3
    # with min_delta 0 check 4 improves (wait 0 there), which the stop at 8 does not see;
    # with patience 4 check 9 improves before the count reaches 4
    assert _authors_rule(vals, 3, 0.0) == 8 and _authors_rule(vals, 4, 1e-8) is None


def _stopping_setup(width=12, runs=6, bias_std=0.0, seed=3):
    net = odr.relu_net(width, bias_std=bias_std)
    ss = np.random.SeedSequence(seed).spawn(2 * runs + 2)
    params = [net.init(s) for s in ss[:runs]]
    rng = np.random.default_rng(ss[-1])
    w = rng.multinomial(width * width, [1 / 6] * 6, size=runs) / width ** 2
    q = rng.multinomial(width * width, [1 / 6] * 6, size=runs) / width ** 2
    lrs = [inverse_sharpness_lr(net, p, X, Y, sample_weights=w[i]) for i, p in
           enumerate(params)]
    return net, params, dict(lr=lrs, method="sgd", batch_size=16, sample_weights=w,
                             seeds=ss[runs:2 * runs]), q


def test_sgd_stops_where_the_rule_applied_to_fixed_runs_says_and_at_their_state():
    # the rule applied by hand to the validation losses of fixed-length runs at every check
    # step predicts each replica's stop; the stopped replica is bit for bit the fixed run of
    # that many steps (its batches are a prefix of the same stream)
    net, params, kw, q = _stopping_setup()
    every, patience, cap = 10, 3, 2000
    es = odr.EarlyStopping(q, check_every=every, patience=patience, min_delta=0.0)
    got = odr.train_relu_1d(net, params, X, Y, steps=cap, early_stopping=es, **kw)
    checks = range(every, cap + 1, every)
    vals = []
    for s in checks:
        fixed = odr.train_relu_1d(net, params, X, Y, steps=s, **kw)
        P = fixed.params[-1]
        f = (np.maximum(P["W1"][:, :, 0][:, None, :] * X[None, :, :] + P["b1"][:, :, 0][
            :, None, :], 0) @ P["a"][:, 0, :, None])[:, :, 0] + P["c"][:, 0]
        vals.append(((f - Y) ** 2 * q).sum(axis=1))
    vals = np.array(vals)
    expected = [every * _authors_rule(vals[:, r], patience, 0.0) for r in range(len(params))]
    np.testing.assert_array_equal(got.stopped_at, expected)
    assert len(set(expected)) > 1 and min(expected) > every * patience  # a nontrivial case
    assert set(got.stop_reason) == {odr.STOP_REASONS.index("early_stopped")}
    for r, s in enumerate(expected):
        fixed = odr.train_relu_1d(net, [params[r]], X, Y, steps=s, **{
            k: (v[r:r + 1] if k in ("lr", "sample_weights", "seeds") else v)
            for k, v in kw.items()})
        for k in ("W1", "b1", "a", "c"):
            np.testing.assert_array_equal(got.params[-1][k][r], fixed.params[-1][k][0])
        assert got.loss[-1][r] == fixed.loss[-1][0]
        assert got.max_kink_distance[r] == fixed.max_kink_distance[0]


def test_a_crossing_stops_at_the_first_check_after_it():
    net, params, kw, q = _stopping_setup(bias_std=0.05)  # some kinks cross, some later
    every, cross = 5, 1.0
    es = odr.EarlyStopping(q, check_every=every, patience=10 ** 6, crossing_at=cross)
    got = odr.train_relu_1d(net, params, X, Y, steps=400, early_stopping=es, **kw)
    kinks = np.array([odr.train_relu_1d(net, params, X, Y, steps=s, **kw).max_kink_distance
                      for s in range(every, 401, every)])
    crossed = kinks >= cross
    first = np.argmax(crossed, axis=0)
    assert not crossed[-1].all() and (first[crossed[-1]] > 0).any()  # all outcomes occur
    for r in range(len(params)):
        if crossed[-1, r]:
            assert got.stopped_at[r] == every * (first[r] + 1)
            assert odr.STOP_REASONS[got.stop_reason[r]] == "crossed"
        else:
            assert got.stopped_at[r] == 400 and odr.STOP_REASONS[got.stop_reason[r]] == "cap"


@pytest.mark.parametrize("method", ["gd", "sgd"])
def test_a_rule_that_never_fires_changes_nothing(method):
    # chunked SGD (batches drawn chunk by chunk) and the checks leave the run bit for bit
    # as without the option, which is itself unchanged (test above against train_ensemble)
    net, params, kw, q = _stopping_setup(runs=4)
    kw["method"] = method
    es = odr.EarlyStopping(q, check_every=7, patience=10 ** 6)
    cap = odr.STOPPING_CHUNK + 300  # two chunks, the second one cut
    got = odr.train_relu_1d(net, params, X, Y, steps=cap, early_stopping=es, **kw)
    ref = odr.train_relu_1d(net, params, X, Y, steps=cap, **kw)
    assert ref.stopped_at is None and list(got.stopped_at) == [cap] * 4
    np.testing.assert_array_equal(got.loss[-1], ref.loss[-1])
    np.testing.assert_array_equal(got.max_kink_distance, ref.max_kink_distance)
    for k in ("W1", "b1", "a", "c"):
        np.testing.assert_array_equal(got.params[-1][k], ref.params[-1][k])


def test_early_stopping_refuses_bad_input():
    q = np.full(6, 1 / 6)
    for bad, match in ((dict(check_every=0), "check_every"), (dict(patience=0), "patience"),
                       (dict(min_delta=-1.0), "min_delta"), (dict(crossing_at=0.0),
                                                             "crossing_at")):
        with pytest.raises(ValueError, match=match):
            odr.EarlyStopping(q, **bad)
    with pytest.raises(ValueError, match="validation_weights"):
        odr.EarlyStopping(-q)
    net = odr.relu_net(4)
    with pytest.raises(ValueError, match="validation_weights must have shape"):
        odr.train_relu_1d(net, [net.init(0)], X, Y, lr=0.1, steps=1,
                          early_stopping=odr.EarlyStopping(np.ones(5)))
    with pytest.raises(ValueError, match="compiled loop"):
        odr.train_relu_1d(net, [net.init(0)], X, Y, lr=0.1, steps=1, compiled=False,
                          early_stopping=odr.EarlyStopping(q))


def test_stop_reasons_match_the_compiled_loop():
    from numerics import _relu1d_jit as jit

    assert [odr.STOP_REASONS.index(k) for k in ("running", "cap", "crossed",
                                                "early_stopped")] == [
        jit.RUNNING, jit.CAP, jit.CROSSED, jit.EARLY_STOPPED]
