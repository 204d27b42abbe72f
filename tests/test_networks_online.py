"""Tests for the online-SGD committee machine of numerics/networks.py: one step by hand,
the mean one-step increment of the overlaps equals the Saad–Solla rate (within Monte Carlo
error), the teacher is orthonormal, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from numerics import integrate, networks
from theory.odes import saad_solla as SS


def test_one_step_by_hand():
    rng = np.random.default_rng(3)
    N = 20
    W0 = rng.standard_normal((1, 2, N))
    B = networks.orthogonal_teacher(2, N, rng)
    steps, Q, R, v = networks.online_sgd_committee(W0, B, lr=0.3, lr_v=0.2, steps=1,
                                                   rng=np.random.default_rng(7))
    x = np.random.default_rng(7).standard_normal((1, 1, N))[0, 0]
    lam, nu = W0[0] @ x / np.sqrt(N), B @ x / np.sqrt(N)
    g = lambda z: erf(z / np.sqrt(2))  # noqa: E731
    delta = g(nu).sum() - g(lam).sum()
    W1 = W0[0] + 0.3 / np.sqrt(N) * (np.sqrt(2 / np.pi) * np.exp(-lam**2 / 2) * delta)[:,
                                                                                       None] * x
    assert np.allclose(Q[-1, 0], W1 @ W1.T / N)
    assert np.allclose(R[-1, 0], W1 @ B.T / N)
    assert np.allclose(v[-1, 0], 1 + 0.2 / N * delta * g(lam))
    assert list(steps) == [0, 1]


def test_mean_increment_matches_saad_solla_rate():
    rng = np.random.default_rng(0)
    N, S = 400, 4000
    B = networks.orthogonal_teacher(2, N, rng)
    w = 0.5 * rng.standard_normal((2, N))
    W0 = np.broadcast_to(w, (S, 2, N))
    _, Q, R, _ = networks.online_sgd_committee(W0, B, lr=0.5, steps=1, rng=rng)
    inc = np.concatenate([(Q[1] - Q[0])[:, [0, 0, 1], [0, 1, 1]],
                          (R[1] - R[0]).reshape(S, 4)], axis=1) * N  # per unit of t
    cs = integrate.compile_ode(SS.saad_solla_ode(), eta=0.5)
    Q0, R0 = Q[0, 0], R[0, 0]
    rate = cs.rhs(0, [Q0[0, 0], Q0[0, 1], Q0[1, 1], *R0.ravel()])
    se = inc.std(axis=0) / np.sqrt(S)
    # the eta/sqrt(N) step's own square adds O(1/N) to Q; within 4 SE
    assert np.all(np.abs(inc.mean(axis=0) - rate) < 4 * se + 1e-3)


def test_orthogonal_teacher_and_bad_input():
    rng = np.random.default_rng(1)
    B = networks.orthogonal_teacher(3, 50, rng)
    assert np.allclose(B @ B.T / 50, np.eye(3))
    with pytest.raises(ValueError, match="runs, K, N"):
        networks.online_sgd_committee(np.zeros((2, 50)), B, lr=0.1, steps=1, rng=rng)
    with pytest.raises(ValueError, match="input dimension"):
        networks.online_sgd_committee(np.zeros((1, 2, 40)), B, lr=0.1, steps=1, rng=rng)
