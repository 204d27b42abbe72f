"""networks.RewrittenGDStepper / divergence / xavier_tanh_net (appended for paper 004)."""

from __future__ import annotations

import numpy as np
import pytest

from numerics import networks


def _setup():
    net = networks.xavier_tanh_net(8)
    X, y = networks.chebyshev_data(10, 3)
    return net, net.init(0), X, y


def test_k1_is_plain_gd_bit_for_bit():
    net, P, X, y = _setup()
    plain = networks.GDStepper(net, P, X, y, lr=0.3)
    rew = networks.RewrittenGDStepper(net, P, X, y, lr=0.3, k=1)
    for _ in range(20):
        plain.step()
        rew.step()
    B = plain.backend
    for g in net.param_names:
        assert np.array_equal(B.to_numpy(plain.params[g]), B.to_numpy(rew.params[g]))


def test_k3_differs_in_the_last_bits_only():
    net, P, X, y = _setup()
    a = networks.RewrittenGDStepper(net, P, X, y, lr=0.05, k=1, frozen=("c",))
    b = networks.RewrittenGDStepper(net, P, X, y, lr=0.05, k=3, frozen=("c",))
    a.step()
    b.step()
    d = np.abs(a.flat() - b.flat())
    assert 0 < d.max() <= 4 * np.finfo(float).eps * np.abs(a.flat()).max()
    assert np.array_equal(a.flat()[-1:], P["c"].ravel())  # frozen


def test_divergence_exact_midpoints_resolve_high_precision():
    net, P, X, y = _setup()
    d = networks.divergence(net, P, X, y, lr=0.05, steps=5, backend="arb", bits=106,
                            frozen=("c",))
    assert 0 < d.relative_l2[-1] < 1e-28
    assert d.steps.tolist() == list(range(6)) and d.loss.shape == (5,)


def test_xavier_init_and_data():
    net = networks.xavier_tanh_net(100, gain=1.9)
    P = net.init(1)
    assert np.std(P["W1"]) == pytest.approx(1.9 * np.sqrt(2 / 101), rel=0.2)
    assert np.all(P["b1"] == 0) and np.all(P["c"] == 0)
    X, y = networks.chebyshev_data(20, 5)
    assert X.shape == (20, 1) and y[0] == pytest.approx(-1) and y[-1] == pytest.approx(1)
    with pytest.raises(ValueError):
        networks.RewrittenGDStepper(net, P, X, y, lr=0.1, k=0)
